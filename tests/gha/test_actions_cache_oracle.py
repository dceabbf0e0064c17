"""The real actions/cache client against the local protocol server, both directions.

``tests/gha/oracle`` pins ``@actions/cache`` (the library inside actions/cache v4+, install
with ``npm ci --prefix tests/gha/oracle``).  It does its own version computation, runs GNU
tar + zstd like on a runner, and talks Twirp + Azure blob to our server.  If buildonce and
it disagree on the version, the archive layout or the protocol, these tests fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from buildonce.cli import main
from buildonce.store.gha import GhaCache
from gha.protocol_server import CacheServer

ORACLE = Path(__file__).resolve().parent / "oracle"

pytestmark = pytest.mark.oracle


@pytest.fixture
def actions_cache(server: CacheServer, workspace: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (ORACLE / "node_modules" / "@actions" / "cache").is_dir():
        pytest.skip("@actions/cache is not installed: npm ci --prefix tests/gha/oracle")
    for tool in ("tar", "zstd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing; actions/cache needs it on the runner too")

    def run(command: str, paths: list[str], key: str, *restore_keys: str) -> object:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(workspace.parent / "home"),
            "ACTIONS_RESULTS_URL": server.base_url + "/",
            "ACTIONS_RUNTIME_TOKEN": server.token,
            "ACTIONS_CACHE_SERVICE_V2": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        }
        proc = subprocess.run(
            [node, str(ORACLE / "cache.mjs"), command, json.dumps(paths), key, *restore_keys],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])["result"]

    return run


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _make(workspace: Path) -> dict[str, bytes]:
    (workspace / ".cache" / "ksail").mkdir(parents=True)
    (workspace / ".cache" / "ksail" / "ksail").write_bytes(os.urandom(40_000) + b"\0" * 40_000)
    (workspace / "out" / "lib").mkdir(parents=True)
    (workspace / "out" / "lib" / "a.so").write_bytes(b"shared object")
    return _files(workspace)


PATHS = [".cache/ksail", "out"]


def test_actions_cache_save_restores_with_buildonce(
    actions_cache,
    gha: GhaCache,
    workspace: Path,  # type: ignore[no-untyped-def]
) -> None:
    expected = _make(workspace)
    assert actions_cache("save", PATHS, "Linux-ksail-bin-1.25.4-abc") is not None
    # The version actions/cache computed is the one buildonce computes for the same lines.
    shutil.rmtree(workspace / ".cache")
    shutil.rmtree(workspace / "out")
    result = gha.restore("Linux-ksail-bin-1.25.4-abc", PATHS)
    assert result is not None
    assert result.exact
    assert _files(workspace) == expected


def test_buildonce_save_restores_with_actions_cache(
    actions_cache,
    gha: GhaCache,
    workspace: Path,  # type: ignore[no-untyped-def]
) -> None:
    expected = _make(workspace)
    gha.save("Linux-ksail-bin-1.25.4-def", PATHS)
    shutil.rmtree(workspace / ".cache")
    shutil.rmtree(workspace / "out")
    matched = actions_cache("restore", PATHS, "Linux-ksail-bin-1.25.4-def")
    assert matched == "Linux-ksail-bin-1.25.4-def"
    assert _files(workspace) == expected


def test_actions_cache_sees_buildonce_entries_by_prefix_and_misses_other_paths(
    actions_cache,
    gha: GhaCache,
    workspace: Path,  # type: ignore[no-untyped-def]
) -> None:
    _make(workspace)
    gha.save("Linux-ksail-bin-1.25.4-xyz", PATHS)
    # Same key, paths in another order: another version, so actions/cache misses too.
    assert actions_cache("restore", list(reversed(PATHS)), "Linux-ksail-bin-1.25.4-xyz") is None
    # A restore key that prefixes ours finds it, as the service's matching rules say.
    assert actions_cache("restore", PATHS, "other", "Linux-ksail-bin-") == (
        "Linux-ksail-bin-1.25.4-xyz"
    )


# -- the CLI's gha store (buildonce save / restore / prepare) and actions/cache ---------------
@pytest.fixture
def cli_env(server: CacheServer, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> CacheServer:
    """What the buildonce action exports in a job: the service, the token, the workspace."""
    monkeypatch.setenv("ACTIONS_RESULTS_URL", server.base_url + "/")
    monkeypatch.setenv("ACTIONS_RUNTIME_TOKEN", server.token)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(workspace))
    monkeypatch.setenv("BUILDONCE_GHA_RETRY_DELAY", "0")
    monkeypatch.chdir(workspace)
    return server


def test_cli_save_restores_with_actions_cache_and_gnu_tar_reads_it_silently(
    actions_cache,  # type: ignore[no-untyped-def]
    cli_env: CacheServer,
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = _make(workspace)
    assert main(["save", "--store", "gha", "--key", "Linux-cli-1", *PATHS]) == 0, (
        capsys.readouterr().err
    )
    # GNU tar extracts the stored archive (manifest included) with exit 0 and no message.
    entry = next(e for e in cli_env.entries if e.key == "Linux-cli-1")
    blob = cli_env.blobs[entry.blob].data
    assert blob is not None
    (tmp_path / "cache.tzst").write_bytes(blob)
    out = tmp_path / "gnu"
    out.mkdir()
    tar = subprocess.run(
        ["tar", "-xf", str(tmp_path / "cache.tzst"), "-P", "-C", str(out),
         "--use-compress-program", "unzstd"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert (tar.returncode, tar.stdout, tar.stderr) == (0, "", "")
    assert _files(out) == expected
    shutil.rmtree(workspace / ".cache")
    shutil.rmtree(workspace / "out")
    assert actions_cache("restore", PATHS, "Linux-cli-1") == "Linux-cli-1"
    assert _files(workspace) == expected


def test_cli_prepare_entry_restores_with_actions_cache(
    actions_cache,  # type: ignore[no-untyped-def]
    cli_env: CacheServer,
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = workspace / "bin" / "app"
    build = f"{sys.executable} -c \"import pathlib,sys; p=pathlib.Path('bin/app'); "
    build += (
        "p.parent.mkdir(exist_ok=True); p.write_text('#!' + sys.executable + '\\nprint(1)\\n')\""
    )
    code = main(["prepare", "--binary", "bin/app", "--key", "Linux-app-bin-1", "--build", build])
    assert code == 0, capsys.readouterr().err
    data = app.read_bytes()
    app.unlink()
    assert actions_cache("restore", ["bin/app"], "Linux-app-bin-1") == "Linux-app-bin-1"
    assert app.read_bytes() == data


def test_actions_cache_entry_restores_with_cli_restore_and_prepare_unverified(
    actions_cache,  # type: ignore[no-untyped-def]
    cli_env: CacheServer,
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = _make(workspace)
    assert actions_cache("save", PATHS, "Linux-ac-1") is not None
    shutil.rmtree(workspace / ".cache")
    shutil.rmtree(workspace / "out")
    capsys.readouterr()
    assert main(["restore", "--store", "gha", "--key", "Linux-ac-1", "--json", *PATHS]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cacheHit"] is True
    assert report["verified"] is False
    assert "nothing to verify it against" in report["verification"]
    assert _files(workspace) == expected

    # prepare: the binary's sha256 is computed and reported, flagged as unverified.
    app = workspace / "bin" / "app"
    app.parent.mkdir()
    app.write_text(f"#!{sys.executable}\nprint('app 1.0')\n")
    app.chmod(0o755)
    assert actions_cache("save", ["bin/app"], "Linux-app-ac") is not None
    data = app.read_bytes()
    app.unlink()
    code = main(["prepare", "--binary", "bin/app", "--key", "Linux-app-ac", "--json"])
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert (report["cacheHit"], report["verified"]) == (True, False)
    assert report["sha256"] == hashlib.sha256(data).hexdigest()
    assert app.read_bytes() == data
