"""GhaStore against the store contract shared by every backend, over the protocol server.

The Actions cache decides scopes from the job's token; it cannot list, delete or keep
metadata, and GitHub (not the client) evicts.  Contract tests that need those abilities
are overridden below with what the gha store guarantees instead, and say why.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildonce.errors import StoreError
from buildonce.store import Store, open_store
from buildonce.store import cache as c
from gha.protocol_server import READ, WRITE, CacheServer, serve
from store.conftest import FakeClock
from store.contract import FEATURE, MAIN, StoreContract, write

_SERVICE = "the Actions cache service"
#: actions/cache's archive names members by their place in the workspace and its version
#: hashes the path lines, so an entry restores only to the paths it was saved from.
_SAME_PATHS = "actions/cache entries restore only to the paths they were saved from"
#: The path line every racing saver caches (each from its own checkout).
LINE = ["bin/app"]
#: actions/cache's archive names members by their place in the workspace and its version
#: hashes the path lines, so an entry restores only to the paths it was saved from.
_SAME_PATHS = "actions/cache entries restore only to the paths they were saved from"


def _finalized(server: CacheServer, key: str) -> int:
    return sum(1 for e in server.entries if e.key == key and e.finalized)


class TestGhaStoreContract(StoreContract):
    @pytest.fixture
    def gha_server(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[CacheServer]:
        for srv in serve(CacheServer(scopes=(("refs/heads/main", READ | WRITE),))):
            monkeypatch.setenv("ACTIONS_RESULTS_URL", srv.base_url + "/")
            monkeypatch.setenv("ACTIONS_RUNTIME_TOKEN", srv.token)
            monkeypatch.setenv("BUILDONCE_GHA_RETRY_DELAY", "0")
            yield srv

    @pytest.fixture
    def store_url(self, gha_server: CacheServer) -> str:
        return "gha:"

    # -- scopes: decided by the service from the token, not by Lookup.scopes ---------------
    def test_scope_isolation_like_github(self, store: Store, tmp_path: Path) -> None:
        pytest.skip(f"{_SERVICE} applies scopes from the job token; see test_protocol.py")

    def test_current_scope_is_searched_before_the_default_branch(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        pytest.skip(f"{_SERVICE} orders scopes itself; see test_protocol.py")

    # -- immutability and races, counted on the server (the store cannot list) -------------
    def test_entries_are_immutable(self, store: Store, tmp_path: Path) -> None:
        server: CacheServer = self._server
        src = write(tmp_path / "a", b"first")
        assert c.save(store, [src], key="k-imm", scope=MAIN).created
        again = c.save(store, [write(src, b"second")], key="k-imm", scope=MAIN)
        assert not again.created
        assert c.restore(store, [src], key="k-imm", scope=MAIN).cache_hit
        assert src.read_bytes() == b"first"
        assert _finalized(server, "k-imm") == 1
        with pytest.raises(StoreError, match="gh cache list"):
            store.entries()

    @pytest.fixture(autouse=True)
    def _remember_server(self, gha_server: CacheServer) -> None:
        self._server = gha_server

    def test_concurrent_thread_savers_leave_one_entry(self, store_url: str, tmp_path: Path) -> None:
        n = 8
        barrier = threading.Barrier(n)
        results: list[c.SaveOutcome] = []
        errors: list[BaseException] = []
        sources = [write(tmp_path / f"s{i}", os.urandom(100_000) + bytes([i])) for i in range(n)]

        def saver(i: int) -> None:
            store = open_store(store_url)
            try:
                barrier.wait()
                results.append(
                    c.save(store, [sources[i]], key="k-race", scope=MAIN, path_lines=LINE)
                )
            except BaseException as exc:
                errors.append(exc)
            finally:
                store.close()

        threads = [threading.Thread(target=saver, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert sum(r.created for r in results) == 1
        assert _finalized(self._server, "k-race") == 1
        store = open_store(store_url)
        try:
            winner = next(r.record for r in results if r.created)
            assert winner is not None
            by_digest = {hashlib.sha256(s.read_bytes()).hexdigest(): s for s in sources}
            dest = by_digest[winner.meta["fileSha256"]]
            expected = dest.read_bytes()
            dest.unlink()
            # The archive names the winner's file: it restores there, verified.
            got = c.restore(store, [dest], key="k-race", scope=MAIN, path_lines=LINE)
            assert got.cache_hit, got.warnings
            assert got.verified
            assert dest.read_bytes() == expected
        finally:
            store.close()

    def test_concurrent_process_savers_leave_one_entry(
        self, store_url: str, tmp_path: Path
    ) -> None:
        n = 4
        # Each process is a job with its own checkout that caches the same path line.
        checkouts = [tmp_path / f"job{i}" for i in range(n)]
        for i, checkout in enumerate(checkouts):
            write(checkout / "bin" / "app", os.urandom(50_000) + bytes([i]))
        procs = [
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "buildonce", "save", "--store", store_url),
                    *("--key", "k-proc", "bin/app"),
                ],
                cwd=checkout,
                env={**os.environ, "GITHUB_WORKSPACE": str(checkout)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for checkout in checkouts
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * n, outputs
        assert sum("saved k-proc" in out for out, _ in outputs) == 1
        assert _finalized(self._server, "k-proc") == 1

    # -- restores into other paths than saved: not in actions/cache's format ---------------
    # Each of these is re-stated with same-path restores in test_store.py.
    @pytest.mark.skip(reason=_SAME_PATHS)
    def test_exact_round_trip_keeps_bytes_and_mode(self) -> None: ...

    @pytest.mark.skip(reason=_SAME_PATHS)
    def test_directories_links_and_several_paths(self) -> None: ...

    @pytest.mark.skip(reason=_SAME_PATHS)
    def test_restore_replaces_an_existing_directory_whole(self) -> None: ...

    @pytest.mark.skip(reason=_SAME_PATHS)
    def test_primary_key_prefix_match_is_not_a_hit_and_newest_wins(self) -> None: ...

    @pytest.mark.skip(reason=_SAME_PATHS)
    def test_restore_keys_in_order_exact_then_prefix(self) -> None: ...

    @pytest.mark.skip(reason="the path lines are part of the version: other paths are a miss")
    def test_unknown_paths_count_is_a_clear_error(self) -> None: ...

    @pytest.mark.skip(reason="the service keeps no records to corrupt; the manifest is tested")
    def test_unreadable_record_is_a_clear_error(self) -> None: ...

    @pytest.mark.skip(reason=_SAME_PATHS)
    def test_corrupt_content_is_a_miss_and_quarantined(self) -> None: ...

    @pytest.mark.skip(reason="buildonce's positional archives are not used by the gha store")
    def test_crafted_archives_are_rejected(self) -> None: ...

    @pytest.mark.skip(reason="buildonce's positional archives are not used by the gha store")
    def test_link_then_write_through_it_is_rejected(self) -> None: ...

    # -- GitHub evicts and keeps no per-entry history; the runtime token cannot list -------
    def test_quota_evicts_least_recently_used(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        pytest.skip(f"{_SERVICE} evicts least-recently-used entries itself (10 GB, 7 days)")

    def test_save_evicts_to_stay_under_the_quota(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        # GitHub evicts on its side; buildonce's prune cannot list this store, and that must
        # never turn a successful save into a failure.
        assert c.save(store, [write(tmp_path / "a", b"a")], key="k-q", scope=FEATURE).created

    def test_unused_for_seven_days_is_evicted(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        pytest.skip(f"{_SERVICE} removes entries unused for 7 days itself")

    def test_orphan_blobs_of_killed_savers_are_removed_after_an_hour(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        pytest.skip(f"{_SERVICE} discards unfinalized uploads; see test_protocol.py")

    def test_history_follows_the_binary_lifecycle(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        src = write(tmp_path / "app", b"x")
        saved = c.save(store, [src], key="k-hist", scope=MAIN)
        assert saved.record is not None
        assert store.events(saved.record) == []  # no metadata storage: nothing is kept

    def test_rebuild_after_a_miss_is_recorded_as_updated(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        pytest.skip(f"{_SERVICE} keeps no lifecycle history; telemetry records it instead")
