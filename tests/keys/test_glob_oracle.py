"""buildonce's pattern matcher against @actions/glob's own ``Pattern`` class, path by path.

No files are involved: the oracle builds ``new Pattern(line)`` (fix-up, search path,
minimatch) and answers ``match``/``partialMatch`` for item paths; buildonce runs its
automaton (and its minimatch port, for three or more ``**``) over the same paths.  This
reaches pattern shapes the file-tree test cannot afford: escapes, character classes,
POSIX classes, astral characters and long ``**`` chains.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keys_oracle import Oracle

from buildonce.errors import InputError
from buildonce.keys import _glob

pytestmark = pytest.mark.oracle

PATTERN_SEGMENTS = (
    "a",
    "b",
    "ab",
    "x.go",
    ".go",
    "*",
    "**",
    "?",
    "*.go",
    "?.go",
    "*\\.go",
    ".*",
    "*.*",
    "[ab]",
    "[!a]*",
    "[a-c]",
    "[z-a]",
    "[]]",
    "[",
    "]",
    "[[:alpha:]]*",
    "[[:graph:]]",
    "[[:digit:][:upper:]]",
    "\\*",
    "a\\|b*",
    "a|b",
    "😀",
    "?😀",
    "[😀]*",
    "é*",
    "a b",
    "#x",
    "~",
    "{a,b}",
    "+(a)",
    "@",
    "!a",
    "[a-]",
    "[\\]]",
    "a\\",
    "[a-[:alpha:]]",
)
PATH_NAMES = (
    "a",
    "b",
    "ab",
    "ba",
    "x.go",
    ".go",
    "a.b",
    ".hidden",
    "a|b",
    "😀",
    "a😀",
    "é",
    "é.go",
    "*",
    "[a]",
    "]",
    "[",
    "Z",
    "9",
    "a b",
    "{a,b}",
    "\\",
    "-",
    "a-c",
    "~",
)


@pytest.fixture(scope="module")
def cwd() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(os.path.realpath(tmp))


@st.composite
def pattern_lines(draw: st.DrawFn) -> str:
    segments = draw(st.lists(st.sampled_from(PATTERN_SEGMENTS), min_size=1, max_size=6))
    text = "/".join(segments)
    if draw(st.integers(0, 5)) == 0:
        text += "/"
    return draw(st.sampled_from(["", "", "", "!", "!!", "./", "! ", " "])) + text


def item_paths(cwd: Path) -> st.SearchStrategy[list[str]]:
    relative = st.lists(st.sampled_from(PATH_NAMES), max_size=6).map("/".join)
    path = relative.map(lambda rel: f"{cwd}/{rel}".rstrip("/"))
    return st.lists(st.one_of(path, st.just("/elsewhere/a")), min_size=1, max_size=12)


def ours(cwd: Path, line: str, paths: list[str]) -> dict[str, object]:
    try:
        home = _glob.home_directory()
        pattern = _glob.make_pattern(
            _glob.to_utf16(line),
            cwd=_glob.to_utf16(str(cwd)),
            home=_glob.to_utf16(home) if home else None,
        )
    except InputError as exc:
        return {"error": str(exc)}
    # Pattern.match/partialMatch ignore negation (the globber applies it), so match with
    # a positive copy.
    automaton = _glob.Automaton([dataclasses.replace(pattern, negate=False)])
    results = []
    for path in paths:
        state: _glob._State | None = automaton.start()
        for name in path.split("/"):
            assert state is not None
            state = automaton.step(state, _glob.to_utf16(name))
            if state is None:
                break
        if state is None:
            results.append([0, False])
        else:
            results.append([automaton.exact_match(state, path), state.partial])
    return {
        "searchPath": _glob.from_utf16(pattern.search_path),
        "negate": pattern.negate,
        "results": results,
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_patterns_match_paths_like_actions_glob(
    oracle: Oracle, cwd: Path, data: st.DataObject
) -> None:
    line = data.draw(pattern_lines(), label="pattern")
    paths = data.draw(item_paths(cwd), label="paths")
    expected = oracle.match(cwd, line, paths)
    actual = ours(cwd, line, paths)
    if "error" in expected:
        assert "error" in actual, f"@actions/glob rejects {line!r}: {expected['error']}"
        return
    assert "error" not in actual, f"@actions/glob accepts {line!r}"
    assert actual["searchPath"] == expected["searchPath"]
    assert actual["negate"] == expected["negate"]
    for path, got, want in zip(paths, actual["results"], expected["results"], strict=True):  # type: ignore[call-overload]
        assert got == want, f"pattern {line!r}, path {path!r}"


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        # minimatch's body-section bound uses the wrong section's length: no match.
        ("**/a/b/**/c/**/z", "a/b/c/z", False),
        ("**/a/b/**/c/**/z", "a/b/c/x/z", True),
        ("**/c/**/a/b/**/z", "c/a/b/z", True),
    ],
)
def test_minimatch_three_globstar_quirk(
    oracle: Oracle, cwd: Path, pattern: str, path: str, matches: bool
) -> None:
    full = f"{cwd}/{path}"
    expected = oracle.match(cwd, pattern, [full])["results"][0]
    assert bool(expected[0]) is matches
    assert ours(cwd, pattern, [full])["results"] == [expected]
