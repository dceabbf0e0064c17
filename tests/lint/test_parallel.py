"""Large inputs are linted by forked workers with exactly the results of one process."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildonce.cli import main
from buildonce.lint import Linter, _can_fork, _chunks, default_jobs

from .conftest import BAD, GOOD

COMPOSITE = """\
runs:
  using: composite
  steps:
    - run: go build -o bin/app .
      shell: bash
"""

CALLER = """\
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    strategy: {matrix: {n: [1, 2, 3]}}
    steps:
      - uses: ./.github/actions/build
"""


def _corpus(root: Path, checkouts: int = 4, per_checkout: int = 30) -> list[Path]:
    """Checkouts with clean, bad, broken-YAML and composite-calling workflows."""
    repos = []
    for c in range(checkouts):
        repo = root / f"repo{c}"
        workflows = repo / ".github" / "workflows"
        workflows.mkdir(parents=True)
        action = repo / ".github" / "actions" / "build"
        action.mkdir(parents=True)
        (action / "action.yml").write_text(COMPOSITE, encoding="utf-8")
        for i in range(per_checkout):
            text = (GOOD, BAD, "on: [push\njobs: {}\n", CALLER)[i % 4]
            (workflows / f"w{i:02}.yml").write_text(text, encoding="utf-8")
        repos.append(repo)
    return repos


def _summary(linter: Linter, repos: list[Path]) -> list[tuple[str, int, int, str, str]]:
    result = linter.lint_paths(repos)
    return [
        (f.location.path, f.location.line, f.location.col, f.rule, f.message)
        for f in result.findings
    ]


@pytest.mark.skipif(not _can_fork(), reason="forked workers run on Linux, single-threaded")
def test_workers_find_exactly_what_one_process_finds(tmp_path: Path) -> None:
    repos = _corpus(tmp_path)
    serial = _summary(Linter(jobs=1), repos)
    assert {r for _, _, _, r, _ in serial} >= {"yaml-syntax", "single-source-build"}
    # The composite action's build is seen through its callers in every worker.
    assert any("actions/build" not in p and "matrix" in m for p, _, _, _, m in serial)
    assert _summary(Linter(jobs=2), repos) == serial
    assert _summary(Linter(jobs=3), repos) == serial


@pytest.mark.skipif(not _can_fork(), reason="forked workers run on Linux, single-threaded")
def test_workers_fill_the_findings_cache(tmp_path: Path) -> None:
    repos = _corpus(tmp_path / "src")
    cache = tmp_path / "cache"
    first = _summary(Linter(jobs=2, cache_dir=cache), repos)
    assert (cache / "lint-v1.json").is_file()
    # Changing the composite action invalidates its callers (its hash is a dependency).
    action = repos[0] / ".github" / "actions" / "build" / "action.yml"
    action.write_text(COMPOSITE.replace("go build -o bin/app .", "echo no build"), "utf-8")
    second = _summary(Linter(jobs=2, cache_dir=cache), repos)
    assert second == _summary(Linter(jobs=1), repos)
    assert len(second) < len(first)


def test_chunks_keep_a_checkout_together_and_balance_bytes(tmp_path: Path) -> None:
    repos = _corpus(tmp_path, checkouts=4, per_checkout=8)
    files = sorted(p for r in repos for p in r.rglob("*.yml"))
    todo = [(f, f.read_bytes(), "") for f in files]
    shares = _chunks(todo, 2)
    assert sorted(i for share in shares for g in share for i in g) == list(range(len(todo)))
    # one group per checkout, and a checkout's files are in one group
    groups = [set(g) for share in shares for g in share]
    for repo in repos:
        mine = {i for i, t in enumerate(todo) if repo in t[0].parents}
        assert mine in groups
    sizes = [sum(len(todo[i][1]) for g in share for i in g) for share in shares]
    assert len(sizes) == 2
    assert max(sizes) <= 1.5 * min(sizes)


def test_default_jobs_is_bounded() -> None:
    assert 1 <= default_jobs() <= 4


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_bad_jobs_is_a_usage_error(
    tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["lint", str(tmp_path), "--jobs", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"must be a whole number >= 1, got {value!r}" in err
    assert "Traceback" not in err


def test_cli_jobs_gives_the_same_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repos = [str(r) for r in _corpus(tmp_path)]
    assert main(["lint", "--no-cache", "--format", "json", "--jobs", "1", *repos]) == 1
    serial = capsys.readouterr().out
    assert main(["lint", "--no-cache", "--format", "json", "--jobs", "2", *repos]) == 1
    assert capsys.readouterr().out == serial


@pytest.mark.skipif(not _can_fork(), reason="forked workers run on Linux, single-threaded")
@pytest.mark.parametrize("trouble", ["fails", "stalls"])
def test_parent_takes_over_a_worker_that_fails_or_stalls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trouble: str
) -> None:
    import os
    import time

    repos = _corpus(tmp_path)
    serial = _summary(Linter(jobs=1), repos)
    parent = os.getpid()
    real = Linter._lint_one

    def in_worker_only(self: Linter, file: Path, data: bytes) -> object:
        if os.getpid() != parent:
            if trouble == "fails":
                raise RuntimeError("a bug in a worker")
            time.sleep(60)  # a worker that gets no CPU
        return real(self, file, data)

    monkeypatch.setattr(Linter, "_lint_one", in_worker_only)
    start = time.monotonic()
    assert _summary(Linter(jobs=2), repos) == serial
    assert time.monotonic() - start < 30  # the stalled worker was not waited for
