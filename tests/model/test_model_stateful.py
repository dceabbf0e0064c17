"""Stateful property tests: each lifecycle against a plain reference model written here.

Every machine fires arbitrary events, legal and illegal, and checks that the entity and the
reference agree on the new state and on accept/reject; that a rejected event raises the typed
error and leaves the entity exactly as it was; and that the history grows by one per accepted
event.  The CIRun machine builds random job DAGs and checks the spec's guard rules as
invariants after every step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from model_strategies import START, ZONES, binary_keys, dags, go_versions, hashes, job_ids, reasons

from buildonce.errors import BuildonceError, InvalidTransitionError, ValidationError
from buildonce.model import (
    BinaryCacheEntry,
    CIJob,
    CIRun,
    EntryEvent,
    GoModuleCache,
    JobEvent,
    ModuleCacheEvent,
)

# The reference lifecycles: plain dicts of strings, {state: {event: next_state}}.
ENTRY_REF: dict[str, dict[str, str]] = {
    "Missing": {"seed": "Seeded", "rebuild": "Updated"},
    "Seeded": {"restore": "Restored"},
    "Restored": {"restore": "Restored", "rebuild": "Updated"},
    "Updated": {"restore": "Restored"},
}
MODULE_REF: dict[str, dict[str, str]] = {
    "Warm": {"save": "Updated"},
    "Cold": {"save": "Updated"},
    "Updated": {"invalidate": "Invalid"},
    "Invalid": {},
}
JOB_REF: dict[str, dict[str, str]] = {
    "pending": {"start": "running"},
    "running": {"succeed": "success", "fail": "failure", "skip": "skipped"},
    "success": {},
    "failure": {},
    "skipped": {},
}
FINISHED = ("success", "failure", "skipped")
STEPS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=30))
MACHINE_SETTINGS = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def tick(self, step: timedelta, zone: Any) -> datetime:
        self.now += step
        return self.now.astimezone(zone)


def check_rejection(
    err: InvalidTransitionError, ref: dict[str, dict[str, str]], state: str
) -> None:
    assert err.state == state
    assert sorted(err.allowed) == sorted(ref[state])
    assert err.event not in ref[state]


class BinaryCacheEntryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.entry: BinaryCacheEntry
        self.ref_state = "Missing"
        self.ref_size: int | None = None
        self.ref_origin = "build-artifact"
        self.accepted = 0

    @initialize(key=binary_keys)
    def create(self, key: str) -> None:
        self.entry = BinaryCacheEntry(key=key, paths=(".cache/ksail",))

    @rule(
        event=st.sampled_from(list(EntryEvent)),
        job=job_ids,
        size=st.integers(0, 10**9),
        step=STEPS,
        zone=ZONES,
    )
    def fire(self, event: EntryEvent, job: str, size: int, step: timedelta, zone: Any) -> None:
        before = self.entry
        snapshot = before.to_json()
        at = self.clock.tick(step, zone)
        saves = event is not EntryEvent.RESTORE
        target = ENTRY_REF[self.ref_state].get(event.value)
        try:
            after = before.apply(event, at=at, job=job, size_bytes=size if saves else None)
        except InvalidTransitionError as err:
            assert target is None, f"{self.ref_state} --{event.value}--> should be allowed"
            check_rejection(err, ENTRY_REF, self.ref_state)
            assert before.to_json() == snapshot
            return
        assert target is not None, f"{self.ref_state} --{event.value}--> should be rejected"
        assert after.state.value == target
        assert len(after.history) == len(before.history) + 1
        assert before.to_json() == snapshot  # immutability: the old value is intact
        self.entry, self.ref_state, self.accepted = after, target, self.accepted + 1
        if saves:
            self.ref_size, self.ref_origin = size, job

    @precondition(lambda self: self.accepted > 0)
    @rule(event=st.sampled_from(list(EntryEvent)), job=job_ids)
    def fire_backdated(self, event: EntryEvent, job: str) -> None:
        # A transition before the last one is rejected whether or not the event is legal.
        snapshot = self.entry.to_json()
        at = self.entry.history[-1].at - timedelta(seconds=1)
        try:
            self.entry.apply(event, at=at, job=job, size_bytes=1)
        except (InvalidTransitionError, ValidationError):
            pass
        else:
            raise AssertionError("a backdated transition was accepted")
        assert self.entry.to_json() == snapshot

    @invariant()
    def agrees_with_reference(self) -> None:
        if not hasattr(self, "entry"):
            return
        assert self.entry.state.value == self.ref_state
        assert len(self.entry.history) == self.accepted
        assert self.entry.available == (self.ref_state != "Missing")
        assert self.entry.size_bytes == self.ref_size
        assert self.entry.origin_job == self.ref_origin
        assert BinaryCacheEntry.from_json(self.entry.to_json()) == self.entry


class GoModuleCacheMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.cache: GoModuleCache
        self.ref_state = ""
        self.accepted = 0

    @initialize(toolchain=go_versions, digest=hashes, hit=st.booleans())
    def create(self, toolchain: str, digest: str, hit: bool) -> None:
        self.cache = GoModuleCache(
            key=f"Linux-go-{toolchain}-{digest}", toolchain=toolchain, hit=hit
        )
        self.ref_state = "Warm" if hit else "Cold"

    @rule(
        event=st.sampled_from(list(ModuleCacheEvent)),
        job=st.none() | job_ids,
        step=STEPS,
        zone=ZONES,
    )
    def fire(self, event: ModuleCacheEvent, job: str | None, step: timedelta, zone: Any) -> None:
        before = self.cache
        snapshot = before.to_json()
        at = self.clock.tick(step, zone)
        target = MODULE_REF[self.ref_state].get(event.value)
        try:
            after = before.apply(event, at=at, job=job)
        except InvalidTransitionError as err:
            assert target is None
            check_rejection(err, MODULE_REF, self.ref_state)
            assert before.to_json() == snapshot
            return
        assert target is not None
        assert after.current.value == target
        assert len(after.history) == len(before.history) + 1
        if event is ModuleCacheEvent.SAVE:
            assert after.last_updated == at
        assert before.to_json() == snapshot
        self.cache, self.ref_state, self.accepted = after, target, self.accepted + 1

    @invariant()
    def agrees_with_reference(self) -> None:
        if not self.ref_state:
            return
        assert self.cache.current.value == self.ref_state
        assert len(self.cache.history) == self.accepted
        assert GoModuleCache.from_json(self.cache.to_json()) == self.cache


class CIJobMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.job = CIJob(id="system-test", needs=("build-artifact",), artifact_required=True)
        self.ref_state = "pending"

    @rule(event=st.sampled_from(list(JobEvent)), reason=reasons, step=STEPS, zone=ZONES)
    def fire(self, event: JobEvent, reason: str, step: timedelta, zone: Any) -> None:
        before = self.job
        snapshot = before.to_json()
        target = JOB_REF[self.ref_state].get(event.value)
        try:
            after = before.apply(event, at=self.clock.tick(step, zone), reason=reason)
        except InvalidTransitionError as err:
            assert target is None
            check_rejection(err, JOB_REF, self.ref_state)
            assert before.to_json() == snapshot
            return
        assert target is not None
        assert after.status.value == target
        assert len(after.history) == len(before.history) + 1
        assert before.to_json() == snapshot
        self.job, self.ref_state = after, target

    @invariant()
    def agrees_with_reference(self) -> None:
        assert self.job.status.value == self.ref_state
        assert self.job.finished == (not JOB_REF[self.ref_state])


class CIRunMachine(RuleBasedStateMachine):
    """Random DAGs of jobs, random events; the reference is a dict of statuses plus the spec's
    guard rules written out again below."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.run: CIRun | None = None
        self.status: dict[str, str] = {}
        self.skip_blockers: dict[str, set[str]] = {}

    @initialize(run=dags(max_jobs=6))
    def create(self, run: CIRun) -> None:
        self.run = run
        self.status = {job_id: "pending" for job_id in run.jobs}

    # -- the reference rules -------------------------------------------------------------
    def blockers(self, job: CIJob) -> set[str]:
        """What keeps the job from executing at all: nothing for an always() job; else the
        failed or skipped needs, and the builder unless it succeeded for a consumer."""
        assert self.run is not None
        if job.always_guard:
            return set()
        found = {d for d in job.needs if self.status[d] in ("failure", "skipped")}
        if self.missing_artifact(job):
            found.add(self.run.builder)
        return found

    def missing_artifact(self, job: CIJob) -> bool:
        assert self.run is not None
        builder = self.run.builder
        return job.artifact_required and job.id != builder and self.status[builder] != "success"

    def expected(self, job: CIJob, event: JobEvent, reason: str | None) -> str | None:
        state = self.status[job.id]
        target = JOB_REF[state].get(event.value)
        if target is None:
            return None
        if event is JobEvent.START and any(
            self.status[d] in ("pending", "running") for d in job.needs
        ):
            return None
        blocked = self.blockers(job)
        if event in (JobEvent.SUCCEED, JobEvent.FAIL) and blocked:
            return None
        if event is JobEvent.SUCCEED and self.missing_artifact(job):
            return None
        if event is JobEvent.SKIP and not blocked and not self.missing_artifact(job):
            return None if reason is None else target
        return target

    @rule(data=st.data(), event=st.sampled_from(list(JobEvent)), reason=st.none() | reasons)
    def fire(self, data: st.DataObject, event: JobEvent, reason: str | None) -> None:
        assert self.run is not None
        # Mostly pick events that could move the run on (a ready job's start; anything for a
        # running job, including succeed/fail while blocked), so runs get deep enough to
        # reach the guard rules; sometimes anything at all.
        table_legal = [
            (j, e)
            for j, job in sorted(self.run.jobs.items())
            for e in JobEvent
            if e.value in JOB_REF[self.status[j]]
            and (e is not JobEvent.START or all(self.status[d] in FINISHED for d in job.needs))
        ]
        bias = data.draw(st.integers(0, 3), label="bias")
        if table_legal and bias:
            job_id, event = data.draw(st.sampled_from(table_legal), label="job and event")
        else:
            job_id = data.draw(st.sampled_from(sorted(self.run.jobs)), label="job")
        job = self.run.jobs[job_id]
        before = self.run
        snapshot = before.to_json()
        target = self.expected(job, event, reason)
        blocked = self.blockers(job) or (
            {self.run.builder} if self.missing_artifact(job) else set()
        )
        at = self.clock.tick(data.draw(STEPS, label="step"), data.draw(ZONES, label="zone"))
        error: BuildonceError | None = None
        try:
            after = before.apply(job_id, event, at=at, reason=reason)
        except BuildonceError as exc:
            error = exc
        if error is not None:
            assert target is None, f"{job_id} {self.status[job_id]} --{event.value}--> {error}"
            table_allows = JOB_REF[self.status[job_id]].get(event.value) is not None
            # The job's own table answers first; the run's guard rules are validation rules.
            expected_type = ValidationError if table_allows else InvalidTransitionError
            assert isinstance(error, expected_type)
            assert before.to_json() == snapshot
            return
        assert target is not None, f"{job_id} {self.status[job_id]} --{event.value}--> accepted"
        assert after.jobs[job_id].status.value == target
        assert len(after.jobs[job_id].history) == len(job.history) + 1
        for other in after.jobs:
            if other != job_id:
                assert after.jobs[other] == before.jobs[other]
        assert before.to_json() == snapshot
        self.run = after
        self.status[job_id] = target
        if event is JobEvent.SKIP and blocked:
            self.skip_blockers[job_id] = blocked

    # -- the spec's rules as invariants ----------------------------------------------------
    @invariant()
    def statuses_agree(self) -> None:
        if self.run is None:
            return
        assert {j: job.status.value for j, job in self.run.jobs.items()} == self.status

    @invariant()
    def no_job_executes_after_a_failed_prerequisite(self) -> None:
        if self.run is None:
            return
        for job in self.run.jobs.values():
            if self.status[job.id] in ("success", "failure") and not job.always_guard:
                assert all(self.status[d] == "success" for d in job.needs), job.id

    @invariant()
    def artifact_consumers_execute_only_after_a_successful_build(self) -> None:
        if self.run is None:
            return
        for job in self.run.jobs.values():
            if not job.artifact_required or job.id == self.run.builder:
                continue
            if self.status[job.id] == "success":
                assert self.status[self.run.builder] == "success", job.id
            if self.status[job.id] == "failure" and self.status[self.run.builder] != "success":
                # Only a reporting job under if: always() runs without the binary, and fails.
                assert job.always_guard, job.id

    @invariant()
    def skipped_jobs_name_the_failed_upstream(self) -> None:
        if self.run is None:
            return
        for job_id, blocked in self.skip_blockers.items():
            reason = self.run.jobs[job_id].reason or ""
            assert any(f"'{b}'" in reason for b in blocked), (job_id, reason, blocked)
        for job in self.run.jobs.values():
            if self.status[job.id] == "skipped":
                assert job.reason

    def teardown(self) -> None:
        # Once per run rather than per step: rebuilding a run re-checks the whole graph.
        if self.run is not None:
            assert CIRun.from_json(self.run.to_json()) == self.run


TestBinaryCacheEntryLifecycle = BinaryCacheEntryMachine.TestCase
TestBinaryCacheEntryLifecycle.settings = MACHINE_SETTINGS
TestGoModuleCacheLifecycle = GoModuleCacheMachine.TestCase
TestGoModuleCacheLifecycle.settings = MACHINE_SETTINGS
TestCIJobLifecycle = CIJobMachine.TestCase
TestCIJobLifecycle.settings = MACHINE_SETTINGS
TestCIRunLifecycle = CIRunMachine.TestCase
TestCIRunLifecycle.settings = settings(MACHINE_SETTINGS, max_examples=50, stateful_step_count=30)
