"""Fixtures for the telemetry tests: replay servers, a real PostgreSQL, a fake clock."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from buildonce.telemetry._replay import ReplayServer, SyntheticGitHub
from buildonce.telemetry.github import GitHubClient, RetryPolicy

DATA = Path(__file__).parent / "data"
REPO = "devantler-tech/ksail"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


class FakeClock:
    """Injectable clock + sleep: back-off is recorded, never waited."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def synthetic() -> Iterator[tuple[ReplayServer, SyntheticGitHub]]:
    gh = SyntheticGitHub(runs=40, switch_at=20, rerun_every=15)
    with ReplayServer(gh) as server:
        yield server, gh


def make_client(server: ReplayServer, clock: FakeClock, **policy: Any) -> GitHubClient:
    return GitHubClient(
        api_url=server.url,
        token="ghp_test_secret_token_value",
        sleep=clock.sleep,
        clock=clock.clock,
        policy=RetryPolicy(**policy),
    )


# -- PostgreSQL ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _find_initdb() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found)
    # Debian/Ubuntu keep the server binaries off PATH, one folder per major version.
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl as the postgres user; engines.md §5)."""
    initdb = _find_initdb()
    if initdb is None:
        pytest.skip("PostgreSQL is not installed (no initdb on PATH or in Debian's layout)")
    pg_ctl = initdb.parent / "pg_ctl"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'buildonce[postgres]')")
    run_as: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        run_as = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="buildonce-pg-"))
    if run_as:
        shutil.chown(base, "postgres")
    port = _free_port()
    data = base / "data"
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        subprocess.run(
            [
                *run_as,
                str(initdb),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            **quiet,
        )
        subprocess.run(
            [
                *run_as,
                str(pg_ctl),
                "-D",
                str(data),
                "-l",
                str(base / "server.log"),
                "-w",
                "-o",
                f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off "
                "-c full_page_writes=off -c synchronous_commit=off",
                "start",
            ],
            check=True,
            **quiet,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"could not start PostgreSQL: {exc}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*run_as, str(pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            **quiet,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same tests against SQLite and a real PostgreSQL (a fresh database each)."""
    if request.param == "sqlite":
        yield str(tmp_path / "telemetry.db")
        return
    server: str = request.getfixturevalue("postgres_server")
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(server + "/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
