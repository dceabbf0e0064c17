"""smoke-test-guard: a job that consumes the shared binary checks it before using it.

Spec domain rule 3: jobs consuming the artifact must execute ``./ksail --version`` (or
similar) before cluster operations.  A restored binary can be truncated, built for another
platform or not executable; a smoke test turns that into one clear failure.

**Anti-pattern**::

    - uses: actions/cache/restore@v4
      with: {path: bin/app, key: ..., fail-on-cache-miss: true}
    - run: ./bin/app cluster create          # first use, nothing checked

**Fix**: run ``./bin/app --version`` (or the ``smoke-command`` from the config) right after
the restore.  A smoke step whose ``if:`` is statically false (a composite action called with
``run-smoke-test: "false"``) does not count.
"""

from __future__ import annotations

from buildonce.rules.base import Findings, RuleContext, Severity

ID = "smoke-test-guard"
SUMMARY = "jobs that consume the binary smoke-test it before real work"
SEVERITY = Severity.WARNING


def check(ctx: RuleContext) -> Findings:
    a = ctx.analysis
    for job_id in a.consumers:
        jf = a.jobs[job_id]
        steps = jf.job.steps
        first_smoke = min((steps.index(s) for s in jf.smoke), default=None)
        first_use = min((steps.index(s) for s in jf.uses_binary), default=None)
        smoke = a.settings.smoke_command or "<binary> --version"
        if first_use is not None and (first_smoke is None or first_smoke > first_use):
            yield ctx.finding(
                steps[first_use],
                f"job {job_id!r} runs the restored binary before any smoke test",
                hint=f"add a step running {smoke!r} right after the restore",
                job=job_id,
            )
        elif first_use is None and first_smoke is None and jf.restores:
            # A job that only downloads the binary to package or publish it does not run it;
            # a cache restore is how jobs get a binary to run.
            yield ctx.finding(
                jf.restores[0] if jf.restores else jf.job,
                f"job {job_id!r} restores the binary but never smoke-tests it",
                hint=f"add a step running {smoke!r} right after the restore",
                job=job_id,
            )
