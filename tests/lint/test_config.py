"""The declared builder, binary paths and smoke command change what the rules see."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildonce.config import Config, find_config, load_config
from buildonce.errors import ConfigError
from buildonce.lint import Linter

KEY = "${{ runner.os }}-tool-${{ steps.go.outputs.go-version }}-${{ hashFiles('**/go.sum') }}"
CONSUMER = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: go
        uses: actions/setup-go@v5
      - run: go build -o dist/tool .
      - uses: actions/cache/save@v4
        with:
          path: dist/tool
          key: KEY
  e2e:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - id: go
        uses: actions/setup-go@v5
      - uses: actions/cache/restore@v4
        with:
          path: dist/tool
          key: KEY
      - run: ./dist/tool selftest
      - run: ./dist/tool deploy
""".replace("KEY", KEY)


def _rules(config: Config) -> list[tuple[int, str]]:
    return [(f.location.line, f.rule) for f in Linter(config).lint_text(CONSUMER, "wf.yml")]


def test_smoke_command_counts_as_the_smoke_test() -> None:
    # Without configuration `selftest` is real work, so the guard fires on it.
    assert (23, "smoke-test-guard") in _rules(Config())
    configured = _rules(Config(smoke_command="./dist/tool selftest"))
    assert (23, "smoke-test-guard") not in configured


def test_binary_paths_decide_which_cache_holds_the_binary() -> None:
    # "dist/tool" is built by `go build -o`, so the key check applies: no go.mod or *.go hash.
    assert [r for _, r in _rules(Config())].count("cache-key-consistency") == 2
    # Declaring another binary does not hide what the workflow itself builds.
    assert [r for _, r in _rules(Config(binary_paths=("bin/other",)))].count(
        "cache-key-consistency"
    ) == 2


def test_declared_builder_overrides_detection() -> None:
    text = CONSUMER.replace("needs: build", "needs: []")
    detected = [f.rule for f in Linter().lint_text(text, "wf.yml")]
    assert "artifact-requires-builder" in detected
    declared = Linter(Config(builder_jobs=("e2e",))).lint_text(text, "wf.yml")
    assert "artifact-requires-builder" not in [f.rule for f in declared]


def test_config_discovery_stops_at_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.buildonce]\nsmoke-command = 'x'\n", "utf-8")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "sub").mkdir()
    assert find_config(repo / "sub") is None  # the outer file belongs to another project
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n", "utf-8")
    assert find_config(repo / "sub") is None  # no [tool.buildonce] table
    (repo / ".buildonce.toml").write_text("smoke-command = './app --version'\n", "utf-8")
    assert find_config(repo / "sub") == repo / ".buildonce.toml"
    assert load_config(start=repo / "sub").smoke_command == "./app --version"


def test_foreign_sections_are_left_to_their_owners(tmp_path: Path) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.buildonce.store]\nurl = 's3://b'\n[tool.buildonce]\n", "utf-8")
    assert load_config(config).rules == {}
    config.write_text("[tool.buildonce]\nreporting-jobs = [1]\n", "utf-8")
    with pytest.raises(ConfigError, match=r"tool\.buildonce\.reporting-jobs must be a list"):
        load_config(config)
