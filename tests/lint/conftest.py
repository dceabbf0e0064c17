"""Small workflows for engine and CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

KEY = (
    "${{ runner.os }}-app-bin-${{ steps.go.outputs.go-version }}-"
    "${{ hashFiles('**/go.mod', '**/go.sum', '**/*.go') }}"
)

GOOD = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: go
        uses: actions/setup-go@v5
      - run: go build -o bin/app . && ./bin/app --version
      - uses: actions/cache/save@v4
        with:
          path: bin/app
          key: KEY
  e2e:
    needs: build
    runs-on: ubuntu-latest
    strategy:
      matrix:
        scenario: [a, b]
    steps:
      - id: go
        uses: actions/setup-go@v5
      - uses: actions/cache/restore@v4
        with:
          path: bin/app
          key: KEY
          fail-on-cache-miss: true
      - run: ./bin/app --version
      - run: ./bin/app e2e ${{ matrix.scenario }}
""".replace("KEY", KEY)

BAD = """\
on: push
jobs:
  e2e:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        scenario: [a, b, c]
    steps:
      - run: go build -o bin/app .
      - run: ./bin/app e2e ${{ matrix.scenario }}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout with one good and one bad workflow."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "good.yml").write_text(GOOD, encoding="utf-8")
    (workflows / "bad.yml").write_text(BAD, encoding="utf-8")
    return tmp_path
