"""The real actions/cache client against the local protocol server, both directions.

``tests/gha/oracle`` pins ``@actions/cache`` (the library inside actions/cache v4+, install
with ``npm ci --prefix tests/gha/oracle``).  It does its own version computation, runs GNU
tar + zstd like on a runner, and talks Twirp + Azure blob to our server.  If buildonce and
it disagree on the version, the archive layout or the protocol, these tests fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

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
