"""The file walk behind GitHub's ``hashFiles()``: @actions/glob 0.7 with minimatch 10, in Python.

This is not a generic glob.  It reproduces, quirk for quirk, what the runner's hashFiles
script sees when it runs ``glob.create(patterns, {followSymbolicLinks})`` on Linux/macOS
(``../shared/research/cache-semantics.md`` §1.2-§1.3):

* pattern lines are JS-trimmed, ``#`` lines dropped, leading ``!`` toggles negation;
* every pattern is made absolute against the workspace (``~`` against HOME); ``.``/``..``
  segments are rejected; each pattern not ending in ``**`` gets an implicit ``<p>/**``;
* search roots are the literal prefixes of the positive patterns, ancestor-deduplicated,
  walked in pattern order, depth first, children in ``strcmp`` order (libuv sorts them);
* matching is minimatch with ``dot, nobrace, noext, nonegate, nocomment`` and is done on
  UTF-16 strings, because JavaScript regular expressions without the ``u`` flag see an
  astral character as two code units (``?`` does not match an emoji).

Matching is incremental: each pattern is a small NFA over path segments and the walk
carries one lazily built product-DFA state per directory, so a file costs one pass over
the (usually one or two) segment tests that are still live plus a dict lookup.  A faithful
port of minimatch's recursive ``matchOne`` lives in the tests as the reference model.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Final, NamedTuple

from buildonce.errors import InputError

# MatchKind in @actions/glob.
MATCH_NONE: Final = 0
MATCH_DIRECTORY: Final = 1
MATCH_FILE: Final = 2
MATCH_ALL: Final = 3

#: JavaScript's String.prototype.trim() removes WhiteSpace and LineTerminator, which is not
#: the same set as Python's str.strip() (which also strips \x1c-\x1f but keeps U+FEFF).
_JS_WHITESPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def js_trim(text: str) -> str:
    return text.strip(_JS_WHITESPACE)


# --------------------------------------------------------------------------- UTF-16 helpers


def to_utf16(text: str) -> str:
    """Spell astral characters as surrogate pairs, the way a JavaScript string holds them."""
    if text.isascii() or all(ord(c) < 0x10000 for c in text):
        return text
    out = []
    for c in text:
        code = ord(c)
        if code < 0x10000:
            out.append(c)
        else:
            code -= 0x10000
            out.append(chr(0xD800 + (code >> 10)))
            out.append(chr(0xDC00 + (code & 0x3FF)))
    return "".join(out)


def from_utf16(text: str) -> str:
    """Join surrogate pairs back into code points (lone surrogates are kept as they are)."""
    if text.isascii():
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


# --------------------------------------------------------------------------- segment matching


class _Globstar:
    __slots__ = ()

    def __repr__(self) -> str:
        return "GLOBSTAR"


GLOBSTAR: Final = _Globstar()

#: A test run on one path segment (in its UTF-16 spelling).
SegmentTest = Callable[[str], bool]
#: A compiled minimatch part: a literal segment, ``**``, or a test.
Part = str | _Globstar | SegmentTest

# minimatch's fast paths.  They replace the regular expression entirely, so their quirks
# (the extension is compared raw, escapes included) are part of the behaviour.
_STAR_RE: Final = re.compile(r"\*+")
_STAR_DOT_EXT_RE: Final = re.compile(r"\*+([^+@!?*\[(]*)")
_QMARKS_RE: Final = re.compile(r"\?+([^+@!?*\[(]*)?")
_STAR_DOT_STAR_RE: Final = re.compile(r"\*+\.\*+")
_DOT_STAR_RE: Final = re.compile(r"\.\*+")

# minimatch ast.ts: characters that keep their backslash when escaped in a glob.  '|' is
# missing from that set, so an escaped '|' reaches the RegExp raw and means alternation.
_RE_SPECIALS: Final = frozenset("().*{}+?[]^$\\!")
_JS_LINE_TERMINATORS: Final = frozenset("\n\r\u2028\u2029")

_QMARK: Final = "[^/]"
_STAR: Final = "[^/]*?"
_STAR_NO_EMPTY: Final = "[^/]+?"
_NEVER: Final = "(?!)"

# brace-expressions.ts: POSIX classes as Unicode general categories.  The third flag marks
# the classes minimatch puts in the negated set ([:graph:] is "not Z and not C").
_POSIX_CLASSES: Final[dict[str, tuple[tuple[str, ...], bool, bool]]] = {
    "[:alnum:]": (("L", "Nl", "Nd"), True, False),
    "[:alpha:]": (("L", "Nl"), True, False),
    "[:ascii:]": (("ascii",), False, False),
    "[:blank:]": (("Zs", "\t"), True, False),
    "[:cntrl:]": (("Cc",), True, False),
    "[:digit:]": (("Nd",), True, False),
    "[:graph:]": (("Z", "C"), True, True),
    "[:lower:]": (("Ll",), True, False),
    # minimatch maps [:print:] to \p{C}; reproduced, not corrected.
    "[:print:]": (("C",), True, False),
    "[:punct:]": (("P",), True, False),
    "[:space:]": (("Z", "\t", "\r", "\n", "\v", "\f"), True, False),
    "[:upper:]": (("Lu",), True, False),
    "[:word:]": (("L", "Nl", "Nd", "Pc"), True, False),
    "[:xdigit:]": (("xdigit",), False, False),
}


def _escape_code_point(code: int) -> str:
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


@cache
def _category_ranges(categories: tuple[str, ...]) -> str:
    """A Python character-class body for Unicode general categories (``L`` = all ``L*``)."""
    import unicodedata

    literal = [c for c in categories if len(c) == 1 and not c.isalpha()]
    prefixes = tuple(c for c in categories if c not in literal and c not in ("ascii", "xdigit"))
    body = [re.escape(c) for c in literal]
    if "ascii" in categories:
        body.append("\\x00-\\x7f")
    if "xdigit" in categories:
        body.append("A-Fa-f0-9")
    if prefixes:
        start = -1
        for code in range(0x110001):
            inside = code <= 0x10FFFF and unicodedata.category(chr(code)).startswith(prefixes)
            if inside and start < 0:
                start = code
            elif not inside and start >= 0:
                end = code - 1
                body.append(
                    _escape_code_point(start)
                    if start == end
                    else f"{_escape_code_point(start)}-{_escape_code_point(end)}"
                )
                start = -1
    return "".join(body)


class _ClassResult(NamedTuple):
    source: str  # Python regex source ('' when nothing was consumed)
    literal: str  # the single character when the class is not magic
    uflag: bool
    consumed: int
    magic: bool


def _parse_class(glob: str, pos: int) -> _ClassResult:
    """Port of minimatch ``parseClass`` producing a Python character class."""
    items: list[str] = []  # Python class-body pieces for the positive set
    negs: list[str] = []
    single: str | None = None  # the one plain character, when that is all there is
    plain_count = 0
    i = pos + 1
    saw_start = False
    uflag = False
    escaping = False
    negate = False
    end_pos = pos
    range_start = ""
    while i < len(glob):
        c = glob[i]
        if c in "!^" and i == pos + 1:
            negate = True
            i += 1
            continue
        if c == "]" and saw_start and not escaping:
            end_pos = i + 1
            break
        saw_start = True
        if c == "\\" and not escaping:
            escaping = True
            i += 1
            continue
        if c == "[" and not escaping:
            for name, (cats, needs_u, negated) in _POSIX_CLASSES.items():
                if glob.startswith(name, i):
                    if range_start:
                        return _ClassResult(_NEVER, "", False, len(glob) - pos, True)
                    i += len(name)
                    (negs if negated else items).append(_category_ranges(cats))
                    uflag = uflag or needs_u
                    break
            else:
                name = ""
            if name:
                continue
        escaping = False
        if range_start:
            if c > range_start:
                items.append(f"{re.escape(range_start)}-{re.escape(c)}")
            elif c == range_start:
                items.append(re.escape(c))
                single, plain_count = c, plain_count + 1
            range_start = ""
            i += 1
            continue
        if glob.startswith("-]", i + 1):
            items.append(re.escape(c) + "\\-")
            i += 2
            continue
        if glob.startswith("-", i + 1):
            range_start = c
            i += 2
            continue
        items.append(re.escape(c))
        single, plain_count = c, plain_count + 1
        i += 1

    if end_pos < i:
        return _ClassResult("", "", False, 0, False)
    if not items and not negs:
        return _ClassResult(_NEVER, "", False, len(glob) - pos, True)
    if (
        not negs
        and len(items) == 1
        and plain_count == 1
        and single is not None
        and single not in _JS_LINE_TERMINATORS
        and not negate
    ):
        return _ClassResult(re.escape(single), single, False, end_pos - pos, False)
    ranges = "".join(items)
    sranges = "[" + ("^" if negate else "") + ranges + "]"
    snegs = "[" + ("" if negate else "^") + "".join(negs) + "]"
    if items and negs:
        source = f"(?:{sranges}|{snegs})"
    elif items:
        source = sranges
    else:
        source = snegs
    return _ClassResult(source, "", uflag, end_pos - pos, True)


def _parse_glob(glob: str) -> tuple[str, str, bool, bool]:
    """Port of minimatch ``AST.#parseGlob`` for a whole segment (noext, so one part).

    Returns the regex source, the literal (meaningful when not magic), magic, and the
    ``u`` flag.
    """
    escaping = False
    source: list[str] = []
    literal: list[str] = []
    uflag = False
    in_star = False
    magic = False
    only_stars = all(c == "*" for c in glob)
    i = 0
    while i < len(glob):
        c = glob[i]
        if escaping:
            escaping = False
            source.append("|" if c == "|" and c not in _RE_SPECIALS else re.escape(c))
            literal.append(c)
            i += 1
            continue
        if c == "*":
            if not in_star:
                in_star = True
                source.append(_STAR_NO_EMPTY if only_stars else _STAR)
                magic = True
            i += 1
            continue
        in_star = False
        if c == "\\":
            if i == len(glob) - 1:
                source.append("\\\\")
                literal.append("\\")
            else:
                escaping = True
            i += 1
            continue
        if c == "[":
            result = _parse_class(glob, i)
            if result.consumed:
                source.append(result.source)
                literal.append(result.literal)
                uflag = uflag or result.uflag
                magic = magic or result.magic
                i += result.consumed
                continue
        if c == "?":
            source.append(_QMARK)
            magic = True
            i += 1
            continue
        source.append(re.escape(c))
        literal.append(c)
        i += 1
    return "".join(source), "".join(literal), magic, uflag


def _literal_equals(literal: str) -> SegmentTest:
    return literal.__eq__


@lru_cache(maxsize=4096)
def compile_segment(segment: str) -> Part:
    """Port of minimatch ``Minimatch.parse`` with ``dot: true, noext: true``.

    ``segment`` is in UTF-16 spelling.  Equal segments give the identical object, which
    lets the walk share one test between patterns.
    """
    if segment == "**":
        return GLOBSTAR
    if segment == "":
        return ""
    fast: SegmentTest | None = None
    if _STAR_RE.fullmatch(segment):
        fast = _star_test
    elif m := _STAR_DOT_EXT_RE.fullmatch(segment):
        fast = _ends_with_test(m.group(1))
    elif m := _QMARKS_RE.fullmatch(segment):
        fast = _qmarks_test(len(segment), m.group(1) or "")
    elif _STAR_DOT_STAR_RE.fullmatch(segment):
        fast = _star_dot_star_test
    elif _DOT_STAR_RE.fullmatch(segment):
        fast = _dot_star_test
    source, literal, magic, uflag = _parse_glob(segment)
    if not magic:
        return literal
    if fast is not None:
        return fast
    # JS: new RegExp(`^${re}$`).test(f): unanchored search, '$' is the very end.  The
    # leading (?!(?:^|/)\.\.?(?:$|/)) guard is left out: a segment is never "." or "..".
    if uflag:
        regex = re.compile("^" + from_utf16(source) + r"\Z")
        return lambda f: regex.search(from_utf16(f)) is not None
    search = re.compile("^" + source + r"\Z").search
    return lambda f: search(f) is not None


def _star_test(f: str) -> bool:
    return f not in {"", ".", ".."}


def _star_dot_star_test(f: str) -> bool:
    return f not in {".", ".."} and "." in f


def _dot_star_test(f: str) -> bool:
    return f not in {".", ".."} and f.startswith(".")


def _ends_with_test(ext: str) -> SegmentTest:
    def test(f: str) -> bool:
        return f.endswith(ext)

    return test


def _qmarks_test(length: int, ext: str) -> SegmentTest:
    def test(f: str) -> bool:
        return len(f) == length and f not in {".", ".."} and (not ext or f.endswith(ext))

    return test


# --------------------------------------------------------------------------- reference matcher


_MAX_GLOBSTAR_RECURSION: Final = 200


def _hit(part: Part, segment: str) -> bool:
    if isinstance(part, str):
        return segment == part
    assert not isinstance(part, _Globstar)
    return bool(part(segment))


def _match_one_plain(
    file: Sequence[str], pattern: Sequence[Part], partial: bool, fi: int, pi: int
) -> bool:
    fl, pl = len(file), len(pattern)
    while fi < fl and pi < pl:
        p = pattern[pi]
        if p is GLOBSTAR:
            return False
        if not _hit(p, file[fi]):
            return False
        fi += 1
        pi += 1
    if fi == fl and pi == pl:
        return True
    if fi == fl:
        return partial
    if pi == pl:
        return fi == fl - 1 and file[fi] == ""
    raise AssertionError("unreachable")


def _body_sections(
    file: Sequence[str],
    sections: list[tuple[list[Part], int]],
    fi: int,
    bi: int,
    *,
    partial: bool,
    depth: int,
    saw_tail: bool,
) -> bool | None:
    if bi >= len(sections):
        for i in range(fi, len(file)):
            saw_tail = True
            if file[i] in (".", ".."):
                return False
        return saw_tail
    body, after = sections[bi]
    while fi <= after:
        m = _match_one_plain(list(file[: fi + len(body)]), body, partial, fi, 0)
        if m and depth < _MAX_GLOBSTAR_RECURSION:
            sub = _body_sections(
                file,
                sections,
                fi + len(body),
                bi + 1,
                partial=partial,
                depth=depth + 1,
                saw_tail=saw_tail,
            )
            if sub is not False:
                return sub
        f = file[fi] if fi < len(file) else None
        if f in (".", ".."):
            return False
        fi += 1
    return partial or None


def _match_globstar(file: Sequence[str], pattern: Sequence[Part], partial: bool) -> bool:
    fi = pi = 0
    firstgs = list(pattern).index(GLOBSTAR)
    lastgs = len(pattern) - 1 - list(reversed(pattern)).index(GLOBSTAR)
    if partial:
        head, body, tail = list(pattern[:firstgs]), list(pattern[firstgs + 1 :]), []
    else:
        head = list(pattern[:firstgs])
        body = list(pattern[firstgs + 1 : lastgs])
        tail = list(pattern[lastgs + 1 :])
    if head:
        file_head = list(file[fi : fi + len(head)])
        if not _match_one_plain(file_head, head, partial, 0, 0):
            return False
        fi += len(head)
        pi += len(head)
    file_tail_match = 0
    if tail:
        if len(tail) + fi > len(file):
            return False
        tail_start = len(file) - len(tail)
        if _match_one_plain(file, tail, partial, tail_start, 0):
            file_tail_match = len(tail)
        else:
            if file[-1] != "" or fi + len(tail) == len(file):
                return False
            tail_start -= 1
            if not _match_one_plain(file, tail, partial, tail_start, 0):
                return False
            file_tail_match = len(tail) + 1
    if not body:
        saw_some = bool(file_tail_match)
        for i in range(fi, len(file) - file_tail_match):
            saw_some = True
            if file[i] in (".", ".."):
                return False
        return partial or saw_some
    sections: list[list[Part]] = [[]]
    non_gs = 0
    sums = [0]
    for b in body:
        if b is GLOBSTAR:
            sums.append(non_gs)
            sections.append([])
        else:
            sections[-1].append(b)
            non_gs += 1
    file_length = len(file) - file_tail_match
    with_after: list[tuple[list[Part], int]] = []
    for offset, section in enumerate(sections):
        i = len(sections) - 1 - offset
        with_after.append((section, file_length - (sums[i] + len(section))))
    return bool(
        _body_sections(
            file, with_after, fi, 0, partial=partial, depth=0, saw_tail=bool(file_tail_match)
        )
    )


def reference_match_one(
    file: Sequence[str], pattern: Sequence[Part], partial: bool = False
) -> bool:
    """minimatch ``Minimatch.matchOne(file, pattern, partial)``, ported line by line.

    The walk uses it only for patterns with three or more ``**``: for those minimatch
    bounds the first body section with the last section's length, so
    ``/ws/**/a/b/**/c/**/z`` does not match ``/ws/a/b/c/z``.  A regular automaton cannot
    reproduce a quirk that depends on the path's length.
    """
    if GLOBSTAR in pattern:
        return _match_globstar(file, pattern, partial)
    return _match_one_plain(file, pattern, partial, 0, 0)


# --------------------------------------------------------------------------- patterns


def _glob_escape(path: str) -> str:
    """@actions/glob ``Pattern.globEscape`` (Linux/macOS)."""
    path = path.replace("\\", "\\\\")
    path = re.sub(r"(\[)(?=[^/]+\])", "[[]", path)
    return path.replace("?", "[?]").replace("*", "[*]")


def _normalize_separators(path: str) -> str:
    return re.sub(r"//+", "/", path)


def _trim_trailing_separator(path: str) -> str:
    path = _normalize_separators(path)
    if path.endswith("/") and path != "/":
        return path[:-1]
    return path


def _dirname(path: str) -> str:
    path = _trim_trailing_separator(path)
    head = path.rsplit("/", 1)[0]
    return head if head else ("/" if path.startswith("/") else ".")


def _path_segments(path: str) -> list[str]:
    """@actions/glob ``new Path(string).segments``."""
    path = _trim_trailing_separator(path)
    if not path.startswith("/"):
        return path.split("/")
    rest = path[1:]
    return ["/", *rest.split("/")] if rest else ["/"]


def _path_string(segments: Sequence[str]) -> str:
    """@actions/glob ``Path.toString`` (segments overload)."""
    result = segments[0]
    skip_slash = result.endswith("/")
    for segment in segments[1:]:
        if skip_slash:
            skip_slash = False
        else:
            result += "/"
        result += segment
    return result


def get_literal(segment: str) -> str:
    """@actions/glob ``Pattern.getLiteral``: the segment unescaped, or '' if it is a glob."""
    literal = ""
    i = 0
    n = len(segment)
    while i < n:
        c = segment[i]
        if c == "\\" and i + 1 < n:
            i += 1
            literal += segment[i]
            i += 1
            continue
        if c in "*?":
            return ""
        if c == "[" and i + 1 < n:
            charset = ""
            closed = -1
            i2 = i + 1
            while i2 < n:
                c2 = segment[i2]
                if c2 == "\\" and i2 + 1 < n:
                    i2 += 1
                    charset += segment[i2]
                elif c2 == "]":
                    closed = i2
                    break
                else:
                    charset += c2
                i2 += 1
            if closed >= 0:
                if len(charset) > 1:
                    return ""
                if charset:
                    literal += charset
                    i = closed + 1
                    continue
        literal += c
        i += 1
    return literal


@dataclass(frozen=True, slots=True)
class Pattern:
    """One @actions/glob pattern after fix-up (paths in UTF-16 spelling)."""

    text: str  # the absolute pattern minimatch sees
    negate: bool
    implicit: bool
    trailing_separator: bool
    segments: tuple[str, ...]  # @actions/glob segments (root first)
    search_path: str
    parts: tuple[Part, ...]  # minimatch parts after levelOneOptimize

    @property
    def kind(self) -> int:
        return MATCH_DIRECTORY if self.trailing_separator else MATCH_ALL

    @property
    def needs_reference(self) -> bool:
        """Three or more ``**``: matched by :func:`reference_match_one`, not the DFA."""
        return sum(1 for p in self.parts if p is GLOBSTAR) >= 3

    @property
    def explicit_globstar_end(self) -> bool:
        # Pattern.match appends '/' to the item path when the last segment is '**' and the
        # pattern was written by the user; minimatch then lets that final '**' match the
        # empty segment, i.e. the directory itself.
        return not self.implicit and self.segments[-1] == "**"


def _fixup_pattern(pattern: str, cwd: str, home: str | None, original: str) -> str:
    if not pattern:
        raise InputError(
            "is empty once its '!' is removed, which hashFiles rejects",
            where=f"pattern {from_utf16(original)!r}",
            hint="give a path or glob after the '!'",
        )
    literals = [get_literal(s) for s in _path_segments(pattern)]
    for i, lit in enumerate(literals):
        if lit == ".." or (lit == "." and i != 0):
            raise InputError(
                f"has a {lit!r} segment, which hashFiles rejects (the runner fails the whole call)",
                where=f"pattern {from_utf16(original)!r}",
                hint="write the path from the workspace root without '.' or '..' segments",
            )
    pattern = _normalize_separators(pattern)
    if pattern == "." or pattern.startswith("./"):
        pattern = _glob_escape(cwd) + pattern[1:]
    elif pattern == "~" or pattern.startswith("~/"):
        if not home or not home.startswith("/"):
            raise InputError(
                "starts with '~' but HOME is not an absolute path",
                where=f"pattern {from_utf16(original)!r}",
                hint="set HOME or write the pattern relative to the workspace",
            )
        pattern = _glob_escape(home) + pattern[1:]
    elif not pattern.startswith("/"):
        root = _glob_escape(cwd)
        pattern = (root if root.endswith("/") else root + "/") + pattern
    return _normalize_separators(pattern)


def _minimatch_parts(pattern: str) -> tuple[Part, ...]:
    raw = re.split(r"/+", pattern)
    optimized: list[str] = []
    for part in raw:
        if part == "**" and optimized and optimized[-1] == "**":
            continue
        optimized.append(part)
    return tuple(compile_segment(p) for p in optimized or [""])


def make_pattern(
    line: str, *, cwd: str, home: str | None, implicit: bool = False, negate: bool = False
) -> Pattern:
    """@actions/glob ``new Pattern(line)``; ``cwd``/``home`` in UTF-16 spelling."""
    original = line
    pattern = js_trim(line)
    while pattern.startswith("!"):
        negate = not negate
        pattern = js_trim(pattern[1:])
    pattern = _fixup_pattern(pattern, cwd, home, original)
    segments = tuple(_path_segments(pattern))
    trailing = _normalize_separators(pattern).endswith("/")
    pattern = _trim_trailing_separator(pattern)
    search: list[str] = []
    for segment in segments:
        lit = get_literal(segment)
        if not lit:
            break
        search.append(lit)
    return Pattern(
        text=pattern,
        negate=negate,
        implicit=implicit,
        trailing_separator=trailing,
        segments=segments,
        search_path=_path_string(search),
        parts=_minimatch_parts(pattern),
    )


def parse_patterns(patterns: Sequence[str], *, cwd: str, home: str | None) -> list[Pattern]:
    """Lines as ``DefaultGlobber.create`` reads them, plus the implicit ``/**`` companions."""
    cwd16 = to_utf16(cwd)
    home16 = to_utf16(home) if home else home
    result: list[Pattern] = []
    for raw in "\n".join(patterns).split("\n"):
        line = js_trim(to_utf16(raw))
        if not line or line.startswith("#"):
            continue
        pattern = make_pattern(line, cwd=cwd16, home=home16)
        result.append(pattern)
        if pattern.trailing_separator or pattern.segments[-1] != "**":
            # new Pattern(negate, true, segments.concat('**')) goes through the string
            # constructor again: Path(segments).toString(), then '!' if negated.
            text = _path_string([*pattern.segments, "**"])
            result.append(
                make_pattern(text, cwd=cwd16, home=home16, implicit=True, negate=pattern.negate)
            )
    return result


def search_paths(patterns: Sequence[Pattern]) -> list[str]:
    """@actions/glob ``getSearchPaths``: positive roots, ancestors win, pattern order kept."""
    positive = [p for p in patterns if not p.negate]
    known = {p.search_path for p in positive}
    included: set[str] = set()
    result: list[str] = []
    for p in positive:
        key = p.search_path
        if key in included:
            continue
        temp, parent = key, _dirname(key)
        found_ancestor = False
        while parent != temp:
            if parent in known:
                found_ancestor = True
                break
            temp, parent = parent, _dirname(parent)
        if not found_ancestor:
            result.append(key)
            included.add(key)
    return result


# --------------------------------------------------------------------------- automaton


class _PatternNfa:
    """Positions in a pattern's parts; a final ``**`` needs at least one segment."""

    __slots__ = ("last", "n", "parts")

    def __init__(self, parts: tuple[Part, ...]) -> None:
        self.parts = parts
        self.n = len(parts)
        self.last = self.n - 1

    def closure(self, positions: set[int]) -> frozenset[int]:
        todo = list(positions)
        seen = set(positions)
        while todo:
            i = todo.pop()
            if i < self.last and self.parts[i] is GLOBSTAR and i + 1 not in seen:
                seen.add(i + 1)
                todo.append(i + 1)
        return frozenset(seen)


@dataclass(eq=False, slots=True)
class _State:
    """A product-DFA state: one NFA position set per pattern (``None`` when dead)."""

    positions: tuple[frozenset[int] | None, ...]
    tests: tuple[SegmentTest, ...]
    #: (pattern index, position) -> bit of the test that position needs.
    bits: dict[tuple[int, int], int]
    match: int
    partial: bool
    #: Indices of the patterns that accept here, in order.
    accepts: tuple[int, ...]
    #: Whether one of them must be confirmed by the reference matcher.
    verify: bool
    next: dict[int, _State | None] = field(default_factory=dict)


class Automaton:
    """Lazily built product DFA over path segments for a list of patterns."""

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.patterns = list(patterns)
        self.nfas = [_PatternNfa(p.parts) for p in patterns]
        self._states: dict[tuple[frozenset[int] | None, ...], _State] = {}

    def start(self) -> _State:
        return self._state(tuple(nfa.closure({0}) for nfa in self.nfas))

    def _state(self, positions: tuple[frozenset[int] | None, ...]) -> _State:
        state = self._states.get(positions)
        if state is not None:
            return state
        tests: list[SegmentTest] = []
        bits: dict[tuple[int, int], int] = {}
        shared: dict[object, int] = {}
        match = MATCH_NONE
        partial = False
        accepts: list[int] = []
        verify = False
        for k, (pattern, nfa, pos) in enumerate(
            zip(self.patterns, self.nfas, positions, strict=True)
        ):
            if pos is None:
                continue
            if not pattern.negate:
                partial = True
            if nfa.n in pos or (pattern.explicit_globstar_end and nfa.last in pos):
                accepts.append(k)
                verify = verify or pattern.needs_reference
                if pattern.negate:
                    match &= ~pattern.kind
                else:
                    match |= pattern.kind
            for i in sorted(pos):
                if i >= nfa.n:
                    continue
                part = nfa.parts[i]
                if part is GLOBSTAR:
                    continue
                # Equal literals, and equal globs (compile_segment is cached), share a bit.
                key: object = ("literal", part) if isinstance(part, str) else part
                if key not in shared:
                    shared[key] = len(tests)
                    tests.append(_literal_equals(part) if isinstance(part, str) else part)  # type: ignore[arg-type]
                bits[k, i] = shared[key]
        state = _State(positions, tuple(tests), bits, match, partial, tuple(accepts), verify)
        self._states[positions] = state
        return state

    def advance(self, state: _State, mask: int) -> _State | None:
        """The state after a segment whose tests came out as ``mask`` (cached)."""
        nxt = state.next[mask] = self._advance(state, mask)
        return nxt

    def _advance(self, state: _State, mask: int) -> _State | None:
        result: list[frozenset[int] | None] = []
        alive = False
        for k, (nfa, pos) in enumerate(zip(self.nfas, state.positions, strict=True)):
            if pos is None:
                result.append(None)
                continue
            nxt: set[int] = set()
            for i in pos:
                if i >= nfa.n:
                    continue
                if nfa.parts[i] is GLOBSTAR:
                    # A segment is never "." or "..", the only ones '**' refuses.
                    nxt.add(i)
                    if i == nfa.last:
                        nxt.add(nfa.n)
                elif mask >> state.bits[k, i] & 1:
                    nxt.add(i + 1)
            if nxt:
                result.append(nfa.closure(nxt))
                alive = True
            else:
                result.append(None)
        return self._state(tuple(result)) if alive else None

    def exact_match(self, state: _State, path: str) -> int:
        """``state.match`` with the reference matcher's verdict for ``verify`` patterns."""
        if not state.verify:
            return state.match
        segments = [_segment_name(name) for name in path.split("/")]
        match = MATCH_NONE
        for k in state.accepts:
            pattern = self.patterns[k]
            if pattern.needs_reference:
                file = [*segments, ""] if pattern.explicit_globstar_end else segments
                if not reference_match_one(file, pattern.parts):
                    continue
            if pattern.negate:
                match &= ~pattern.kind
            else:
                match |= pattern.kind
        return match

    def step(self, state: _State, segment: str) -> _State | None:
        """The state after one more path segment (``segment`` in UTF-16 spelling)."""
        mask = 0
        bit = 1
        for test in state.tests:
            if test(segment):
                mask |= bit
            bit <<= 1
        try:
            return state.next[mask]
        except KeyError:
            return self.advance(state, mask)


# --------------------------------------------------------------------------- the walk


class Match(NamedTuple):
    """One path the globber yields, with what its stat said (lstat unless following)."""

    path: str
    is_dir: bool
    is_symlink: bool
    is_regular: bool


def _segment_name(name: str) -> str:
    if name.isascii():
        return name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        # Node decodes file names as UTF-8 with U+FFFD for invalid bytes.
        name = os.fsencode(name).decode("utf-8", "replace")
    return to_utf16(name)


def _sorted_names(entries: list[os.DirEntry[str]]) -> list[os.DirEntry[str]]:
    # libuv sorts readdir results with strcmp, i.e. by raw bytes.  For valid UTF-8 that is
    # code point order, so plain str sorting is right unless a name carries
    # surrogate-escaped bytes.
    try:
        return sorted(entries, key=lambda e: e.name.encode("utf-8"))
    except UnicodeEncodeError:
        return sorted(entries, key=lambda e: os.fsencode(e.name))


def _describe(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _walk_error(path: str, what: str, exc: OSError) -> InputError:
    return InputError(
        f"cannot {what} ({_describe(exc)}); hashFiles fails the whole call here",
        where=path,
        hint="fix the permissions or exclude the path with a '!' pattern",
    )


def _stat_kind(st: os.stat_result) -> tuple[bool, bool]:
    return stat.S_ISDIR(st.st_mode), stat.S_ISREG(st.st_mode)


def _display(path: str) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


#: A directory being listed: its sorted entries (an iterator that keeps its place while a
#: subdirectory is walked), its state, its children's level and "<path>/".
_Frame = tuple[Iterator["os.DirEntry[str]"], _State, int, str]


class _Walker:
    """``DefaultGlobber.globGenerator`` as an iterator-stack depth-first walk.

    The globber pushes every child on a stack and pops them in order; an iterator per open
    directory gives the same pre-order without an object per file.  Regular files, the
    bulk of any tree, take the short path in :meth:`walk`; everything else goes through
    :meth:`_item`, a line-by-line port of the loop body.
    """

    def __init__(self, patterns: Sequence[Pattern], follow_symlinks: bool) -> None:
        self.automaton = Automaton(patterns)
        self.patterns = patterns
        self.follow = follow_symlinks
        self.chain: list[str] = []  # realpaths of the directories above (cycle detection)
        self.stack: list[_Frame] = []

    def _roots(self) -> list[tuple[str, _State, os.stat_result]]:
        roots = []
        start = self.automaton.start()
        for root16 in search_paths(self.patterns):
            root = from_utf16(root16)
            try:
                # The globber lstats each search path and forgives only ENOENT.
                lst = os.lstat(root)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _walk_error(root, "look up the search path", exc) from exc
            state: _State | None = start
            for name in [""] if root16 == "/" else root16.split("/"):
                assert state is not None
                state = self.automaton.step(state, name)
                if state is None:
                    break
            if state is not None:
                roots.append((root, state, lst))
        return roots

    def walk(self) -> Iterator[Match]:
        automaton = self.automaton
        stack = self.stack
        for root, state, lst in self._roots():
            is_dir, is_regular = _stat_kind(lst)
            yield from self._item(
                root,
                1,
                state,
                is_dir=is_dir,
                is_link=stat.S_ISLNK(lst.st_mode),
                is_regular=is_regular,
            )
            while stack:
                entries, dstate, level, base = stack[-1]
                for entry in entries:
                    name = entry.name
                    bad = False
                    if name.isascii():
                        segment = name
                    else:
                        bad = _has_surrogates(name)
                        segment = _segment_name(name)
                    mask = 0
                    bit = 1
                    for test in dstate.tests:
                        if test(segment):
                            mask |= bit
                        bit <<= 1
                    try:
                        child = dstate.next[mask]
                    except KeyError:
                        child = automaton.advance(dstate, mask)
                    if child is None or not (child.match or child.partial):
                        # Reference-checked acceptance only removes matches, never adds.
                        continue
                    path = base + name
                    try:
                        if not bad and entry.is_file(follow_symlinks=False):
                            match = child.match
                            if child.verify:
                                match = automaton.exact_match(child, path)
                            if match & MATCH_FILE:
                                yield Match(path, False, False, True)
                            continue
                        is_link = entry.is_symlink()
                        is_dir = not is_link and entry.is_dir(follow_symlinks=False)
                    except OSError as exc:
                        raise _walk_error(path, "stat the entry", exc) from exc
                    depth = len(stack)
                    yield from self._item(
                        path,
                        level,
                        child,
                        is_dir=is_dir,
                        is_link=is_link,
                        is_regular=False,
                        bad_name=bad,
                    )
                    if len(stack) > depth:
                        break  # walk the subdirectory first; this iterator keeps its place
                else:
                    stack.pop()

    def _item(
        self,
        path: str,
        level: int,
        state: _State,
        *,
        is_dir: bool,
        is_link: bool,
        is_regular: bool,
        bad_name: bool = False,
    ) -> Iterator[Match]:
        """The globber's loop body for one popped item; opens a directory to descend."""
        match = self.automaton.exact_match(state, path) if state.verify else state.match
        if not match and not state.partial and path != "/":
            return
        if bad_name:
            if self.follow:
                return  # Node's mangled name does not exist: ENOENT, omitted when following
            raise InputError(
                "file name is not valid UTF-8; the runner's hashFiles cannot stat it and "
                "fails the whole call",
                where=_display(path),
                hint="rename the file or exclude it with a '!' pattern",
            )
        if self.follow:
            if is_link:
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    return  # broken link: omitted when following (omitBrokenSymbolicLinks)
                except OSError as exc:
                    raise _walk_error(path, "follow the symbolic link", exc) from exc
                is_dir, is_regular = _stat_kind(st)
            if is_dir:
                real = os.path.realpath(path)
                chain = self.chain
                while len(chain) >= level:
                    chain.pop()
                if real in chain:
                    return  # symlink cycle
                chain.append(real)
        if not is_dir:
            if match & MATCH_FILE:
                yield Match(path, False, is_link, is_regular)
            return
        if match & MATCH_DIRECTORY:
            yield Match(path, True, is_link, False)
        try:
            with os.scandir(path) as it:
                entries = _sorted_names(list(it))
        except OSError as exc:
            raise _walk_error(path, "list the directory", exc) from exc
        self.stack.append((iter(entries), state, level + 1, "/" if path == "/" else path + "/"))


def walk(patterns: Sequence[Pattern], *, follow_symlinks: bool) -> Iterator[Match]:
    """Yield what ``DefaultGlobber.globGenerator`` yields, in the same order."""
    return _Walker(patterns, follow_symlinks).walk()


def _has_surrogates(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def home_directory() -> str | None:
    """What Node's ``os.homedir()`` returns on Linux/macOS: $HOME, else the passwd entry."""
    home = os.environ.get("HOME")
    if home:
        return home
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError):  # pragma: no cover - no passwd entry
        return None


def check_platform() -> None:
    if sys.platform == "win32":
        raise InputError(
            "hashFiles on Windows runners walks directories in NTFS order and matches "
            "case-insensitively; buildonce reproduces the Linux and macOS runners only",
            where="hashFiles",
            hint="compute keys on a Linux or macOS machine",
        )
