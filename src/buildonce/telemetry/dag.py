"""The job DAG of a run and its critical path.

The jobs API has no ``needs`` edges.  They come from the workflow file at the run's commit
when one is available (stored by ``ingest --workflow-files`` or given as a local file), else
they are inferred from timing: GitHub creates a dependent job about a second after its last
dependency completes (research: telemetry.md §1.2, recorded run 16620109074).

The critical path is walked backwards from the job that finished last, each time to the
dependency that finished last (the one that actually gated it).  Its length is the run's
wall clock; its segments separate waiting for a runner from executing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: A dependent job is created within this many seconds after its gating dependency ends.
INFER_WINDOW_S = 3.0


@dataclass(frozen=True, slots=True)
class DagJob:
    name: str
    created_at: float | None
    started_at: float | None
    completed_at: float | None


@dataclass(frozen=True, slots=True)
class PathSegment:
    name: str
    ready_at: float
    started_at: float
    completed_at: float

    @property
    def queue_s(self) -> float:
        return max(self.started_at - self.ready_at, 0.0)

    @property
    def run_s(self) -> float:
        return max(self.completed_at - self.started_at, 0.0)


@dataclass(frozen=True, slots=True)
class CriticalPath:
    segments: tuple[PathSegment, ...]
    total_s: float
    source: str  # "workflow" or "timing"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "total_s": round(self.total_s, 3),
            "jobs": [
                {"name": s.name, "queue_s": round(s.queue_s, 3), "run_s": round(s.run_s, 3)}
                for s in self.segments
            ],
        }


def needs_from_workflow(text: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """``job id -> (display name prefix, needs)`` from workflow YAML; ``{}`` if unreadable.

    Uses the lint engine's workflow model (:mod:`buildonce.workflow`) when it is present,
    else reads ``jobs.<id>.name`` / ``needs`` with PyYAML directly.
    """
    try:
        from buildonce.workflow.loader import Loader
    except ImportError:
        return _needs_from_yaml(text)
    try:
        workflow = Loader().load_text(text, "<workflow at run commit>")
    except Exception:  # the other model failing must not cost us the report
        return _needs_from_yaml(text)
    jobs = getattr(workflow, "jobs", None)
    if not isinstance(jobs, dict) or not jobs:
        return _needs_from_yaml(text)
    graph: dict[str, tuple[str, tuple[str, ...]]] = {}
    for job_id, job in jobs.items():
        name = getattr(job, "name", None)
        display = name.split("${{", 1)[0].strip() if isinstance(name, str) else ""
        needs = tuple(str(getattr(n, "job", n)) for n in getattr(job, "needs", ()) or ())
        graph[str(job_id)] = (display or str(job_id), needs)
    return graph


def _needs_from_yaml(text: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, dict):
        return {}
    graph: dict[str, tuple[str, tuple[str, ...]]] = {}
    for job_id, job in jobs.items():
        if not isinstance(job, dict):
            continue
        needs = job.get("needs") or ()
        if isinstance(needs, str):
            needs = (needs,)
        name = job.get("name")
        display = str(name).split("${{", 1)[0].strip() if isinstance(name, str) else ""
        graph[str(job_id)] = (display or str(job_id), tuple(str(n) for n in needs))
    return graph


def _yaml_id_for(name: str, graph: Mapping[str, tuple[str, tuple[str, ...]]]) -> str | None:
    """The YAML job an API job name belongs to; the longest matching label wins."""
    best: tuple[int, str] | None = None
    for job_id, (display, _needs) in graph.items():
        for label in (display, job_id):
            matched = name == label or name.startswith((label + " (", label + " / "))
            if matched and (best is None or len(label) > best[0]):
                best = (len(label), job_id)
    return best[1] if best else None


def critical_path(
    jobs: Sequence[DagJob],
    run_started_at: float | None,
    workflow: Mapping[str, tuple[str, tuple[str, ...]]] | None = None,
) -> CriticalPath | None:
    """The critical path of one run, or ``None`` when no job has finished."""
    done = [j for j in jobs if j.completed_at is not None and j.started_at is not None]
    if not done:
        return None
    start = run_started_at
    if start is None:
        start = min(j.created_at or j.started_at or 0.0 for j in done)
    parents: dict[str, list[DagJob]] = {}
    source = "timing"
    if workflow:
        ids = {j.name: _yaml_id_for(j.name, workflow) for j in done}
        if all(ids.values()):
            source = "workflow"
            by_id: dict[str, list[DagJob]] = {}
            for job in done:
                by_id.setdefault(str(ids[job.name]), []).append(job)
            for job in done:
                needs = workflow[str(ids[job.name])][1]
                parents[job.name] = [p for n in needs for p in by_id.get(n, ())]
    if source == "timing":
        for job in done:
            ready = job.created_at if job.created_at is not None else job.started_at
            assert ready is not None
            if ready - start < INFER_WINDOW_S:
                parents[job.name] = []
                continue
            parents[job.name] = [
                p
                for p in done
                if p is not job
                and p.completed_at is not None
                and ready - INFER_WINDOW_S <= p.completed_at <= ready + 1.0
            ]
    last = max(done, key=lambda j: j.completed_at or 0.0)
    chain = [last]
    seen = {last.name}
    while True:
        candidates = [p for p in parents.get(chain[-1].name, ()) if p.name not in seen]
        if not candidates:
            break
        gate = max(candidates, key=lambda j: j.completed_at or 0.0)
        chain.append(gate)
        seen.add(gate.name)
    chain.reverse()
    segments = []
    previous_end = start
    for job in chain:
        assert job.started_at is not None
        assert job.completed_at is not None
        ready = max(previous_end, min(job.created_at or job.started_at, job.started_at))
        started = max(job.started_at, ready)
        completed = max(job.completed_at, started)
        segments.append(PathSegment(job.name, ready, started, completed))
        previous_end = completed
    total = max((last.completed_at or start) - start, 0.0)
    return CriticalPath(tuple(segments), total, source)
