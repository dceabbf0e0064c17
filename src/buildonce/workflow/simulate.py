"""Predict every job's outcome when some jobs fail or the run is cancelled.

GitHub's rules, as documented for ``jobs.<id>.if`` and ``needs``:

* a job starts when all its ``needs`` have finished;
* its condition defaults to ``success()``; a condition without a status function is
  evaluated as ``success() && (condition)``;
* at job level ``success()`` is true when every ancestor succeeded, ``failure()`` when any
  ancestor failed, ``cancelled()`` when the run was cancelled, ``always()`` always;
* a job whose condition is false is skipped (and, with the default condition, so are all the
  jobs after it).

The outcome is recorded on the spec's :class:`~buildonce.model.CIRun` (pending → running →
success/failure/skipped), so the run model's own rules (a job never succeeds after a failed
prerequisite unless its guard allows it; skipped jobs record the failed job in their reason)
are checked on every simulated run.  Conditions that read values only known at run time
(``github.event_name`` without ``--event``, step outputs) are assumed true and marked.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from buildonce.errors import BuildonceError, InputError
from buildonce.model.cache_entry import DEFAULT_ORIGIN_JOB
from buildonce.model.job import CIJob, CIRun, JobEvent, JobStatus, find_cycle
from buildonce.workflow import expressions as ex
from buildonce.workflow.analysis import Analysis, analyse
from buildonce.workflow.model import Workflow

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class JobOutcome:
    job: str
    status: JobStatus
    result: str  # GitHub's needs.<id>.result: success, failure, cancelled, skipped
    reason: str | None
    condition: str
    assumed: bool  # the condition depended on values unknown before the run

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.job,
            "status": self.status.value,
            "result": self.result,
            "reason": self.reason,
            "condition": self.condition,
            "assumed": self.assumed,
        }


@dataclass(frozen=True, slots=True)
class Simulation:
    outcomes: list[JobOutcome]
    run: CIRun

    def to_json(self) -> dict[str, object]:
        return {"jobs": [o.to_json() for o in self.outcomes], "run": self.run.to_json()}


def _check_names(workflow: Workflow, names: Iterable[str], option: str) -> None:
    for name in names:
        if name not in workflow.jobs:
            close = difflib.get_close_matches(name, list(workflow.jobs), n=1)
            hint = f"did you mean {close[0]!r}?" if close else (f"jobs: {', '.join(workflow.jobs)}")
            raise InputError(f"no job {name!r} in {workflow.path}", where=option, hint=hint)


def _order(workflow: Workflow) -> list[str]:
    remaining = {
        j.id: {n for n in j.need_ids if n in workflow.jobs} for j in workflow.jobs.values()
    }
    order: list[str] = []
    while remaining:
        ready = [j for j, deps in remaining.items() if not deps]
        ready.sort(key=list(workflow.jobs).index)
        for job_id in ready:
            order.append(job_id)
            del remaining[job_id]
        for deps in remaining.values():
            deps.difference_update(ready)
    return order


def simulate(
    workflow: Workflow,
    *,
    fail: Iterable[str] = (),
    cancel: Iterable[str] = (),
    event: str | None = None,
    analysis: Analysis | None = None,
) -> Simulation:
    """Simulate one run where the jobs in ``fail`` fail and the run is cancelled while the
    jobs in ``cancel`` run."""
    fail, cancel = list(fail), list(cancel)
    _check_names(workflow, fail, "--fail")
    _check_names(workflow, cancel, "--cancel")
    for job in workflow.jobs.values():
        for need in job.needs:
            if need.job not in workflow.jobs:
                raise InputError(
                    f"job {job.id!r} needs unknown job {need.job!r}",
                    where=str(need.location),
                    hint="run buildonce lint to see every problem",
                )
    cycle = find_cycle({j.id: list(j.need_ids) for j in workflow.jobs.values()})
    if cycle:
        raise InputError(
            f"jobs wait for each other in a cycle: {' -> '.join(cycle)}", where=workflow.path
        )
    analysis = analysis or analyse(workflow)
    builder = analysis.builders[0] if analysis.builders else DEFAULT_ORIGIN_JOB
    conditions: dict[str, ex.Expr] = {}
    sources: dict[str, str] = {}
    for job in workflow.jobs.values():
        source = "success()"
        if job.if_node is not None and job.if_node.is_scalar:
            source = ex.condition_source(job.if_node.text)
        try:
            expr = ex.parse(source)
        except ex.ExpressionError as exc:
            raise InputError(
                f"job {job.id!r}: if: {exc.message}", where=str(job.location)
            ) from None
        if not ex.uses_status_function(expr):
            expr = ex.Binary("&&", ex.Call("success", ()), expr)
            source = source if source == "success()" else f"success() && ({source})"
        conditions[job.id] = expr
        sources[job.id] = source
    entities = []
    for job in workflow.jobs.values():
        guard = any(
            c.name.lower() in ("always", "failure", "cancelled")
            for c in ex.calls(conditions[job.id])
        )
        requires = job.id in analysis.consumers and builder in workflow.ancestors(job.id)
        entities.append(
            CIJob(id=job.id, needs=job.need_ids, artifact_required=requires, always_guard=guard)
        )
    try:
        run = CIRun.of(entities, builder)
    except BuildonceError as exc:
        raise InputError(f"the job graph is invalid: {exc.message}", where=workflow.path) from None

    results: dict[str, str] = {}
    outcomes: list[JobOutcome] = []
    cancelled = False
    contexts_base: dict[str, object] = {}
    if event is not None:
        contexts_base["github"] = {"event_name": event}
    for job_id in _order(workflow):
        job = workflow.jobs[job_id]
        ancestors = workflow.ancestors(job_id)
        status = ex.Status(
            success=not cancelled and all(results[a] == "success" for a in ancestors),
            failure=any(results[a] == "failure" for a in ancestors),
            cancelled=cancelled,
        )
        contexts = dict(contexts_base)
        contexts["needs"] = {n: {"result": results[n], "outputs": ex.UNKNOWN} for n in job.need_ids}
        value = ex.Evaluator(contexts, status=status, source=sources[job_id]).evaluate(
            conditions[job_id]
        )
        truth = ex.truthy(value)
        assumed = truth is ex.UNKNOWN
        runs = True if assumed else bool(truth)
        blockers = run.guard_blockers(job_id)
        run = run.apply(job_id, JobEvent.START, at=_EPOCH)
        if runs and blockers and not run.jobs[job_id].always_guard:
            runs = False  # pragma: no cover - the implicit success() already says so
        if not runs:
            if blockers:
                run = run.apply(job_id, JobEvent.SKIP, at=_EPOCH)
            else:
                why = "the run was cancelled" if cancelled else f"if: {sources[job_id]} is false"
                run = run.apply(job_id, JobEvent.SKIP, at=_EPOCH, reason=f"skipped: {why}")
            results[job_id] = "skipped"
        elif job_id in cancel:
            cancelled = True
            run = run.apply(job_id, JobEvent.FAIL, at=_EPOCH, reason="cancelled (--cancel)")
            results[job_id] = "cancelled"
        elif job_id in fail:
            run = run.apply(job_id, JobEvent.FAIL, at=_EPOCH, reason="failed (--fail)")
            results[job_id] = "failure"
        elif (missing := run.artifact_blocker(job_id)) is not None:
            # An always()-guarded consumer does start after a failed build, but the binary
            # it restores was never saved, so its restore (or smoke test) fails: the model
            # refuses ``succeed`` here, and GitHub would report a failure.
            run = run.apply(
                job_id,
                JobEvent.FAIL,
                at=_EPOCH,
                reason=f"artifact from {missing!r} is missing",
            )
            results[job_id] = "failure"
        else:
            reason = "condition assumed true (depends on run-time values)" if assumed else None
            run = run.apply(job_id, JobEvent.SUCCEED, at=_EPOCH, reason=reason)
            results[job_id] = "success"
        final = run.jobs[job_id]
        outcomes.append(
            JobOutcome(
                job_id, final.status, results[job_id], final.reason, sources[job_id], assumed
            )
        )
    order = list(workflow.jobs)
    outcomes.sort(key=lambda o: order.index(o.job))
    return Simulation(outcomes, run)
