"""GitHub workflow commands (``::error file=…,line=…,col=…,title=…::message``), shown as
annotations on the pull request.  Chosen automatically when ``GITHUB_ACTIONS=true``.

The title carries the rule id and the file's own path (not just its base name), so
annotations of same-named files stay apart (a complaint about zizmor, zizmor#2046).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from buildonce.rules.base import Finding

_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _path(path: str) -> str:
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return (path if rel.startswith("..") else rel).replace(os.sep, "/")


def render(findings: Sequence[Finding], files: Sequence[str]) -> str:
    lines: list[str] = []
    for f in findings:
        props = ",".join(
            [
                f"file={_escape_property(_path(f.location.path))}",
                f"line={f.location.line}",
                f"col={f.location.col}",
                f"title={_escape_property(f'buildonce {f.rule}')}",
            ]
        )
        message = f.message + (f"\n\nhint: {f.hint}" if f.hint else "")
        lines.append(f"::{_COMMAND[f.severity.value]} {props}::{_escape_data(message)}")
    return "\n".join(lines) + ("\n" if lines else "")
