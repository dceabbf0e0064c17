"""Fixtures for the GitHub Actions cache tests: the local protocol server and a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from buildonce.store.gha import GhaCache, GhaConfig, RetryPolicy
from gha.protocol_server import CacheServer, serve
from store.conftest import clock  # noqa: F401  (the store contract's fake clock fixture)


@pytest.fixture
def server() -> Iterator[CacheServer]:
    yield from serve(CacheServer())


@pytest.fixture
def sleeps() -> list[float]:
    """Every delay the client asked for, instead of actually sleeping."""
    return []


@pytest.fixture
def retry(sleeps: list[float]) -> RetryPolicy:
    return RetryPolicy(max_attempts=4, base_delay=0.01, max_retry_after=30.0, sleep=sleeps.append)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def warnings_seen() -> list[str]:
    return []


@pytest.fixture
def gha(
    server: CacheServer, retry: RetryPolicy, workspace: Path, warnings_seen: list[str]
) -> Iterator[GhaCache]:
    env = {
        "ACTIONS_RESULTS_URL": server.base_url + "/",
        "ACTIONS_RUNTIME_TOKEN": server.token,
        "GITHUB_WORKSPACE": str(workspace),
        "HOME": str(workspace.parent / "home"),
    }
    cache = GhaCache(
        GhaConfig.from_env(env),
        retry=retry,
        env=env,
        block_size=64 * 1024,
        on_warning=warnings_seen.append,
    )
    with cache:
        yield cache
