"""CIJob: a GitHub Actions job in the workflow (spec § CIJob), and the run that holds them.

Job lifecycle, exactly the spec's four transitions:

=======  =======  =======  ====================================================
from     event    to       spec
=======  =======  =======  ====================================================
pending  start    running  1
running  succeed  success  2: all steps pass
running  fail     failure  3: smoke test or main command fails
running  skip     skipped  4: an upstream failed and the guard prevents execution
=======  =======  =======  ====================================================

:class:`CIRun` enforces the two validation rules across jobs: a job starts only after every
``needs`` prerequisite succeeded (unless it is a reporting job guarded by ``if: always()``),
and a job with ``artifactRequired`` runs only after the builder job succeeded.  The one
exception to both is a reporting job guarded by ``if: always()``: GitHub runs it anyway, so
it may execute, but if it requires the artifact it can only fail (there is no binary).  A job whose
guard stops it still passes through Running (the spec has no Pending -> Skipped) and then
must Skip, recording which prerequisite failed (domain rule 5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from buildonce.errors import ValidationError
from buildonce.model import _validate as v
from buildonce.model.cache_entry import DEFAULT_ORIGIN_JOB
from buildonce.model.lifecycle import Lifecycle, Transition

ENTITY = "CIJob"


class JobStatus(Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"


class JobEvent(Enum):
    START = "start"
    SUCCEED = "succeed"
    FAIL = "fail"
    SKIP = "skip"


JOB_TRANSITIONS: Mapping[tuple[JobStatus, JobEvent], JobStatus] = {
    (JobStatus.PENDING, JobEvent.START): JobStatus.RUNNING,
    (JobStatus.RUNNING, JobEvent.SUCCEED): JobStatus.SUCCESS,
    (JobStatus.RUNNING, JobEvent.FAIL): JobStatus.FAILURE,
    (JobStatus.RUNNING, JobEvent.SKIP): JobStatus.SKIPPED,
}
JOB_LIFECYCLE: Lifecycle[JobStatus, JobEvent] = Lifecycle(ENTITY, JOB_TRANSITIONS)
FINISHED = frozenset({JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.SKIPPED})
#: Statuses that mean the job's steps ran: the ones the guard rules forbid after a failure.
EXECUTED = frozenset({JobStatus.SUCCESS, JobStatus.FAILURE})
#: JSON field names, in the spec's order, then the fields buildonce adds.
JSON_FIELDS = (
    "id",
    "needs",
    "artifactRequired",
    "cacheHit",
    "status",
    "alwaysGuard",
    "reason",
    "history",
)


@dataclass(frozen=True, slots=True)
class CIJob:
    """One job.

    Beyond the spec's five attributes: ``always_guard`` marks a reporting job with
    ``if: always()`` (the spec's exception to the needs rule), ``reason`` records why a job
    was skipped or failed (domain rule 5 asks for it), and ``history`` its transitions.
    """

    id: str
    needs: tuple[str, ...] = ()
    artifact_required: bool = False
    cache_hit: bool = False
    status: JobStatus = JobStatus.PENDING
    always_guard: bool = False
    reason: str | None = None
    history: tuple[Transition, ...] = field(default=())

    def __post_init__(self) -> None:
        v.check_job_id(ENTITY, "id", self.id)
        object.__setattr__(self, "needs", v.check_unique_ids(ENTITY, "needs", self.needs))
        if self.id in self.needs:
            raise v.fail(ENTITY, "needs", "no-self-need", f"job {self.id!r} needs itself")
        v.check_bool(ENTITY, "artifactRequired", self.artifact_required)
        v.check_bool(ENTITY, "cacheHit", self.cache_hit)
        v.check_bool(ENTITY, "alwaysGuard", self.always_guard)
        if not isinstance(self.status, JobStatus):
            raise v.fail(ENTITY, "status", "status-enum", f"unknown status {self.status!r}")
        v.check_reason(ENTITY, self.reason)
        if self.status is JobStatus.SKIPPED and self.reason is None:
            raise v.fail(
                ENTITY,
                "reason",
                "skip-reason",
                f"job {self.id!r} is skipped without a reason",
                hint="domain rule 5: record why, e.g. the upstream job that failed",
            )
        history = JOB_LIFECYCLE.check_history(self.history, self.status)
        for index, t in enumerate(history):
            if t.job is not None and t.job != self.id:
                raise v.fail(
                    ENTITY,
                    f"history[{index}].job",
                    "history-own-job",
                    f"history of job {self.id!r} names job {t.job!r}",
                )
        object.__setattr__(self, "history", history)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def executed(self) -> bool:
        """The job's steps ran to an end (success or failure), as opposed to being skipped."""
        return self.status in EXECUTED

    def allowed_events(self) -> tuple[JobEvent, ...]:
        return JOB_LIFECYCLE.allowed_events(self.status)

    def apply(self, event: JobEvent, *, at: datetime, reason: str | None = None) -> CIJob:
        """Apply one event; raises and leaves ``self`` as it was when it is not allowed."""
        target, record = JOB_LIFECYCLE.record(self.status, event, at=at, job=self.id)
        return replace(
            self, status=target, history=(*self.history, record), reason=reason or self.reason
        )

    def start(self, *, at: datetime) -> CIJob:
        return self.apply(JobEvent.START, at=at)

    def succeed(self, *, at: datetime) -> CIJob:
        return self.apply(JobEvent.SUCCEED, at=at)

    def fail(self, *, at: datetime, reason: str | None = None) -> CIJob:
        return self.apply(JobEvent.FAIL, at=at, reason=reason)

    def skip(self, *, at: datetime, reason: str) -> CIJob:
        return self.apply(JobEvent.SKIP, at=at, reason=reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "needs": list(self.needs),
            "artifactRequired": self.artifact_required,
            "cacheHit": self.cache_hit,
            "status": self.status.value,
            "alwaysGuard": self.always_guard,
            "reason": self.reason,
            "history": [t.to_json() for t in self.history],
        }

    @classmethod
    def from_json(cls, data: Any) -> CIJob:
        """The inverse of :meth:`to_json`; any malformed input raises ValidationError."""
        data = v.check_object(ENTITY, data, JSON_FIELDS)
        v.require(ENTITY, data, "id")
        raw_status = data.get("status", JobStatus.PENDING.value)
        status = next((s for s in JobStatus if s.value == raw_status), None)
        if status is None:
            allowed = ", ".join(s.value for s in JobStatus)
            raise v.fail(ENTITY, "status", "status-enum", f"{raw_status!r} is not one of {allowed}")
        return cls(
            id=data["id"],
            needs=v.as_tuple(data.get("needs", [])),
            artifact_required=data.get("artifactRequired", False),
            cache_hit=data.get("cacheHit", False),
            status=status,
            always_guard=data.get("alwaysGuard", False),
            reason=data.get("reason"),
            history=JOB_LIFECYCLE.parse_history(data.get("history", [])),
        )


def _graph_error(
    message: str, field_name: str, rule: str, hint: str | None = None
) -> ValidationError:
    return ValidationError(message, entity="CIRun", field=field_name, rule=rule, hint=hint)


def find_cycle(needs: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle in the ``needs`` graph as a closed path of job ids, or ``None``.

    Iterative depth-first search: a long chain of jobs in a user's document must not hit
    Python's recursion limit.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(needs, white)
    for root in sorted(needs):
        if colour[root] != white:
            continue
        colour[root] = grey
        path = [root]
        todo = [iter(needs.get(root, ()))]
        while todo:
            dep = next(todo[-1], None)
            if dep is None:
                colour[path.pop()] = black
                todo.pop()
            elif dep not in colour:
                continue
            elif colour[dep] == grey:
                return [*path[path.index(dep) :], dep]
            elif colour[dep] == white:
                colour[dep] = grey
                path.append(dep)
                todo.append(iter(needs.get(dep, ())))
    return None


@dataclass(frozen=True, slots=True)
class CIRun:
    """The jobs of one workflow run and the rules that tie them together.

    Immutable like the entities: :meth:`apply` returns a new run.  Construction checks the
    graph (known needs, no cycles, artifact consumers downstream of the builder) and that
    the jobs' statuses could have been reached under the guard rules.
    """

    jobs: Mapping[str, CIJob]
    builder: str = DEFAULT_ORIGIN_JOB

    def __post_init__(self) -> None:
        v.check_job_id("CIRun", "builder", self.builder)
        if not isinstance(self.jobs, Mapping):
            raise _graph_error("jobs must map job ids to jobs", "jobs", "jobs-mapping")
        jobs = dict(self.jobs)
        for job_id, job in jobs.items():
            if not isinstance(job, CIJob):
                raise _graph_error(f"job {job_id!r} is not a CIJob", "jobs", "jobs-mapping")
            if job_id != job.id:
                raise _graph_error(f"job stored as {job_id!r} has id {job.id!r}", "jobs", "ids")
            for dep in job.needs:
                if dep not in jobs:
                    raise _graph_error(
                        f"job {job.id!r} needs unknown job {dep!r}",
                        f"jobs.{job.id}.needs",
                        "needs-known",
                        hint=f"known jobs: {', '.join(sorted(jobs))}",
                    )
        cycle = find_cycle({j.id: j.needs for j in jobs.values()})
        if cycle:
            raise _graph_error(f"needs form a cycle: {' -> '.join(cycle)}", "jobs", "needs-acyclic")
        for job in jobs.values():
            if job.artifact_required and job.id != self.builder:
                if self.builder not in jobs:
                    raise _graph_error(
                        f"job {job.id!r} requires the artifact but there is no "
                        f"{self.builder!r} job",
                        f"jobs.{job.id}.artifactRequired",
                        "artifact-builder-exists",
                    )
                if self.builder not in self.ancestors(job.id, jobs):
                    raise _graph_error(
                        f"job {job.id!r} requires the artifact but does not need {self.builder!r}",
                        f"jobs.{job.id}.needs",
                        "artifact-needs-builder",
                        hint=f"add {self.builder!r} to its needs",
                    )
        object.__setattr__(self, "jobs", jobs)
        for job in jobs.values():
            self._check_reachable(job)

    def _check_reachable(self, job: CIJob) -> None:
        """A stored status must be one the guard rules let the job reach."""
        if job.status is not JobStatus.PENDING:
            unfinished = [d for d in job.needs if not self.jobs[d].finished]
            if unfinished:
                raise _graph_error(
                    f"job {job.id!r} is {job.status.value} but its prerequisite "
                    f"{unfinished[0]!r} has not finished",
                    f"jobs.{job.id}.status",
                    "needs-order",
                )
        if job.status is JobStatus.SUCCESS and (artifact := self.artifact_blocker(job.id)):
            raise _graph_error(
                f"job {job.id!r} succeeded but requires the artifact, and {artifact!r} ended "
                f"with {self.jobs[artifact].status.value}",
                f"jobs.{job.id}.status",
                "artifact-requires-successful-build",
            )
        if job.executed:
            blockers = self.guard_blockers(job.id)
            if blockers:
                dep = self.jobs[blockers[0]]
                raise _graph_error(
                    f"job {job.id!r} is {job.status.value} but prerequisite {dep.id!r} "
                    f"ended with {dep.status.value}",
                    f"jobs.{job.id}.status",
                    "failure-propagation",
                    hint="a blocked job can only be skipped",
                )

    @staticmethod
    def ancestors(job_id: str, jobs: Mapping[str, CIJob]) -> set[str]:
        seen: set[str] = set()
        todo = list(jobs[job_id].needs)
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                todo.extend(jobs[dep].needs)
        return seen

    @classmethod
    def of(cls, jobs: Iterable[CIJob], builder: str = DEFAULT_ORIGIN_JOB) -> CIRun:
        result: dict[str, CIJob] = {}
        for job in jobs:
            if not isinstance(job, CIJob):
                raise _graph_error("jobs must be CIJob values", "jobs", "jobs-mapping")
            if job.id in result:
                raise _graph_error(f"job {job.id!r} is defined twice", "jobs", "ids-unique")
            result[job.id] = job
        return cls(result, builder)

    @property
    def artifact_consumers(self) -> tuple[CIJob, ...]:
        """Jobs that download the shared binary (the * side of BinaryCacheEntry 1--* CIJob)."""
        return tuple(j for j in self.jobs.values() if j.artifact_required and j.id != self.builder)

    def blocked_by(self, job_id: str) -> list[str]:
        """Prerequisites that ended without success (the reason a job must be skipped)."""
        job = self.jobs[job_id]
        return [
            dep
            for dep in job.needs
            if self.jobs[dep].status in (JobStatus.FAILURE, JobStatus.SKIPPED)
        ]

    def artifact_blocker(self, job_id: str) -> str | None:
        """The builder, when this job requires the artifact and the build did not succeed."""
        job = self.jobs[job_id]
        if not job.artifact_required or job.id == self.builder or self.builder not in self.jobs:
            return None
        builder = self.jobs[self.builder]
        return None if builder.status is JobStatus.SUCCESS else builder.id

    def guard_blockers(self, job_id: str) -> list[str]:
        """Why the guard must keep this job from executing at all (its only way out is Skipped).

        Failed or skipped prerequisites block every job except a reporting job guarded by
        ``if: always()``, and so does a build that did not succeed for a job that requires
        the artifact.  An always-guarded job is never blocked: GitHub runs it whatever
        happened upstream.
        """
        job = self.jobs[job_id]
        if job.always_guard:
            return []
        blockers = self.blocked_by(job_id)
        artifact = self.artifact_blocker(job_id)
        if artifact is not None and artifact not in blockers:
            blockers.append(artifact)
        return blockers

    def allowed_events(self, job_id: str) -> tuple[JobEvent, ...]:
        """The events :meth:`apply` accepts for this job now (table and guard rules)."""
        job = self._job(job_id)
        blocked = bool(self.guard_blockers(job_id))
        allowed = []
        for event in job.allowed_events():
            if event is JobEvent.START and any(not self.jobs[d].finished for d in job.needs):
                continue
            if event in (JobEvent.SUCCEED, JobEvent.FAIL) and blocked:
                continue
            if event is JobEvent.SUCCEED and self.artifact_blocker(job_id):
                continue
            allowed.append(event)
        return tuple(allowed)

    def _job(self, job_id: str) -> CIJob:
        if job_id not in self.jobs:
            raise _graph_error(
                f"no job {job_id!r} in this run",
                "jobs",
                "job-known",
                hint=f"known jobs: {', '.join(sorted(self.jobs))}",
            )
        return self.jobs[job_id]

    def apply(
        self, job_id: str, event: JobEvent, *, at: datetime, reason: str | None = None
    ) -> CIRun:
        """Apply one event to one job; raises and leaves the run unchanged when not allowed.

        The job's own table is checked first (InvalidTransitionError), then the run's
        guard rules (ValidationError naming the rule).
        """
        job = self._job(job_id)
        JOB_LIFECYCLE.next_state(job.status, event)
        if event is JobEvent.START:
            unfinished = [d for d in job.needs if not self.jobs[d].finished]
            if unfinished:
                raise _graph_error(
                    f"job {job_id!r} cannot start before {unfinished[0]!r} has finished",
                    f"jobs.{job_id}.needs",
                    "needs-order",
                )
        blockers = self.guard_blockers(job_id)
        if event in (JobEvent.SUCCEED, JobEvent.FAIL) and blockers:
            dep = self.jobs[blockers[0]]
            # Spec CIJob rules: no job executes before its prerequisites succeed, and a job
            # that requires the artifact needs a successful build.  Its only way out is Skipped.
            raise _graph_error(
                f"job {job_id!r} must not execute: prerequisite {dep.id!r} ended with "
                f"{dep.status.value}; allowed: skip",
                f"jobs.{job_id}.status",
                "failure-propagation",
                hint="only a reporting job guarded by if: always() runs after a failure",
            )
        artifact = self.artifact_blocker(job_id)
        if event is JobEvent.SUCCEED and artifact is not None:
            # An always-guarded consumer does run after a failed build (GitHub ignores the
            # failure for it), but with no binary to smoke-test it cannot succeed.
            raise _graph_error(
                f"job {job_id!r} cannot succeed: it requires the artifact and {artifact!r} "
                f"ended with {self.jobs[artifact].status.value}; allowed: fail, skip",
                f"jobs.{job_id}.status",
                "artifact-requires-successful-build",
                hint="a job that downloads the binary should not run under if: always()",
            )
        if event is JobEvent.SKIP:
            upstream_ids = blockers or ([artifact] if artifact else [])
            if upstream_ids:
                dep = self.jobs[upstream_ids[0]]
                # Domain rule 5: the skipped job records why, naming the job that failed.
                upstream = f"skipped: prerequisite {dep.id!r} ended with {dep.status.value}"
                if dep.reason:
                    upstream += f" ({dep.reason})"
                reason = f"{upstream}; {reason}" if reason else upstream
            elif reason is None:
                raise _graph_error(
                    f"job {job_id!r} is skipped without a failed prerequisite; give the reason",
                    f"jobs.{job_id}.reason",
                    "skip-reason",
                    hint="e.g. reason='if: condition was false'",
                )
        updated = job.apply(event, at=at, reason=reason)
        return replace(self, jobs={**self.jobs, job_id: updated})

    def to_json(self) -> dict[str, Any]:
        return {"builder": self.builder, "jobs": [j.to_json() for j in self.jobs.values()]}

    @classmethod
    def from_json(cls, data: Any) -> CIRun:
        """The inverse of :meth:`to_json`; any malformed input raises ValidationError."""
        data = v.check_object("CIRun", data, ("builder", "jobs"))
        if not isinstance(data.get("jobs"), list):
            raise _graph_error("jobs must be a list of job objects", "jobs", "jobs-list")
        return cls.of(
            (CIJob.from_json(j) for j in data["jobs"]), data.get("builder", DEFAULT_ORIGIN_JOB)
        )
