"""hashFiles without node: the research vectors, a plain reference model, failure cases."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keys_trees import names

from buildonce.errors import InputError
from buildonce.keys import _glob, hashfiles
from buildonce.keys.hashfiles import (
    combine_digests,
    hash_files,
    hash_files_detailed,
    match_files,
    split_hashfiles_args,
)

A_DIGEST = "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"
B_DIGEST = "0263829989b6fd954f72baaf2fc64bc2e2f01d692d4de72986ea808f6e99813f"
AB_HASH = "6ec7b73f58839768f5eb006d96b02ebaa7bf3d30c5daaccc832663c8266e0931"


@pytest.fixture
def ab(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_bytes(b"a\n")
    (tmp_path / "b.txt").write_bytes(b"b\n")
    return tmp_path


@pytest.fixture
def ordering(tmp_path: Path) -> Path:
    """The research's ordering tree (cache-semantics.md §1.6)."""
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_bytes(b"g\n")
    (tmp_path / ".hidden").write_bytes(b"z\n")
    (tmp_path / "B.txt").write_bytes(b"B\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").write_bytes(b"x\n")
    (tmp_path / "a-c").write_bytes(b"y\n")
    (tmp_path / "link-to-file").symlink_to("a-c")
    (tmp_path / "link-to-dir").symlink_to("a")
    return tmp_path


# --------------------------------------------------------------------------- §1.6 vectors


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["*.txt"], AB_HASH),
        (["**/*.txt"], AB_HASH),
        (["**"], AB_HASH),
        (["b.txt", "a.txt"], "5e48c52efd764422ec109a0a745c8651ff9fabb8aa4870e46ad44929a811a325"),
        (["**", "!b.txt"], "225f1bbbc4b1a3d97c622a492d91ea8d6858d7e1164bbbb5953f74311d6d222e"),
        (["nomatch"], ""),
    ],
)
def test_research_vectors(ab: Path, patterns: list[str], expected: str) -> None:
    assert hash_files(patterns, root=ab) == expected


def test_per_file_digests_are_plain_sha256(ab: Path) -> None:
    result = hash_files_detailed(["**"], root=ab)
    assert [(f.path, f.sha256) for f in result.files] == [("a.txt", A_DIGEST), ("b.txt", B_DIGEST)]
    assert result.hash == AB_HASH
    # A single file's hashFiles is sha256(sha256(content)), not its sha256sum.
    assert hash_files(["a.txt"], root=ab) == hashlib.sha256(bytes.fromhex(A_DIGEST)).hexdigest()


def test_ordering_vector_walks_segment_by_segment(ordering: Path) -> None:
    files = [p.relative_to(ordering).as_posix() for p in match_files(["**"], root=ordering)]
    # a/b before a-c: '-' < '/' would put a-c first in a flat sort of full paths.
    assert files == [".git/HEAD", ".hidden", "B.txt", "a/b", "a-c", "link-to-file"]
    assert (
        hash_files(["**"], root=ordering)
        == "1cef741ee1f8baa5f5a14b4bd5d7ba94e031789a483607b16c813ec0a5f3e9f9"
    )


def test_ordering_vector_following_links(ordering: Path) -> None:
    files = match_files(["**"], root=ordering, follow_symlinks=True)
    assert [p.relative_to(ordering).as_posix() for p in files] == [
        ".git/HEAD",
        ".hidden",
        "B.txt",
        "a/b",
        "a-c",
        "link-to-dir/b",
        "link-to-file",
    ]
    assert (
        hash_files(["**"], root=ordering, follow_symlinks=True)
        == "97f66266cebd2cf2f34606674ad3fd2227ffd087dfa23e6570a97cbb0184a41e"
    )


def test_linked_file_is_hashed_with_its_target_bytes(ordering: Path) -> None:
    result = hash_files_detailed(["link-to-file"], root=ordering)
    assert result.files[0].sha256 == hashlib.sha256(b"y\n").hexdigest()


def test_combine_digests() -> None:
    assert combine_digests([]) == ""
    assert combine_digests([bytes.fromhex(A_DIGEST), bytes.fromhex(B_DIGEST)]) == AB_HASH


# --------------------------------------------------------------------------- semantics


def test_comments_blank_lines_and_multiline_arguments(ab: Path) -> None:
    assert hash_files(["# comment\n\n  a.txt  \nb.txt"], root=ab) == AB_HASH


def test_later_pattern_reincludes_what_an_earlier_one_excluded(ab: Path) -> None:
    assert hash_files(["!b.txt", "**"], root=ab) == AB_HASH


def test_directory_pattern_hashes_everything_below(tmp_path: Path) -> None:
    (tmp_path / "src" / "x").mkdir(parents=True)
    (tmp_path / "src" / "x" / "f").write_bytes(b"1")
    (tmp_path / "src" / "g").write_bytes(b"2")
    expected = hash_files(["src/**"], root=tmp_path)
    assert expected
    assert hash_files(["src"], root=tmp_path) == expected
    assert hash_files(["src/"], root=tmp_path) == expected


def test_leading_slash_is_an_absolute_path(ab: Path) -> None:
    assert hash_files(["/a.txt"], root=ab) == ""
    assert hash_files([f"{os.path.realpath(ab)}/a.txt"], root=ab) == hash_files(["a.txt"], root=ab)


def test_braces_are_literal(tmp_path: Path) -> None:
    (tmp_path / "{a,b}").write_bytes(b"x")
    (tmp_path / "a").write_bytes(b"y")
    result = hash_files_detailed(["{a,b}"], root=tmp_path)
    assert [f.path for f in result.files] == ["{a,b}"]


def test_files_outside_the_workspace_are_ignored(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (tmp_path / "outside").write_bytes(b"x")
    assert hash_files([f"{os.path.realpath(tmp_path)}/outside"], root=ws) == ""


def test_linked_directory_is_skipped_without_following(ordering: Path) -> None:
    assert hash_files(["link-to-dir"], root=ordering) == ""


def test_split_hashfiles_args() -> None:
    assert split_hashfiles_args(["a", "b"]) == (["a", "b"], False)
    assert split_hashfiles_args(["--Follow-Symbolic-Links", "a"]) == (["a"], True)
    with pytest.raises(InputError, match="--follow-symbolic-links"):
        split_hashfiles_args(["--timeout=3", "a"])


# --------------------------------------------------------------------------- reference model


def reference_hash(root: Path) -> str:
    """hashFiles('**') on a tree of plain files: depth first, names in byte order."""
    ordered: list[Path] = []

    def visit(directory: Path) -> None:
        for entry in sorted(directory.iterdir(), key=lambda p: os.fsencode(p.name)):
            if entry.is_dir():
                visit(entry)
            else:
                ordered.append(entry)

    visit(root)
    return combine_digests(hashlib.sha256(p.read_bytes()).digest() for p in ordered)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tree=st.dictionaries(
        st.lists(names, min_size=1, max_size=3).map(tuple),
        st.binary(max_size=32),
        max_size=12,
    )
)
def test_globstar_hash_equals_a_depth_first_byte_order_walk(
    tree: dict[tuple[str, ...], bytes],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for parts, data in tree.items():
            path = root.joinpath(*parts)
            if any(root.joinpath(*parts[:i]).is_file() for i in range(1, len(parts))):
                continue
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        assert hash_files(["**"], root=root) == reference_hash(root)


segment_parts = st.sampled_from(["a", "b", "*", "a*", "?", "**", "[ab]", "b?"]).map(
    _glob.compile_segment
)
file_names = st.sampled_from(["a", "b", "ab", "ba", "x"])


def collapse(parts: list[_glob.Part]) -> list[_glob.Part]:
    out: list[_glob.Part] = []
    for p in parts:
        if p is _glob.GLOBSTAR and out and out[-1] is _glob.GLOBSTAR:
            continue
        out.append(p)
    return out


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(segment_parts, min_size=1, max_size=7).map(collapse),
    names_=st.lists(file_names, max_size=7),
    implicit=st.booleans(),
)
def test_automaton_agrees_with_the_minimatch_port(
    parts: list[_glob.Part], names_: list[str], implicit: bool
) -> None:
    """The incremental DFA against a line-by-line port of minimatch's matchOne."""
    last = "**" if parts[-1] is _glob.GLOBSTAR else "x"
    pattern = _glob.Pattern(
        text="",
        negate=False,
        implicit=implicit,
        trailing_separator=False,
        segments=("/", last),
        search_path="/",
        parts=("", *parts),
    )
    automaton = _glob.Automaton([pattern])
    file = ["", *names_]
    state: _glob._State | None = automaton.start()
    for name in file:
        assert state is not None
        state = automaton.step(state, name)
        if state is None:
            break
    full = [*file, ""] if pattern.explicit_globstar_end else file
    expected_match = _glob.reference_match_one(full, pattern.parts)
    expected_partial = _glob.reference_match_one(file, pattern.parts, partial=True)
    path = "/".join(file)
    got_match = bool(automaton.exact_match(state, path)) if state is not None else False
    got_partial = state is not None and state.partial
    assert got_partial == expected_partial
    if pattern.needs_reference:
        # The DFA may only over-approximate; the reference settles it.
        assert got_match == expected_match or not expected_match
        assert dataclasses.replace(pattern).needs_reference
    else:
        assert got_match == expected_match


def test_utf16_round_trip() -> None:
    text = "a😀é"
    assert len(_glob.to_utf16(text)) == 4
    assert _glob.from_utf16(_glob.to_utf16(text)) == text


@pytest.mark.parametrize(
    ("segment", "name", "matches"),
    [
        ("?", "😀", False),  # JavaScript sees two UTF-16 code units
        ("??", "😀", True),
        ("*.go", ".go", True),  # dot: true
        ("*\\.go", "x.go", False),  # minimatch's fast path compares the raw '\.go'
        ("a\\|b*", "a", True),  # an escaped '|' reaches the RegExp as alternation
        ("[z-a]", "z", False),  # an inverted range matches nothing
        ("[[:alpha:]]", "é", True),
        ("[[:alpha:]]", "1", False),
        ("[!a]", "b", True),
        ("[]]", "]", True),
    ],
)
def test_segment_quirks(segment: str, name: str, matches: bool) -> None:
    part = _glob.compile_segment(_glob.to_utf16(segment))
    if isinstance(part, str):
        assert (part == _glob.to_utf16(name)) is matches
    else:
        assert callable(part)
        assert bool(part(_glob.to_utf16(name))) is matches


# --------------------------------------------------------------------------- parallel


def test_parallel_hashing_keeps_the_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashfiles, "PARALLEL_THRESHOLD", 40)
    monkeypatch.setattr(hashfiles, "CHUNK_FILES", 7)
    for i in range(150):
        d = tmp_path / f"d{i % 5}" / ("x" if i % 3 else "y-z")
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.go").write_bytes(os.urandom(i * 37 % 5000))
    sequential = hash_files_detailed(["**/*.go"], root=tmp_path, workers=1)
    parallel = hash_files_detailed(["**/*.go"], root=tmp_path, workers=2)
    assert len(sequential.files) == 150
    assert parallel == sequential


def test_parallel_read_error_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashfiles, "PARALLEL_THRESHOLD", 4)
    monkeypatch.setattr(hashfiles, "CHUNK_FILES", 3)
    paths = [str(tmp_path / f"f{i}") for i in range(10)]
    for p in paths[:-1]:
        Path(p).write_bytes(b"x")
    # The walk is bypassed so the last path vanishes between walk and read, a real
    # failure in the worker whatever the start method.
    monkeypatch.setattr(hashfiles, "_matched_paths", lambda *a: iter(paths))
    with pytest.raises(InputError, match="cannot read file") as info:
        hash_files(["**"], root=tmp_path, workers=2)
    assert info.value.where == paths[-1]


# --------------------------------------------------------------------------- failures


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist") as info:
        hash_files(["**"], root=tmp_path / "nope")
    assert info.value.where == str(tmp_path / "nope")


def test_root_is_a_file(ab: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        hash_files(["**"], root=ab / "a.txt")


@pytest.mark.parametrize("pattern", ["a/../b", "..", "src/./x", "!x/..", "[.][.]/x"])
def test_relative_segments_are_rejected(ab: Path, pattern: str) -> None:
    with pytest.raises(InputError, match="segment") as info:
        hash_files([pattern], root=ab)
    assert pattern in str(info.value)


def test_leading_dot_segment_is_allowed(ab: Path) -> None:
    assert hash_files(["./a.txt", "./b.txt"], root=ab) == AB_HASH


def test_bare_negation_is_rejected(ab: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        hash_files(["!"], root=ab)


def test_matched_broken_symlink_fails_the_call(ab: Path) -> None:
    (ab / "dangling").symlink_to("missing")
    with pytest.raises(InputError, match="broken") as info:
        hash_files(["**"], root=ab)
    assert info.value.where == str(Path(os.path.realpath(ab)) / "dangling")
    # Not matched: no failure.  Following links: silently omitted, like GitHub.
    assert hash_files(["*.txt"], root=ab) == AB_HASH
    assert hash_files(["**"], root=ab, follow_symlinks=True) == AB_HASH


def test_symlink_loop_fails_when_following(ab: Path) -> None:
    (ab / "loop").symlink_to("loop")
    with pytest.raises(InputError, match="loop"):
        hash_files(["**"], root=ab, follow_symlinks=True)


def test_search_root_below_a_file_fails(ab: Path) -> None:
    # The globber lstats each search root and only forgives ENOENT; ENOTDIR fails.
    with pytest.raises(InputError, match="search path"):
        hash_files(["a.txt/x"], root=ab)


def test_fifo_is_refused_instead_of_hanging(ab: Path) -> None:
    os.mkfifo(ab / "pipe")
    with pytest.raises(InputError, match="not a regular file"):
        hash_files(["**"], root=ab)


def test_unreadable_file_via_permissions(ab: Path) -> None:
    secret = ab / "b.txt"
    secret.chmod(0)
    try:
        try:
            secret.read_bytes()
        except PermissionError:
            pass
        else:
            pytest.skip("running as root: chmod 000 does not stop reads (see the test below)")
        with pytest.raises(InputError, match="cannot read file"):
            hash_files(["**"], root=ab)
    finally:
        secret.chmod(0o644)


def test_unreadable_file_via_the_open_syscall(ab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root reads anything, so the one syscall under test fails on purpose instead.
    real_open = os.open
    target = str(Path(os.path.realpath(ab)) / "b.txt")

    def fake_open(path: str, flags: int, *args: int) -> int:
        if os.fspath(path) == target:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", fake_open)
    with pytest.raises(InputError, match=r"cannot read file \(Permission denied\)") as info:
        hash_files(["**"], root=ab, workers=1)
    assert info.value.where == target


def test_unlistable_directory(ab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (ab / "sub").mkdir()
    real_scandir = os.scandir
    target = str(Path(os.path.realpath(ab)) / "sub")

    def fake_scandir(path: str) -> object:
        if os.fspath(path) == target:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", fake_scandir)
    with pytest.raises(InputError, match="cannot list the directory") as info:
        hash_files(["**"], root=ab)
    assert info.value.where == target


def test_non_utf8_name_fails_like_node(tmp_path: Path) -> None:
    bad = os.fsdecode(b"bad\xff")
    (tmp_path / bad).write_bytes(b"x")
    with pytest.raises(InputError, match="not valid UTF-8"):
        hash_files(["**"], root=tmp_path)
    assert hash_files(["**"], root=tmp_path, follow_symlinks=True) == ""
