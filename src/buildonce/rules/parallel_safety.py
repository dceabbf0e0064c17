"""parallel-safety: concurrent jobs and matrix legs never race on one cache entry.

Spec domain rule 4: keys include the runner OS and source hashes so concurrent workflows do
not collide.  Cache entries are immutable: when several legs save the same key at once, one
wins and the others fail to reserve it ("Unable to reserve cache … another job may be
creating this cache", actions/cache#485), wasting the upload and cluttering logs.

**Anti-pattern**: every leg of an 11-leg matrix may rebuild on a miss and then run
``actions/cache/save`` with the same key; or two unordered jobs both save the binary key.

**Fix**: let only the builder save; in the legs restore with ``fail-on-cache-miss: true``
(or make the key leg-specific with a ``matrix`` value when the legs really differ).  The
buildonce action's ``mode: consume`` legs are not reported for their repair save after an
evicted entry (first writer wins, the others skip the upload), but a consumer that does not
``need`` the builder races it and is.  A binary
key without the OS in a matrix that spans operating systems is reported too.
"""

from __future__ import annotations

from buildonce.rules.base import Findings, RuleContext, Severity

ID = "parallel-safety"
SUMMARY = "no two matrix legs or unordered jobs save the same cache key"
SEVERITY = Severity.WARNING


def check(ctx: RuleContext) -> Findings:
    a = ctx.analysis
    savers: list[tuple[str, str]] = []
    for job_id, jf in a.jobs.items():
        job = jf.job
        for step in jf.saves:
            info = a.key(step)
            if info is None:
                continue
            savers.append((job_id, info.canonical))
            multi_leg = job.matrix_node is not None and job.matrix_legs != 1
            # The buildonce action in consume mode saves only after its exact-key restore
            # missed (the builder's entry was evicted), and its store lets the first writer
            # win without failing the others, who skip the upload.
            repair_only = step.buildonce is not None and step.buildonce.mode == "consume"
            if multi_leg and "{matrix." not in info.canonical and not repair_only:
                legs = f"all {job.matrix_legs}" if job.matrix_legs else "all the"
                yield ctx.finding(
                    step,
                    f"{legs} legs of {job_id!r} can save the binary key "
                    f"{step.cache.key if step.cache else ''!r} at the same time",
                    hint="save only in the builder job; restore here with fail-on-cache-miss: true",
                    job=job_id,
                )
            if multi_leg and "matrix." in job.runs_on and not info.has_os:
                yield ctx.finding(
                    step,
                    f"the legs of {job_id!r} run on different runners but the binary key has "
                    "no OS: legs overwrite each other's binary",
                    hint="add ${{ runner.os }} to the key",
                    job=job_id,
                )
    reported: set[str] = set()
    for i, (job_a, key_a) in enumerate(savers):
        for job_b, key_b in savers[i + 1 :]:
            if job_a == job_b or key_a != key_b or job_b in reported:
                continue
            wf = ctx.workflow
            if job_a in wf.ancestors(job_b) or job_b in wf.ancestors(job_a):
                continue
            reported.add(job_b)
            step = a.jobs[job_b].saves[0]
            yield ctx.finding(
                step,
                f"jobs {job_a!r} and {job_b!r} run in parallel and save the same binary key",
                hint=f"add needs: {job_a} to {job_b!r}, or save in one job only",
                job=job_b,
            )
