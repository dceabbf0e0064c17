"""Invalid values raise ValidationError naming the entity, the field and the rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from buildonce.errors import ValidationError
from buildonce.model import (
    BinaryCacheEntry,
    CIJob,
    CIRun,
    GoModuleCache,
    JobEvent,
    JobStatus,
    Transition,
)

T0 = datetime(2025, 11, 16, 10, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
KEY = "Linux-ksail-bin-1.25.4-a1b2c3"
MODKEY = "Linux-go-1.25.4-0f1e2d3c"


def entry(**changes: Any) -> BinaryCacheEntry:
    fields: dict[str, Any] = {
        "key": KEY,
        "paths": (".cache/ksail",),
        "size_bytes": 216_000_000,
        "created_at": T0,
        "state": BinaryCacheEntry.__dataclass_fields__["state"].default,
    }
    fields.update(changes)
    return BinaryCacheEntry(**fields)


def module(**changes: Any) -> GoModuleCache:
    fields: dict[str, Any] = {"key": MODKEY, "toolchain": "1.25.4", "hit": True}
    fields.update(changes)
    return GoModuleCache(**fields)


def job(**changes: Any) -> CIJob:
    fields: dict[str, Any] = {"id": "system-test", "needs": ("build-artifact",)}
    fields.update(changes)
    return CIJob(**fields)


def seeded_history() -> tuple[Transition, ...]:
    return (Transition("seed", "Missing", "Seeded", T0, "build-artifact"),)


CASES: list[tuple[str, Callable[[], object], str, str, str]] = [
    # BinaryCacheEntry: spec validation rule 1 (key encodes OS, toolchain, source hash)
    ("empty key", lambda: entry(key=""), "BinaryCacheEntry", "key", "key-required"),
    ("key not a string", lambda: entry(key=5), "BinaryCacheEntry", "key", "key-required"),
    ("key > 512", lambda: entry(key=KEY + "a" * 600), "BinaryCacheEntry", "key", "key-length"),
    (
        "comma",
        lambda: entry(key="Linux,a-bin-1.25.4-abcdef"),
        "BinaryCacheEntry",
        "key",
        "key-no-commas",
    ),
    ("unprintable", lambda: entry(key=KEY + "\t"), "BinaryCacheEntry", "key", "key-printable"),
    (
        "no OS",
        lambda: entry(key="ksail-bin-1.25.4-a1b2c3"),
        "BinaryCacheEntry",
        "key",
        "key-encodes-os",
    ),
    (
        "no Go",
        lambda: entry(key="Linux-ksail-bin-a1b2c3"),
        "BinaryCacheEntry",
        "key",
        "key-encodes-toolchain",
    ),
    (
        "no hash",
        lambda: entry(key="Linux-ksail-bin-1.25.4"),
        "BinaryCacheEntry",
        "key",
        "key-encodes-source-hash",
    ),
    (
        "digits only",
        lambda: entry(key="Linux-ksail-bin-1.25.4-123456"),
        "BinaryCacheEntry",
        "key",
        "key-encodes-source-hash",
    ),
    # paths
    (
        "paths a string",
        lambda: entry(paths=".cache/ksail"),
        "BinaryCacheEntry",
        "paths",
        "paths-list",
    ),
    ("no paths", lambda: entry(paths=()), "BinaryCacheEntry", "paths", "paths-non-empty"),
    ("blank path", lambda: entry(paths=(" ",)), "BinaryCacheEntry", "paths", "paths-non-empty"),
    ("twice", lambda: entry(paths=("a", "a")), "BinaryCacheEntry", "paths", "paths-unique"),
    # sizeBytes: validation rule 3
    ("negative", lambda: entry(size_bytes=-1), "BinaryCacheEntry", "sizeBytes", "minimum-0"),
    ("bool size", lambda: entry(size_bytes=True), "BinaryCacheEntry", "sizeBytes", "integer"),
    ("float size", lambda: entry(size_bytes=1.5), "BinaryCacheEntry", "sizeBytes", "integer"),
    (
        "over quota",
        lambda: entry(size_bytes=10 * 1000**3),
        "BinaryCacheEntry",
        "sizeBytes",
        "size-under-quota",
    ),
    (
        "over own quota",
        lambda: entry(size_bytes=10, quota_bytes=10),
        "BinaryCacheEntry",
        "sizeBytes",
        "size-under-quota",
    ),
    ("zero quota", lambda: entry(quota_bytes=0), "BinaryCacheEntry", "quotaBytes", "minimum-1"),
    # createdAt, originJob, state
    (
        "naive time",
        lambda: entry(created_at=datetime(2025, 1, 1)),
        "BinaryCacheEntry",
        "createdAt",
        "datetime-aware",
    ),
    (
        "time a string",
        lambda: entry(created_at="2025-01-01"),
        "BinaryCacheEntry",
        "createdAt",
        "datetime",
    ),
    (
        "bad origin",
        lambda: entry(origin_job="build artifact"),
        "BinaryCacheEntry",
        "originJob",
        "job-id",
    ),
    (
        "origin newline",
        lambda: entry(origin_job="build\n"),
        "BinaryCacheEntry",
        "originJob",
        "job-id",
    ),
    ("state string", lambda: entry(state="Seeded"), "BinaryCacheEntry", "state", "state-enum"),
    # an available entry exists: it has a size and a save time (validation rule 2)
    (
        "seeded no size",
        lambda: entry(state=_entry_state("Seeded"), size_bytes=None),
        "BinaryCacheEntry",
        "sizeBytes",
        "available-has-size",
    ),
    (
        "seeded no time",
        lambda: entry(state=_entry_state("Restored"), created_at=None),
        "BinaryCacheEntry",
        "createdAt",
        "available-has-created-at",
    ),
    # history agrees with the table and with the entry
    (
        "history wrong end",
        lambda: entry(history=seeded_history()),
        "BinaryCacheEntry",
        "state",
        "history-matches-state",
    ),
    (
        "history illegal",
        lambda: entry(
            state=_entry_state("Seeded"), history=(Transition("seed", "Restored", "Seeded", T0),)
        ),
        "BinaryCacheEntry",
        "history[0]",
        "history-legal",
    ),
    (
        "history unknown",
        lambda: entry(
            state=_entry_state("Seeded"), history=(Transition("bake", "Missing", "Seeded", T0),)
        ),
        "BinaryCacheEntry",
        "history[0]",
        "history-names",
    ),
    (
        "history gap",
        lambda: entry(
            state=_entry_state("Restored"),
            history=(*seeded_history(), Transition("restore", "Restored", "Restored", T1)),
        ),
        "BinaryCacheEntry",
        "history[1]",
        "history-chain",
    ),
    (
        "history backwards",
        lambda: entry(
            state=_entry_state("Restored"),
            history=(
                *seeded_history(),
                Transition("restore", "Seeded", "Restored", T0 - timedelta(1)),
            ),
        ),
        "BinaryCacheEntry",
        "history[1]",
        "history-chronological",
    ),
    (
        "origin not saver",
        lambda: entry(state=_entry_state("Seeded"), origin_job="other", history=seeded_history()),
        "BinaryCacheEntry",
        "originJob",
        "origin-is-last-saver",
    ),
    (
        "created not save",
        lambda: entry(
            state=_entry_state("Seeded"),
            created_at=T1,
            origin_job="build-artifact",
            history=seeded_history(),
        ),
        "BinaryCacheEntry",
        "createdAt",
        "created-at-is-last-save",
    ),
    # GoModuleCache: validation rules 1-2 and domain rule 2
    (
        "mod no OS",
        lambda: module(key="go-1.25.4-0f1e2d3c"),
        "GoModuleCache",
        "key",
        "key-encodes-os",
    ),
    (
        "mod no hash",
        lambda: module(key="Linux-go-1.25.4"),
        "GoModuleCache",
        "key",
        "key-encodes-gosum-hash",
    ),
    (
        "mod no Go",
        lambda: module(key="ubuntu-go-0f1e2d3c"),
        "GoModuleCache",
        "key",
        "key-encodes-toolchain",
    ),
    (
        "mod other Go",
        lambda: module(key="Linux-go-1.24.0-0f1e2d3c"),
        "GoModuleCache",
        "key",
        "key-matches-toolchain",
    ),
    (
        "toolchain",
        lambda: module(toolchain="go1.25.4"),
        "GoModuleCache",
        "toolchain",
        "toolchain-version",
    ),
    ("hit not bool", lambda: module(hit="true"), "GoModuleCache", "hit", "boolean"),
    (
        "warm on miss",
        lambda: module(hit=False, state=_mod_state("Warm")),
        "GoModuleCache",
        "state",
        "state-matches-hit",
    ),
    (
        "updated no time",
        lambda: module(state=_mod_state("Updated")),
        "GoModuleCache",
        "lastUpdated",
        "saved-has-last-updated",
    ),
    (
        "history from Cold on hit",
        lambda: module(
            state=_mod_state("Updated"),
            last_updated=T0,
            history=(Transition("save", "Cold", "Updated", T0),),
        ),
        "GoModuleCache",
        "history[0]",
        "history-initial",
    ),
    (
        "lastUpdated not save",
        lambda: module(
            state=_mod_state("Updated"),
            last_updated=T1,
            history=(Transition("save", "Warm", "Updated", T0),),
        ),
        "GoModuleCache",
        "lastUpdated",
        "last-updated-is-last-save",
    ),
    # CIJob
    ("job id", lambda: job(id="-x"), "CIJob", "id", "job-id"),
    ("needs string", lambda: job(needs="build-artifact"), "CIJob", "needs", "list"),
    ("needs twice", lambda: job(needs=("a", "a")), "CIJob", "needs", "unique"),
    ("needs itself", lambda: job(needs=("system-test",)), "CIJob", "needs", "no-self-need"),
    ("artifactRequired", lambda: job(artifact_required=1), "CIJob", "artifactRequired", "boolean"),
    ("cacheHit", lambda: job(cache_hit=None), "CIJob", "cacheHit", "boolean"),
    ("status", lambda: job(status="success"), "CIJob", "status", "status-enum"),
    ("blank reason", lambda: job(reason=" "), "CIJob", "reason", "reason-text"),
    ("skipped no reason", lambda: job(status=JobStatus.SKIPPED), "CIJob", "reason", "skip-reason"),
    (
        "history other job",
        lambda: job(
            status=JobStatus.RUNNING,
            history=(Transition("start", "pending", "running", T0, "lint"),),
        ),
        "CIJob",
        "history[0].job",
        "history-own-job",
    ),
]


def _entry_state(name: str) -> Any:
    from buildonce.model import EntryState

    return EntryState(name)


def _mod_state(name: str) -> Any:
    from buildonce.model import ModuleCacheState

    return ModuleCacheState(name)


@pytest.mark.parametrize(
    ("build", "entity", "field", "rule"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_invalid_value_names_field_and_rule(
    build: Callable[[], object], entity: str, field: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    err = info.value
    assert (err.entity, err.field, err.rule) == (entity, field, rule)
    text = str(err)
    assert text.startswith(f"{entity}.{field}: ")
    assert "\n" not in text


def test_the_spec_example_values_are_valid() -> None:
    spec_entry = BinaryCacheEntry(
        key="ubuntu-ksail-bin-1.25.4-a1b2c3",
        paths=(".cache/ksail",),
        size_bytes=216_000_000,
        created_at=T0,
        origin_job="build-artifact",
        state=_entry_state("Seeded"),
    )
    assert spec_entry.comfortably_under_quota
    assert spec_entry.quota_warning() is None
    cache = GoModuleCache(key="ubuntu-go-1.25.4-0f1e2d3c", toolchain="1.25.4", hit=False)
    assert cache.paths == ("~/.cache/go-build", "~/go/pkg/mod")
    assert cache.miss_message() is not None
    assert "continuing" in (cache.miss_message() or "")
    assert module().miss_message() is None


def test_quota_warning_when_not_comfortable() -> None:
    big = entry(size_bytes=2 * 1000**3, state=_entry_state("Seeded"))
    assert not big.comfortably_under_quota
    assert "20%" in (big.quota_warning() or "")


def test_module_toolchain_must_match_build() -> None:
    cache = module()
    cache.check_toolchain_matches("1.25.4")
    with pytest.raises(ValidationError) as info:
        cache.check_toolchain_matches("1.25.5")
    assert info.value.rule == "toolchain-matches-build"
    assert "1.25.5" in str(info.value)


def test_invalidated_by_gosum_or_toolchain_change() -> None:
    cache = module()
    assert not cache.is_invalidated_by(gosum_hash="0F1E2D3C", toolchain="1.25.4")
    assert cache.is_invalidated_by(gosum_hash="ffffff", toolchain="1.25.4")
    assert cache.is_invalidated_by(gosum_hash="0f1e2d3c", toolchain="1.26.0")


RUN_CASES: list[tuple[str, Callable[[], object], str, str]] = [
    ("unknown need", lambda: CIRun.of([job()]), "jobs.system-test.needs", "needs-known"),
    (
        "cycle",
        lambda: CIRun.of([CIJob(id="a", needs=("b",)), CIJob(id="b", needs=("a",))]),
        "jobs",
        "needs-acyclic",
    ),
    ("twice", lambda: CIRun.of([CIJob(id="a"), CIJob(id="a")]), "jobs", "ids-unique"),
    (
        "no builder",
        lambda: CIRun.of([CIJob(id="t", artifact_required=True)]),
        "jobs.t.artifactRequired",
        "artifact-builder-exists",
    ),
    (
        "consumer not downstream",
        lambda: CIRun.of([CIJob(id="build-artifact"), CIJob(id="t", artifact_required=True)]),
        "jobs.t.needs",
        "artifact-needs-builder",
    ),
    (
        "started too early",
        lambda: CIRun.of([CIJob(id="build-artifact"), job(status=JobStatus.RUNNING)]),
        "jobs.system-test.status",
        "needs-order",
    ),
    (
        "ran after failure",
        lambda: CIRun.of(
            [CIJob(id="build-artifact", status=JobStatus.FAILURE), job(status=JobStatus.SUCCESS)]
        ),
        "jobs.system-test.status",
        "failure-propagation",
    ),
    (
        "always job needs artifact",
        lambda: CIRun.of(
            [
                CIJob(id="build-artifact", status=JobStatus.FAILURE),
                job(status=JobStatus.SUCCESS, always_guard=True, artifact_required=True),
            ]
        ),
        "jobs.system-test.status",
        "artifact-requires-successful-build",
    ),
    ("bad builder", lambda: CIRun({}, builder="a b"), "builder", "job-id"),
    ("jobs not a mapping", lambda: CIRun([]), "jobs", "jobs-mapping"),  # type: ignore[arg-type]
    ("mismatched id", lambda: CIRun({"x": CIJob(id="y")}), "jobs", "ids"),
]


@pytest.mark.parametrize(
    ("build", "field", "rule"), [pytest.param(*case[1:], id=case[0]) for case in RUN_CASES]
)
def test_invalid_run_names_field_and_rule(
    build: Callable[[], object], field: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    assert (info.value.entity, info.value.field, info.value.rule) == ("CIRun", field, rule)


def test_always_guard_reporting_job_runs_after_failure() -> None:
    run = CIRun.of(
        [
            CIJob(id="build-artifact", status=JobStatus.FAILURE, reason="go build failed"),
            CIJob(id="report", needs=("build-artifact",), always_guard=True),
        ]
    )
    run = run.apply("report", JobEvent.START, at=T0).apply("report", JobEvent.SUCCEED, at=T1)
    assert run.jobs["report"].status is JobStatus.SUCCESS


def test_blocked_job_must_skip_and_names_the_failed_upstream() -> None:
    run = CIRun.of(
        [
            CIJob(id="build-artifact"),
            CIJob(id="system-test", needs=("build-artifact",), artifact_required=True),
        ]
    )
    run = run.apply("build-artifact", JobEvent.START, at=T0)
    run = run.apply("build-artifact", JobEvent.FAIL, at=T1, reason="go build failed")
    with pytest.raises(ValidationError, match="prerequisite 'build-artifact' ended with failure"):
        run.apply("system-test", JobEvent.START, at=T1).apply(
            "system-test", JobEvent.SUCCEED, at=T1
        )
    run = run.apply("system-test", JobEvent.START, at=T1)
    assert run.allowed_events("system-test") == (JobEvent.SKIP,)
    run = run.apply("system-test", JobEvent.SKIP, at=T1)
    reason = run.jobs["system-test"].reason or ""
    assert "'build-artifact' ended with failure" in reason
    assert "go build failed" in reason


def test_skip_without_blocker_needs_a_reason() -> None:
    run = CIRun.of([CIJob(id="lint", status=JobStatus.RUNNING)])
    with pytest.raises(ValidationError) as info:
        run.apply("lint", JobEvent.SKIP, at=T0)
    assert info.value.rule == "skip-reason"
    skipped = run.apply("lint", JobEvent.SKIP, at=T0, reason="if: condition was false")
    assert skipped.jobs["lint"].reason == "if: condition was false"


def test_unknown_job_in_run() -> None:
    with pytest.raises(ValidationError, match="known jobs: lint"):
        CIRun.of([CIJob(id="lint")]).apply("test", JobEvent.START, at=T0)


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": ["b"], "b": ["c"], "c": []}, None),
        ({"a": ["a"]}, ["a", "a"]),
        ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"a": ["b", "x"], "b": ["c"], "c": ["b"]}, ["b", "c", "b"]),
        ({"a": [], "b": ["a"], "c": ["a", "b"]}, None),
    ],
)
def test_find_cycle(graph: dict[str, list[str]], cycle: list[str] | None) -> None:
    from buildonce.model import find_cycle

    assert find_cycle(graph) == cycle


def test_long_needs_chain_does_not_hit_the_recursion_limit() -> None:
    jobs = [CIJob(id="j0")] + [CIJob(id=f"j{i}", needs=(f"j{i - 1}",)) for i in range(1, 3000)]
    run = CIRun.of(jobs)
    assert len(run.jobs) == 3000
    looped = [CIJob(id="j0", needs=("j2999",)), *jobs[1:]]
    with pytest.raises(ValidationError, match="needs form a cycle: j0 -> j2999 -> "):
        CIRun.of(looped)


def test_always_guarded_consumer_runs_after_a_failed_build_but_cannot_succeed() -> None:
    run = CIRun.of(
        [
            CIJob(id="build-artifact", status=JobStatus.FAILURE, reason="go build failed"),
            CIJob(
                id="report", needs=("build-artifact",), always_guard=True, artifact_required=True
            ),
        ]
    )
    run = run.apply("report", JobEvent.START, at=T0)
    assert run.allowed_events("report") == (JobEvent.FAIL, JobEvent.SKIP)
    with pytest.raises(ValidationError) as info:
        run.apply("report", JobEvent.SUCCEED, at=T1)
    assert info.value.rule == "artifact-requires-successful-build"
    assert "allowed: fail, skip" in str(info.value)
    failed = run.apply("report", JobEvent.FAIL, at=T1, reason="artifact not found")
    assert failed.jobs["report"].status is JobStatus.FAILURE
    skipped = run.apply("report", JobEvent.SKIP, at=T1)
    assert "'build-artifact' ended with failure" in (skipped.jobs["report"].reason or "")
