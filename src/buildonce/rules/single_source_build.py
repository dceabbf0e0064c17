"""single-source-build: build the binary once per run, not once per job or matrix leg.

Spec domain rule 1: only the builder job (``build-artifact``) seeds the shared binary cache;
a downstream job may rebuild only when the cache misses, and must then re-save the entry.

**Anti-pattern**::

    system-test:
      strategy: {matrix: {distribution: [Kind, K3d, Talos]}}
      steps:
        - uses: actions/setup-go@v6
        - run: go build -o ksail .      # compiled again in every leg

**Fix**: add one builder job that builds and saves the binary (``actions/cache/save``), make
the matrix ``needs:`` it and restore the binary (``actions/cache/restore`` with
``fail-on-cache-miss: true``, or build only ``if: steps.<restore>.outputs.cache-hit !=
'true'`` and save again).  Reported too: the same binary built unconditionally in several
jobs, a consumer that restores the binary and still rebuilds it every time, a consumer that
rebuilds on a miss but never re-saves, and several jobs that each seed the same key.
A matrix whose legs build *different* binaries (the build or ``runs-on`` reads ``matrix.*``)
is fine.
"""

from __future__ import annotations

from buildonce.rules.base import Findings, RuleContext, Severity
from buildonce.workflow.model import Job, Step

ID = "single-source-build"
SUMMARY = "the binary is built once per run and shared, not rebuilt per job or matrix leg"
SEVERITY = Severity.ERROR

_HINT = (
    "build once in a builder job, save it with actions/cache/save, and in this job add "
    "needs: <builder> and restore it with actions/cache/restore (fail-on-cache-miss: true)"
)


def _leg_specific(job: Job, step: Step) -> bool:
    """Whether each leg builds a different binary (the build reads the matrix)."""
    if "matrix." in job.runs_on:
        return True
    texts = [step.run or ""]
    s: Step | None = step
    while s is not None:
        texts.extend(n.text for n in s.env.values())
        s = s.caller
    texts.extend(n.text for n in job.env.values())
    return any("matrix." in t for t in texts)


def check(ctx: RuleContext) -> Findings:
    a = ctx.analysis
    built_in: dict[str, list[tuple[Job, Step]]] = {}
    for job_id, jf in a.jobs.items():
        job = jf.job
        legs = job.matrix_legs
        for step in jf.builds:
            if job.matrix_node is not None and legs != 1 and not _leg_specific(job, step):
                count = f"each of its {legs}" if legs else "each of its"
                yield ctx.finding(
                    step,
                    f"job {job_id!r} rebuilds the binary in {count} matrix legs",
                    hint=_HINT,
                    job=job_id,
                )
                continue
            if job_id in a.consumers:
                yield ctx.finding(
                    step,
                    f"job {job_id!r} restores the shared binary but also rebuilds it on every run",
                    hint="build only when the restore misses: "
                    "if: steps.<restore-id>.outputs.cache-hit != 'true'",
                    job=job_id,
                )
                continue
            if step.builds:
                name = step.builds.rsplit("/", 1)[-1]
                built_in.setdefault(name, []).append((job, step))
        if job_id not in a.builders and jf.guarded_builds and not jf.saves:
            step = jf.guarded_builds[0]
            yield ctx.finding(
                step,
                f"job {job_id!r} rebuilds the binary on a cache miss but never re-saves it",
                hint="save the rebuilt binary with actions/cache/save under the same key",
                job=job_id,
            )
    for name, places in built_in.items():
        jobs = {j.id: (j, s) for j, s in places}
        if len(jobs) < 2 or "$" in name:
            continue
        runners = {j.runs_on for j, _ in jobs.values()}
        if len(runners) > 1:
            continue  # different runners build different binaries
        first, *rest = sorted(jobs)
        for job_id in rest:
            job, step = jobs[job_id]
            if job_id in a.builders or first in ctx.workflow.ancestors(job_id):
                # a job after the builder rebuilding is reported above as a consumer
                pass
            yield ctx.finding(
                step,
                f"binary {name!r} is built again in job {job_id!r} (also built in {first!r})",
                hint=_HINT,
                job=job_id,
            )
    seeds = [b for b in a.builders if a.jobs[b].saves]
    if len(seeds) > 1 and not a.settings.builder_jobs:
        keys = {b: {a.keys[id(s)].canonical for s in a.jobs[b].saves} for b in seeds}
        first = seeds[0]
        for other in seeds[1:]:
            if keys[first] & keys[other]:
                step = a.jobs[other].saves[0]
                yield ctx.finding(
                    step,
                    f"job {other!r} seeds the same binary cache entry as {first!r}",
                    hint=f"let one builder seed it and add needs: {first} here",
                    job=other,
                )
