"""Reports: ranges, statistics, the spec's criteria, critical paths and output formats."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildonce.cli import main
from buildonce.errors import InputError
from buildonce.model import REPOSITORY_QUOTA_BYTES
from buildonce.telemetry._replay import RecordedRoutes, ReplayServer, SyntheticGitHub
from buildonce.telemetry.dag import DagJob, critical_path, needs_from_workflow
from buildonce.telemetry.db import connect
from buildonce.telemetry.ingest import IngestOptions, ingest_github
from buildonce.telemetry.records import derive_job
from buildonce.telemetry.reports import (
    CriteriaConfig,
    build_report,
    key_family,
    parse_range,
    percentile,
)

from .conftest import REPO, FakeClock, load, make_client

BUILDER = "Build KSail Binary"


def _ingest_synthetic(path: Path, gh: SyntheticGitHub) -> str:
    with (
        ReplayServer(gh) as server,
        connect(str(path)) as db,
        make_client(server, FakeClock()) as client,
    ):
        ingest_github(db, client, IngestOptions(repo=REPO))
    return str(path)


@pytest.fixture(scope="module")
def ksail() -> SyntheticGitHub:
    return SyntheticGitHub(runs=40, switch_at=20, rerun_every=15, hit_rate=0.85)


@pytest.fixture(scope="module")
def ksail_db(tmp_path_factory: pytest.TempPathFactory, ksail: SyntheticGitHub) -> str:
    return _ingest_synthetic(tmp_path_factory.mktemp("k") / "k.db", ksail)


def _raw_jobs(gh: SyntheticGitHub, indexes: range) -> list[dict[str, Any]]:
    """The latest attempt's jobs, straight from the generator: the independent oracle."""
    return [j for i in indexes for j in gh.jobs(i) if j["run_attempt"] == gh.attempts(i)]


@pytest.mark.parametrize(
    ("text", "kind", "low", "high"),
    [
        ("all", "all", None, None),
        ("#10..#20", "numbers", 10, 20),
        ("10..", "numbers", 10, None),
        ("..#20", "numbers", None, 20),
        ("2025-11-01..2025-11-02", "dates", 1761955200.0, 1762128000.0),
        ("2025-11-01..", "dates", 1761955200.0, None),
        ("last:5", "last", 5, None),
        ("sha:7A196FE", "sha", "7a196fe", None),
        ("pr:527", "pr", "527", None),
        ("branch:main", "branch", "main", None),
    ],
)
def test_parse_range(text: str, kind: str, low: Any, high: Any) -> None:
    parsed = parse_range(text)
    assert (parsed.kind, parsed.low, parsed.high) == (kind, low, high)


@pytest.mark.parametrize(
    "text",
    [
        "last:0",
        "last:x",
        "sha:xyz",
        "pr:abc",
        "branch:",
        "2025-13-01..",
        "..",
        "#a..#b",
        "2025-11-02..2025-11-01",
        "yesterday",
    ],
)
def test_parse_range_errors(text: str) -> None:
    with pytest.raises(InputError, match="--baseline") as info:
        parse_range(text, "--baseline")
    assert "DATE..DATE" in str(info.value)


def test_statistics_match_the_raw_data(ksail_db: str, ksail: SyntheticGitHub) -> None:
    with connect(ksail_db) as db:
        report = build_report(
            db, baseline="#1..#20", current="#21..#40", config=CriteriaConfig(builder=BUILDER)
        )
    base, cur = report.baseline, report.current
    assert base is not None
    assert (base.runs, cur.runs) == (20, 20)
    raw_before = _raw_jobs(ksail, range(20))
    raw_after = _raw_jobs(ksail, range(20, 40))
    # per-job median from the generator's own timestamps
    ci = [derive_job(j).duration_s or 0.0 for j in raw_before if j["name"] == "ci"]
    stats = base.job("ci")
    assert stats is not None
    assert stats.median_s == statistics.median(ci)
    assert stats.count == 20
    # hit rate: legs whose guarded build step was skipped (the builder seeds, it is not counted)
    legs = [j for j in raw_after if j["name"].startswith("system-test (")]
    hits = sum(
        1
        for j in legs
        if any(
            s["name"] == "🏗️ Build ksail binary" and s["conclusion"] == "skipped" for s in j["steps"]
        )
    )
    assert (cur.hits, cur.misses) == (hits, len(legs) - hits)
    assert 0 < hits < len(legs)
    # every "before" leg compiled; "after" only the misses did, outside the builder
    assert base.extra_compiles == len(
        [j for j in raw_before if j["name"].startswith("system-test (")]
    )
    assert cur.extra_compiles == len(legs) - hits
    matrix = dict((n, legs_n) for n, legs_n, _ in cur.matrix)
    assert matrix == {"system-test": 12}
    assert (
        cur.pass_rate
        == sum(1 for i in range(20, 40) if ksail.run(i)["conclusion"] == "success") / 20
    )


def test_criteria_pass_and_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A perfect cache: every criterion that depends on hits passes.
    good = _ingest_synthetic(
        tmp_path / "good.db", SyntheticGitHub(runs=20, switch_at=10, hit_rate=1.0, failure_rate=0)
    )
    args = [
        "report",
        "--db",
        good,
        "--baseline",
        "#1..#10",
        "--builder",
        BUILDER,
        "--format",
        "json",
        "--min-reduction",
        "20%",
    ]
    assert main([*args, "--fail-on-criteria"]) == 0
    data = json.loads(capsys.readouterr().out)
    status = {c["id"]: c["status"] for c in data["criteria"]}
    assert status == {
        "avg-job-time": "pass",
        "total-reduction": "pass",
        "extra-compiles": "pass",
        "hit-rate": "pass",
        "other-jobs": "pass",
        "pass-rate": "pass",
    }
    assert data["version"] == 1
    assert data["current"]["range"] == "after #1..#10"
    reduction = float(
        next(c for c in data["criteria"] if c["id"] == "total-reduction")["actual"][:-1]
    )
    # Ask for more reduction than the data shows, and a target no leg meets.
    stricter = f"{reduction + 1:.1f}%"
    assert main([*args, "--min-reduction", stricter, "--target", "1m", "--fail-on-criteria"]) == 1
    captured = capsys.readouterr()
    status = {c["id"]: c["status"] for c in json.loads(captured.out)["criteria"]}
    assert status["total-reduction"] == "fail"
    assert status["avg-job-time"] == "fail"
    assert "criteria failed: avg-job-time, total-reduction" in captured.err
    # without the opt-in flag a failing criterion is still exit 0
    assert main([*args, "--target", "1m"]) == 0


def test_no_baseline_leaves_comparisons_not_applicable(ksail_db: str) -> None:
    with connect(ksail_db) as db:
        report = build_report(db, current="#21..#40", config=CriteriaConfig(builder=BUILDER))
    status = {c.id: c.status for c in report.criteria}
    assert status["total-reduction"] == status["other-jobs"] == status["pass-rate"] == "n/a"
    assert status["hit-rate"] in ("pass", "fail")
    assert report.failed == tuple(c for c in report.criteria if c.status == "fail")


def test_slower_job_without_binary_fails(ksail_db: str) -> None:
    with connect(ksail_db) as db:
        report = build_report(
            db,
            baseline="#1..#20",
            current="#21..#40",
            config=CriteriaConfig(builder=BUILDER, max_slowdown=-0.5),
        )
    other = next(c for c in report.criteria if c.id == "other-jobs")
    assert other.status == "fail"
    assert "ci +" in other.detail
    assert "system-test (" not in other.detail  # legs need the binary: not compared


def test_cache_quota_and_dead_weight(ksail_db: str, ksail: SyntheticGitHub) -> None:
    with connect(ksail_db) as db:
        quota = build_report(db).cache
    assert quota is not None
    raw = ksail.caches()
    assert quota.listed_bytes == sum(e["size_in_bytes"] for e in raw)
    assert quota.dead_bytes == sum(e["size_in_bytes"] for e in raw if "/pull/" in e["ref"])
    # storage-limit answered 403 -> GitHub's default
    assert quota.limit_bytes == REPOSITORY_QUOTA_BYTES
    linked = [e for e in quota.entries if e.jobs]
    assert linked  # the builder that saved the newest entries is named
    assert all(any(BUILDER in j for j in e.jobs) for e in linked)


def test_key_family() -> None:
    assert key_family("Linux-ksail-bin-1.25.4-17ba0791499d") == "Linux-ksail-bin-1.25.4"
    assert (
        key_family("setup-go-Linux-x64-go-1.25.4-abcdef0123456789")
        == "setup-go-Linux-x64-go-1.25.4"
    )
    assert key_family("plain") == "plain"


# -- critical path ------------------------------------------------------------------------
def _recorded_dag() -> tuple[list[DagJob], float]:
    jobs = [derive_job(j) for j in load("run_16620109074_jobs_empty_steps.json")["jobs"]]
    run = load("run_16620109074_step-security_skip-duplicate-actions.json")
    from buildonce.telemetry.timestamps import parse_time

    start = parse_time(run["run_started_at"])
    assert start is not None
    return [DagJob(j.name, j.created_at, j.started_at, j.completed_at) for j in jobs], start


def test_critical_path_inferred_from_timing() -> None:
    jobs, start = _recorded_dag()
    path = critical_path(jobs, start)
    assert path is not None
    assert path.source == "timing"
    # main_job was created 1 s after pre_job completed: pre_job gated it.
    assert [s.name for s in path.segments] == ["pre_job", "main_job"]
    assert path.total_s == max(j.completed_at or 0 for j in jobs) - start


def test_critical_path_from_workflow_file() -> None:
    jobs, start = _recorded_dag()
    workflow = """
on: push
jobs:
  pre_job: {runs-on: ubuntu-latest, steps: [{run: "true"}]}
  skip_individual_steps_job: {runs-on: ubuntu-latest, steps: [{run: "true"}]}
  build: {runs-on: ubuntu-latest, steps: [{run: "true"}]}
  private_action: {runs-on: ubuntu-latest, steps: [{run: "true"}]}
  main_job:
    needs: [pre_job, build]
    runs-on: ubuntu-latest
    steps: [{run: "true"}]
"""
    path = critical_path(jobs, start, needs_from_workflow(workflow))
    assert path is not None
    assert path.source == "workflow"
    # with the declared edges, build (which finished later than pre_job) is the gate
    assert [s.name for s in path.segments] == ["build", "main_job"]


def test_unparsable_workflow_falls_back_to_timing() -> None:
    jobs, start = _recorded_dag()
    path = critical_path(jobs, start, needs_from_workflow("jobs: [unclosed"))
    assert path is not None
    assert path.source == "timing"


def test_stored_workflow_file_drives_the_report(tmp_path: Path) -> None:
    run = load("run_16620109074_step-security_skip-duplicate-actions.json")
    routes = RecordedRoutes()
    routes.add("/repos/o/r/actions/runs", {"total_count": 1, "workflow_runs": [run]})
    routes.add(
        f"/repos/o/r/actions/runs/{run['id']}/jobs", load("run_16620109074_jobs_empty_steps.json")
    )
    import base64

    text = (
        "jobs:\n  pre_job: {}\n  build: {}\n  skip_individual_steps_job: {}\n"
        "  private_action: {}\n  main_job: {needs: build}\n"
    )
    routes.add(
        f"/repos/o/r/contents/{run['path']}",
        {"content": base64.b64encode(text.encode()).decode(), "encoding": "base64"},
    )
    with ReplayServer(routes) as server, connect(str(tmp_path / "t.db")) as db:
        with make_client(server, FakeClock()) as client:
            ingest_github(db, client, IngestOptions(repo="o/r", workflow_files=True, caches=False))
        assert any(f"ref={run['head_sha']}" in p for p, _ in server.log)
        report = build_report(db)
    path = report.current.critical_path
    assert path is not None
    assert path.source == "workflow"
    assert [s.name for s in path.segments] == ["build", "main_job"]


# -- formats and CLI ----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["text", "markdown", "json", "html"])
def test_formats(fmt: str, ksail_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "report",
                "--db",
                ksail_db,
                "--baseline",
                "#1..#20",
                "--builder",
                BUILDER,
                "--format",
                fmt,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    if fmt == "json":
        assert set(json.loads(out)) == {
            "version",
            "repo",
            "baseline",
            "current",
            "criteria",
            "cache_quota",
        }
    elif fmt == "markdown":
        assert "| binary cache hit rate |" in out
        assert "### Critical path" in out
        assert "### Timeline: CI - Go run 40 " in out
        assert "```mermaid\ngantt\n" in out
    elif fmt == "html":
        assert out.startswith("<!doctype html>")
        assert "<td>binary cache hit rate</td>" in out
    else:
        assert "Success criteria" in out
        assert "Matrix legs" in out


def test_github_summary_and_output_file(
    ksail_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out_file = tmp_path / "report.html"
    assert (
        main(
            [
                "report",
                "--db",
                ksail_db,
                "--format",
                "html",
                "--output",
                str(out_file),
                "--github-summary",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == ""
    assert out_file.read_text(encoding="utf-8").startswith("<!doctype html>")
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n## buildonce telemetry")
    assert "```mermaid" in text


def test_github_summary_unset_warns(ksail_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--db", ksail_db, "--github-summary"]) == 0
    assert "GITHUB_STEP_SUMMARY is not set" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["report"], ["plot", "cache", "-o", "x.png"]])
def test_reading_a_missing_database_creates_nothing(
    command: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "nowhere" / "t.db"
    assert main([*command, "--db", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{missing}: no telemetry database here" in err
    assert not missing.parent.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--baseline", "nonsense"], "--baseline: 'nonsense' is not a range"),
        (["--target", "soon"], "argument --target: 'soon' is not a duration"),
        (["--min-hit-rate", "180%"], "must be between 0% and 100%"),
        (["--repo", "x/y"], "--repo: no runs of x/y in the database"),
        (["--workflow-file", "/nonexistent/ci.yaml"], "cannot read"),
    ],
)
def test_report_bad_input(
    argv: list[str], message: str, ksail_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["report", "--db", ksail_db, *argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    assert code == 2
    err = capsys.readouterr().err
    assert message in err


def test_report_on_empty_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.db"
    connect(str(empty)).close()  # migrated, but nothing ingested
    assert main(["report", "--db", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "has no runs" in err
    assert "buildonce ingest github" in err


def test_report_on_postgresql_matches_sqlite(
    db_url: str, ksail: SyntheticGitHub, ksail_db: str
) -> None:
    if db_url.startswith("postgresql"):
        with (
            ReplayServer(ksail) as server,
            connect(db_url) as db,
            make_client(server, FakeClock()) as client,
        ):
            ingest_github(db, client, IngestOptions(repo=REPO, caches=False))
    else:
        db_url = ksail_db
    with connect(db_url) as db:
        got = build_report(db, baseline="#1..#20", config=CriteriaConfig(builder=BUILDER))
    with connect(ksail_db) as db:
        want = build_report(db, baseline="#1..#20", config=CriteriaConfig(builder=BUILDER))
    assert got.current.to_json() == want.current.to_json()
    assert got.criteria == want.criteria


@given(
    st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=50),
    st.floats(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=100),
)
def test_percentile_is_an_observed_monotone_value(
    values: list[float], q1: float, q2: float
) -> None:
    low, high = sorted((q1, q2))
    a, b = percentile(values, low), percentile(values, high)
    assert a in values
    assert b in values
    assert a is not None
    assert b is not None
    assert a <= b
    assert percentile(values, 100) == max(values)


def test_pass_rate_tolerance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gh = SyntheticGitHub(runs=60, switch_at=30, failure_rate=0.2, rerun_every=0)
    db = _ingest_synthetic(tmp_path / "t.db", gh)
    baseline, current = (
        sum(gh.run(i)["conclusion"] == "success" for i in range(a, b)) / 30
        for a, b in ((30, 60), (0, 30))
    )
    assert current < baseline  # this seed's data: the "current" half fails more often
    drop = baseline - current
    args = ["report", "--db", db, "--baseline", "#31..#60", "--current", "#1..#30"]

    def status(*extra: str) -> str:
        assert main([*args, "--format", "json", *extra]) == 0
        data = json.loads(capsys.readouterr().out)
        return str(next(c["status"] for c in data["criteria"] if c["id"] == "pass-rate"))

    assert status() == "fail"
    assert status("--pass-rate-tolerance", f"{drop * 100 + 0.5:.1f}%") == "pass"
    assert status("--pass-rate-tolerance", f"{drop * 100 - 0.5:.1f}%") == "fail"
