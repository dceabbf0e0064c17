"""yaml-syntax: the file is valid YAML.

A file that does not parse is a finding at the position libyaml reports, never a crash and
never a silently skipped file (zizmor only warns and skips such files by default).

**Fix**: correct the YAML at the reported line and column (indentation, an unclosed quote,
a tab used for indentation, a second document).
"""

from __future__ import annotations

from buildonce.rules.base import Finding, Findings, RuleContext, Severity
from buildonce.workflow.model import Location

ID = "yaml-syntax"
SUMMARY = "the file parses as YAML"
SEVERITY = Severity.ERROR


def check(ctx: RuleContext) -> Findings:
    # Files that do not parse never reach the rules; the engine calls finding_for instead.
    return iter(())


def finding_for(path: str, message: str, line: int, col: int, severity: Severity) -> Finding:
    return Finding(
        ID,
        f"invalid YAML: {message}",
        Location(path, line, col),
        severity,
        hint="fix the YAML at this position",
    )
