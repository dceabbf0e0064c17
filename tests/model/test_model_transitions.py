"""Every (state, event) pair of every transition table: the legal ones move, the others raise
InvalidTransitionError naming the from-state, the event and the allowed events, and leave the
object as it was.  The expected tables are written out here, independently of the code."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from buildonce.errors import InvalidTransitionError
from buildonce.model import (
    ENTRY_TRANSITIONS,
    JOB_TRANSITIONS,
    MODULE_CACHE_TRANSITIONS,
    BinaryCacheEntry,
    CIJob,
    EntryEvent,
    EntryState,
    GoModuleCache,
    JobEvent,
    JobStatus,
    ModuleCacheEvent,
    ModuleCacheState,
)

T0 = datetime(2025, 11, 16, 10, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)
KEY = "Linux-ksail-bin-1.25.4-a1b2c3d4"
MODKEY = "Linux-go-1.25.4-0f1e2d3c"

EXPECTED_ENTRY = {
    ("Missing", "seed"): "Seeded",
    ("Seeded", "restore"): "Restored",
    ("Restored", "rebuild"): "Updated",
    ("Restored", "restore"): "Restored",
    ("Updated", "restore"): "Restored",
    ("Missing", "rebuild"): "Updated",
}
EXPECTED_MODULE = {
    ("Warm", "save"): "Updated",
    ("Cold", "save"): "Updated",
    ("Updated", "invalidate"): "Invalid",
}
EXPECTED_JOB = {
    ("pending", "start"): "running",
    ("running", "succeed"): "success",
    ("running", "fail"): "failure",
    ("running", "skip"): "skipped",
}


def _as_strings(table: Any) -> dict[tuple[str, str], str]:
    return {(s.value, e.value): t.value for (s, e), t in table.items()}


def test_tables_are_the_documented_ones() -> None:
    assert _as_strings(ENTRY_TRANSITIONS) == EXPECTED_ENTRY
    assert _as_strings(MODULE_CACHE_TRANSITIONS) == EXPECTED_MODULE
    assert _as_strings(JOB_TRANSITIONS) == EXPECTED_JOB


def _entry_in(state: EntryState) -> BinaryCacheEntry:
    available = state is not EntryState.MISSING
    return BinaryCacheEntry(
        key=KEY,
        paths=(".cache/ksail",),
        size_bytes=216_000_000 if available else None,
        created_at=T0 if available else None,
        state=state,
    )


def _module_in(state: ModuleCacheState) -> GoModuleCache:
    return GoModuleCache(
        key=MODKEY,
        toolchain="1.25.4",
        hit=state is not ModuleCacheState.COLD,
        last_updated=T0,
        state=state,
    )


def _job_in(status: JobStatus) -> CIJob:
    reason = "upstream failed" if status is JobStatus.SKIPPED else None
    return CIJob(id="system-test", needs=("build-artifact",), status=status, reason=reason)


def _allowed(expected: dict[tuple[str, str], str], state: str) -> tuple[str, ...]:
    return tuple(e for (s, e) in expected if s == state)


def _check_rejection(
    info: pytest.ExceptionInfo[InvalidTransitionError],
    expected: dict[tuple[str, str], str],
    state: str,
    event: str,
) -> None:
    err = info.value
    assert (err.state, err.event) == (state, event)
    assert sorted(err.allowed) == sorted(_allowed(expected, state))
    text = str(err)
    assert repr(state) in text
    assert repr(event) in text
    for allowed in err.allowed:
        assert allowed in text
    if not err.allowed:
        assert "terminal" in text


@pytest.mark.parametrize(("state", "event"), list(itertools.product(EntryState, EntryEvent)))
def test_entry_transition(state: EntryState, event: EntryEvent) -> None:
    entry = _entry_in(state)
    before = entry.to_json()
    target = EXPECTED_ENTRY.get((state.value, event.value))
    job = "build-artifact" if event is EntryEvent.SEED else "system-test"
    if target is None:
        with pytest.raises(InvalidTransitionError) as info:
            entry.apply(event, at=LATER, job=job)
        _check_rejection(info, EXPECTED_ENTRY, state.value, event.value)
        assert entry.to_json() == before
        return
    size = None if event is EntryEvent.RESTORE else 1000
    after = entry.apply(event, at=LATER, job=job, size_bytes=size)
    assert after.state.value == target
    assert after.history[-1].to_json() == {
        "event": event.value,
        "from": state.value,
        "to": target,
        "at": LATER.isoformat(),
        "job": job,
    }
    assert entry.to_json() == before  # the original is untouched
    if event is EntryEvent.RESTORE:
        assert after.created_at == entry.created_at
        assert after.origin_job == entry.origin_job
    else:  # a save makes a new artifact
        assert after.created_at == LATER
        assert after.origin_job == job
        assert after.size_bytes == 1000


@pytest.mark.parametrize(
    ("state", "event"), list(itertools.product(ModuleCacheState, ModuleCacheEvent))
)
def test_module_cache_transition(state: ModuleCacheState, event: ModuleCacheEvent) -> None:
    cache = _module_in(state)
    before = cache.to_json()
    target = EXPECTED_MODULE.get((state.value, event.value))
    if target is None:
        with pytest.raises(InvalidTransitionError) as info:
            cache.apply(event, at=LATER, job="build-artifact")
        _check_rejection(info, EXPECTED_MODULE, state.value, event.value)
        assert cache.to_json() == before
        return
    after = cache.apply(event, at=LATER, job="build-artifact")
    assert after.current.value == target
    assert len(after.history) == 1
    assert after.history[0].source == state.value
    assert after.last_updated == (LATER if event is ModuleCacheEvent.SAVE else T0)
    assert cache.to_json() == before


@pytest.mark.parametrize(("status", "event"), list(itertools.product(JobStatus, JobEvent)))
def test_job_transition(status: JobStatus, event: JobEvent) -> None:
    job = _job_in(status)
    before = job.to_json()
    target = EXPECTED_JOB.get((status.value, event.value))
    if target is None:
        with pytest.raises(InvalidTransitionError) as info:
            job.apply(event, at=LATER, reason="because")
        _check_rejection(info, EXPECTED_JOB, status.value, event.value)
        assert job.to_json() == before
        return
    after = job.apply(event, at=LATER, reason="because")
    assert after.status.value == target
    assert after.history[-1].job == "system-test"
    assert job.to_json() == before


def test_initial_module_state_follows_hit() -> None:
    assert GoModuleCache(key=MODKEY, toolchain="1.25.4", hit=True).current is ModuleCacheState.WARM
    assert GoModuleCache(key=MODKEY, toolchain="1.25.4", hit=False).current is ModuleCacheState.COLD


def test_full_binary_lifecycle_of_the_spec() -> None:
    entry = BinaryCacheEntry(key=KEY, paths=(".cache/ksail",))
    seeded = entry.seed(at=T0, job="build-artifact", size_bytes=216_000_000)
    restored = seeded.restore(at=T0 + timedelta(minutes=1), job="system-test")
    updated = restored.rebuild(at=T0 + timedelta(minutes=2), job="system-test", size_bytes=9)
    assert [e.state.value for e in (entry, seeded, restored, updated)] == [
        "Missing",
        "Seeded",
        "Restored",
        "Updated",
    ]
    assert updated.origin_job == "system-test"
    assert updated.size_bytes == 9
    assert restored.consumers == ("system-test",)
    assert [t.event for t in updated.history] == ["seed", "restore", "rebuild"]


def test_size_changes_only_on_save() -> None:
    seeded = _entry_in(EntryState.SEEDED)
    with pytest.raises(Exception, match="sizeBytes changes only when the binary is saved"):
        seeded.apply(EntryEvent.RESTORE, at=LATER, job="x", size_bytes=1)
