"""The findings cache: reused only while the file, its actions, config and code are unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildonce.cli import main
from buildonce.lint import Linter
from buildonce.workflow import loader as loader_module

from .conftest import BAD

CALLER = """\
on: push
jobs:
  e2e:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        leg: [a, b]
    steps:
      - uses: ./.github/actions/build
"""
ACTION = """\
runs:
  using: composite
  steps:
    - shell: bash
      run: echo nothing to build
"""


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("the file was parsed although it is cached")

    monkeypatch.setattr(loader_module.Loader, "load", refuse)


def test_unchanged_file_is_not_parsed_again(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first = Linter(cache_dir=cache).lint_paths([repo])
    assert (cache / "lint-v1.json").is_file()
    with monkeypatch.context() as m:
        _no_parsing(m)
        second = Linter(cache_dir=cache).lint_paths([repo])
    assert second.findings == first.findings
    assert second.findings  # the bad workflow's finding survives the round trip
    (repo / ".github" / "workflows" / "bad.yml").write_text(BAD + "\n", encoding="utf-8")
    with monkeypatch.context() as m:
        _no_parsing(m)
        with pytest.raises(AssertionError, match="parsed although"):
            Linter(cache_dir=cache).lint_paths([repo])


def test_changed_composite_action_invalidates_the_caller(tmp_path: Path) -> None:
    github = tmp_path / "repo" / ".github"
    (github / "workflows").mkdir(parents=True)
    (github / "actions" / "build").mkdir(parents=True)
    (github / "workflows" / "ci.yml").write_text(CALLER, encoding="utf-8")
    action = github / "actions" / "build" / "action.yml"
    action.write_text(ACTION, encoding="utf-8")
    cache = tmp_path / "cache"
    assert Linter(cache_dir=cache).lint_paths([github]).findings == []
    action.write_text(ACTION.replace("echo nothing to build", "go build -o bin/app ."), "utf-8")
    rules = [f.rule for f in Linter(cache_dir=cache).lint_paths([github]).findings]
    assert rules == ["single-source-build"]


def test_damaged_cache_is_ignored(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "lint-v1.json").write_text("{not json", encoding="utf-8")
    result = Linter(cache_dir=cache).lint_paths([repo])
    assert [f.rule for f in result.findings] == ["single-source-build"]
    assert (cache / "lint-v1.json").read_text(encoding="utf-8").startswith("{")


def test_cli_uses_xdg_cache_unless_no_cache(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert main(["lint", str(repo), "--no-cache"]) == 1
    assert not (tmp_path / "xdg").exists()
    assert main(["lint", str(repo)]) == 1
    assert (tmp_path / "xdg" / "buildonce" / "lint-v1.json").is_file()
    capsys.readouterr()
    assert main(["lint", str(repo)]) == 1
    second = capsys.readouterr().out
    assert main(["lint", str(repo), "--no-cache"]) == 1
    assert capsys.readouterr().out == second  # cached and fresh output agree
