"""The spec's relationships: BinaryCacheEntry 1--* CIJob and GoModuleCache 1--* CIJob."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_strategies import ci_runs

from buildonce.errors import ValidationError
from buildonce.model import (
    BinaryCacheEntry,
    CIJob,
    CIRun,
    EntryState,
    GoModuleCache,
    JobEvent,
    JobStatus,
    RunSnapshot,
    build_toolchain_of,
    link_artifact,
    link_module_cache,
)

T0 = datetime(2025, 11, 16, 10, 0, tzinfo=UTC)


def t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


KEY = "Linux-ksail-bin-1.25.4-a1b2c3d4e5"
MODKEY = "Linux-go-1.25.4-0f1e2d3c"


def spec_run(**cache_hits: bool) -> CIRun:
    """The spec's workflow: pre-commit, build-artifact, system-test (consumes the binary) and
    a reporting job guarded by if: always()."""
    return CIRun.of(
        [
            CIJob(id="pre-commit", cache_hit=cache_hits.get("pre-commit", False)),
            CIJob(id="build-artifact", cache_hit=cache_hits.get("build-artifact", False)),
            CIJob(
                id="system-test",
                needs=("build-artifact",),
                artifact_required=True,
                cache_hit=cache_hits.get("system-test", False),
            ),
            CIJob(id="report", needs=("system-test",), always_guard=True),
        ]
    )


def play(run: CIRun, *steps: tuple[str, JobEvent, int]) -> CIRun:
    for job_id, event, minute in steps:
        run = run.apply(job_id, event, at=t(minute))
    return run


def missing_entry() -> BinaryCacheEntry:
    return BinaryCacheEntry(key=KEY, paths=(".cache/ksail",))


def seeded_and_restored(consumer_at: int = 3) -> BinaryCacheEntry:
    return (
        missing_entry()
        .seed(at=t(1), job="build-artifact", size_bytes=216_000_000)
        .restore(at=t(consumer_at), job="system-test")
    )


HAPPY = (
    ("build-artifact", JobEvent.START, 0),
    ("build-artifact", JobEvent.SUCCEED, 2),
    ("system-test", JobEvent.START, 2),
    ("system-test", JobEvent.SUCCEED, 5),
)


def test_single_source_build_happy_path() -> None:
    run = play(spec_run(), *HAPPY)
    use = link_artifact(seeded_and_restored(), run)
    assert use.builder.id == "build-artifact"
    assert [j.id for j in use.consumers] == ["system-test"]
    assert use.rebuilt_by == ()
    assert use.waiting == ()


def test_consumer_rebuilds_after_a_miss_and_re_saves() -> None:
    run = play(spec_run(), *HAPPY)
    entry = missing_entry().rebuild(at=t(3), job="system-test", size_bytes=1000)
    use = link_artifact(entry, run)
    assert use.rebuilt_by == ("system-test",)
    assert use.entry.origin_job == "system-test"


def _rule(entry: BinaryCacheEntry, run: CIRun) -> tuple[str, str, str]:
    with pytest.raises(ValidationError) as info:
        link_artifact(entry, run)
    return info.value.entity, info.value.field, info.value.rule


def test_only_the_builder_seeds() -> None:
    entry = missing_entry().seed(at=t(1), job="system-test", size_bytes=5)
    assert _rule(entry, spec_run()) == (
        "BinaryCacheEntry",
        "history[0].job",
        "single-source-build",
    )


def test_seeded_entry_from_a_consumer_without_history() -> None:
    entry = BinaryCacheEntry(
        key=KEY,
        paths=("a",),
        size_bytes=1,
        created_at=T0,
        origin_job="system-test",
        state=EntryState.SEEDED,
    )
    assert _rule(entry, spec_run())[2] == "single-source-build"


def test_a_job_that_does_not_consume_the_artifact_may_not_produce_it() -> None:
    entry = BinaryCacheEntry(
        key=KEY,
        paths=("a",),
        size_bytes=1,
        created_at=T0,
        origin_job="pre-commit",
        state=EntryState.UPDATED,
    )
    assert _rule(entry, spec_run())[1:] == ("originJob", "single-source-build")


def test_restoring_job_must_declare_artifact_required() -> None:
    entry = seeded_and_restored().restore(at=t(4), job="pre-commit")
    assert _rule(entry, spec_run()) == (
        "BinaryCacheEntry",
        "history[2].job",
        "consumer-requires-artifact",
    )


def test_rebuild_by_a_non_consumer_is_rejected() -> None:
    entry = missing_entry().rebuild(at=t(1), job="pre-commit", size_bytes=1)
    assert _rule(entry, spec_run())[2] == "consumer-requires-artifact"


def test_history_names_an_unknown_job() -> None:
    entry = seeded_and_restored().restore(at=t(4), job="deploy")
    assert _rule(entry, spec_run())[2] == "consumer-known"


def test_consumer_cannot_smoke_test_a_missing_binary() -> None:
    run = play(spec_run(), *HAPPY)
    assert _rule(missing_entry(), run) == (
        "CIRun",
        "jobs.system-test.status",
        "entry-available-before-smoke-test",
    )


def test_consumer_must_obtain_the_binary_before_it_finishes() -> None:
    run = play(spec_run(), *HAPPY)  # system-test succeeds at minute 5
    assert _rule(seeded_and_restored(consumer_at=6), run)[2] == (
        "entry-available-before-smoke-test"
    )


def test_tracked_history_must_record_each_consumer() -> None:
    run = play(spec_run(), *HAPPY)
    entry = missing_entry().seed(at=t(1), job="build-artifact", size_bytes=5)
    with pytest.raises(ValidationError, match="never restored or rebuilt"):
        link_artifact(entry, run)


def test_untracked_available_entry_is_enough() -> None:
    run = play(spec_run(), *HAPPY)
    entry = BinaryCacheEntry(
        key=KEY, paths=("a",), size_bytes=1, created_at=T0, state=EntryState.SEEDED
    )
    assert [j.id for j in link_artifact(entry, run).consumers] == ["system-test"]


def test_failed_consumer_without_binary_is_not_a_contract_breach() -> None:
    run = play(
        spec_run(),
        ("build-artifact", JobEvent.START, 0),
        ("build-artifact", JobEvent.SUCCEED, 2),
        ("system-test", JobEvent.START, 2),
        ("system-test", JobEvent.FAIL, 3),
    )
    assert link_artifact(missing_entry(), run).consumers[0].status is JobStatus.FAILURE


def test_run_without_the_builder() -> None:
    run = CIRun.of([CIJob(id="lint")])
    assert _rule(missing_entry(), run) == ("CIRun", "builder", "artifact-builder-exists")


# -- GoModuleCache 1--* CIJob -------------------------------------------------------------


def warm() -> GoModuleCache:
    return GoModuleCache(key=MODKEY, toolchain="1.25.4", hit=True)


def cold() -> GoModuleCache:
    return GoModuleCache(key=MODKEY, toolchain="1.25.4", hit=False)


def test_restored_cache_is_a_hit_for_every_started_job() -> None:
    run = play(
        spec_run(**{"pre-commit": True, "build-artifact": True}),
        ("pre-commit", JobEvent.START, 0),
        ("build-artifact", JobEvent.START, 0),
    )
    use = link_module_cache(warm(), run, build_toolchain="1.25.4")
    assert use.hits == ("pre-commit", "build-artifact")
    assert use.misses == ()
    assert use.miss_messages() == {}


def test_restored_cache_but_a_job_reports_a_miss() -> None:
    run = play(spec_run(**{"pre-commit": True}), ("pre-commit", JobEvent.START, 0))
    run = play(run, ("build-artifact", JobEvent.START, 0))
    with pytest.raises(ValidationError) as info:
        link_module_cache(warm(), run)
    assert (info.value.field, info.value.rule) == (
        "jobs.build-artifact.cacheHit",
        "cache-hit-consistent",
    )


def test_after_a_miss_later_jobs_hit_what_the_builder_saved() -> None:
    run = play(
        spec_run(**{"system-test": True}),
        ("build-artifact", JobEvent.START, 0),
        ("build-artifact", JobEvent.SUCCEED, 2),
        ("system-test", JobEvent.START, 3),
    )
    cache = cold().save(at=t(2), job="build-artifact")
    use = link_module_cache(cache, run)
    assert use.hits == ("system-test",)
    assert use.misses == ("build-artifact",)
    message = use.miss_messages()["build-artifact"]
    assert "miss" in message
    assert "continuing" in message


def test_a_miss_that_nobody_saved_cannot_be_a_hit() -> None:
    run = play(spec_run(**{"pre-commit": True}), ("pre-commit", JobEvent.START, 0))
    with pytest.raises(ValidationError, match="no other job saved it"):
        link_module_cache(cold(), run)


def test_hit_reported_before_the_save_happened() -> None:
    run = play(
        spec_run(**{"pre-commit": True}),
        ("pre-commit", JobEvent.START, 0),
        ("build-artifact", JobEvent.START, 0),
    )
    cache = cold().save(at=t(4), job="build-artifact")
    with pytest.raises(ValidationError, match="started before 'build-artifact' saved"):
        link_module_cache(cache, run)


def test_pending_jobs_have_reported_nothing_yet() -> None:
    assert link_module_cache(warm(), spec_run()).hits == ()


def test_toolchain_must_match_the_build_job() -> None:
    with pytest.raises(ValidationError) as info:
        link_module_cache(warm(), spec_run(), build_toolchain="1.24.0")
    assert info.value.rule == "toolchain-matches-build"


def test_users_must_be_jobs_of_the_run() -> None:
    with pytest.raises(ValidationError) as info:
        link_module_cache(warm(), spec_run(), users=["deploy"])
    assert info.value.rule == "user-known"


def test_saver_must_use_the_cache() -> None:
    cache = cold().save(at=t(1), job="pre-commit")
    with pytest.raises(ValidationError) as info:
        link_module_cache(cache, spec_run(), users=["build-artifact"])
    assert info.value.rule == "saver-is-user"


def test_build_toolchain_is_read_from_the_binary_key() -> None:
    assert build_toolchain_of(missing_entry()) == "1.25.4"


# -- RunSnapshot ----------------------------------------------------------------------------


def test_snapshot_round_trip_and_checks() -> None:
    run = play(spec_run(**{"system-test": True}), *HAPPY)
    snapshot = RunSnapshot(
        run=run,
        binary_cache_entry=seeded_and_restored(),
        go_module_cache=cold().save(at=t(1), job="build-artifact"),
    )
    assert RunSnapshot.from_json(snapshot.to_json()) == snapshot


def test_snapshot_compares_module_toolchain_with_the_binary_key() -> None:
    other = GoModuleCache(key="Linux-go-1.24.0-0f1e2d3c", toolchain="1.24.0", hit=True)
    with pytest.raises(ValidationError) as info:
        RunSnapshot(run=spec_run(), binary_cache_entry=missing_entry(), go_module_cache=other)
    assert info.value.rule == "toolchain-matches-build"


# -- properties over random runs ------------------------------------------------------------


def _time_of(job: CIJob, event: JobEvent) -> datetime | None:
    return next((r.at for r in job.history if r.event == event.value), None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=ci_runs(max_events=30))
def test_builder_seeds_and_every_consumer_restores_is_always_accepted(run: CIRun) -> None:
    builder = run.jobs[run.builder]
    entry = missing_entry()
    built_at = _time_of(builder, JobEvent.SUCCEED)
    if built_at is not None:
        entry = entry.seed(at=built_at, job=run.builder, size_bytes=1)
        started = sorted(
            (at, job.id)
            for job in run.artifact_consumers
            if (at := _time_of(job, JobEvent.START)) is not None
        )
        for at, job_id in started:
            entry = entry.restore(at=at, job=job_id)
    succeeded = [j for j in run.artifact_consumers if j.status is JobStatus.SUCCESS]
    if built_at is None and succeeded:
        # A consumer can only succeed after a successful build, so this cannot happen.
        raise AssertionError("a consumer succeeded without a build")
    use = link_artifact(entry, run)
    assert {j.id for j in use.consumers} == {j.id for j in run.artifact_consumers}
    if succeeded:
        # Forget one consumer's restore: the relationship must notice.
        dropped = succeeded[0].id
        partial = missing_entry()
        for record in entry.history:
            if record.event == "seed":
                partial = partial.seed(at=record.at, job=record.job, size_bytes=1)
            elif record.job != dropped:
                partial = partial.restore(at=record.at, job=record.job or "")
        with pytest.raises(ValidationError) as info:
            link_artifact(partial, run)
        assert info.value.rule == "entry-available-before-smoke-test"
        assert dropped in str(info.value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=ci_runs(max_events=30), hit=st.booleans(), data=st.data())
def test_consistent_cache_hits_are_accepted_and_a_flipped_one_is_not(
    run: CIRun, hit: bool, data: st.DataObject
) -> None:
    from dataclasses import replace

    started = {
        job.id: at for job in run.jobs.values() if (at := _time_of(job, JobEvent.START)) is not None
    }
    cache = GoModuleCache(key=MODKEY, toolchain="1.25.4", hit=hit)
    hits = dict.fromkeys(run.jobs, False)
    if hit:
        hits.update(dict.fromkeys(started, True))
    elif started:
        # The first job to finish successfully saves the cold cache; jobs that start later
        # restore what it saved.
        savers = sorted(
            (at, job.id)
            for job in run.jobs.values()
            if (at := _time_of(job, JobEvent.SUCCEED)) is not None
        )
        if savers:
            saved_at, saver = savers[0]
            cache = cache.save(at=saved_at, job=saver)
            hits.update({j: j != saver and at >= saved_at for j, at in started.items()})
    consistent = CIRun(
        {j: replace(job, cache_hit=hits[j]) for j, job in run.jobs.items()}, run.builder
    )
    use = link_module_cache(cache, consistent, build_toolchain="1.25.4")
    assert set(use.hits) | set(use.misses) == set(started)
    assert set(use.miss_messages()) == set(use.misses)

    # Flip one started job where the answer is certain to become wrong.
    # A restored cache is a hit for everyone; a miss nobody saved is a miss for everyone.
    if not started or (not hit and cache.history):
        return
    victim = data.draw(st.sampled_from(sorted(started)))
    jobs = dict(consistent.jobs)
    jobs[victim] = replace(jobs[victim], cache_hit=not jobs[victim].cache_hit)
    with pytest.raises(ValidationError) as info:
        link_module_cache(cache, CIRun(jobs, run.builder))
    assert info.value.rule == "cache-hit-consistent"
    assert victim in str(info.value)
