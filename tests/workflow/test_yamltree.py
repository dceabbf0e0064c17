from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildonce.workflow.yamltree import Node, YamlSyntaxError, parse_yaml

TEXT = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: a
        run: |
          echo one
          go build -o bin/app .
      - uses: x/y@v1
"""


def test_every_node_has_its_line_and_column() -> None:
    root = parse_yaml(TEXT)
    assert root is not None
    on_key = root.key_node("on")
    assert on_key is not None
    assert (on_key.line, on_key.col, on_key.text) == (1, 1, "on")  # not YAML 1.1's True
    build = root.get("jobs").get("build")  # type: ignore[union-attr]
    assert build is not None
    assert (build.line, build.col) == (4, 5)
    steps = build.get("steps")
    assert steps is not None
    first, second = steps.items()
    assert (first.line, first.col) == (6, 9)
    assert (second.line, second.col) == (10, 9)
    run = first.get("run")
    assert run is not None
    assert run.style == "|"
    offset = run.text.index("go build")
    assert run.content_line(offset) == 9


def test_aliases_resolve_to_the_anchored_node() -> None:
    root = parse_yaml("a: &x {k: v}\nb: *x\n")
    assert root is not None
    assert root.get("a") is root.get("b")


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("a: 1\n b: 2\n", 2, 3),
        ("a: [1, 2\nb: 3\n", 2, 2),
        ("a: 'open\n", 2, 1),
        ("a: *missing\n", 1, 4),
        ("a: 1\n---\nb: 2\n", 2, 1),
    ],
)
def test_syntax_errors_carry_a_position(text: str, line: int, col: int) -> None:
    with pytest.raises(YamlSyntaxError) as info:
        parse_yaml(text)
    assert (info.value.line, info.value.col) == (line, col)
    assert info.value.message


def test_empty_document_is_none() -> None:
    assert parse_yaml("") is None
    assert parse_yaml("# only a comment\n") is None


_keys = st.text(alphabet="abcdefghij-_", min_size=1, max_size=6)
_scalars = (
    st.text(alphabet="abcdefghij 0123456789", min_size=1, max_size=8).map(str.strip).filter(bool)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(_keys, inner, min_size=1, max_size=3)
    ),
    max_leaves=12,
)


@given(st.dictionaries(_keys, _values, min_size=1, max_size=4))
def test_tree_matches_pyyaml_data(data: dict[str, object]) -> None:
    """The composed tree holds the same data PyYAML's own loader produces (as strings)."""
    import yaml

    text = yaml.safe_dump(data, default_flow_style=False)
    root = parse_yaml(text)
    assert root is not None

    def as_strings(value: object) -> object:
        if isinstance(value, dict):
            return {str(k): as_strings(v) for k, v in value.items()}
        if isinstance(value, list):
            return [as_strings(v) for v in value]
        return str(value)

    loaded = yaml.safe_load(text)
    assert root.to_python() == as_strings(loaded)
    for node in root.walk():
        assert node.line >= 1
        assert node.col >= 1
        line = text.splitlines()[node.line - 1]
        if node.is_scalar and node.style is None:
            assert line[node.col - 1 :].startswith(node.text)


_expr_scalars = _scalars | st.sampled_from(["${{ a.b }}", "x-${{ c }}", "${{ d", "e }}"])
_expr_values = st.recursive(
    _expr_scalars,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(_keys | st.just("${{ k }}"), inner, min_size=1, max_size=3)
    ),
    max_leaves=12,
)


@given(st.dictionaries(_keys | st.just("${{ k }}"), _expr_values, min_size=1, max_size=4))
def test_expression_scalars_are_the_values_holding_an_expression(
    data: dict[str, object],
) -> None:
    """What ``parse_yaml`` collects while parsing is exactly what a second walk would find:
    every scalar value (never a key) containing ``${{``, in document order."""
    import yaml

    text = yaml.safe_dump(data, default_flow_style=False)
    collected: list[Node] = []
    root = parse_yaml(text, collected)
    assert root is not None
    walked = [n for n in root.scalars() if "${{" in n.text]
    assert sorted(map(id, collected)) == sorted(map(id, walked))
    positions = [(n.line, n.col) for n in collected]
    assert positions == sorted(positions)
