"""Ingest against the replay server, on SQLite and a real PostgreSQL: idempotent, resumable."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildonce.cli import main
from buildonce.errors import ConfigError
from buildonce.telemetry._replay import RecordedRoutes, ReplayServer, SyntheticGitHub, json_reply
from buildonce.telemetry.db import SCHEMA_VERSION, Database, connect
from buildonce.telemetry.github import GitHubClient, RetryPolicy
from buildonce.telemetry.ingest import IngestOptions, ingest_github
from buildonce.telemetry.records import StepPatterns

from .conftest import REPO, FakeClock, load, make_client

_TABLES = {
    "runs": "SELECT run_id, attempt, run_number, status, conclusion, latest, run_started_at,"
    " head_branch, pr_numbers FROM runs ORDER BY run_id, attempt",
    "run_sync": "SELECT run_id, updated_at, jobs_synced FROM run_sync ORDER BY run_id",
    "jobs": "SELECT j.job_id, run_id, attempt, name, ci_status, duration_s, queue_s, cache_hit,"
    " rebuilt, smoke_ran, s.steps FROM jobs j LEFT JOIN job_steps s ON s.job_id = j.job_id"
    " ORDER BY j.job_id",
    "cache_entries": "SELECT cache_id, ref, key, size_bytes FROM cache_entries ORDER BY cache_id",
    "links": "SELECT job_id, cache_id, relation FROM job_cache_links"
    " ORDER BY job_id, cache_id, relation",
}


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {name: db.query(sql) for name, sql in _TABLES.items()}


class KilledError(BaseException):
    """Stands in for SIGKILL/Ctrl-C: a BaseException, so nothing may swallow it."""


class DyingClient(GitHubClient):
    """A client whose process 'dies' on its N-th request."""

    die_after: int = 10**9

    def _send(self, url: str, headers: Any) -> Any:
        if self.stats.requests >= self.die_after:
            raise KilledError
        return super()._send(url, headers)


def _ingest(db: Database, server: ReplayServer, clock: FakeClock, **options: Any) -> Any:
    with make_client(server, clock) as client:
        return ingest_github(db, client, IngestOptions(repo=REPO, **options))


def test_ingest_everything(
    db_url: str, synthetic: tuple[ReplayServer, SyntheticGitHub], fake_clock: FakeClock
) -> None:
    server, gh = synthetic
    with connect(db_url) as db:
        summary = _ingest(db, server, fake_clock)
        data = dump(db)
    reruns = [i for i in range(gh.runs) if gh.attempts(i) > 1]
    assert summary.listing_complete
    assert summary.runs_seen == gh.runs
    assert summary.attempts_fetched == len(reruns) == 2
    assert len(data["runs"]) == gh.runs + len(reruns)  # every attempt is a row
    assert sum(1 for r in data["runs"] if r[5] == 1) == gh.runs  # one latest per run
    expected_jobs = sum(len(gh.jobs(i)) for i in range(gh.runs))
    assert len(data["jobs"]) == summary.jobs == expected_jobs
    assert all(r[2] == 1 for r in data["run_sync"])
    assert len(data["cache_entries"]) == gh.cache_entries
    # 40 runs: 1 list page + 40 jobs pages + 2 attempts + caches, usage, storage-limit
    assert summary.requests == 1 + gh.runs + len(reruns) + 3
    before = [j for j in data["jobs"] if "system-test (" in j[3] and j[1] < 9_000_000_020]
    assert all(j[8] == 1 for j in before)  # every "before" leg compiled
    after = [j for j in data["jobs"] if "system-test (" in j[3] and j[1] >= 9_000_000_020]
    assert {j[7] for j in after} == {0, 1}  # hits and misses both seen
    assert all(j[9] == 1 for j in after)  # the smoke test ran in every "after" leg


def test_rerun_is_idempotent_and_conditional(
    db_url: str, synthetic: tuple[ReplayServer, SyntheticGitHub], fake_clock: FakeClock
) -> None:
    server, _gh = synthetic
    with connect(db_url) as db:
        _ingest(db, server, fake_clock)
        first = dump(db)
        again = _ingest(db, server, fake_clock)
        assert dump(db) == first
    assert again.pages_not_modified == 1  # If-None-Match on the first page answered 304
    assert again.jobs == 0
    assert again.requests == 1 + 3  # the list page, then the cache snapshot
    assert server.log[-4][1].get("if-none-match")


def test_new_runs_are_picked_up_incrementally(fake_clock: FakeClock, tmp_path: Path) -> None:
    gh = SyntheticGitHub(runs=150, rerun_every=0, cache_entries=0, jobs_per_run=6)
    with ReplayServer(gh) as server, connect(str(tmp_path / "t.db")) as db:
        gh.runs = 120
        first = _ingest(db, server, fake_clock, caches=False)
        assert first.pages == 2
        gh.runs = 150  # 30 new runs push everything down by 30 places
        second = _ingest(db, server, fake_clock, caches=False)
        assert second.runs_updated == 30
        assert second.pages == 2  # stopped at the first page holding only known runs
        assert second.jobs == sum(len(gh.jobs(i)) for i in range(120, 150))
        assert len(db.query("SELECT run_id FROM runs")) == 150


@pytest.fixture(scope="module")
def clean_dump(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Any, ...]]]:
    """What an uninterrupted ingest of the ``synthetic`` repository stores."""
    gh = SyntheticGitHub(runs=40, switch_at=20, rerun_every=15)
    with ReplayServer(gh) as server, connect(str(tmp_path_factory.mktemp("c") / "c.db")) as db:
        _ingest(db, server, FakeClock())
        return dump(db)


# 1: during the first list page; 2: first jobs page; 23: mid-jobs; 43: during the caches.
@pytest.mark.parametrize("die_after", [1, 2, 23, 43])
def test_killed_ingest_resumes_without_loss_or_duplicates(
    die_after: int,
    synthetic: tuple[ReplayServer, SyntheticGitHub],
    fake_clock: FakeClock,
    tmp_path: Path,
    clean_dump: dict[str, list[tuple[Any, ...]]],
) -> None:
    server, _gh = synthetic
    expected = clean_dump
    with connect(str(tmp_path / "killed.db")) as db:
        client = DyingClient(
            api_url=server.url, token="t", sleep=fake_clock.sleep, clock=fake_clock.clock
        )
        client.die_after = die_after
        with client, pytest.raises(KilledError):
            ingest_github(db, client, IngestOptions(repo=REPO))
        assert db.check() == []
        _ingest(db, server, fake_clock)
        assert dump(db) == expected


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_killed_ingest_resumes_on_postgresql(
    synthetic: tuple[ReplayServer, SyntheticGitHub],
    fake_clock: FakeClock,
    db_url: str,
    clean_dump: dict[str, list[tuple[Any, ...]]],
) -> None:
    server, _gh = synthetic
    with connect(db_url) as db:
        client = DyingClient(api_url=server.url, sleep=fake_clock.sleep, clock=fake_clock.clock)
        client.die_after = 19
        with client, pytest.raises(KilledError):
            ingest_github(db, client, IngestOptions(repo=REPO))
    with connect(db_url) as db:  # as a new process would: a new connection
        _ingest(db, server, fake_clock)
        assert dump(db) == clean_dump


def test_faults_during_ingest_change_nothing(
    synthetic: tuple[ReplayServer, SyntheticGitHub],
    tmp_path: Path,
    clean_dump: dict[str, list[tuple[Any, ...]]],
) -> None:
    server, _gh = synthetic
    expected = clean_dump
    server.faults.add("/actions/runs/9000000003/jobs", json_reply({"message": "x"}, 502))
    server.faults.add(
        "/actions/runs/9000000007/jobs",
        json_reply({"message": "secondary rate limit"}, 429, {"retry-after": "3"}),
    )
    server.faults.add("/actions/runs", json_reply({"message": "x"}, 500))
    clock = FakeClock()
    with connect(str(tmp_path / "faulty.db")) as db:
        summary = _ingest(db, server, clock)
        assert dump(db) == expected
    assert summary.waited_s == sum(clock.sleeps) == 1 + 1 + 3


def test_in_progress_run_is_completed_later(fake_clock: FakeClock, tmp_path: Path) -> None:
    gh = SyntheticGitHub(runs=5, rerun_every=0, in_progress_newest=True)
    with ReplayServer(gh) as server, connect(str(tmp_path / "t.db")) as db:
        _ingest(db, server, fake_clock, caches=False)
        pending = db.query("SELECT run_id FROM run_sync WHERE jobs_synced = 0")
        assert pending == [(gh.run_id(4),)]
        gh.in_progress_newest = False
        _ingest(db, server, fake_clock, caches=False)
        assert db.query("SELECT status FROM runs WHERE run_id = ?", (gh.run_id(4),)) == [
            ("completed",)
        ]
        assert db.query("SELECT COUNT(*) FROM run_sync WHERE jobs_synced = 0") == [(0,)]


def test_since_and_branch_filters(fake_clock: FakeClock, tmp_path: Path) -> None:
    gh = SyntheticGitHub(runs=72, rerun_every=0, cache_entries=0)  # one run an hour: 3 days
    with ReplayServer(gh) as server, connect(str(tmp_path / "t.db")) as db:
        _ingest(
            db,
            server,
            fake_clock,
            since="2025-10-03",
            branch="main",
            workflow="ci.yaml",
            caches=False,
        )
        rows = db.query("SELECT run_number, head_branch FROM runs")
    assert {b for _, b in rows} == {"main"}
    # runs 49.. were created on or after 2025-10-03; every fifth run is on a feature branch
    assert sorted(n for n, _ in rows) == [n for n in range(49, 73) if (n - 1) % 5]
    assert server.log[0][0].startswith(f"/repos/{REPO}/actions/workflows/ci.yaml/runs?")
    assert "created=%3E%3D2025-10-03" in server.log[0][0]


def test_recorded_responses(fake_clock: FakeClock, tmp_path: Path) -> None:
    """Replay of real recorded bodies: a run, its jobs, a re-run attempt, caches."""
    routes = RecordedRoutes()
    run = load("run_3881497935_PyGithub.json")
    rerun = load("run_26365060973_attempt_2.json")
    routes.add("/repos/o/r/actions/runs", {"total_count": 2, "workflow_runs": [rerun, run]})
    routes.add("/repos/o/r/actions/runs/3881497935/jobs", load("run_3881497935_jobs.json"))
    routes.add("/repos/o/r/actions/runs/26365060973/jobs", {"total_count": 0, "jobs": []})
    routes.add("/repos/o/r/actions/caches", load("SYNTHETIC_caches_list.json"))
    routes.add("/repos/o/r/actions/cache/usage", load("SYNTHETIC_cache_usage.json"))
    with ReplayServer(routes) as server, connect(str(tmp_path / "t.db")) as db:
        with make_client(server, fake_clock) as client:
            summary = ingest_github(db, client, IngestOptions(repo="o/r"))
        runs = db.query("SELECT run_id, attempt, latest, run_number FROM runs ORDER BY run_id")
        limit = db.query("SELECT limit_gb, limit_source, active_bytes FROM cache_snapshots")
    assert runs == [(3881497935, 1, 1, 930), (26365060973, 2, 1, rerun["run_number"])]
    assert summary.jobs == 5
    # attempts/1 of the re-run was not recorded: a 404 there is not fatal
    assert "/repos/o/r/actions/runs/26365060973/attempts/1" in [p for p, _ in server.log]
    assert limit == [(10.0, "default", 3358147723)]  # storage-limit 404 -> GitHub's default
    assert summary.cache_entries == 7


def test_schema_version_and_newer_database_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with connect(str(path)) as db:
        assert db.schema_version() == SCHEMA_VERSION
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(ConfigError, match="newer than this buildonce"):
        connect(str(path))


def test_migrations_on_postgresql(db_url: str) -> None:
    with connect(db_url) as db:
        assert db.schema_version() == SCHEMA_VERSION
    with connect(db_url) as db:  # a second open applies nothing and keeps the data
        assert db.migrate() == SCHEMA_VERSION


# -- CLI ----------------------------------------------------------------------------------
def test_cli_ingest_json(
    synthetic: tuple[ReplayServer, SyntheticGitHub],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, gh = synthetic
    monkeypatch.setenv("GITHUB_API_URL", server.url)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_cli_secret")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    assert main(["ingest", "github", "--db", str(tmp_path / "t.db"), "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["runs_seen"] == gh.runs
    assert "ghp_cli_secret" not in out + err
    assert server.log[0][1]["authorization"] == "Bearer ghp_cli_secret"


def test_cli_default_database_location(
    synthetic: tuple[ReplayServer, SyntheticGitHub],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    server, _gh = synthetic
    monkeypatch.setenv("GITHUB_API_URL", server.url)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GH_TOKEN", raising=False)
    assert main(["ingest", "github", "--repo", REPO, "--no-caches"]) == 0
    assert (tmp_path / "xdg" / "buildonce" / "telemetry.db").is_file()
    out, err = capsys.readouterr()
    assert "runs listed" in out
    # No token: it still works (public repositories), but says what that costs.
    assert err.startswith("buildonce: warning: GITHUB_TOKEN is not set")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--repo", "not-a-repo"], "--repo: 'not-a-repo' is not OWNER/NAME"),
        (["--repo", "o/r", "--since", "last week"], "--since: 'last week' is not a date"),
        (["--repo", "o/r", "--workflow", "a/b/c.yml"], "--workflow"),
        (["--repo", "o/r", "--compile-step", "("], "--compile-step: invalid regular expression"),
        ([], "--repo: no repository given"),
    ],
)
def test_cli_bad_input(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "github", "--db", str(tmp_path / "t.db"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("buildonce: error: ")
    assert message in err
    assert err.count("\n") == 1


def test_cli_unauthorised_never_prints_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = RecordedRoutes()
    routes.add("/repos/o/r/actions/runs", {"message": "Bad credentials"}, 401)
    with ReplayServer(routes) as server:
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        monkeypatch.setenv("GITHUB_TOKEN", "ghp_do_not_print_me")
        code = main(["ingest", "github", "--repo", "o/r", "--db", str(tmp_path / "t.db")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "HTTP 401 Bad credentials" in err
    assert "ghp_do_not_print_me" not in out + err
    assert err.count("\n") == 1


def test_cli_database_path_is_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "github", "--repo", "o/r", "--db", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_cli_unreachable_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["report", "--db", "postgresql://u:pw@127.0.0.1:1/x"])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot connect" in err
    assert ":pw@" not in err
    assert "u:***@" in err


def test_retry_budget_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = RecordedRoutes()
    routes.add(
        "/repos/o/r/actions/runs",
        {"message": "API rate limit exceeded"},
        403,
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "4102444800"},
    )
    with ReplayServer(routes) as server:
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        code = main(
            [
                "ingest",
                "github",
                "--repo",
                "o/r",
                "--db",
                str(tmp_path / "t.db"),
                "--max-wait",
                "10s",
            ]
        )
    assert code == 1
    assert "exceed the 10s budget" in capsys.readouterr().err
    assert RetryPolicy().max_total_wait_s == 900


def test_new_step_patterns_reclassify_stored_jobs(
    synthetic: tuple[ReplayServer, SyntheticGitHub], fake_clock: FakeClock, tmp_path: Path
) -> None:
    server, _gh = synthetic
    with connect(str(tmp_path / "t.db")) as db:
        first = _ingest(db, server, fake_clock)
        assert first.rederived == 0  # nothing stored yet
        rebuilt = db.query("SELECT COUNT(*) FROM jobs WHERE rebuilt = 1")[0][0]
        assert rebuilt > 0
        requests = len(server.log)
        # The user says compiles are steps named "Download dependencies" instead.
        patterns = StepPatterns(compile=r"download dependencies")
        with make_client(server, fake_clock) as client:
            second = ingest_github(db, client, IngestOptions(repo=REPO, patterns=patterns))
        assert second.rederived == len(db.query("SELECT job_id FROM jobs"))
        assert second.jobs == 0  # nothing was fetched again to get there
        assert len(server.log) - requests == 1 + 3  # the 304 list page and the cache snapshot
        legs_before = db.query(
            "SELECT COUNT(*) FROM jobs WHERE rebuilt = 1 AND name LIKE 'system-test (%'"
            " AND run_id < 9000000020"
        )[0][0]
        assert db.query("SELECT COUNT(*) FROM jobs WHERE rebuilt = 1")[0][0] == legs_before
        with make_client(server, fake_clock) as client:
            third = ingest_github(db, client, IngestOptions(repo=REPO, patterns=patterns))
        assert third.rederived == 0


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ReplayServer]:
    with ReplayServer(SyntheticGitHub(runs=40, switch_at=20, rerun_every=15)) as server:
        yield server


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kills=st.lists(st.integers(min_value=1, max_value=46), min_size=1, max_size=3))
def test_any_sequence_of_kills_then_a_full_ingest_loses_nothing(
    kills: list[int],
    shared_server: ReplayServer,
    clean_dump: dict[str, list[tuple[Any, ...]]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    clock = FakeClock()
    path = tmp_path_factory.mktemp("kills") / "t.db"
    with connect(str(path)) as db:
        for die_after in kills:
            client = DyingClient(api_url=shared_server.url, sleep=clock.sleep, clock=clock.clock)
            client.die_after = die_after
            # killed mid-way, or not at all when the kill point lies past the last request
            with client, contextlib.suppress(KilledError):
                ingest_github(db, client, IngestOptions(repo=REPO))
            assert db.check() == []
        _ingest(db, shared_server, clock)
        assert dump(db) == clean_dump


def test_incremental_listing_killed_half_way_is_finished_later(tmp_path: Path) -> None:
    """250 new runs since the last listing; the process dies after the first page of them."""
    gh = SyntheticGitHub(runs=370, rerun_every=0, cache_entries=0, jobs_per_run=6)
    with ReplayServer(gh) as server, connect(str(tmp_path / "t.db")) as db:
        gh.runs = 120
        _ingest(db, server, FakeClock(), caches=False)
        gh.runs = 370
        client = DyingClient(api_url=server.url, sleep=FakeClock().sleep)
        client.die_after = 1  # the first list page is committed, then the process dies
        with client, pytest.raises(KilledError):
            ingest_github(db, client, IngestOptions(repo=REPO, caches=False))
        assert len(db.query("SELECT run_id FROM runs")) == 220
        resumed = _ingest(db, server, FakeClock(), caches=False)
        assert len(db.query("SELECT run_id FROM runs")) == 370
        assert resumed.pages_not_modified == 0  # no 304 shortcut after a partial listing
        assert db.query("SELECT COUNT(*) FROM run_sync WHERE jobs_synced = 0") == [(0,)]
