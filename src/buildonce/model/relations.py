"""The spec's two relationships, checked across entities.  Pure: no I/O.

``BinaryCacheEntry 1--* CIJob``: one cached binary is consumed by many jobs.
:func:`link_artifact` ties an entry to the run's jobs and checks

* every job in the entry's history exists, and a job that restored the binary declares
  ``artifactRequired`` (rule ``consumer-requires-artifact``);
* only the builder seeds; any other job may save only by rebuilding after a miss, and only if
  it consumes the artifact (domain rule 1, ``single-source-build``);
* a consumer that succeeded had the binary first (validation rule 2,
  ``entry-available-before-smoke-test``): the entry is available, and when the entry's
  history is tracked, the consumer restored or rebuilt it before it finished.

``GoModuleCache 1--* CIJob``: each job reports whether it hit the shared cache.
:func:`link_module_cache` checks that each started job's ``cacheHit`` agrees with the cache
(a restored cache is a hit for everyone; after a miss, only jobs that start after another
job saved it can hit), that savers are users, and that the toolchain is the build job's
(validation rule 2).  A miss is never an error: :meth:`ModuleCacheUse.miss_messages` gives the
line each missing job logs before it carries on (validation rule 3).

:class:`RunSnapshot` bundles a run with its caches; it is the document
``buildonce model validate`` reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from buildonce.errors import ValidationError
from buildonce.model import _validate as v
from buildonce.model.cache_entry import BinaryCacheEntry, EntryEvent, EntryState
from buildonce.model.gomod import GoModuleCache, ModuleCacheEvent, check_toolchain
from buildonce.model.job import CIJob, CIRun, JobEvent, JobStatus

ARTIFACT = "BinaryCacheEntry"
MODULE_CACHE = "GoModuleCache"


def _fail(
    entity: str, field: str, rule: str, message: str, hint: str | None = None
) -> ValidationError:
    return ValidationError(message, entity=entity, field=field, rule=rule, hint=hint)


def _event_time(job: CIJob, event: JobEvent) -> datetime | None:
    return next((t.at for t in job.history if t.event == event.value), None)


@dataclass(frozen=True, slots=True)
class ArtifactUse:
    """A cache entry with the builder that produced it and the jobs that consume it."""

    entry: BinaryCacheEntry
    builder: CIJob
    consumers: tuple[CIJob, ...]

    @property
    def rebuilt_by(self) -> tuple[str, ...]:
        """Jobs that rebuilt and re-saved the binary after a miss (domain rule 1's exception)."""
        return tuple(
            dict.fromkeys(
                t.job for t in self.entry.history if t.event == EntryEvent.REBUILD.value and t.job
            )
        )

    @property
    def waiting(self) -> tuple[CIJob, ...]:
        """Consumers that have not finished yet."""
        return tuple(j for j in self.consumers if not j.finished)


def link_artifact(entry: BinaryCacheEntry, run: CIRun) -> ArtifactUse:
    """Link ``entry`` to the jobs of ``run``; raises ValidationError naming the broken rule."""
    builder_id = run.builder
    if builder_id not in run.jobs:
        raise _fail(
            "CIRun",
            "builder",
            "artifact-builder-exists",
            f"the run has no builder job {builder_id!r} to produce {entry.key}",
            hint=f"jobs: {', '.join(sorted(run.jobs))}",
        )
    consumers = {j.id: j for j in run.artifact_consumers}

    for index, t in enumerate(entry.history):
        if t.job is None:
            continue
        where = f"history[{index}].job"
        if t.job not in run.jobs:
            raise _fail(
                ARTIFACT,
                where,
                "consumer-known",
                f"{t.event} by {t.job!r}, which is not a job of this run",
                hint=f"jobs: {', '.join(sorted(run.jobs))}",
            )
        if t.event == EntryEvent.SEED.value and t.job != builder_id:
            raise _fail(
                ARTIFACT,
                where,
                "single-source-build",
                f"job {t.job!r} seeded the cache; only {builder_id!r} may seed it",
                hint="downstream jobs restore the binary, and rebuild only after a miss",
            )
        if t.job != builder_id and t.job not in consumers:
            raise _fail(
                ARTIFACT,
                where,
                "consumer-requires-artifact",
                f"job {t.job!r} used the binary ({t.event}) but does not set artifactRequired",
                hint=f"set artifactRequired on {t.job!r} and make it need {builder_id!r}",
            )

    if entry.available and entry.origin_job != builder_id:
        if entry.origin_job not in consumers:
            raise _fail(
                ARTIFACT,
                "originJob",
                "single-source-build",
                f"the binary was produced by {entry.origin_job!r}, which is neither the builder "
                f"{builder_id!r} nor a job that consumes the artifact",
            )
        if entry.state is EntryState.SEEDED:
            raise _fail(
                ARTIFACT,
                "originJob",
                "single-source-build",
                f"the entry was seeded by {entry.origin_job!r}; only {builder_id!r} may seed it",
            )

    obtained: dict[str, datetime] = {}
    for t in entry.history:
        if t.job and t.event in (EntryEvent.RESTORE.value, EntryEvent.REBUILD.value):
            obtained.setdefault(t.job, t.at)
    for job in consumers.values():
        if job.status is not JobStatus.SUCCESS:
            # Only a success proves the smoke test ran; a failure may have come before it.
            continue
        field = f"jobs.{job.id}.status"
        if not entry.available:
            raise _fail(
                "CIRun",
                field,
                "entry-available-before-smoke-test",
                f"job {job.id!r} succeeded but the binary {entry.key} is {entry.state.value}",
                hint="restore the entry, or rebuild and re-save it, before the smoke test",
            )
        if not entry.history:
            continue
        got = obtained.get(job.id)
        if got is None:
            raise _fail(
                "CIRun",
                field,
                "entry-available-before-smoke-test",
                f"job {job.id!r} succeeded but never restored or rebuilt {entry.key}",
                hint="every consumer restores the binary (or rebuilds it on a miss)",
            )
        finished = _event_time(job, JobEvent.SUCCEED)
        if finished is not None and finished < got:
            raise _fail(
                "CIRun",
                field,
                "entry-available-before-smoke-test",
                f"job {job.id!r} succeeded at {finished.isoformat()}, before it obtained the "
                f"binary at {got.isoformat()}",
            )
    return ArtifactUse(entry, run.jobs[builder_id], tuple(consumers.values()))


@dataclass(frozen=True, slots=True)
class ModuleCacheUse:
    """A Go module cache with the jobs that use it and what each reported."""

    cache: GoModuleCache
    users: tuple[CIJob, ...]

    @property
    def hits(self) -> tuple[str, ...]:
        return tuple(j.id for j in self.users if j.status is not JobStatus.PENDING and j.cache_hit)

    @property
    def misses(self) -> tuple[str, ...]:
        return tuple(
            j.id for j in self.users if j.status is not JobStatus.PENDING and not j.cache_hit
        )

    def miss_messages(self) -> dict[str, str]:
        """Validation rule 3: the line each job that missed logs before it carries on."""
        return {
            job_id: (
                f"{job_id}: Go module cache miss for key {self.cache.key} "
                f"(toolchain {self.cache.toolchain}); continuing with a cold cache"
            )
            for job_id in self.misses
        }


def build_toolchain_of(entry: BinaryCacheEntry) -> str:
    """The Go version the build job used, as its binary cache key records it."""
    versions = v.go_versions_in_key(entry.key)
    # check_binary_key guarantees one; the first is the toolchain in the default template.
    return versions[0]


def link_module_cache(
    cache: GoModuleCache,
    run: CIRun,
    *,
    build_toolchain: str | None = None,
    users: Iterable[str] | None = None,
) -> ModuleCacheUse:
    """Link ``cache`` to the jobs that use it (default: every job of ``run``).

    ``build_toolchain`` is the Go version of the build job (e.g. from
    :func:`build_toolchain_of` or ``buildonce key --json``); when given, the cache's
    toolchain must equal it.
    """
    if build_toolchain is not None:
        check_toolchain(build_toolchain, "buildToolchain")
        cache.check_toolchain_matches(build_toolchain)
    if users is None:
        user_ids = tuple(run.jobs)
    else:
        user_ids = v.check_unique_ids(MODULE_CACHE, "users", tuple(users))
    for job_id in user_ids:
        if job_id not in run.jobs:
            raise _fail(
                MODULE_CACHE,
                "users",
                "user-known",
                f"{job_id!r} is not a job of this run",
                hint=f"jobs: {', '.join(sorted(run.jobs))}",
            )
    saves = [
        (index, t)
        for index, t in enumerate(cache.history)
        if t.event == ModuleCacheEvent.SAVE.value
    ]
    for index, t in saves:
        if t.job is not None and t.job not in user_ids:
            raise _fail(
                MODULE_CACHE,
                f"history[{index}].job",
                "saver-is-user",
                f"the cache was saved by {t.job!r}, which does not use it",
            )
    first_save = next((t for _, t in saves if t.job is not None), None)
    for job_id in user_ids:
        job = run.jobs[job_id]
        if job.status is JobStatus.PENDING:
            continue  # it has not restored anything yet
        field = f"jobs.{job_id}.cacheHit"
        if cache.hit and not job.cache_hit:
            raise _fail(
                "CIRun",
                field,
                "cache-hit-consistent",
                f"job {job_id!r} reports a miss but the module cache {cache.key} was restored",
                hint="jobs sharing one key all restore it; check the job's cache key",
            )
        if not cache.hit and job.cache_hit:
            if first_save is None or first_save.job == job_id:
                raise _fail(
                    "CIRun",
                    field,
                    "cache-hit-consistent",
                    f"job {job_id!r} reports a hit but the module cache {cache.key} missed "
                    "and no other job saved it",
                )
            started = _event_time(job, JobEvent.START)
            if started is not None and started < first_save.at:
                raise _fail(
                    "CIRun",
                    field,
                    "cache-hit-consistent",
                    f"job {job_id!r} reports a hit but started before {first_save.job!r} "
                    "saved the cache",
                )
    return ModuleCacheUse(cache, tuple(run.jobs[j] for j in user_ids))


#: JSON field names of a snapshot document.
SNAPSHOT_FIELDS = ("run", "binaryCacheEntry", "goModuleCache", "buildToolchain")


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """One run with the caches its jobs share; construction checks both relationships."""

    run: CIRun
    binary_cache_entry: BinaryCacheEntry | None = None
    go_module_cache: GoModuleCache | None = None
    build_toolchain: str | None = None

    def __post_init__(self) -> None:
        if self.build_toolchain is not None:
            check_toolchain(self.build_toolchain, "buildToolchain")
        if self.binary_cache_entry is not None:
            link_artifact(self.binary_cache_entry, self.run)
        if self.go_module_cache is not None:
            toolchain = self.build_toolchain
            if toolchain is None and self.binary_cache_entry is not None:
                toolchain = build_toolchain_of(self.binary_cache_entry)
            link_module_cache(self.go_module_cache, self.run, build_toolchain=toolchain)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"run": self.run.to_json()}
        if self.binary_cache_entry is not None:
            data["binaryCacheEntry"] = self.binary_cache_entry.to_json()
        if self.go_module_cache is not None:
            data["goModuleCache"] = self.go_module_cache.to_json()
        if self.build_toolchain is not None:
            data["buildToolchain"] = self.build_toolchain
        return data

    @classmethod
    def from_json(cls, data: Any) -> RunSnapshot:
        data = v.check_object("RunSnapshot", data, SNAPSHOT_FIELDS)
        v.require("RunSnapshot", data, "run")
        entry = data.get("binaryCacheEntry")
        cache = data.get("goModuleCache")
        return cls(
            run=CIRun.from_json(data["run"]),
            binary_cache_entry=None if entry is None else BinaryCacheEntry.from_json(entry),
            go_module_cache=None if cache is None else GoModuleCache.from_json(cache),
            build_toolchain=data.get("buildToolchain"),
        )
