"""Machine-readable output with a versioned schema.

``{"version": 1, "files": [...], "findings": [{"rule", "severity", "message", "path",
"line", "column", "hint", "job", "related"}], "summary": {"error", "warning", "note"}}``.
Fields are only ever added within a version; a removal or change of meaning bumps it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TypedDict

from buildonce.rules.base import Finding

SCHEMA_VERSION = 1


class RelatedV1(TypedDict):
    path: str
    line: int
    column: int


class FindingV1(TypedDict):
    rule: str
    severity: str
    message: str
    path: str
    line: int
    column: int
    hint: str | None
    job: str | None
    related: RelatedV1 | None


class ReportV1(TypedDict):
    version: int
    files: list[str]
    findings: list[FindingV1]
    summary: dict[str, int]


def to_report(findings: Sequence[Finding], files: Sequence[str]) -> ReportV1:
    items: list[FindingV1] = []
    for f in findings:
        rel: RelatedV1 | None = None
        if f.related is not None:
            rel = {"path": f.related.path, "line": f.related.line, "column": f.related.col}
        items.append(
            {
                "rule": f.rule,
                "severity": f.severity.value,
                "message": f.message,
                "path": f.location.path,
                "line": f.location.line,
                "column": f.location.col,
                "hint": f.hint,
                "job": f.job,
                "related": rel,
            }
        )
    summary = {
        s: sum(1 for f in findings if f.severity.value == s) for s in ("error", "warning", "note")
    }
    return {"version": SCHEMA_VERSION, "files": list(files), "findings": items, "summary": summary}


def render(findings: Sequence[Finding], files: Sequence[str]) -> str:
    return json.dumps(to_report(findings, files), indent=2, ensure_ascii=False) + "\n"
