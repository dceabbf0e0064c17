"""unknown-needs: every ``needs:`` entry names a job of the same workflow.

GitHub rejects the whole workflow when a ``needs`` target does not exist (often a typo such
as ``needs: [biuld]``), so no job runs at all.

**Fix**: use the job's id (the key under ``jobs:``), not its ``name:``.
"""

from __future__ import annotations

import difflib

from buildonce.rules.base import Findings, RuleContext, Severity

ID = "unknown-needs"
SUMMARY = "needs: names only jobs that exist"
SEVERITY = Severity.ERROR


def check(ctx: RuleContext) -> Findings:
    jobs = ctx.workflow.jobs
    for job in jobs.values():
        for need in job.needs:
            if need.job in jobs:
                continue
            close = difflib.get_close_matches(need.job, list(jobs), n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else (f"known jobs: {', '.join(sorted(jobs))}")
            )
            yield ctx.finding(
                need.location,
                f"job {job.id!r} needs unknown job {need.job!r}",
                hint=hint,
                job=job.id,
            )
            if need.job == job.id:
                continue
