"""Client of tests/oracle/hashfiles.mjs: the runner's hashFiles script on @actions/glob."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ORACLE_DIR = Path(__file__).resolve().parent.parent / "oracle"
MARKER = "__ORACLE__"


class Oracle:
    """Client of tests/oracle/hashfiles.mjs: the runner's hashFiles script on @actions/glob."""

    def __init__(self, node: str) -> None:
        self._proc = subprocess.Popen(
            [node, str(ORACLE_DIR / "hashfiles.mjs")],
            cwd=ORACLE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def __call__(self, cwd: Path, patterns: Sequence[str], follow: bool = False) -> dict[str, str]:
        """``{"hash": ...}`` or ``{"error": ...}`` for one hashFiles call with cwd = workspace."""
        answer: dict[str, str] = self._ask(
            {"cwd": str(cwd), "patterns": list(patterns), "follow": follow}
        )
        return answer

    def _ask(self, request: dict[str, Any]) -> Any:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        while True:
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError("the oracle exited")
            if line.startswith(MARKER):
                return json.loads(line[len(MARKER) :])

    def match(self, cwd: Path, pattern: str, paths: Sequence[str]) -> dict[str, Any]:
        """@actions/glob ``Pattern(pattern)``: search path, negation, [match, partial] per path."""
        answer: dict[str, Any] = self._ask(
            {"op": "match", "cwd": str(cwd), "pattern": pattern, "paths": list(paths)}
        )
        return answer

    def close(self) -> None:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=10)
        self._proc.stdout.close()
