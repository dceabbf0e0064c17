"""A Markdown summary for ``$GITHUB_STEP_SUMMARY``: counts, then the first findings as a
table (annotations carry the rest)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from buildonce.rules.base import Finding

MAX_ROWS = 50


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(findings: Sequence[Finding], files: Sequence[str]) -> str:
    noun = "file" if len(files) == 1 else "files"
    if not findings:
        return f"### buildonce lint\n\n{len(files)} {noun} checked: no findings.\n"
    counts = {
        s: sum(1 for f in findings if f.severity.value == s) for s in ("error", "warning", "note")
    }
    summary = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
    lines = [
        "### buildonce lint",
        "",
        f"{len(files)} {noun} checked: {summary}.",
        "",
        "| level | rule | where | finding |",
        "|---|---|---|---|",
    ]
    for f in findings[:MAX_ROWS]:
        path = (
            os.path.relpath(f.location.path) if os.path.isabs(f.location.path) else f.location.path
        )
        where = f"`{path}:{f.location.line}`"
        lines.append(f"| {f.severity.value} | `{f.rule}` | {where} | {_cell(f.message)} |")
    if len(findings) > MAX_ROWS:
        lines += ["", f"… and {len(findings) - MAX_ROWS} more."]
    return "\n".join(lines) + "\n"
