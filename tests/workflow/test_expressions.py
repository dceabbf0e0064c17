from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildonce.workflow import expressions as ex
from buildonce.workflow.expressions import UNKNOWN, ExpressionError, Status, evaluate

CONTEXTS = {
    "github": {"event_name": "push", "ref": "refs/heads/main", "sha": "abc"},
    "matrix": {"os": "ubuntu-latest", "legs": ["a", "b"]},
    "needs": {"build": {"result": "success", "outputs": {"key": "k1"}}},
    "env": {"EMPTY": "", "ZERO": "0"},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("null", None),
        ("true && 'x'", "x"),
        ("false || 0", 0.0),
        ("'' || 'fallback'", "fallback"),
        ("0x10 == 16", True),
        ("1e2 == 100", True),
        ("'It''s'", "It's"),
        ("github.event_name == 'PUSH'", True),  # strings compare ignoring case
        ("github['event_name']", "push"),
        ("matrix.legs[1]", "b"),
        ("needs.build.outputs.key", "k1"),
        ("needs.missing.result", None),
        ("1 == '1'", True),  # loose typing: both become numbers
        ("'' == 0", True),
        ("null == 0", True),
        ("true == 1", True),
        ("'abc' == 0", False),  # NaN equals nothing
        ("'a' < 'B'", True),
        ("2 > '10'", False),
        ("!env.EMPTY", True),
        ("!env.ZERO", False),  # the string '0' is truthy
        ("contains(matrix.legs, 'A')", True),
        ("contains('Hello', 'ell')", True),
        ("startsWith(github.ref, 'refs/HEADS/')", True),
        ("endsWith(github.ref, '/main')", True),
        ("format('{0}-{1}-{{x}}', 'a', 1)", "a-1-{x}"),
        ("join(matrix.legs, '+')", "a+b"),
        ("fromJSON('{\"a\": [1, true]}').a[1]", True),
        ("toJSON(matrix.legs)", '[\n  "a",\n  "b"\n]'),
        ("fromJSON('[1,2]')[0] == 1", True),
        ("success()", True),
        ("always()", True),
        ("failure()", False),
        ("hashFiles('**/go.sum')", UNKNOWN),
        ("steps.x.outputs.y", UNKNOWN),  # a context not given
        ("steps.x.outputs.y && false", False),
        ("steps.x.outputs.y || true", UNKNOWN),
        ("false && steps.x.outputs.y", False),
    ],
)
def test_evaluate(source: str, expected: object) -> None:
    assert evaluate(source, CONTEXTS) == expected


def test_status_functions_follow_the_status() -> None:
    status = Status(success=False, failure=True, cancelled=False)
    assert evaluate("failure() && !cancelled()", status=status) is True
    assert evaluate("success()", status=status) is False


@pytest.mark.parametrize(
    ("source", "column"),
    [
        ("", 1),
        ("a ==", 5),
        ("(a", 3),
        ("nosuch(1)", 1),
        ("contains('a')", 1),
        ("'open", 1),
        ("a $ b", 3),
        ("a b", 3),
    ],
)
def test_parse_errors_name_the_column(source: str, column: int) -> None:
    with pytest.raises(ExpressionError) as info:
        ex.parse(source)
    assert info.value.column == column
    assert "\n" not in str(info.value)


def test_from_json_error_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="fromJSON"):
        evaluate("fromJSON('{nope')")


def test_split_template_and_condition_source() -> None:
    parts = ex.split_template("a-${{ runner.os }}-${{ format('}}') }}")
    assert [p.expression for p in parts] == [None, "runner.os", None, "format('}}')"]
    assert ex.condition_source("${{ always() }}") == "always()"
    assert ex.condition_source("github.ref == 'x'") == "github.ref == 'x'"


def test_references_and_status_detection() -> None:
    expr = ex.parse("!cancelled() && needs.build.result == 'success'")
    assert ex.uses_status_function(expr)
    assert ex.references(expr) == ["needs.build.result"]
    assert not ex.uses_status_function(ex.parse("github.ref == 'x'"))


# --- property tests ---------------------------------------------------------------------

_names = st.sampled_from(["github", "matrix", "needs", "env", "inputs", "steps"])
_props = st.from_regex(r"[a-z_][a-z0-9_-]{0,6}", fullmatch=True).filter(
    lambda s: s not in ("true", "false", "null")
)
_literals = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000).map(float),
    st.text(alphabet="ab'c {}", max_size=6),
).map(ex.Literal)


def _exprs() -> st.SearchStrategy[ex.Expr]:
    base = st.one_of(_literals, _names.map(ex.Context))

    def extend(inner: st.SearchStrategy[ex.Expr]) -> st.SearchStrategy[ex.Expr]:
        return st.one_of(
            st.builds(ex.Property, inner, _props),
            st.builds(ex.Index, inner, inner),
            st.builds(ex.Not, inner),
            st.builds(
                ex.Binary,
                st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "&&", "||"]),
                inner,
                inner,
            ),
            st.builds(
                ex.Call,
                st.sampled_from(["contains", "startsWith", "endsWith"]),
                st.tuples(inner, inner),
            ),
            st.builds(
                ex.Call, st.sampled_from(["success", "always", "cancelled", "failure"]), st.just(())
            ),
            st.builds(ex.Call, st.just("format"), st.tuples(inner, inner)),
        )

    return st.recursive(base, extend, max_leaves=10)


@given(_exprs())
def test_render_then_parse_is_identity(expr: ex.Expr) -> None:
    assert ex.parse(ex.render(expr)) == expr


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=False, width=32),
    st.text(alphabet="0123456789abcAB .x-", max_size=5),
)


@given(_values, _values)
def test_loose_equality_is_symmetric(a: object, b: object) -> None:
    assert ex.loose_equal(a, b) == ex.loose_equal(b, a)


@given(_values)
def test_equality_is_reflexive_except_nan(a: object) -> None:
    is_nan_number = isinstance(a, float) and math.isnan(a)
    assert ex.loose_equal(a, a) == (not is_nan_number)


@given(_values, _values)
def test_comparison_trichotomy_or_nan(a: object, b: object) -> None:
    lt = evaluate("a.x < a.y", {"a": {"x": a, "y": b}})
    gt = evaluate("a.x > a.y", {"a": {"x": a, "y": b}})
    assert not (lt and gt)


@given(_exprs())
def test_double_negation_keeps_truth(expr: ex.Expr) -> None:
    evaluator = ex.Evaluator({"github": {"ref": "x"}, "env": {}, "matrix": {}})
    try:
        value = evaluator.evaluate(expr)
        double = evaluator.evaluate(ex.Not(ex.Not(expr)))
    except ExpressionError:
        return  # format() with a bad template
    truth = ex.truthy(value)
    assert double == (UNKNOWN if truth is UNKNOWN else truth)
