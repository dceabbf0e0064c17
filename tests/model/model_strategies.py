"""Hypothesis strategies that build valid entities by walking their lifecycles.

Entities are generated the way they arise: a fresh value, then a random sequence of events,
each drawn from those the current state allows, at non-decreasing times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from buildonce.errors import BuildonceError
from buildonce.model import (
    BinaryCacheEntry,
    CIJob,
    CIRun,
    EntryEvent,
    GoModuleCache,
    JobEvent,
    JobStatus,
)

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
START = datetime(2025, 11, 16, 10, 0, tzinfo=UTC)

job_ids = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,12}", fullmatch=True)
go_versions = st.builds(
    lambda minor, patch, rc: f"1.{minor}" + (f".{patch}" if patch is not None else "") + rc,
    st.integers(0, 40),
    st.none() | st.integers(0, 20),
    st.sampled_from(["", "", "rc1", "beta2"]),
)
os_names = st.sampled_from(["Linux", "macOS", "Windows", "ubuntu", "ubuntu24", "windows2022"])
# At least one letter so it is a hash, not a number (see _validate.hashes_in_key).
hashes = st.builds(
    lambda digits, letter: digits + letter,
    st.text("0123456789abcdef", min_size=5, max_size=63),
    st.sampled_from("abcdef"),
)
names = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)
binary_keys = st.builds(
    lambda os_name, name, go, h: f"{os_name}-{name}-bin-{go}-{h}",
    os_names,
    names,
    go_versions,
    hashes,
)
path_lists = st.lists(
    st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S")), min_size=1, max_size=20),
    min_size=1,
    max_size=4,
    unique=True,
)
steps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=2))


def at_times(draw: st.DrawFn, count: int) -> list[datetime]:
    times, now = [], START
    for _ in range(count):
        now = now + draw(steps)
        times.append(now.astimezone(draw(ZONES)))
    return times


@st.composite
def binary_entries(draw: st.DrawFn, max_events: int = 6) -> BinaryCacheEntry:
    quota = draw(st.integers(1, 10**13))
    entry = BinaryCacheEntry(
        key=draw(binary_keys),
        paths=tuple(draw(path_lists)),
        quota_bytes=quota,
        origin_job=draw(job_ids),
    )
    for at in at_times(draw, draw(st.integers(0, max_events))):
        event = draw(st.sampled_from(entry.allowed_events()))
        job = draw(st.none() | job_ids) if event is EntryEvent.SEED else draw(job_ids)
        size = draw(st.integers(0, quota - 1)) if event is not EntryEvent.RESTORE else None
        if event is not EntryEvent.RESTORE and entry.size_bytes is not None:
            size = draw(st.none() | st.just(size))
        entry = entry.apply(event, at=at, job=job, size_bytes=size)
    return entry


@st.composite
def module_caches(draw: st.DrawFn, max_events: int = 3) -> GoModuleCache:
    toolchain = draw(go_versions)
    cache = GoModuleCache(
        key=f"{draw(os_names)}-go-{toolchain}-{draw(hashes)}",
        toolchain=toolchain,
        hit=draw(st.booleans()),
        paths=tuple(draw(path_lists)),
    )
    for at in at_times(draw, draw(st.integers(0, max_events))):
        allowed = cache.allowed_events()
        if not allowed:
            break
        cache = cache.apply(draw(st.sampled_from(allowed)), at=at, job=draw(st.none() | job_ids))
    return cache


reasons = st.text(min_size=1, max_size=30).filter(str.strip)


@st.composite
def ci_jobs(draw: st.DrawFn) -> CIJob:
    job_id = draw(job_ids)
    job = CIJob(
        id=job_id,
        needs=tuple(draw(st.lists(job_ids.filter(lambda n: n != job_id), unique=True, max_size=4))),
        artifact_required=draw(st.booleans()),
        cache_hit=draw(st.booleans()),
        always_guard=draw(st.booleans()),
        reason=draw(st.none() | reasons),
    )
    for at in at_times(draw, draw(st.integers(0, 2))):
        event = draw(st.sampled_from(job.allowed_events()))
        reason = draw(reasons) if event is JobEvent.SKIP else draw(st.none() | reasons)
        job = job.apply(event, at=at, reason=reason)
    return job


@st.composite
def dags(draw: st.DrawFn, max_jobs: int = 7) -> CIRun:
    """A random job graph: each job needs a subset of the jobs before it (so no cycles);
    artifact consumers are placed only downstream of the builder."""
    ids = draw(st.lists(job_ids, min_size=1, max_size=max_jobs, unique=True))
    # The builder sits early, as in real workflows, so most runs have consumers below it.
    builder = draw(st.sampled_from(ids[: max(1, len(ids) // 2)]))
    jobs: list[CIJob] = []
    ancestors: dict[str, set[str]] = {}
    for index, job_id in enumerate(ids):
        needs = draw(st.lists(st.sampled_from(ids[:index]), unique=True)) if index else []
        ancestors[job_id] = set(needs).union(*(ancestors[n] for n in needs))
        downstream = builder in ancestors[job_id]
        jobs.append(
            CIJob(
                id=job_id,
                needs=tuple(needs),
                artifact_required=downstream and draw(st.booleans()),
                cache_hit=draw(st.booleans()),
                always_guard=draw(st.booleans()),
            )
        )
    return CIRun.of(jobs, builder=builder)


@st.composite
def ci_runs(draw: st.DrawFn, max_events: int = 20) -> CIRun:
    """A random DAG driven by random events.  Most events are drawn from those the run
    allows now, so runs get far (consumers succeed); some are arbitrary, and rejected ones
    leave the run unchanged."""
    run = draw(dags())
    ids = sorted(run.jobs)
    for at in at_times(draw, draw(st.integers(0, max_events))):
        choices = [(j, e) for j in ids for e in run.allowed_events(j)]
        # Success is the common case in CI; weight it so chains of jobs complete.
        choices += [c for c in choices if c[1] is JobEvent.SUCCEED] * 3
        if choices and draw(st.integers(0, 4)):
            job_id, event = draw(st.sampled_from(choices))
        else:
            job_id, event = draw(st.sampled_from(ids)), draw(st.sampled_from(list(JobEvent)))
        reason = draw(st.none() | reasons)
        try:
            run = run.apply(job_id, event, at=at, reason=reason)
        except BuildonceError:
            continue  # an illegal event: the run is unchanged, keep walking
    return run


def finished_statuses() -> frozenset[JobStatus]:
    return frozenset({JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.SKIPPED})
