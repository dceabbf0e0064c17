"""Helpers for rule tests: fixture annotations."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

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
