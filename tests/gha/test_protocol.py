"""GhaCache against the local protocol server: matching, conflicts, retries and faults."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildonce.errors import (
    CacheKeyError,
    ConfigError,
    InputError,
    IntegrityError,
    UnsafeArchiveError,
)
from buildonce.store.gha import GhaCache
from buildonce.store.gha_service import (
    BlobClient,
    EntryExistsError,
    GhaConfig,
    HttpTransport,
    RetryPolicy,
    ServiceUnavailableError,
    parse_retry_after,
)
from gha.protocol_server import READ, WRITE, CacheServer, serve

PATHS = [".cache/app"]


def _binary(workspace: Path, content: bytes, rel: str = ".cache/app") -> Path:
    path = workspace / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(0o755)
    return path


def _payload(size: int = 200_000) -> bytes:
    # Half random, half repetitive: realistic for a binary and spans several 64 KiB blocks.
    return os.urandom(size // 2) + bytes(range(256)) * (size // 512)


def test_save_then_restore_round_trips_bytes_and_mode(gha: GhaCache, workspace: Path) -> None:
    content = _payload()
    binary = _binary(workspace, content)
    saved = gha.save("Linux-app-1.25.4-abc", PATHS)
    assert saved.members == (".cache/app",)
    assert saved.content_bytes == len(content)
    binary.unlink()
    restored = gha.restore("Linux-app-1.25.4-abc", PATHS)
    assert restored is not None
    assert restored.exact
    assert restored.archive_bytes == saved.archive_bytes
    assert binary.read_bytes() == content
    assert binary.stat().st_mode & 0o777 == 0o755


def test_directory_with_symlink_round_trips(gha: GhaCache, workspace: Path) -> None:
    _binary(workspace, b"one", "out/bin/app")
    _binary(workspace, b"two", "out/share/data.txt")
    (workspace / "out" / "latest").symlink_to("bin/app")
    gha.save("k-dir", ["out"])
    for p in sorted((workspace / "out").rglob("*"), reverse=True):
        p.unlink() if not p.is_dir() or p.is_symlink() else p.rmdir()
    result = gha.restore("k-dir", ["out"])
    assert result is not None
    assert set(result.members) >= {"out", "out/bin/app", "out/latest", "out/share/data.txt"}
    assert os.readlink(workspace / "out" / "latest") == "bin/app"
    assert (workspace / "out" / "latest").read_bytes() == b"one"


def test_miss_returns_none_and_downloads_nothing(gha: GhaCache, server: CacheServer) -> None:
    assert gha.restore("absent", PATHS) is None
    assert server.calls("blob-get") == 0


def test_different_paths_are_a_different_version(gha: GhaCache, workspace: Path) -> None:
    _binary(workspace, b"x")
    gha.save("k", PATHS)
    # Same key, path spelled differently: the version differs, so the service answers miss.
    assert gha.restore("k", ["./.cache/app"]) is None
    assert gha.restore("k", PATHS) is not None


def test_prefix_match_newest_wins_and_is_not_a_cache_hit(gha: GhaCache, workspace: Path) -> None:
    _binary(workspace, b"old")
    gha.save("app-1-a", PATHS)
    _binary(workspace, b"new")
    gha.save("app-1-b", PATHS)
    result = gha.restore("app-1", PATHS)
    assert result is not None
    assert result.matched_key == "app-1-b"
    assert not result.exact  # actions/cache reports cache-hit=false for a prefix match
    assert (workspace / ".cache/app").read_bytes() == b"new"


def test_restore_keys_are_tried_in_order(gha: GhaCache, workspace: Path) -> None:
    _binary(workspace, b"fallback")
    gha.save("deps-v1-zzz", PATHS)
    result = gha.restore("deps-v2-aaa", PATHS, restore_keys=["deps-v2-", "deps-v1-"])
    assert result is not None
    assert result.matched_key == "deps-v1-zzz"


def test_default_branch_scope_is_read_after_the_current_ref(workspace: Path) -> None:
    state = CacheServer(scopes=(("refs/pull/7/merge", READ | WRITE), ("refs/heads/main", READ)))
    version_paths = PATHS
    for srv in serve(state):
        env = {
            "ACTIONS_RESULTS_URL": srv.base_url,
            "ACTIONS_RUNTIME_TOKEN": srv.token,
            "GITHUB_WORKSPACE": str(workspace),
        }
        with GhaCache.from_env(env) as cache:
            _binary(workspace, b"from-main")
            # Entry written by a push to main earlier: visible read-only from the PR.
            buf = io.BytesIO()
            from buildonce.store.archive_gha import write_archive

            write_archive(version_paths, workspace, buf)
            srv.seed("k", cache.version(version_paths), buf.getvalue(), scope="refs/heads/main")
            (workspace / ".cache/app").unlink()
            result = cache.restore("k", version_paths)
            assert result is not None
            assert (workspace / ".cache/app").read_bytes() == b"from-main"
            # The PR's own save goes to its merge ref, not to main.
            cache.save("k", version_paths)
            assert [e.scope for e in srv.entries if e.key == "k"] == [
                "refs/heads/main",
                "refs/pull/7/merge",
            ]


def test_saving_an_existing_key_is_a_409_conflict(gha: GhaCache, workspace: Path) -> None:
    _binary(workspace, b"first")
    gha.save("same-key", PATHS)
    _binary(workspace, b"second")
    with pytest.raises(EntryExistsError, match="already exists"):
        gha.save("same-key", PATHS)
    gha.restore("same-key", PATHS)
    assert (workspace / ".cache/app").read_bytes() == b"first"  # immutable


def test_429_is_retried_after_retry_after(
    gha: GhaCache,
    server: CacheServer,
    workspace: Path,
    sleeps: list[float],
    warnings_seen: list[str],
) -> None:
    _binary(workspace, b"x")
    server.inject("CreateCacheEntry", 429, times=2, headers={"Retry-After": "7"})
    gha.save("k429", PATHS)
    assert sleeps == [7.0, 7.0]
    assert server.calls("CreateCacheEntry") == 3
    assert any("429" in w for w in warnings_seen)


def test_429_asking_to_wait_too_long_fails_fast(
    gha: GhaCache, server: CacheServer, workspace: Path, sleeps: list[float]
) -> None:
    _binary(workspace, b"x")
    server.inject("CreateCacheEntry", 429, headers={"Retry-After": "3600"})
    with pytest.raises(ServiceUnavailableError, match="3600 s"):
        gha.save("k", PATHS)
    assert sleeps == []
    assert not [e for e in server.entries if e.finalized]


def test_5xx_is_retried_with_backoff(
    gha: GhaCache, server: CacheServer, workspace: Path, sleeps: list[float]
) -> None:
    _binary(workspace, b"x")
    gha.save("k5", PATHS)
    server.inject("GetCacheEntryDownloadURL", 503, times=2)
    server.inject("blob-get", 500, times=1)
    assert gha.restore("k5", PATHS) is not None
    assert len(sleeps) == 3
    assert sleeps[1] > sleeps[0]  # exponential backoff


def test_outage_exhausts_the_bound_then_raises_unavailable(
    gha: GhaCache, server: CacheServer, sleeps: list[float]
) -> None:
    server.inject("*", 502, times=100)
    with pytest.raises(ServiceUnavailableError, match="after 4 attempts"):
        gha.restore("k", PATHS)
    assert len(sleeps) == 3  # bounded: max_attempts - 1 waits


def test_unreachable_service_raises_unavailable(workspace: Path, retry: RetryPolicy) -> None:
    env = {"ACTIONS_RESULTS_URL": "http://127.0.0.1:9/", "ACTIONS_RUNTIME_TOKEN": "t"}
    with (
        GhaCache.from_env(env, retry=retry) as cache,
        pytest.raises(ServiceUnavailableError, match=r"unavailable|failed after"),
    ):
        cache.restore("k", PATHS, workspace=workspace)


def test_interrupted_upload_finalizes_nothing_and_restore_misses(
    gha: GhaCache, server: CacheServer, workspace: Path
) -> None:
    _binary(workspace, _payload(400_000))
    # The connection drops on every block after the first: the upload can never complete.
    server.inject("blob-put", 0, times=1000, after=1)
    with pytest.raises(ServiceUnavailableError):
        gha.save("k-int", PATHS)
    assert server.calls("FinalizeCacheEntryUpload") == 0
    assert gha.restore("k-int", PATHS) is None


def test_crash_between_upload_and_finalize_leaves_no_entry(
    gha: GhaCache, server: CacheServer, workspace: Path
) -> None:
    _binary(workspace, b"y" * 1000)
    server.inject("FinalizeCacheEntryUpload", 0, times=100)
    with pytest.raises(ServiceUnavailableError):
        gha.save("k-crash", PATHS)
    assert gha.restore("k-crash", PATHS) is None


def test_expired_download_url_is_refreshed_once(
    gha: GhaCache, server: CacheServer, workspace: Path, warnings_seen: list[str]
) -> None:
    _binary(workspace, b"payload")
    gha.save("k-exp", PATHS)
    (workspace / ".cache/app").unlink()
    server.expire_next = 1
    assert gha.restore("k-exp", PATHS) is not None
    assert (workspace / ".cache/app").read_bytes() == b"payload"
    assert server.calls("GetCacheEntryDownloadURL") == 2
    assert any("expired" in w for w in warnings_seen)


def test_expired_upload_url_fails_without_finalizing(
    gha: GhaCache, server: CacheServer, workspace: Path
) -> None:
    _binary(workspace, b"payload")
    server.expire_next = 1
    with pytest.raises(Exception, match="refused the signed URL"):
        gha.save("k-exp-up", PATHS)
    assert server.calls("FinalizeCacheEntryUpload") == 0


def test_silently_closed_keep_alive_connections_are_reopened_without_a_retry(
    gha: GhaCache, server: CacheServer, workspace: Path, sleeps: list[float]
) -> None:
    _binary(workspace, _payload(300_000))
    server.drop_idle_connections = True
    gha.save("k-idle", PATHS)
    (workspace / ".cache/app").unlink()
    assert gha.restore("k-idle", PATHS) is not None
    assert (workspace / ".cache/app").stat().st_size > 0
    assert sleeps == []  # reconnecting is not a failed attempt


def test_wrong_token_is_a_config_error(server: CacheServer, workspace: Path) -> None:
    env = {"ACTIONS_RESULTS_URL": server.base_url, "ACTIONS_RUNTIME_TOKEN": "stale"}
    with GhaCache.from_env(env) as cache, pytest.raises(ConfigError, match="refused the runtime"):
        cache.restore("k", PATHS, workspace=workspace)


def test_read_only_token_cannot_save(workspace: Path) -> None:
    for srv in serve(CacheServer(scopes=(("refs/heads/main", READ),))):
        env = {"ACTIONS_RESULTS_URL": srv.base_url, "ACTIONS_RUNTIME_TOKEN": srv.token}
        _binary(workspace, b"x")
        with GhaCache.from_env(env) as cache, pytest.raises(Exception, match="read-only"):
            cache.save("k", PATHS, workspace=workspace)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN are not set"),
        ({"ACTIONS_RESULTS_URL": "http://x/"}, "ACTIONS_RUNTIME_TOKEN is not set"),
        ({"ACTIONS_RUNTIME_TOKEN": "t"}, "ACTIONS_RESULTS_URL is not set"),
        ({"ACTIONS_CACHE_URL": "http://x/", "ACTIONS_RUNTIME_TOKEN": "t"}, "legacy v1"),
        ({"ACTIONS_RESULTS_URL": "ftp://x", "ACTIONS_RUNTIME_TOKEN": "t"}, "not an http"),
    ],
)
def test_missing_runtime_environment_says_how_to_fix_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        GhaConfig.from_env(env)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    if "legacy" not in message:
        assert "JavaScript" in text  # the hint names the real cause


def test_config_repr_never_shows_the_token() -> None:
    config = GhaConfig("http://x/", "secret-token-value")
    assert "secret-token-value" not in repr(config)


@pytest.mark.parametrize(
    ("key", "message"), [("", "empty"), ("a,b", "comma"), ("k" * 513, "513 characters")]
)
def test_bad_keys_are_rejected_before_any_request(
    gha: GhaCache, server: CacheServer, workspace: Path, key: str, message: str
) -> None:
    _binary(workspace, b"x")
    with pytest.raises(CacheKeyError, match=message):
        gha.save(key, PATHS)
    assert server.requests == []


def test_missing_path_is_an_input_error_without_reservation(
    gha: GhaCache, server: CacheServer
) -> None:
    with pytest.raises(InputError, match="none of the cache paths exist"):
        gha.save("k", ["nope/app"])
    assert server.calls("CreateCacheEntry") == 0


def test_too_many_restore_keys(gha: GhaCache) -> None:
    with pytest.raises(InputError, match="at most 10"):
        gha.restore("k", PATHS, restore_keys=[f"r{i}" for i in range(10)])


def test_archive_escaping_the_restored_paths_is_refused(
    gha: GhaCache, server: CacheServer, workspace: Path
) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("../evil")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    server.seed("poison", gha.version(PATHS), zstandard.ZstdCompressor().compress(raw.getvalue()))
    with pytest.raises(UnsafeArchiveError, match="outside the restored paths"):
        gha.restore("poison", PATHS)
    assert not (workspace.parent / "evil").exists()


def test_corrupt_archive_is_an_integrity_error_and_leaves_no_partial_file(
    gha: GhaCache, server: CacheServer, workspace: Path
) -> None:
    _binary(workspace, _payload(300_000))
    gha.save("k-corrupt", PATHS)
    (workspace / ".cache/app").unlink()
    entry = next(e for e in server.entries if e.key == "k-corrupt")
    blob = server.blobs[entry.blob]
    assert blob.data is not None
    damaged = bytearray(blob.data)
    damaged[len(damaged) // 2] ^= 0xFF
    blob.data = bytes(damaged)
    with pytest.raises(IntegrityError, match=r"corrupt|not a valid tar"):
        gha.restore("k-corrupt", PATHS)
    assert not (workspace / ".cache/app").exists()


def test_a_directory_in_the_way_is_a_clear_input_error(gha: GhaCache, workspace: Path) -> None:
    _binary(workspace, b"payload")
    gha.save("k-dir-in-way", PATHS)
    (workspace / ".cache/app").unlink()
    (workspace / ".cache/app").mkdir()
    (workspace / ".cache/app" / "keep").write_text("user data")
    with pytest.raises(InputError, match="cannot write a restored file"):
        gha.restore("k-dir-in-way", PATHS)
    assert (workspace / ".cache/app" / "keep").read_text() == "user data"


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0", 0.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(0, 20_000), block=st.integers(700, 9_000), data=st.data())
def test_blocks_and_ranges_reassemble_any_size(size: int, block: int, data: st.DataObject) -> None:
    payload = data.draw(st.binary(min_size=size, max_size=size))
    retry = RetryPolicy(max_attempts=2, base_delay=0, sleep=lambda _s: None)
    for srv in serve(CacheServer()):
        entry = srv.seed("p", "v", b"")
        transport = HttpTransport(timeout=10)
        try:
            blob = BlobClient(srv.sign(entry.blob), transport=transport, retry=retry)
            ids = [
                blob.put_block(i, payload[start : start + block])
                for i, start in enumerate(range(0, max(size, 1), block))
            ]
            blob.put_block_list(ids)
            assert srv.blobs[entry.blob].data == payload
            got = bytearray()
            start, total = 0, None
            while total is None or start < total:
                chunk, total = blob.get_range(start, start + block - 1)
                got += chunk
                start += block
                if total == 0:
                    break
            assert bytes(got) == payload
        finally:
            transport.close()
