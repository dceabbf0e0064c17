"""buildonce's hashFiles against the runner's script running on @actions/glob 0.7.0.

The oracle (tests/oracle/hashfiles.mjs) reproduces the runner's own hashFiles script rather
than calling the toolkit's ``glob.hashFiles()``: cache-semantics.md §1.7 explains that the
toolkit follows symbolic links by default and reads GITHUB_WORKSPACE, while the runner
globs with ``followSymbolicLinks: false`` (unless the expression starts with
``--follow-symbolic-links``), uses the working directory as the workspace, ``stat``s every
match (a broken link fails the call, a link to a directory is skipped) and hashes in walk
order.  The harness is one long-lived node process that ``chdir``s to each generated
workspace before globbing, which is what running it with ``cwd = workspace`` does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keys_oracle import Oracle
from keys_trees import Tree, pattern_lists, trees

from buildonce.errors import InputError
from buildonce.keys.hashfiles import hash_files

pytestmark = pytest.mark.oracle


def ours(root: Path, patterns: list[str], follow: bool) -> dict[str, str]:
    try:
        return {"hash": hash_files(patterns, root=root, follow_symlinks=follow, workers=1)}
    except InputError as exc:
        return {"error": str(exc)}


def compare(oracle: Oracle, root: Path, patterns: list[str], follow: bool) -> None:
    expected = oracle(root, patterns, follow)
    actual = ours(root, patterns, follow)
    context = f"patterns={patterns!r} follow={follow}"
    if "error" in expected:
        assert "error" in actual, f"{context}: oracle failed ({expected['error']}), we hashed"
    else:
        assert actual == expected, context


def check_tree(oracle: Oracle, tree: Tree, lists: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        tree.build(root)
        for patterns in lists:
            for ordered in (patterns, patterns[::-1]):
                for follow in (False, True):
                    compare(oracle, root, ordered, follow)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_generated_trees_hash_like_the_runner(oracle: Oracle, data: st.DataObject) -> None:
    tree = data.draw(trees(), label="tree")
    lists = data.draw(st.lists(pattern_lists(tree), min_size=1, max_size=3), label="patterns")
    check_tree(oracle, tree, lists)
