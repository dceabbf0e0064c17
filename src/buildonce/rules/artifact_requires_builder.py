"""artifact-requires-builder: a job that requires the binary needs the job that builds it.

Spec CIJob rule: "if ``artifactRequired`` is true, ``build-artifact`` must finish with
``status = success``" — which GitHub guarantees only through ``needs:``.  Without it the
consumer starts at the same time as the builder, finds no cache entry, and either fails on
the miss or quietly builds its own binary.

**Anti-pattern**::

    build:     {steps: [..., {uses: actions/cache/save@v4, with: {path: bin/app, key: K}}]}
    e2e:       {steps: [{uses: actions/cache/restore@v4, with: {path: bin/app, key: K}}]}

**Fix**: ``e2e: {needs: [build], ...}`` (directly or through another job that needs it).
"""

from __future__ import annotations

from buildonce.rules.base import Findings, RuleContext, Severity

ID = "artifact-requires-builder"
SUMMARY = "a job that restores the binary needs the job that builds it"
SEVERITY = Severity.ERROR


def check(ctx: RuleContext) -> Findings:
    a = ctx.analysis
    if not a.builders:
        return
    for job_id in a.consumers:
        ancestors = ctx.workflow.ancestors(job_id)
        if any(b in ancestors for b in a.builders):
            continue
        jf = a.jobs[job_id]
        builder = a.builders[0]
        yield ctx.finding(
            jf.restores[0] if jf.restores else jf.downloads[0],
            f"job {job_id!r} restores the binary that {builder!r} builds but does not need "
            f"{builder!r}: it can start before the binary exists",
            hint=f"add needs: [{builder}] to {job_id!r}",
            job=job_id,
        )
