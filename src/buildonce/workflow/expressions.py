"""GitHub Actions expressions: parser and evaluator for ``if:`` and ``${{ }}``.

Follows GitHub's documented semantics (docs "Expressions"): literals ``null``, booleans,
numbers (including hex and exponents) and single-quoted strings; context access with
``.name``, ``['name']`` and the ``.*`` filter; operators ``! < <= > >= == != && ||`` and
parentheses; the functions ``contains``, ``startsWith``, ``endsWith``, ``format``, ``join``,
``toJSON``, ``fromJSON``, ``hashFiles`` and the status checks ``success``, ``always``,
``cancelled``, ``failure``.

Loose typing is GitHub's: ``==`` between different types compares both as numbers
(``null`` → 0, booleans → 1/0, strings parsed, arrays/objects → NaN), string comparison
ignores case, and ``&&``/``||`` return one of their operands, not a boolean.

Static analysis rarely knows every value, so evaluation is three-valued: a context the
caller did not provide, and ``hashFiles()``, evaluate to :data:`UNKNOWN`, which spreads
through operators except where ``&&``/``||`` short-circuit on a known operand.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from buildonce.errors import BuildonceError


class ExpressionError(BuildonceError):
    """An expression does not parse or cannot be evaluated; ``column`` is 1-based."""

    def __init__(self, message: str, *, expression: str, column: int) -> None:
        super().__init__(message, where=f"expression {expression!r}, column {column}")
        self.expression = expression
        self.column = column


class _Unknown:
    """A value static analysis cannot know (a runtime output, a file hash)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value; use truthy()")


UNKNOWN = _Unknown()

# --------------------------------------------------------------------------------------------
# AST
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: object  # None, bool, float or str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Context:
    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Property:
    target: Expr
    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Index:
    target: Expr
    index: Expr
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Star:
    target: Expr
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # as written; matched case-insensitively
    args: tuple[Expr, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # == != < <= > >= && ||
    left: Expr
    right: Expr
    pos: int = field(default=0, compare=False)


Expr = Literal | Context | Property | Index | Star | Call | Not | Binary

#: name (lower case) -> (min args, max args)
FUNCTIONS: Mapping[str, tuple[int, int]] = {
    "contains": (2, 2),
    "startswith": (2, 2),
    "endswith": (2, 2),
    "format": (1, 255),
    "join": (1, 2),
    "tojson": (1, 1),
    "fromjson": (1, 1),
    "hashfiles": (1, 255),
    "success": (0, 0),
    "always": (0, 0),
    "cancelled": (0, 0),
    "failure": (0, 0),
}
STATUS_FUNCTIONS = frozenset({"success", "always", "cancelled", "failure"})

# --------------------------------------------------------------------------------------------
# Lexer and parser
# --------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>[+-]?(?:0x[0-9a-fA-F]+|0o[0-7]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))
  | (?P<str>'(?:[^']|'')*')
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],.*])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # num str op ident end
    text: str
    pos: int


def _tokenize(source: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            if source[pos] == "'":
                raise ExpressionError(
                    "unterminated string literal", expression=source, column=pos + 1
                )
            raise ExpressionError(
                f"unexpected character {source[pos]!r}", expression=source, column=pos + 1
            )
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(source)))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.i = 0

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: _Tok | None = None) -> ExpressionError:
        tok = tok or self.peek()
        return ExpressionError(message, expression=self.source, column=tok.pos + 1)

    def expect(self, text: str) -> _Tok:
        tok = self.take()
        if tok.text != text or tok.kind not in ("op",):
            found = tok.text or "end of expression"
            raise self.error(f"expected {text!r}, found {found!r}", tok)
        return tok

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise self.error("empty expression")
        expr = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            raise self.error(f"unexpected {tok.text!r} after a complete expression", tok)
        return expr

    def parse_or(self) -> Expr:
        left = self.parse_and()
        while self.peek().text == "||" and self.peek().kind == "op":
            tok = self.take()
            left = Binary("||", left, self.parse_and(), tok.pos)
        return left

    def parse_and(self) -> Expr:
        left = self.parse_equality()
        while self.peek().text == "&&" and self.peek().kind == "op":
            tok = self.take()
            left = Binary("&&", left, self.parse_equality(), tok.pos)
        return left

    def parse_equality(self) -> Expr:
        left = self.parse_comparison()
        while self.peek().kind == "op" and self.peek().text in ("==", "!="):
            tok = self.take()
            left = Binary(tok.text, left, self.parse_comparison(), tok.pos)
        return left

    def parse_comparison(self) -> Expr:
        left = self.parse_unary()
        while self.peek().kind == "op" and self.peek().text in ("<", "<=", ">", ">="):
            tok = self.take()
            left = Binary(tok.text, left, self.parse_unary(), tok.pos)
        return left

    def parse_unary(self) -> Expr:
        tok = self.peek()
        if tok.kind == "op" and tok.text == "!":
            self.take()
            return Not(self.parse_unary(), tok.pos)
        return self.parse_postfix(self.parse_primary())

    def parse_primary(self) -> Expr:
        tok = self.take()
        if tok.kind == "num":
            return Literal(_parse_number(tok.text), tok.pos)
        if tok.kind == "str":
            return Literal(tok.text[1:-1].replace("''", "'"), tok.pos)
        if tok.kind == "ident":
            low = tok.text.lower()
            nxt = self.peek()
            if nxt.kind == "op" and nxt.text == "(":
                return self.parse_call(tok)
            if low == "true":
                return Literal(True, tok.pos)
            if low == "false":
                return Literal(False, tok.pos)
            if low == "null":
                return Literal(None, tok.pos)
            return Context(tok.text, tok.pos)
        if tok.kind == "op" and tok.text == "(":
            inner = self.parse_or()
            self.expect(")")
            return inner
        found = tok.text or "end of expression"
        raise self.error(f"unexpected {found!r}", tok)

    def parse_call(self, name: _Tok) -> Expr:
        low = name.text.lower()
        if low not in FUNCTIONS:
            raise self.error(f"unknown function {name.text!r}", name)
        self.expect("(")
        args: list[Expr] = []
        if not (self.peek().kind == "op" and self.peek().text == ")"):
            args.append(self.parse_or())
            while self.peek().kind == "op" and self.peek().text == ",":
                self.take()
                args.append(self.parse_or())
        self.expect(")")
        lo, hi = FUNCTIONS[low]
        if not lo <= len(args) <= hi:
            wanted = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.error(f"{name.text}() takes {wanted} argument(s), got {len(args)}", name)
        return Call(name.text, tuple(args), name.pos)

    def parse_postfix(self, expr: Expr) -> Expr:
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.text == ".":
                self.take()
                nxt = self.take()
                if nxt.kind == "op" and nxt.text == "*":
                    expr = Star(expr, tok.pos)
                elif nxt.kind == "ident":
                    expr = Property(expr, nxt.text, tok.pos)
                else:
                    raise self.error("expected a property name after '.'", nxt)
            elif tok.kind == "op" and tok.text == "[":
                self.take()
                if self.peek().kind == "op" and self.peek().text == "*":
                    self.take()
                    self.expect("]")
                    expr = Star(expr, tok.pos)
                else:
                    index = self.parse_or()
                    self.expect("]")
                    expr = Index(expr, index, tok.pos)
            else:
                return expr


def _parse_number(text: str) -> float:
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body[:2].lower() == "0x":
        return sign * int(body[2:], 16)
    if body[:2].lower() == "0o":
        return sign * int(body[2:], 8)
    return float(text)


@functools.lru_cache(maxsize=8192)
def parse(source: str) -> Expr:
    """Parse one expression (without the ``${{ }}`` delimiters).

    Memoised: workflows repeat the same expressions many times, and the tree is immutable.
    """
    return _Parser(source).parse()


# --------------------------------------------------------------------------------------------
# Templates: text with ${{ }} embedded
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplatePart:
    """A piece of a template: literal text, or an expression with its 0-based offset."""

    text: str
    expression: str | None = None
    offset: int = 0


def split_template(text: str) -> list[TemplatePart]:
    """Split ``text`` into literal parts and ``${{ … }}`` parts.

    A ``}}`` inside a quoted string does not close the expression.
    """
    parts: list[TemplatePart] = []
    pos = 0
    while True:
        start = text.find("${{", pos)
        if start < 0:
            if pos < len(text):
                parts.append(TemplatePart(text[pos:]))
            return parts
        if start > pos:
            parts.append(TemplatePart(text[pos:start]))
        end = text.find("}}", start + 3)
        # Quotes balance in almost every expression; only then is the first "}}" the end.
        while end >= 0 and text.count("'", start + 3, end) % 2:
            end = text.find("}}", end + 1)
        if end < 0:
            raise ExpressionError(
                "'${{' is never closed by '}}'", expression=text, column=start + 1
            )
        parts.append(TemplatePart(text[start : end + 2], text[start + 3 : end].strip(), start))
        pos = end + 2


def condition_source(text: str) -> str:
    """The expression of an ``if:`` value: GitHub allows it with or without ``${{ }}``."""
    stripped = text.strip()
    if stripped.startswith("${{") and stripped.endswith("}}"):
        parts = split_template(stripped)
        if len(parts) == 1 and parts[0].expression is not None:
            return parts[0].expression
    return stripped


# --------------------------------------------------------------------------------------------
# Rendering (used by the property tests and by rules quoting expressions)
# --------------------------------------------------------------------------------------------

_PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4}


def render(expr: Expr) -> str:
    """Canonical source text for ``expr``; ``parse(render(e)) == e``."""
    return _render(expr, 0)


def _postfix_target(expr: Expr) -> str:
    text = _render(expr, 9)
    return text if isinstance(expr, Context | Property | Index | Star | Call) else f"({text})"


def _render(expr: Expr, parent: int) -> str:
    if isinstance(expr, Literal):
        return _render_literal(expr.value)
    if isinstance(expr, Context):
        return expr.name
    if isinstance(expr, Property):
        return f"{_postfix_target(expr.target)}.{expr.name}"
    if isinstance(expr, Index):
        return f"{_postfix_target(expr.target)}[{_render(expr.index, 0)}]"
    if isinstance(expr, Star):
        return f"{_postfix_target(expr.target)}.*"
    if isinstance(expr, Call):
        return f"{expr.name}({', '.join(_render(a, 0) for a in expr.args)})"
    if isinstance(expr, Not):
        text = f"!{_render(expr.operand, 8)}"
        return f"({text})" if parent > 8 else text
    prec = _PRECEDENCE[expr.op]
    # Binary operators are left-associative: the right operand needs parentheses at equal
    # precedence.
    text = f"{_render(expr.left, prec)} {expr.op} {_render(expr.right, prec + 1)}"
    return f"({text})" if prec < parent else text


def _render_literal(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError("NaN and infinities have no literal form")
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"not a literal: {value!r}")


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status:
    """What the status functions answer for the job or step being evaluated."""

    success: bool | _Unknown = True
    failure: bool | _Unknown = False
    cancelled: bool | _Unknown = False


def to_number(value: object) -> float:
    """GitHub's number coercion."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float | int):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            low = text.lower()
            if low.startswith(("0x", "-0x", "+0x")):
                return _parse_number(text)
            if low in ("infinity", "+infinity"):
                return math.inf
            if low == "-infinity":
                return -math.inf
            if low in ("nan", "inf", "+inf", "-inf") or "_" in text:
                return math.nan
            return float(text)
        except ValueError:
            return math.nan
    return math.nan


def to_string(value: object) -> str:
    """GitHub's string coercion."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float | int):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "Array"
    return "Object"


def truthy(value: object) -> bool | _Unknown:
    if value is UNKNOWN:
        return UNKNOWN
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, float | int):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, float | int):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def loose_equal(a: object, b: object) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        if ka == "string":
            return str(a).casefold() == str(b).casefold()
        if ka == "number":
            return float(a) == float(b)  # type: ignore[arg-type]
        if ka == "object":
            return a is b
        return a == b
    return to_number(a) == to_number(b)


def _loose_compare(op: str, a: object, b: object) -> bool:
    if _kind(a) == "string" and _kind(b) == "string":
        sx, sy = str(a).casefold(), str(b).casefold()
        order = (sx > sy) - (sx < sy)
    else:
        nx, ny = to_number(a), to_number(b)
        if math.isnan(nx) or math.isnan(ny):
            return False
        order = (nx > ny) - (nx < ny)
    if op == "<":
        return order < 0
    if op == "<=":
        return order <= 0
    if op == ">":
        return order > 0
    return order >= 0


def _lookup(target: object, name: object) -> object:
    if target is UNKNOWN or name is UNKNOWN:
        return UNKNOWN
    if isinstance(target, dict):
        key = to_string(name)
        if key in target:
            return target[key]
        low = key.casefold()
        for k, v in target.items():
            if isinstance(k, str) and k.casefold() == low:
                return v
        return None
    if isinstance(target, list):
        if isinstance(name, str) and name.strip() == "":
            return None
        number = to_number(name)
        if math.isnan(number) or number < 0 or not number.is_integer():
            return None
        idx = int(number)
        return target[idx] if idx < len(target) else None
    return None


def _from_json(value: object, expression: str, pos: int) -> object:
    text = to_string(value)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExpressionError(
            f"fromJSON: invalid JSON {text[:40]!r}: {exc.msg}",
            expression=expression,
            column=pos + 1,
        ) from None
    return _normalise_json(data)


def _normalise_json(data: object) -> object:
    if isinstance(data, bool) or data is None or isinstance(data, str):
        return data
    if isinstance(data, int | float):
        return float(data)
    if isinstance(data, list):
        return [_normalise_json(x) for x in data]
    if isinstance(data, dict):
        return {k: _normalise_json(v) for k, v in data.items()}
    return to_string(data)


def _to_json(value: object) -> str:
    def plain(v: object) -> object:
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return int(v)
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return json.dumps(plain(value), indent=2, ensure_ascii=False)


def _format(template: str, args: list[object], expression: str, pos: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(template):
        ch = template[i]
        if ch == "{":
            if template.startswith("{{", i):
                out.append("{")
                i += 2
                continue
            end = template.find("}", i)
            index_text = template[i + 1 : end] if end > 0 else ""
            if not index_text.isdigit():
                raise ExpressionError(
                    f"format: invalid placeholder in {template!r}",
                    expression=expression,
                    column=pos + 1,
                )
            index = int(index_text)
            if index >= len(args):
                raise ExpressionError(
                    f"format: {{{index}}} has no argument", expression=expression, column=pos + 1
                )
            out.append(to_string(args[index]))
            i = end + 1
        elif ch == "}":
            if template.startswith("}}", i):
                out.append("}")
                i += 2
                continue
            raise ExpressionError(
                f"format: unmatched '}}' in {template!r}", expression=expression, column=pos + 1
            )
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class Evaluator:
    """Evaluates parsed expressions against contexts.

    ``contexts`` maps a context name (``github``, ``matrix``, ``needs`` …) to its value;
    a context that is absent evaluates to :data:`UNKNOWN`.
    """

    def __init__(
        self,
        contexts: Mapping[str, object] | None = None,
        *,
        status: Status | None = None,
        source: str = "",
    ) -> None:
        self.contexts = {k.casefold(): v for k, v in (contexts or {}).items()}
        self.status = status or Status()
        self.source = source

    def evaluate(self, expr: Expr) -> object:
        method: Callable[[Expr], object] = getattr(self, "_eval_" + type(expr).__name__)
        return method(expr)

    def _eval_Literal(self, expr: Literal) -> object:
        return expr.value

    def _eval_Context(self, expr: Context) -> object:
        return self.contexts.get(expr.name.casefold(), UNKNOWN)

    def _eval_Property(self, expr: Property) -> object:
        target = self.evaluate(expr.target)
        if isinstance(target, _StarList):
            return _StarList(v for v in (_lookup(t, expr.name) for t in target) if v is not None)
        return _lookup(target, expr.name)

    def _eval_Index(self, expr: Index) -> object:
        target = self.evaluate(expr.target)
        index = self.evaluate(expr.index)
        if isinstance(target, _StarList):
            return _StarList(v for v in (_lookup(t, index) for t in target) if v is not None)
        return _lookup(target, index)

    def _eval_Star(self, expr: Star) -> object:
        target = self.evaluate(expr.target)
        if target is UNKNOWN:
            return UNKNOWN
        if isinstance(target, list):
            return _StarList(target)
        if isinstance(target, dict):
            return _StarList(target.values())
        return _StarList()

    def _eval_Not(self, expr: Not) -> object:
        value = truthy(self.evaluate(expr.operand))
        return UNKNOWN if value is UNKNOWN else not value

    def _eval_Binary(self, expr: Binary) -> object:
        left = self.evaluate(expr.left)
        if expr.op in ("&&", "||"):
            lt = truthy(left)
            if lt is UNKNOWN:
                right = self.evaluate(expr.right)
                rt = truthy(right)
                # Unknown && false is false; unknown || true is true (values differ, truth doesn't)
                if expr.op == "&&" and rt is False:
                    return False if right is False else UNKNOWN
                return UNKNOWN
            if expr.op == "&&":
                return self.evaluate(expr.right) if lt else left
            return left if lt else self.evaluate(expr.right)
        right = self.evaluate(expr.right)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        if expr.op == "==":
            return loose_equal(left, right)
        if expr.op == "!=":
            return not loose_equal(left, right)
        return _loose_compare(expr.op, left, right)

    def _eval_Call(self, expr: Call) -> object:
        name = expr.name.lower()
        if name in STATUS_FUNCTIONS:
            if name == "always":
                return True
            value: bool | _Unknown = getattr(self.status, name)
            return value
        if name == "hashfiles":
            return UNKNOWN
        args = [self.evaluate(a) for a in expr.args]
        if any(a is UNKNOWN for a in args):
            return UNKNOWN
        if name == "contains":
            haystack, needle = args
            if isinstance(haystack, list):
                return any(loose_equal(item, needle) for item in haystack)
            return to_string(needle).casefold() in to_string(haystack).casefold()
        if name == "startswith":
            return to_string(args[0]).casefold().startswith(to_string(args[1]).casefold())
        if name == "endswith":
            return to_string(args[0]).casefold().endswith(to_string(args[1]).casefold())
        if name == "format":
            return _format(to_string(args[0]), args[1:], self.source, expr.pos)
        if name == "join":
            sep = to_string(args[1]) if len(args) > 1 else ","
            if isinstance(args[0], list):
                return sep.join(to_string(x) for x in args[0])
            return to_string(args[0])
        if name == "tojson":
            return _to_json(args[0])
        if name == "fromjson":
            return _from_json(args[0], self.source, expr.pos)
        raise ExpressionError(  # pragma: no cover - the parser rejects unknown names
            f"unknown function {expr.name!r}", expression=self.source, column=expr.pos + 1
        )


class _StarList(list[object]):
    """Result of an object filter (``.*``); indexing it maps over the items."""


def evaluate(
    source: str,
    contexts: Mapping[str, object] | None = None,
    *,
    status: Status | None = None,
) -> object:
    """Parse and evaluate ``source``; convenience for tests and the CLI."""
    expr = parse(source)
    result = Evaluator(contexts, status=status, source=source).evaluate(expr)
    return list(result) if isinstance(result, _StarList) else result


def children(e: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of ``e``, left to right."""
    if isinstance(e, Call):
        return e.args
    if isinstance(e, Property | Star):
        return (e.target,)
    if isinstance(e, Index):
        return (e.target, e.index)
    if isinstance(e, Not):
        return (e.operand,)
    if isinstance(e, Binary):
        return (e.left, e.right)
    return ()


def calls(expr: Expr) -> list[Call]:
    """Every function call in ``expr`` (depth first)."""
    found: list[Call] = []

    def visit(e: Expr) -> None:
        if isinstance(e, Call):
            found.append(e)
        for child in children(e):
            visit(child)

    visit(expr)
    return found


def uses_status_function(expr: Expr) -> bool:
    """Whether ``expr`` calls success/always/cancelled/failure (GitHub then drops the
    implicit ``success() &&``)."""
    return any(c.name.lower() in STATUS_FUNCTIONS for c in calls(expr))


def references(expr: Expr) -> list[str]:
    """Dotted context paths read by ``expr``, e.g. ``steps.cache.outputs.cache-hit``."""
    found: list[str] = []

    def path(e: Expr) -> str | None:
        if isinstance(e, Context):
            return e.name
        if isinstance(e, Property):
            base = path(e.target)
            return f"{base}.{e.name}" if base else None
        if isinstance(e, Index) and isinstance(e.index, Literal) and isinstance(e.index.value, str):
            base = path(e.target)
            return f"{base}.{e.index.value}" if base else None
        return None

    def visit(e: Expr) -> None:
        p = path(e)
        if p is not None:
            found.append(p)
            if isinstance(e, Index):
                visit(e.index)
            return
        for child in children(e):
            visit(child)

    visit(expr)
    return found
