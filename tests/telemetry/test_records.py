"""Derived job records from recorded jobs, and the cache-outcome decision table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildonce.errors import ConfigError
from buildonce.model import JobStatus
from buildonce.telemetry.records import (
    StepPatterns,
    base_job_name,
    ci_status,
    classify_cache,
    derive_job,
    parse_steps,
    steps_from_text,
    steps_to_text,
)
from buildonce.telemetry.timestamps import format_duration, parse_time

from .conftest import load


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_recorded_matrix_job() -> None:
    job = derive_job(load("run_3881497935_jobs.json")["jobs"][0])
    assert job.name == "test (Python 3.7)"
    assert job.base_name == "test"
    assert job.duration_s == 60.0  # 08:24:28 -> 08:25:28
    assert job.queue_s == 7.0  # created 08:24:21
    assert job.ci_status is JobStatus.SUCCESS
    assert job.cache_hit is None
    assert job.cache_evidence == "no-restore-step"
    assert not job.rebuilt
    assert job.labels == ("ubuntu-latest",)


def test_step_offsets_are_normalised_to_utc() -> None:
    raw = load("run_4205440316_jobs_step_times_with_offsets.json")["jobs"][0]
    job = derive_job(raw)
    first = job.steps[0]
    # "2023-02-17T17:03:46.000+01:00" is 16:03:46Z, the same clock as the job's "Z" times.
    assert first.started_at == _ts("2023-02-17T16:03:46Z")
    assert job.started_at == _ts("2023-02-17T16:03:46Z")
    assert all(s.started_at is not None and job.started_at - 60 <= s.started_at for s in job.steps)
    # "Complete job" is stamped before the "Post" steps; the record keeps the API order.
    assert [s.number for s in job.steps][-3:] == [11, 12, 13]


def test_empty_steps_fall_back_to_job_times() -> None:
    jobs = [derive_job(j) for j in load("run_16620109074_jobs_empty_steps.json")["jobs"]]
    main = next(j for j in jobs if j.name == "main_job")
    assert main.steps == ()
    assert main.duration_s == 40.0
    assert main.queue_s == 5.0
    assert main.cache_hit is None
    assert main.cache_evidence == "no-steps"


def test_failed_recorded_job() -> None:
    job = derive_job(load("run_21458831126_jobs.json")["jobs"][0])
    assert job.ci_status is JobStatus.FAILURE
    ci_job = job.to_ci_job()
    assert ci_job.status is JobStatus.FAILURE
    assert [t.event for t in ci_job.history] == ["start", "fail"]


def test_parallel_steps_overlap_and_are_not_summed() -> None:
    raw = load("parallel_nuxt_partial.json")["jobs"][0]
    job = derive_job(raw)
    types = next(s for s in job.steps if s.name == "Test (types)")
    docs = next(s for s in job.steps if s.name == "Typecheck (docs)")
    assert types.started_at == docs.started_at  # they ran side by side
    step_sum = sum((s.completed_at or 0) - (s.started_at or 0) for s in job.steps)
    assert job.duration_s is not None
    assert step_sum > job.duration_s  # so step sums are not a job duration
    assert job.duration_s == _ts("2026-07-31T21:57:31Z") - _ts("2026-07-31T21:54:56Z")


def test_end_before_start_is_clamped() -> None:
    raw = {
        "id": 1,
        "name": "odd",
        "status": "completed",
        "conclusion": "success",
        "created_at": "2026-01-01T10:00:10Z",
        "started_at": "2026-01-01T10:00:05Z",  # started "before" it was created
        "completed_at": "2026-01-01T10:00:00Z",  # and completed before it started
        "steps": [
            {
                "name": "Post x",
                "status": "completed",
                "conclusion": "skipped",
                "number": 9,
                "started_at": "2026-01-01T10:00:09Z",
                "completed_at": "2026-01-01T10:00:02Z",
            },
        ],
    }
    job = derive_job(raw)
    assert job.duration_s == 0.0
    assert job.queue_s == 0.0
    assert job.steps[0].completed_at == job.steps[0].started_at


def _step(name: str, conclusion: str | None = "success", number: int = 1) -> dict[str, Any]:
    return {
        "name": name,
        "status": "completed",
        "conclusion": conclusion,
        "number": number,
        "started_at": "2026-01-01T10:00:00Z",
        "completed_at": "2026-01-01T10:00:01Z",
    }


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # The guarded build step: skipped on a hit, run on a miss (buildonce's pattern).
        ([("Restore binary", "success"), ("Build binary", "skipped")], (True, "step-skipped")),
        ([("Restore binary", "success"), ("Build binary", "success")], (False, "step-ran")),
        ([("Run actions/cache@v4", "success"), ("go build ./...", "failure")], (False, "step-ran")),
        # Everything is skipped after a failure: that is no evidence of a hit.
        (
            [("Checkout", "failure"), ("Restore binary", "skipped"), ("Build binary", "skipped")],
            (None, "restore-did-not-run"),
        ),
        (
            [("Restore binary", "success"), ("Lint", "failure"), ("Build binary", "skipped")],
            (None, "earlier-failure"),
        ),
        # Split restore/save: the save step is guarded instead.
        (
            [("Run actions/cache/restore@v4", "success"), ("Run actions/cache/save@v4", "skipped")],
            (True, "step-skipped"),
        ),
        (
            [("Run actions/cache/restore@v4", "success"), ("Run actions/cache/save@v4", "success")],
            (False, "step-ran"),
        ),
        # The outcome written into the step name.
        ([("Prepare binary (cache: hit)", "success")], (True, "step-name")),
        ([("Prepare binary (cache: miss)", "success")], (False, "step-name")),
        ([("Restore binary", "success"), ("Test", "success")], (None, "no-guarded-step")),
        ([("Set up job", "success"), ("Test", "success")], (None, "no-restore-step")),
        ([], (None, "no-steps")),
    ],
)
def test_cache_outcome_table(
    steps: list[tuple[str, str]], expected: tuple[bool | None, str]
) -> None:
    parsed = parse_steps([_step(n, c, i) for i, (n, c) in enumerate(steps, 1)])
    assert classify_cache(parsed) == expected


def test_ksail_shapes_rebuilt_and_smoke() -> None:
    before = derive_job(
        {
            "id": 1,
            "name": "system-test (--distribution Kind)",
            "status": "completed",
            "conclusion": "success",
            "steps": [_step("📦 Download dependencies"), _step("🏗️ Build application")],
        }
    )
    assert before.rebuilt
    assert before.compile_steps == 1
    assert before.uses_binary
    assert not before.smoke_ran
    after = derive_job(
        {
            "id": 2,
            "name": "system-test (--distribution Kind)",
            "status": "completed",
            "conclusion": "success",
            "steps": [
                _step("♻️ Restore cached ksail binary"),
                _step("🏗️ Build ksail binary", "skipped"),
                _step("🔥 Smoke test ksail --version"),
                _step("Build and push docker image"),
            ],
        }
    )
    assert after.cache_hit is True
    assert not after.rebuilt  # a docker image build is not a compile of the binary
    assert after.smoke_ran


def test_custom_patterns_and_bad_regex() -> None:
    patterns = StepPatterns(compile=r"^make$", restore=r"^fetch$")
    job = derive_job(
        {
            "id": 1,
            "name": "j",
            "status": "completed",
            "conclusion": "success",
            "steps": [_step("fetch"), _step("make", "skipped")],
        },
        patterns,
    )
    assert job.cache_hit is True
    with pytest.raises(ConfigError, match="--compile-step"):
        StepPatterns(compile="(")


@pytest.mark.parametrize(
    ("status", "conclusion", "expected"),
    [
        ("queued", None, JobStatus.PENDING),
        ("waiting", None, JobStatus.PENDING),
        ("in_progress", None, JobStatus.RUNNING),
        ("completed", "success", JobStatus.SUCCESS),
        ("completed", "neutral", JobStatus.SUCCESS),
        ("completed", "failure", JobStatus.FAILURE),
        ("completed", "cancelled", JobStatus.FAILURE),
        ("completed", "timed_out", JobStatus.FAILURE),
        ("completed", "skipped", JobStatus.SKIPPED),
    ],
)
def test_ci_status_mapping(status: str, conclusion: str | None, expected: JobStatus) -> None:
    assert ci_status(status, conclusion) is expected


def test_skipped_job_replays_start_then_skip() -> None:
    job = derive_job(
        {
            "id": 3,
            "name": "deploy",
            "status": "completed",
            "conclusion": "skipped",
            "started_at": "2026-01-01T10:00:00Z",
            "completed_at": "2026-01-01T10:00:00Z",
            "steps": [],
        }
    ).to_ci_job()
    assert job.status is JobStatus.SKIPPED
    assert [t.event for t in job.history] == ["start", "skip"]


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("system-test (Kind, Cilium)", "system-test"),
        ("caller / callee", "caller / callee"),
        ("test (Python 3.7)", "test"),
        ("build", "build"),
        ("(odd)", "(odd)"),
    ],
)
def test_base_job_name(name: str, base: str) -> None:
    assert base_job_name(name) == base


@pytest.mark.parametrize(
    "text",
    [
        "2022-10-30T00:08:14.223333300Z",
        "2022-10-30T00:08:14.223333Z",
        "2022-10-30T01:08:14.223333+01:00",
    ],
)
def test_parse_time_lenient_fractions(text: str) -> None:
    assert parse_time(text) == pytest.approx(_ts("2022-10-30T00:08:14.223333Z"))


@pytest.mark.parametrize("text", [None, "", "yesterday", "0001-01-01T00:00:00Z", 12])
def test_parse_time_rejects(text: object) -> None:
    assert parse_time(text) is None


@given(
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1)),
    st.integers(min_value=-12 * 60, max_value=14 * 60),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
)
def test_parse_time_any_offset(moment: datetime, offset_min: int, spec: str) -> None:
    aware = moment.replace(tzinfo=UTC).astimezone(timezone(timedelta(minutes=offset_min)))
    text = aware.isoformat(timespec=spec)
    expected = datetime.fromisoformat(text).timestamp()
    assert parse_time(text) == expected
    assert parse_time(text.replace("+00:00", "Z")) == expected


_time = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC).isoformat()
)


@given(
    st.lists(
        st.tuples(
            st.text(max_size=20),
            _time,
            _time,
            st.sampled_from(["success", "skipped", "failure", None]),
        ),
        max_size=8,
    ),
    _time,
    _time,
    _time,
)
def test_derived_durations_are_never_negative(
    steps: list[tuple[str, str, str, str | None]], created: str, started: str, completed: str
) -> None:
    raw = {
        "id": 1,
        "name": "x",
        "status": "completed",
        "conclusion": "success",
        "created_at": created,
        "started_at": started,
        "completed_at": completed,
        "steps": [
            {
                "name": n,
                "status": "completed",
                "conclusion": c,
                "number": i,
                "started_at": s,
                "completed_at": e,
            }
            for i, (n, s, e, c) in enumerate(steps)
        ],
    }
    job = derive_job(raw)
    assert job.duration_s is not None
    assert job.duration_s >= 0
    assert job.queue_s is not None
    assert job.queue_s >= 0
    for step in job.steps:
        assert step.started_at is not None
        assert step.completed_at is not None
        assert step.completed_at >= step.started_at
    assert steps_from_text(steps_to_text(job.steps)) == job.steps


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "-"), (0, "0s"), (45.4, "45s"), (206, "3m26s"), (3723, "1h02m03s")]
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text
