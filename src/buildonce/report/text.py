"""Human-readable output: ``path:line:col: level[rule] message``, the source line with a
caret under the column, and the hint."""

from __future__ import annotations

from collections.abc import Sequence

from buildonce.report._source import clear, source_line
from buildonce.rules.base import Finding


def render(findings: Sequence[Finding], files: Sequence[str]) -> str:
    clear()
    out: list[str] = []
    for f in findings:
        loc = f.location
        out.append(f"{loc.path}:{loc.line}:{loc.col}: {f.severity.value}[{f.rule}] {f.message}")
        line = source_line(loc.path, loc.line)
        if line is not None:
            gutter = f"{loc.line:>5} | "
            out.append(f"{gutter}{line}")
            out.append(" " * (len(gutter) + max(loc.col - 1, 0)) + "^")
        if f.related is not None:
            out.append(f"      = in {f.related}")
        if f.hint:
            out.append(f"      = hint: {f.hint}")
    counts = {
        s: sum(1 for f in findings if f.severity.value == s) for s in ("error", "warning", "note")
    }
    summary = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
    noun = "file" if len(files) == 1 else "files"
    if findings:
        out.append(f"{len(files)} {noun} checked: {summary}")
    else:
        out.append(f"{len(files)} {noun} checked: no findings")
    return "\n".join(out) + "\n"
