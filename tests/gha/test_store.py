"""GhaStore behind the Store protocol, and the CLI on top of it (``prepare``, ``save``...)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard

from buildonce.cli import main
from buildonce.errors import ConfigError, StoreError
from buildonce.store import cache as c
from buildonce.store import open_store
from buildonce.store.cache import Scope
from buildonce.store.gha import GhaCache, GhaStore, RetryPolicy
from buildonce.store.gha_service import COMPRESSION_ZSTD, GhaConfig, cache_version
from gha.protocol_server import CacheServer, serve


@pytest.fixture
def runner_env(server: CacheServer, monkeypatch: pytest.MonkeyPatch) -> CacheServer:
    """The variables the buildonce action exports inside a job."""
    monkeypatch.setenv("ACTIONS_RESULTS_URL", server.base_url + "/")
    monkeypatch.setenv("ACTIONS_RUNTIME_TOKEN", server.token)
    monkeypatch.setenv("BUILDONCE_GHA_RETRY_DELAY", "0")
    monkeypatch.setenv("GITHUB_REF", "refs/heads/feature")
    return server


MAIN = Scope("refs/heads/feature", ("refs/heads/feature",))


def _write(path: Path, data: bytes, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.fixture
def ws_store(
    server: CacheServer, retry: RetryPolicy, workspace: Path, warnings_seen: list[str]
) -> Iterator[GhaStore]:
    s = GhaStore(
        GhaConfig(server.base_url + "/", server.token),
        retry=retry,
        block_size=4096,
        workspace=workspace,
        on_warning=warnings_seen.append,
    )
    yield s
    s.close()


def _only_blob(server: CacheServer, key: str) -> Any:
    entry = next(e for e in server.entries if e.key == key and e.finalized)
    return server.blobs[entry.blob]


def test_save_restore_round_trip_with_manifest(
    ws_store: GhaStore, server: CacheServer, workspace: Path
) -> None:
    app = _write(workspace / "bin" / "app", os.urandom(30_000), 0o751)
    saved = c.save(ws_store, [app], key="Linux-app-1", scope=MAIN, job="build-artifact")
    assert saved.created
    assert saved.record is not None
    assert saved.record.meta["fileSha256"] == hashlib.sha256(app.read_bytes()).hexdigest()
    # The version is actions/cache's for the path line as written, not a private one.
    [entry] = server.entries
    assert entry.version == cache_version([str(app)], COMPRESSION_ZSTD)
    expected = app.read_bytes()
    app.unlink()
    got = c.restore(ws_store, [app], key="Linux-app-1", scope=MAIN)
    assert got.cache_hit
    assert got.verified
    assert app.read_bytes() == expected
    assert app.stat().st_mode & 0o777 == 0o751
    assert got.record is not None
    assert got.record.origin_job == "build-artifact"
    assert got.record.scope == "refs/heads/feature"
    assert got.record.meta["fileSha256"] == hashlib.sha256(expected).hexdigest()
    assert got.record.sha256 == hashlib.sha256(_only_blob(server, "Linux-app-1").data).hexdigest()


def test_directories_links_and_several_paths(ws_store: GhaStore, workspace: Path) -> None:
    tree = workspace / "out"
    _write(tree / "lib" / "a.so", b"a" * 5000, 0o644)
    (tree / "lib" / "link").symlink_to("a.so")
    single = _write(workspace / "bin" / "tool", b"tool")
    lines = ["out", "bin/tool"]
    assert c.save(ws_store, [tree, single], key="k-tree", scope=MAIN, path_lines=lines).created
    shutil.rmtree(tree)
    single.unlink()
    got = c.restore(ws_store, [tree, single], key="k-tree", scope=MAIN, path_lines=lines)
    assert got.cache_hit
    assert got.verified
    assert (tree / "lib" / "a.so").read_bytes() == b"a" * 5000
    assert os.readlink(tree / "lib" / "link") == "a.so"
    assert single.read_bytes() == b"tool"


def test_other_path_lines_are_another_entry(ws_store: GhaStore, workspace: Path) -> None:
    app = _write(workspace / "bin" / "app", b"x")
    c.save(ws_store, [app], key="k-lines", scope=MAIN, path_lines=["bin/app"])
    # actions/cache hashes the lines as written: "./bin/app" is a different version.
    assert not c.restore(
        ws_store, [app], key="k-lines", scope=MAIN, path_lines=["./bin/app"]
    ).restored
    assert c.restore(ws_store, [app], key="k-lines", scope=MAIN, path_lines=["bin/app"]).cache_hit


def test_second_save_reports_already_exists(ws_store: GhaStore, workspace: Path) -> None:
    app = _write(workspace / "app", b"first")
    assert c.save(ws_store, [app], key="k", scope=MAIN).created
    _write(app, b"second")
    assert not c.save(ws_store, [app], key="k", scope=MAIN).created
    assert c.restore(ws_store, [app], key="k", scope=MAIN).cache_hit
    assert app.read_bytes() == b"first"


def test_exact_lookup_refuses_a_prefix_match(ws_store: GhaStore, workspace: Path) -> None:
    app = _write(workspace / "app", b"x")
    c.save(ws_store, [app], key="app-1-longer", scope=MAIN)
    assert not c.restore(ws_store, [app], key="app-1", scope=MAIN, exact=True).restored
    loose = c.restore(ws_store, [app], key="app-1", scope=MAIN)
    assert loose.restored
    assert not loose.cache_hit
    assert loose.matched_key == "app-1-longer"


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda d: d[:-700] + bytes([d[-700] ^ 0x80]) + d[-699:], id="bit-flip"),
        pytest.param(lambda d: d[: len(d) - 100], id="truncated"),
        pytest.param(lambda d: d + b"\0" * 512, id="extended"),
    ],
)
def test_corrupt_entry_is_a_miss_hidden_and_nothing_lands(
    ws_store: GhaStore, server: CacheServer, workspace: Path, transform: Any
) -> None:
    app = _write(workspace / "app", os.urandom(64_000))
    assert c.save(ws_store, [app], key="k-corrupt", scope=MAIN).created
    blob = _only_blob(server, "k-corrupt")
    blob.data = transform(blob.data)
    _write(app, b"previous contents")
    got = c.restore(ws_store, [app], key="k-corrupt", scope=MAIN)
    assert not got.restored
    assert any("quarantined" in w for w in got.warnings)
    assert app.read_bytes() == b"previous contents"
    assert sorted(p.name for p in workspace.iterdir()) == ["app"]
    # Hidden for the rest of this job: the next lookup is a miss, so prepare rebuilds.
    assert not c.restore(ws_store, [app], key="k-corrupt", scope=MAIN).restored


def test_manifest_mismatch_is_detected(
    ws_store: GhaStore, server: CacheServer, workspace: Path
) -> None:
    """A content change that keeps the zstd frame valid is caught by the tree digest."""
    app = _write(workspace / "app", b"A" * 4096)
    c.save(ws_store, [app], key="k-swap", scope=MAIN)
    blob = _only_blob(server, "k-swap")
    raw = zstandard.ZstdDecompressor().decompressobj().decompress(blob.data)
    blob.data = zstandard.ZstdCompressor().compress(raw.replace(b"A" * 4096, b"B" * 4096))
    got = c.restore(ws_store, [app], key="k-swap", scope=MAIN)
    assert not got.restored
    assert any("manifest says" in w for w in got.warnings)
    assert app.read_bytes() == b"A" * 4096


def test_archive_naming_other_paths_is_rejected(
    ws_store: GhaStore, server: CacheServer, workspace: Path
) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("../evil")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"pwned"))
    app = workspace / "app"
    server.seed(
        "k-evil",
        ws_store.version([str(app)]),
        zstandard.ZstdCompressor().compress(buffer.getvalue()),
    )
    got = c.restore(ws_store, [app], key="k-evil", scope=MAIN)
    assert not got.restored
    assert not (workspace.parent / "evil").exists()
    assert not app.exists()


def test_entry_without_manifest_restores_unverified_with_computed_sha256(
    ws_store: GhaStore, gha: GhaCache, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What actions/cache wrote (GhaCache writes the same bytes, no manifest)."""
    data = os.urandom(10_000)
    app = _write(workspace / "bin" / "app", data)
    gha.save("k-foreign", ["bin/app"])
    app.unlink()
    got = c.restore(ws_store, [app], key="k-foreign", scope=MAIN, path_lines=["bin/app"])
    assert got.cache_hit
    assert not got.verified
    assert got.record is not None
    assert got.record.meta["fileSha256"] == hashlib.sha256(data).hexdigest()
    assert "nothing to verify it against" in got.to_json()["verification"]
    assert app.read_bytes() == data


def test_outage_is_a_miss_with_a_warning(
    ws_store: GhaStore, server: CacheServer, workspace: Path, warnings_seen: list[str]
) -> None:
    server.inject("*", 503, times=1000)
    got = c.restore(ws_store, [workspace / "app"], key="k", scope=MAIN)
    assert not got.restored
    assert any("treating it as a cache miss" in w for w in warnings_seen)


def test_listing_and_deleting_explain_the_service_limits(ws_store: GhaStore) -> None:
    with pytest.raises(StoreError, match="gh cache list"):
        ws_store.entries()


def test_open_store_selects_gha_when_the_runner_exports_the_token(
    runner_env: CacheServer,
) -> None:
    store = open_store()
    try:
        assert isinstance(store, GhaStore)
    finally:
        store.close()


@pytest.mark.parametrize("url", ["gha", "gha:", "GHA", "gha://"])
def test_every_spelling_of_gha_opens_the_gha_store(runner_env: CacheServer, url: str) -> None:
    store = open_store(url)
    try:
        assert isinstance(store, GhaStore)
    finally:
        store.close()


def test_client_warnings_take_the_cli_warning_path_and_annotate_in_actions(
    runner_env: CacheServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    runner_env.inject("*", 503, times=1000)
    code = main(["restore", "--store", "gha", "--key", "k", "--json", str(tmp_path / "app")])
    captured = capsys.readouterr()
    assert code == 0
    assert "buildonce: warning: " in captured.err
    assert "treating it as a cache miss" in captured.err
    assert "::warning title=buildonce::" in captured.err
    assert "Traceback" not in captured.err
    assert json.loads(captured.out)["restored"] is False  # stdout stays pure JSON


def test_prepare_treats_an_unreachable_store_as_a_miss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every backend: here an S3 endpoint nobody listens on; prepare warns and builds."""
    pytest.importorskip("boto3")
    url = "s3://bucket/p?endpoint=http://127.0.0.1:9&region=us-east-1"
    code = main(
        [
            *("prepare", "--store", url, "--root", str(tmp_path), "--binary", "bin/app"),
            *("--key", "Linux-app-k", "--build", _fake_build(tmp_path), "--json"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (tmp_path / "builds.log").read_text() == "x"
    assert "buildonce: warning: cache unavailable, treating as a miss" in captured.err


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
    runner_env: CacheServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build = _fake_build(tmp_path)
    for job in ("build-artifact", "system-test"):
        # Each job is a fresh runner with its own checkout at the workspace path.
        root = tmp_path / job
        root.mkdir()
        monkeypatch.setenv("GITHUB_WORKSPACE", str(root))
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


def test_an_expired_download_url_is_refreshed_once(
    ws_store: GhaStore, server: CacheServer, workspace: Path, warnings_seen: list[str]
) -> None:
    app = _write(workspace / "app", os.urandom(20_000))
    expected = app.read_bytes()
    assert c.save(ws_store, [app], key="k-exp", scope=MAIN).created
    app.unlink()
    server.expire_next = 1  # the URL the lookup hands out is already stale
    got = c.restore(ws_store, [app], key="k-exp", scope=MAIN)
    assert got.cache_hit, got.warnings
    assert got.verified
    assert app.read_bytes() == expected
    assert server.calls("GetCacheEntryDownloadURL") == 2
    assert any("fresh download URL" in w for w in warnings_seen)


def test_a_download_that_keeps_failing_is_a_miss_but_not_hidden(
    ws_store: GhaStore, server: CacheServer, workspace: Path
) -> None:
    app = _write(workspace / "app", os.urandom(20_000))
    expected = app.read_bytes()
    assert c.save(ws_store, [app], key="k-net", scope=MAIN).created
    server.inject("blob-get", 0, times=1000)  # every ranged GET loses its connection
    got = c.restore(ws_store, [app], key="k-net", scope=MAIN)
    assert not got.restored
    assert any("could not download" in w for w in got.warnings)
    assert app.read_bytes() == expected
    assert sorted(p.name for p in workspace.iterdir()) == ["app"]
    server.faults.clear()
    # A network failure is not corruption: the entry stays usable in this job.
    app.unlink()
    assert c.restore(ws_store, [app], key="k-net", scope=MAIN).cache_hit
    assert app.read_bytes() == expected
