"""Helpers for rule tests: fixture annotations."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
_NOT_OK = re.compile(r"#\s*NOT OK:\s*([\w-]+(?:\s*,\s*[\w-]+)*)")


def expected_findings(path: Path) -> Counter[tuple[int, str]]:
    """``(line, rule)`` pairs from ``# NOT OK: rule[, rule]`` annotations."""
    expected: Counter[tuple[int, str]] = Counter()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _NOT_OK.search(line)
        if match:
            for rule in match.group(1).split(","):
                expected[(number, rule.strip())] += 1
    return expected


@pytest.fixture
def ksail_checkout(shared_dir: Path, tmp_path: Path) -> Path:
    """ksail's ``after`` workflow and its composite action laid out as a real checkout."""
    ksail = shared_dir / "corpus" / "ksail"
    workflows = tmp_path / ".github" / "workflows"
    action = tmp_path / ".github" / "actions" / "prepare-ksail-binary"
    workflows.mkdir(parents=True)
    action.mkdir(parents=True)
    shutil.copyfile(ksail / "ci.after.yaml", workflows / "ci.yaml")
    shutil.copyfile(
        ksail / "ci.after.actions__prepare-ksail-binary__action.yaml", action / "action.yaml"
    )
    return tmp_path
