"""Whatever the YAML holds, linting returns findings and never raises."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from buildonce.lint import Linter

_keys = st.sampled_from(
    [
        "on", "jobs", "steps", "needs", "if", "run", "uses", "with", "key", "path", "strategy",
        "matrix", "include", "exclude", "runs-on", "env", "outputs", "id", "name", "runs",
        "using", "restore-keys", "continue-on-error", "build", "test", "x",
    ]
)  # fmt: skip
_scalars = st.one_of(
    st.sampled_from(
        [
            "actions/cache/restore@v4", "actions/cache/save@v4", "actions/cache@v4",
            "go build -o bin/app .", "./bin/app --version", "${{ always() }}", "always()",
            "${{ steps.k.outputs.value }}", "${{ runner.os }}-bin-${{ hashFiles('go.sum') }}",
            "${{ matrix.x", "build", "test", "bin/app", "true", "composite", "./.github/actions/a",
        ]
    ),
    st.text(max_size=8),
    st.integers(),
    st.none(),
    st.booleans(),
)  # fmt: skip
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=4))
def test_random_documents_never_crash(data: dict[str, object]) -> None:
    text = yaml.safe_dump(data, sort_keys=False)
    findings = Linter().lint_text(text, "random.yml")
    for finding in findings:
        assert finding.location.line >= 1
        assert finding.message


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="ab:-[]{}'\"\n #&*!|>%@`\t", max_size=60))
def test_random_text_never_crashes(text: str) -> None:
    for finding in Linter().lint_text(text, "noise.yml"):
        assert finding.location.line >= 1
