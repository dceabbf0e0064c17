"""Hypothesis strategies for file trees and hashFiles patterns, and a tree builder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

# Fragments chosen for the ways hashFiles implementations go wrong: '-' sorts before '/'
# (a/b comes before a-c in a segment-wise walk), upper case before '_' before lower case
# in byte order, dot files, non-ASCII and astral characters (UTF-8 byte order and
# JavaScript's UTF-16 strings), and characters that are glob syntax in a pattern.
NAME_FRAGMENTS = (
    "a",
    "b",
    "B",
    "c",
    "-",
    "_",
    ".",
    "x.go",
    ".go",
    "go.mod",
    "go.sum",
    "é",
    "ß",
    "日本",
    "😀",
    " ",
    "~",
    "+",
    "@",
    "(",
    ")",
    "{",
    "}",
    ",",
    "!",
    "#",
    "[",
    "]",
    "*",
    "?",
)


def _ok_name(name: str) -> bool:
    return name not in (".", "..") and len(name.encode()) < 200


names = (
    st.lists(st.sampled_from(NAME_FRAGMENTS), min_size=1, max_size=3).map("".join).filter(_ok_name)
)
contents = st.one_of(
    st.just(b""), st.binary(max_size=64), st.sampled_from([b"a\n", b"b\n", b"package x\n"])
)


@dataclass(frozen=True)
class Tree:
    """Relative paths of files (with content), directories and symlinks (with target)."""

    files: dict[str, bytes]
    dirs: tuple[str, ...]
    links: dict[str, str]

    def names(self) -> list[str]:
        out: set[str] = set()
        for path in (*self.files, *self.dirs, *self.links):
            out.update(path.split("/"))
        return sorted(out)

    def build(self, root: Path) -> None:
        for d in self.dirs:
            (root / d).mkdir(parents=True, exist_ok=True)
        for f, data in self.files.items():
            (root / f).parent.mkdir(parents=True, exist_ok=True)
            (root / f).write_bytes(data)
        for link, target in self.links.items():
            (root / link).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, root / link)


@st.composite
def trees(draw: st.DrawFn, *, symlinks: bool = True) -> Tree:
    dirs = draw(st.lists(st.lists(names, min_size=1, max_size=3).map("/".join), max_size=5))
    parents = ["", *dirs]
    taken: set[str] = set()
    for d in dirs:
        parts = d.split("/")
        taken.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    files: dict[str, bytes] = {}
    for _ in range(draw(st.integers(0, 10))):
        parent = draw(st.sampled_from(parents))
        path = f"{parent}/{draw(names)}".lstrip("/")
        if path in taken or any(path.startswith(t + "/") for t in files):
            continue
        if any(t.startswith(path + "/") for t in taken):
            continue
        files[path] = draw(contents)
        taken.add(path)
    links: dict[str, str] = {}
    if symlinks:
        targets = [*files, *sorted(taken - set(files)), "missing", "a/missing"]
        for _ in range(draw(st.integers(0, 3))):
            parent = draw(st.sampled_from(parents))
            path = f"{parent}/{draw(names)}".lstrip("/")
            if path in taken or any(t.startswith(path + "/") for t in taken):
                continue
            target = draw(st.sampled_from(targets))
            # Relative targets resolve from the link's directory; make them from the root.
            depth = path.count("/")
            links[path] = "../" * depth + target if depth else target
            taken.add(path)
    return Tree(files, tuple(dirs), links)


GLOB_SEGMENTS = (
    "*",
    "**",
    "?",
    "*.go",
    "*.txt",
    "[ab]*",
    "[!a]*",
    ".*",
    "*.*",
    "?.go",
    "[a-c]",
    "[[:alpha:]]*",
    "*[-]*",
    "a*",
    "*a",
    "[]]",
    "\\*",
    "x.go",
    "go.mod",
    "go.sum",
)


@st.composite
def patterns(draw: st.DrawFn, tree: Tree) -> str:
    pool = [*GLOB_SEGMENTS, *tree.names()]
    segments = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
    text = "/".join(segments)
    if draw(st.booleans()) and draw(st.booleans()):
        text += "/"
    prefix = draw(st.sampled_from(["", "", "", "!", "./", "!./"]))
    return prefix + text


@st.composite
def pattern_lists(draw: st.DrawFn, tree: Tree) -> list[str]:
    items = draw(st.lists(patterns(tree), min_size=1, max_size=4))
    if draw(st.integers(0, 9)) == 0:
        items.append("nomatch/at/all")
    return items
