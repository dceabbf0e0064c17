"""Derived per-job records: durations, queue time, cache outcome, rebuild, smoke test.

The jobs API never shows step *outputs* (``cache-hit``), only step names, conclusions and
times, so the cache outcome is read from the workflow's shape (research: telemetry.md §4):

* a **restore** step followed by a **compile** step guarded by
  ``if: steps.<id>.outputs.cache-hit != 'true'``: compile ``skipped`` = hit, ran = miss;
* a step whose evaluated name says ``cache: hit`` / ``cache: miss``;
* a split ``actions/cache/save`` step guarded the same way: ``skipped`` = hit.

A skipped step proves a hit only when nothing failed before it (after a failure every step
is skipped), so such jobs get an unknown outcome rather than a false hit.  Each outcome
records its *evidence* so a report can say how it knows.

Timestamps are clamped the way the API's oddities require: an end before its start becomes
a zero-length interval, an empty ``steps`` list falls back to job times, overlapping
(parallel) steps are kept as they are and never summed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from buildonce.errors import ConfigError
from buildonce.model import CIJob, JobEvent, JobStatus
from buildonce.telemetry.timestamps import parse_iso, parse_time

_MATRIX_SUFFIX = re.compile(r"\s+\([^()]*\)$")
_RAN = frozenset({"success", "failure", "cancelled", "timed_out", "neutral"})
_FAILED = frozenset({"failure", "cancelled", "timed_out"})
_JOB_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_BINARY_KINDS = frozenset({"restore", "compile", "smoke"})


@dataclass(frozen=True, slots=True)
class StepPatterns:
    """Regular expressions (case-insensitive) that classify steps by name.

    The defaults recognise ``actions/cache`` and ``buildonce`` steps, ``go build`` and steps
    named "Build …" or "Compile …", and smoke tests named "smoke" or running ``--version``.
    """

    compile: str = (
        r"\bgo (build|install)\b|\bcompile\b|buildonce build\b"
        r"|^\W*build\b(?!.*\b(image|docker|docs?|container|schema)\b)"
    )
    restore: str = (
        r"actions/cache(?!/save)|\brestore\b|buildonce (restore|prepare)"
        r"|download[- ]artifact|\bprepare\b.*\bbinary\b"
    )
    save: str = r"actions/cache/save|\bsave\b.*\bcache\b|buildonce save"
    smoke: str = r"\bsmoke\b|--version\b"
    hit_name: str = r"\bcache[:= ]+hit\b"
    miss_name: str = r"\bcache[:= ]+miss\b"
    _compiled: dict[str, re.Pattern[str]] = field(default_factory=dict, compare=False, repr=False)
    _memo: dict[str, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def fingerprint(self) -> str:
        """Identifies the classification: records derived under another one are stale."""
        fields = (self.compile, self.restore, self.save, self.smoke, self.hit_name, self.miss_name)
        return hashlib.sha256("\0".join(fields).encode()).hexdigest()[:16]

    def __post_init__(self) -> None:
        for name in ("compile", "restore", "save", "smoke", "hit_name", "miss_name"):
            pattern = getattr(self, name)
            try:
                self._compiled[name] = re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ConfigError(
                    f"invalid regular expression {pattern!r}: {exc}",
                    where=f"--{name.replace('_', '-')}-step",
                    hint="use Python regular expression syntax",
                ) from None

    def kinds(self, step_name: str) -> frozenset[str]:
        """Every kind ``step_name`` matches (memoised: names repeat in every run)."""
        found = self._memo.get(step_name)
        if found is None:
            post = step_name.startswith(("Post ", "Pre "))
            found = frozenset(
                kind
                for kind, pattern in self._compiled.items()
                # post steps are cleanup/save, never the main work
                if (not post or kind == "save") and pattern.search(step_name)
            )
            if len(self._memo) < 100_000:
                self._memo[step_name] = found
        return found

    def matches(self, kind: str, step_name: str) -> bool:
        return kind in self.kinds(step_name)


DEFAULT_PATTERNS = StepPatterns()


class StepRecord(NamedTuple):
    """One step.  A NamedTuple, not a dataclass: an ingest builds millions of them."""

    name: str
    status: str
    conclusion: str | None
    number: int
    started_at: float | None
    completed_at: float | None

    @property
    def ran(self) -> bool:
        return self.conclusion in _RAN or (self.status == "in_progress")

    def to_json(self) -> list[Any]:
        return list(self)

    @classmethod
    def from_json(cls, row: Sequence[Any]) -> StepRecord:
        name, status, conclusion, number, started, completed = row
        return cls(str(name), str(status), conclusion, int(number), started, completed)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job of one run attempt, with everything a report needs precomputed."""

    job_id: int
    run_id: int
    attempt: int
    name: str
    base_name: str
    status: str
    conclusion: str | None
    ci_status: JobStatus
    created_at: float | None
    started_at: float | None
    completed_at: float | None
    duration_s: float | None
    queue_s: float | None
    cache_hit: bool | None
    cache_evidence: str
    rebuilt: bool
    compile_steps: int
    smoke_ran: bool
    uses_binary: bool
    runner_name: str | None
    labels: tuple[str, ...]
    steps: tuple[StepRecord, ...]

    def to_ci_job(self) -> CIJob:
        """The spec's CIJob for this job, its history replayed through the transition table."""
        job_id = _JOB_ID_CHARS.sub("-", self.base_name).strip("-") or "job"
        if not (job_id[0].isalpha() or job_id[0] == "_"):
            job_id = "job-" + job_id
        job = CIJob(
            id=job_id,
            artifact_required=self.uses_binary,
            cache_hit=bool(self.cache_hit),
        )
        if self.ci_status is JobStatus.PENDING:
            return job
        start = _dt(self.started_at or self.created_at or 0.0)
        job = job.apply(JobEvent.START, at=start)
        end = _dt(self.completed_at) if self.completed_at is not None else start
        event = {
            JobStatus.SUCCESS: JobEvent.SUCCEED,
            JobStatus.FAILURE: JobEvent.FAIL,
            JobStatus.SKIPPED: JobEvent.SKIP,
        }.get(self.ci_status)
        if event is not None:
            job = job.apply(event, at=max(end, start), reason=self.conclusion)
        return job


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def ci_status(status: str | None, conclusion: str | None) -> JobStatus:
    """Map the API's ``status``/``conclusion`` onto the spec's five job states."""
    if status == "in_progress":
        return JobStatus.RUNNING
    if status != "completed":
        return JobStatus.PENDING
    if conclusion in ("success", "neutral"):
        return JobStatus.SUCCESS
    if conclusion == "skipped":
        return JobStatus.SKIPPED
    if conclusion in ("action_required", None):
        return JobStatus.PENDING
    return JobStatus.FAILURE  # failure, cancelled, timed_out, startup_failure, stale


@lru_cache(maxsize=4096)
def base_job_name(name: str) -> str:
    """The job name without its matrix suffix: ``system-test (Kind, Cilium)`` → ``system-test``."""
    return _MATRIX_SUFFIX.sub("", name).strip() or name


def parse_steps(raw_steps: object) -> tuple[StepRecord, ...]:
    if not isinstance(raw_steps, list):
        return ()
    steps: list[StepRecord] = []
    append = steps.append
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            continue
        get = raw.get
        start_text = get("started_at")
        end_text = get("completed_at")
        start = parse_iso(start_text) if type(start_text) is str and start_text else None
        end = parse_iso(end_text) if type(end_text) is str and end_text else None
        if start is not None and end is not None and end < start:
            end = start  # "completed before started" on skipped/post steps: zero length
        number = get("number")
        conclusion = get("conclusion")
        append(
            StepRecord(
                str(get("name") or ""),
                str(get("status") or ""),
                conclusion if isinstance(conclusion, str) else None,
                number if isinstance(number, int) else index + 1,
                start,
                end,
            )
        )
    return tuple(steps)


def classify_cache(
    steps: Sequence[StepRecord],
    patterns: StepPatterns = DEFAULT_PATTERNS,
    kinds: Sequence[frozenset[str]] | None = None,
) -> tuple[bool | None, str]:
    """``(cache_hit, evidence)`` from step names and conclusions; ``None`` when unknown.

    ``kinds`` (each step's :meth:`StepPatterns.kinds`) may be passed when already known.
    """
    if not steps:
        return None, "no-steps"
    if kinds is None:
        kinds = [patterns.kinds(s.name) for s in steps]
    for step, found in zip(steps, kinds, strict=True):
        if found and step.ran:
            if "hit_name" in found:
                return True, "step-name"
            if "miss_name" in found:
                return False, "step-name"
    restore_at = next((i for i, k in enumerate(kinds) if "restore" in k), None)
    if restore_at is None:
        return None, "no-restore-step"
    if steps[restore_at].conclusion != "success":
        return None, "restore-did-not-run"
    if any(s.conclusion in _FAILED for s in steps[:restore_at]):
        return None, "earlier-failure"
    for kind in ("compile", "save"):
        guarded = [i for i in range(restore_at + 1, len(steps)) if kind in kinds[i]]
        if not guarded:
            continue
        if any(steps[i].ran for i in guarded):
            return False, "step-ran"
        if any(s.conclusion in _FAILED for s in steps[restore_at + 1 : guarded[0]]):
            return None, "earlier-failure"
        return True, "step-skipped"
    return None, "no-guarded-step"


class StepOutcome(NamedTuple):
    """What a job's steps say about the binary; recomputable from stored steps."""

    cache_hit: bool | None
    evidence: str
    compile_steps: int
    smoke_ran: bool
    uses_binary: bool


def classify_steps(
    steps: Sequence[StepRecord], patterns: StepPatterns = DEFAULT_PATTERNS
) -> StepOutcome:
    kinds = [patterns.kinds(s.name) for s in steps]
    hit, evidence = classify_cache(steps, patterns, kinds)
    return StepOutcome(
        hit,
        evidence,
        sum(1 for s, k in zip(steps, kinds, strict=True) if "compile" in k and s.ran),
        any("smoke" in k and s.ran for s, k in zip(steps, kinds, strict=True)),
        any(not k.isdisjoint(_BINARY_KINDS) for k in kinds),
    )


def derive_job(raw: Mapping[str, Any], patterns: StepPatterns = DEFAULT_PATTERNS) -> JobRecord:
    """A :class:`JobRecord` from one job object of the jobs API."""
    steps = parse_steps(raw.get("steps"))
    created = parse_time(raw.get("created_at"))
    started = parse_time(raw.get("started_at"))
    completed = parse_time(raw.get("completed_at"))
    step_starts = [s.started_at for s in steps if s.started_at is not None]
    step_ends = [s.completed_at for s in steps if s.completed_at is not None]
    if started is None and step_starts:
        started = min(step_starts)
    if completed is None and step_ends and raw.get("status") == "completed":
        completed = max(step_ends)
    duration = None
    if started is not None and completed is not None:
        duration = max(completed - started, 0.0)
    queue = None
    if created is not None and started is not None:
        queue = max(started - created, 0.0)
    outcome = classify_steps(steps, patterns)
    name = str(raw.get("name") or "")
    labels = raw.get("labels")
    status = str(raw.get("status") or "")
    conclusion = raw.get("conclusion") if isinstance(raw.get("conclusion"), str) else None
    return JobRecord(
        job_id=int(raw["id"]),
        run_id=int(raw.get("run_id") or 0),
        attempt=int(raw.get("run_attempt") or 1),
        name=name,
        base_name=base_job_name(name),
        status=status,
        conclusion=conclusion,
        ci_status=ci_status(status, conclusion),
        created_at=created,
        started_at=started,
        completed_at=completed,
        duration_s=duration,
        queue_s=queue,
        cache_hit=outcome.cache_hit,
        cache_evidence=outcome.evidence,
        rebuilt=outcome.compile_steps > 0,
        compile_steps=outcome.compile_steps,
        smoke_ran=outcome.smoke_ran,
        uses_binary=outcome.uses_binary,
        runner_name=raw.get("runner_name") if isinstance(raw.get("runner_name"), str) else None,
        labels=tuple(str(x) for x in labels) if isinstance(labels, list) else (),
        steps=steps,
    )


def steps_to_text(steps: Sequence[StepRecord]) -> str:
    return _compact(steps)


_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def steps_from_text(text: str | None) -> tuple[StepRecord, ...]:
    if not text:
        return ()
    return tuple(StepRecord.from_json(row) for row in json.loads(text))
