"""invalid-ignore: every ``# buildonce: ignore[RULE] reason`` comment names known rules and
gives a reason.

An ignore comment hides a finding on its own line, or on the next line when the comment
stands alone.  The reason is required (as gha-cache-auditor requires for suppressions) so
that reviewers can judge it later; an ignore without one does not take effect.

**Anti-pattern**: ``run: go build -o app .  # buildonce: ignore[single-source-build]``

**Fix**: ``# buildonce: ignore[single-source-build] legs build for different GOARCH``
"""

from __future__ import annotations

from buildonce.rules.base import Findings, RuleContext, Severity

ID = "invalid-ignore"
SUMMARY = "ignore comments name known rules and give a reason"
SEVERITY = Severity.ERROR


def check(ctx: RuleContext) -> Findings:
    # Ignore comments are parsed by the engine (buildonce.lint), which reports them.
    return iter(())
