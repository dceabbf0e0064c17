"""GhaStore behind the Store protocol, and the CLI on top of it (``prepare``, ``save``...)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from buildonce.cli import main
from buildonce.errors import ConfigError, StoreError
from buildonce.store import open_store
from buildonce.store.base import EntryRecord, Lookup
from buildonce.store.gha import STORE_VERSION, GhaStore, RetryPolicy
from buildonce.store.gha_service import GhaConfig
from gha.protocol_server import CacheServer, serve


@pytest.fixture
def store(server: CacheServer, retry: RetryPolicy) -> Iterator[GhaStore]:
    s = GhaStore(GhaConfig(server.base_url + "/", server.token), retry=retry, block_size=4096)
    yield s
    s.close()


@pytest.fixture
def runner_env(server: CacheServer, monkeypatch: pytest.MonkeyPatch) -> CacheServer:
    """The variables the buildonce action exports inside a job."""
    monkeypatch.setenv("ACTIONS_RESULTS_URL", server.base_url + "/")
    monkeypatch.setenv("ACTIONS_RUNTIME_TOKEN", server.token)
    monkeypatch.setenv("BUILDONCE_GHA_RETRY_DELAY", "0")
    monkeypatch.setenv("GITHUB_REF", "refs/heads/feature")
    return server


def _record(key: str, data: bytes, kind: str = "binary") -> EntryRecord:
    return EntryRecord(
        key=key,
        scope="refs/heads/feature",
        kind=kind,
        paths=("bin/app",),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content_size=len(data),
        compression="zstd",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        origin_job="build-artifact",
    )


def _publish(store: GhaStore, tmp_path: Path, key: str, data: bytes, kind: str = "binary") -> None:
    archive = tmp_path / f"{key}.tar"
    archive.write_bytes(data)
    moved: list[int] = []
    result = store.publish(_record(key, data, kind), archive, moved.append)
    assert result.created
    assert sum(moved) == len(data)


def test_publish_lookup_download_round_trip(store: GhaStore, tmp_path: Path) -> None:
    data = os.urandom(20_000)
    _publish(store, tmp_path, "Linux-app-1", data)
    record = store.lookup(Lookup(("Linux-app-1",), ("refs/heads/feature",), exact=True))
    assert record is not None
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert record.origin_job == "build-artifact"
    sink = io.BytesIO()
    store.download(record, sink, lambda _n: None)
    assert sink.getvalue() == data


def test_expired_urls_are_refreshed_for_lookup_and_download(
    store: GhaStore, server: CacheServer, tmp_path: Path
) -> None:
    data = os.urandom(10_000)
    _publish(store, tmp_path, "k-exp", data)
    server.expire_next = 1  # the URL handed out for the header probe is already stale
    record = store.lookup(Lookup(("k-exp",), ("r",), exact=True))
    assert record is not None
    assert server.calls("GetCacheEntryDownloadURL") == 2
    # The URL kept for the download goes stale too (a long build ran in between).
    url, offset = store._located[record.entry_id]
    store._located[record.entry_id] = (url.replace("sig=", "sig=0"), offset)
    sink = io.BytesIO(b"prefix")
    sink.seek(0, io.SEEK_END)
    store.download(record, sink, lambda _n: None)
    assert sink.getvalue() == b"prefix" + data


def test_second_publish_reports_the_existing_entry(store: GhaStore, tmp_path: Path) -> None:
    _publish(store, tmp_path, "k", b"first")
    archive = tmp_path / "again"
    archive.write_bytes(b"second")
    result = store.publish(_record("k", b"second"), archive, lambda _n: None)
    assert not result.created
    assert result.record is not None
    assert result.record.sha256 == hashlib.sha256(b"first").hexdigest()


def test_exact_lookup_refuses_a_prefix_match(store: GhaStore, tmp_path: Path) -> None:
    _publish(store, tmp_path, "app-1-longer", b"x")
    assert store.lookup(Lookup(("app-1",), ("refs/heads/feature",), exact=True)) is None
    loose = store.lookup(Lookup(("app-1",), ("refs/heads/feature",)))
    assert loose is not None
    assert loose.key == "app-1-longer"


def test_kind_filter(store: GhaStore, tmp_path: Path) -> None:
    _publish(store, tmp_path, "gomod-k", b"x", kind="gomod")
    assert store.lookup(Lookup(("gomod-k",), ("r",), kind="binary")) is None
    assert store.lookup(Lookup(("gomod-k",), ("r",), kind="gomod")) is not None


def test_store_entries_never_collide_with_actions_cache_entries(
    store: GhaStore, server: CacheServer, tmp_path: Path
) -> None:
    _publish(store, tmp_path, "shared-key", b"x")
    assert [e.version for e in server.entries] == [STORE_VERSION]


def test_foreign_entry_is_an_integrity_error(store: GhaStore, server: CacheServer) -> None:
    server.seed("foreign", STORE_VERSION, b"not a buildonce entry")
    with pytest.raises(StoreError, match="not written by buildonce"):
        store.lookup(Lookup(("foreign",), ("r",)))


def test_listing_and_deleting_explain_the_service_limits(store: GhaStore) -> None:
    with pytest.raises(StoreError, match="gh cache list"):
        store.entries()
    with pytest.raises(StoreError, match="gh cache delete"):
        store.delete(_record("k", b""))


def test_quarantine_hides_the_entry_in_this_process(store: GhaStore, tmp_path: Path) -> None:
    _publish(store, tmp_path, "bad", b"x")
    record = store.lookup(Lookup(("bad",), ("r",)))
    assert record is not None
    store.quarantine(record, "sha256 mismatch")
    assert store.lookup(Lookup(("bad",), ("r",))) is None


def test_open_store_selects_gha_when_the_runner_exports_the_token(
    runner_env: CacheServer,
) -> None:
    store = open_store()
    try:
        assert isinstance(store, GhaStore)
    finally:
        store.close()


def test_open_store_gha_without_token_says_how_to_get_it() -> None:
    with pytest.raises(ConfigError, match="JavaScript"):
        open_store("gha:")


def test_bad_retry_setting_is_a_config_error(
    runner_env: CacheServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUILDONCE_GHA_ATTEMPTS", "lots")
    with pytest.raises(ConfigError, match="BUILDONCE_GHA_ATTEMPTS"):
        open_store("gha:")


# -- through the CLI --------------------------------------------------------------------------
def _fake_build(tmp_path: Path) -> str:
    """A build command that writes a runnable 'binary' (a Python script) and counts runs."""
    script = tmp_path / "build.py"
    script.write_text(
        "import pathlib, sys\n"
        "out = pathlib.Path(sys.argv[1]); out.parent.mkdir(parents=True, exist_ok=True)\n"
        f"out.write_text('#!{sys.executable}\\nprint(\"app 1.0\")\\n')\n"
        "log = pathlib.Path(sys.argv[2]); log.write_text(log.read_text() + 'x' "
        "if log.exists() else 'x')\n"
    )
    return f"{sys.executable} {script} bin/app {tmp_path / 'builds.log'}"


def test_cli_prepare_builds_saves_then_next_job_restores(
    runner_env: CacheServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build = _fake_build(tmp_path)
    for job in ("build-artifact", "system-test"):
        root = tmp_path / job
        root.mkdir()
        code = main(
            [
                *("prepare", "--root", str(root), "--binary", "bin/app"),
                *("--key", "Linux-app-1.25.4-k", "--build", build, "--json"),
            ]
        )
        assert code == 0, capsys.readouterr().err
        assert (root / "bin" / "app").is_file()
    assert (tmp_path / "builds.log").read_text() == "x"  # built once, restored once
    assert runner_env.calls("FinalizeCacheEntryUpload") == 1


def test_cli_prepare_builds_when_the_service_is_down(tmp_path: Path) -> None:
    # A real process, so the warning takes the path a user sees (stderr), not pytest's capture.
    state = CacheServer()
    state.inject("*", 503, times=1000)
    for srv in serve(state):
        env = {
            **os.environ,
            "ACTIONS_RESULTS_URL": srv.base_url + "/",
            "ACTIONS_RUNTIME_TOKEN": srv.token,
            "BUILDONCE_GHA_RETRY_DELAY": "0",
        }
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "buildonce", "prepare", "--root", str(tmp_path)),
                *("--binary", "bin/app", "--key", "Linux-app-k", "--build", _fake_build(tmp_path)),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "builds.log").read_text() == "x"
        assert "503" in proc.stderr
        assert "treating it as a cache miss" in proc.stderr
        assert "could not save" in proc.stderr  # the save fails too, as a warning
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ACTIONS_RESULTS_URL": "results.example"}, "not an http(s) URL"),
        ({"BUILDONCE_GHA_ATTEMPTS": "0"}, "BUILDONCE_GHA_ATTEMPTS='0' is not a number between 1"),
        ({"BUILDONCE_GHA_MAX_RETRY_AFTER": "-5"}, "BUILDONCE_GHA_MAX_RETRY_AFTER"),
    ],
)
def test_cli_bad_gha_settings_are_one_line_usage_errors(
    *,
    runner_env: CacheServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["restore", "--store", "gha:", "--key", "k", str(tmp_path / "bin")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert message in err
    assert runner_env.requests == []


def test_cli_without_runtime_token_is_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["restore", "--store", "gha:", "--key", "k", str(tmp_path / "bin")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("buildonce: error: ")
    assert "ACTIONS_RUNTIME_TOKEN" in err
    assert "JavaScript" in err
