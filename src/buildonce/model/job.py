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
and a job with ``artifactRequired`` runs only after the builder job succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from buildonce.errors import ValidationError
from buildonce.model import _validate as v
from buildonce.model.cache_entry import DEFAULT_ORIGIN_JOB, parse_history
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


@dataclass(frozen=True, slots=True)
class CIJob:
    """One job.  ``always_guard`` marks a reporting job with ``if: always()``."""

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
        if self.reason is not None and not isinstance(self.reason, str):
            raise v.fail(ENTITY, "reason", "string", "reason must be a string")

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def allowed_events(self) -> tuple[JobEvent, ...]:
        return JOB_LIFECYCLE.allowed_events(self.status)

    def apply(self, event: JobEvent, *, at: datetime, reason: str | None = None) -> CIJob:
        target = JOB_LIFECYCLE.next_state(self.status, event)
        v.check_datetime(ENTITY, "at", at)
        record = Transition(event.value, self.status.value, target.value, at, self.id)
        return replace(
            self, status=target, history=(*self.history, record), reason=reason or self.reason
        )

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
    def from_json(cls, data: Mapping[str, Any]) -> CIJob:
        if not isinstance(data, Mapping):
            raise v.fail(ENTITY, "(root)", "object", "expected a JSON object")
        if "id" not in data:
            raise v.fail(ENTITY, "id", "required", "id is required")
        try:
            status = JobStatus(data.get("status", "pending"))
        except ValueError:
            allowed = ", ".join(s.value for s in JobStatus)
            raise v.fail(
                ENTITY, "status", "status-enum", f"{data.get('status')!r} is not one of {allowed}"
            ) from None
        needs = data.get("needs", [])
        return cls(
            id=data["id"],
            needs=tuple(needs) if isinstance(needs, list) else needs,
            artifact_required=data.get("artifactRequired", False),
            cache_hit=data.get("cacheHit", False),
            status=status,
            always_guard=data.get("alwaysGuard", False),
            reason=data.get("reason"),
            history=parse_history(ENTITY, data.get("history", [])),
        )


def _graph_error(
    message: str, field_name: str, rule: str, hint: str | None = None
) -> ValidationError:
    return ValidationError(message, entity="CIRun", field=field_name, rule=rule, hint=hint)


def find_cycle(needs: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle in the ``needs`` graph as a closed path of job ids, or ``None``."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(needs, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for dep in needs.get(node, ()):
            if dep not in colour:
                continue
            if colour[dep] == grey:
                return [*stack[stack.index(dep) :], dep]
            if colour[dep] == white and (found := visit(dep)):
                return found
        stack.pop()
        colour[node] = black
        return None

    for node in sorted(needs):
        if colour[node] == white and (found := visit(node)):
            return found
    return None


@dataclass(frozen=True, slots=True)
class CIRun:
    """The jobs of one workflow run and the rules that tie them together.

    Immutable like the entities: :meth:`apply` returns a new run.
    """

    jobs: Mapping[str, CIJob]
    builder: str = DEFAULT_ORIGIN_JOB

    def __post_init__(self) -> None:
        jobs = dict(self.jobs)
        for job_id, job in jobs.items():
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
            if job.id in result:
                raise _graph_error(f"job {job.id!r} is defined twice", "jobs", "ids-unique")
            result[job.id] = job
        return cls(result, builder)

    def blocked_by(self, job_id: str) -> list[str]:
        """Prerequisites that ended without success (the reason a job must be skipped)."""
        job = self.jobs[job_id]
        return [
            dep
            for dep in job.needs
            if self.jobs[dep].status in (JobStatus.FAILURE, JobStatus.SKIPPED)
        ]

    def guard_blockers(self, job_id: str) -> list[str]:
        """Why the guard must keep this job from executing: failed prerequisites, or a failed
        builder for a job that requires the artifact.  A reporting job (``if: always()``) is
        never blocked."""
        job = self.jobs[job_id]
        if job.always_guard:
            return []
        blockers = self.blocked_by(job_id)
        if job.artifact_required and job.id != self.builder:
            builder = self.jobs[self.builder]
            if builder.status is not JobStatus.SUCCESS and self.builder not in blockers:
                blockers.append(self.builder)
        return blockers

    def apply(
        self, job_id: str, event: JobEvent, *, at: datetime, reason: str | None = None
    ) -> CIRun:
        if job_id not in self.jobs:
            raise _graph_error(f"no job {job_id!r} in this run", "jobs", "job-known")
        job = self.jobs[job_id]
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
        if event is JobEvent.SKIP and reason is None:
            if not blockers:
                raise _graph_error(
                    f"job {job_id!r} is skipped without a failed prerequisite; give the reason",
                    f"jobs.{job_id}.reason",
                    "skip-reason",
                    hint="e.g. reason='if: condition was false'",
                )
            dep = self.jobs[blockers[0]]
            # Domain rule 5: the skipped job records why, naming the job that failed.
            reason = f"skipped: prerequisite {dep.id!r} ended with {dep.status.value}"
            if dep.reason:
                reason += f" ({dep.reason})"
        updated = job.apply(event, at=at, reason=reason)
        return replace(self, jobs={**self.jobs, job_id: updated})

    def to_json(self) -> dict[str, Any]:
        return {"builder": self.builder, "jobs": [j.to_json() for j in self.jobs.values()]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CIRun:
        if not isinstance(data, Mapping) or not isinstance(data.get("jobs"), list):
            raise _graph_error("expected an object with a 'jobs' list", "jobs", "object")
        return cls.of(
            (CIJob.from_json(j) for j in data["jobs"]), data.get("builder", DEFAULT_ORIGIN_JOB)
        )
