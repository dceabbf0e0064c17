"""The one contract every store backend passes (subclass :class:`StoreContract`).

A backend's test module subclasses :class:`StoreContract` and provides the ``store_url``
fixture (an empty store per test).  Everything else runs through the public library and,
for concurrency, through ``python -m buildonce`` in separate processes.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildonce.errors import StoreError
from buildonce.store import Store, open_store
from buildonce.store import archive as archive_module
from buildonce.store import cache as c
from buildonce.store.base import EntryRecord, ObjectStore

from .conftest import FakeClock

MAIN = c.Scope("refs/heads/main", ("refs/heads/main",))
FEATURE = c.Scope("refs/heads/feature", ("refs/heads/feature", "refs/heads/main"))
OTHER = c.Scope("refs/heads/other", ("refs/heads/other", "refs/heads/main"))
PR = c.Scope("refs/pull/7/merge", ("refs/pull/7/merge", "refs/heads/main"), "pull_request")
PR_TARGET = c.Scope("refs/heads/main", ("refs/heads/main",), "pull_request_target")


def write(path: Path, data: bytes, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


def blob_names(store: Store) -> list[str]:
    assert isinstance(store, ObjectStore)
    return store.blob_names()


def corrupt_blob(store: Store, record: EntryRecord, transform: object) -> None:
    """Rewrite an entry's stored bytes through the backend's own primitives."""
    assert isinstance(store, ObjectStore)
    data = store._get(record.blob)
    assert data is not None
    store._put(record.blob, transform(data))  # type: ignore[operator]


def malicious_tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def publish_raw(store: Store, tmp: Path, key: str, tar_bytes: bytes) -> EntryRecord:
    """Commit an archive that buildonce did not write, with a *correct* digest."""
    import hashlib

    data = tar_bytes
    if store.compression == "zstd":
        import zstandard

        data = zstandard.ZstdCompressor().compress(tar_bytes)
    archive = tmp / f"raw-{abs(hash(key))}.tar"
    archive.write_bytes(data)
    meta = {}
    if store.compression == "none":
        # Local stores restore uncompressed archives by verified chunks: give the crafted
        # archive correct chunk digests too, so the parallel path has to refuse it itself.
        chunk = archive_module.VERIFY_CHUNK
        meta = {
            "chunkSize": str(chunk),
            "chunkSha256": "".join(
                hashlib.sha256(data[i : i + chunk]).hexdigest() for i in range(0, len(data), chunk)
            ),
        }
    record = EntryRecord(
        key=key,
        scope=MAIN.current,
        kind="binary",
        paths=("x",),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content_size=len(tar_bytes),
        compression=store.compression,
        created_at=FakeClock()(),
        meta=meta,
    )
    result = store.publish(record, archive, lambda _n: None)
    assert result.created
    assert result.record is not None
    return result.record


class StoreContract:
    """Behaviour every backend must show; subclasses provide ``store_url``."""

    #: Concurrent ``python -m buildonce save`` processes (threads are always 8).
    process_savers = 8

    @pytest.fixture
    def store_url(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def store(self, store_url: str) -> Iterator[Store]:
        store = open_store(store_url)
        yield store
        store.close()

    # -- save / restore ------------------------------------------------------------------
    def test_exact_round_trip_keeps_bytes_and_mode(self, store: Store, tmp_path: Path) -> None:
        src = write(tmp_path / "src" / "app", os.urandom(200_000), 0o751)
        saved = c.save(store, [src], key="Linux-app-1.25.4-aaa111", scope=MAIN, job="build")
        assert saved.created
        assert saved.record is not None
        dest = tmp_path / "out" / "app"
        got = c.restore(store, [dest], key="Linux-app-1.25.4-aaa111", scope=MAIN, job="t1")
        assert got.cache_hit
        assert got.matched_key == "Linux-app-1.25.4-aaa111"
        assert dest.read_bytes() == src.read_bytes()
        assert dest.stat().st_mode & 0o777 == 0o751
        assert (
            saved.record.meta["fileSha256"]
            == __import__("hashlib").sha256(src.read_bytes()).hexdigest()
        )

    def test_directories_links_and_several_paths(self, store: Store, tmp_path: Path) -> None:
        tree = tmp_path / "tree"
        write(tree / "a" / "b" / "file.txt", b"hello\n", 0o644)
        (tree / "empty").mkdir()
        os.symlink("b/file.txt", tree / "a" / "link")
        single = write(tmp_path / "single", b"x" * 5000)
        assert c.save(store, [tree, single], key="k-tree", scope=MAIN).created
        out = tmp_path / "restored"
        got = c.restore(store, [out / "tree", out / "single"], key="k-tree", scope=MAIN)
        assert got.cache_hit
        assert (out / "tree" / "a" / "b" / "file.txt").read_bytes() == b"hello\n"
        assert os.readlink(out / "tree" / "a" / "link") == "b/file.txt"
        assert (out / "tree" / "a" / "link").read_bytes() == b"hello\n"
        assert (out / "tree" / "empty").is_dir()
        assert (out / "single").read_bytes() == b"x" * 5000

    def test_restore_replaces_an_existing_directory_whole(
        self, store: Store, tmp_path: Path
    ) -> None:
        write(tmp_path / "tree" / "new.txt", b"new")
        c.save(store, [tmp_path / "tree"], key="k-dir", scope=MAIN)
        dest = tmp_path / "dest"
        write(dest / "stale.txt", b"stale")
        assert c.restore(store, [dest], key="k-dir", scope=MAIN).cache_hit
        assert sorted(p.name for p in dest.iterdir()) == ["new.txt"]
        assert not [p for p in tmp_path.iterdir() if ".buildonce-" in p.name]

    def test_miss_creates_nothing(self, store: Store, tmp_path: Path) -> None:
        dest = tmp_path / "out" / "app"
        got = c.restore(store, [dest], key="nothing-here", restore_keys=["nope-"], scope=MAIN)
        assert not got.restored
        assert not got.cache_hit
        assert got.matched_key == ""
        assert not dest.exists()

    def test_primary_key_prefix_match_is_not_a_hit_and_newest_wins(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        for name in ("Linux-go-1.25.4-aaa", "Linux-go-1.25.4-bbb", "Linux-go-1.25.4-ccc"):
            clock.advance(minutes=1)
            src = write(tmp_path / name, name.encode())
            assert c.save(store, [src], key=name, scope=MAIN, clock=clock).created
        dest = tmp_path / "dest"
        got = c.restore(store, [dest], key="Linux-go-1.25.4-", scope=MAIN)
        assert got.matched_key == "Linux-go-1.25.4-ccc"
        assert not got.cache_hit
        assert dest.read_bytes() == b"Linux-go-1.25.4-ccc"
        # An exact match beats a newer prefix match.
        got = c.restore(store, [dest], key="Linux-go-1.25.4-aaa", scope=MAIN)
        assert got.cache_hit
        assert dest.read_bytes() == b"Linux-go-1.25.4-aaa"
        # --exact disables prefix matching altogether.
        assert not c.restore(store, [dest], key="Linux-go-1.25", scope=MAIN, exact=True).restored

    def test_restore_keys_in_order_exact_then_prefix(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        for name in ("old-1", "new-1", "new-2"):
            clock.advance(minutes=1)
            c.save(
                store, [write(tmp_path / name, name.encode())], key=name, scope=MAIN, clock=clock
            )
        dest = tmp_path / "dest"
        # The first restore key that matches wins, even if a later one matches newer entries.
        got = c.restore(store, [dest], key="zzz", restore_keys=["old-", "new-"], scope=MAIN)
        assert got.matched_key == "old-1"
        got = c.restore(store, [dest], key="zzz", restore_keys=["new-1", "new-"], scope=MAIN)
        assert got.matched_key == "new-1"
        got = c.restore(store, [dest], key="zzz", restore_keys=["x", "new-"], scope=MAIN)
        assert got.matched_key == "new-2"
        assert not got.cache_hit

    # -- scopes --------------------------------------------------------------------------
    def test_scope_isolation_like_github(self, store: Store, tmp_path: Path) -> None:
        src = write(tmp_path / "app", b"feature build")
        c.save(store, [src], key="k-feature", scope=FEATURE)
        c.save(store, [write(tmp_path / "m", b"main build")], key="k-main", scope=MAIN)
        c.save(store, [write(tmp_path / "p", b"pr build")], key="k-pr", scope=PR)
        dest = tmp_path / "dest"
        # Visible to the ref that saved it, not to the default branch or a sibling.
        assert c.restore(store, [dest], key="k-feature", scope=FEATURE).cache_hit
        assert not c.restore(store, [dest], key="k-feature", scope=MAIN).restored
        assert not c.restore(store, [dest], key="k-feature", scope=OTHER).restored
        # Default-branch entries are visible to everyone.
        for scope in (MAIN, FEATURE, OTHER, PR):
            assert c.restore(store, [dest], key="k-main", scope=scope).cache_hit
        # A pull request's entry is never restored on the default branch.
        assert c.restore(store, [dest], key="k-pr", scope=PR).cache_hit
        assert not c.restore(store, [dest], key="k-pr", scope=MAIN).restored

    def test_current_scope_is_searched_before_the_default_branch(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        c.save(store, [write(tmp_path / "f", b"feature")], key="k-1", scope=FEATURE, clock=clock)
        clock.advance(hours=1)
        c.save(store, [write(tmp_path / "m", b"main")], key="k-2", scope=MAIN, clock=clock)
        dest = tmp_path / "dest"
        assert c.restore(store, [dest], key="k-", scope=FEATURE).matched_key == "k-1"
        assert c.restore(store, [dest], key="k-", scope=MAIN).matched_key == "k-2"

    def test_untrusted_trigger_cannot_save_unless_allowed(
        self, store: Store, tmp_path: Path
    ) -> None:
        src = write(tmp_path / "app", b"x")
        with pytest.raises(StoreError, match="pull_request_target"):
            c.save(store, [src], key="k-untrusted", scope=PR_TARGET)
        assert not c.restore(store, [tmp_path / "d"], key="k-untrusted", scope=MAIN).restored
        assert c.save(
            store, [src], key="k-untrusted", scope=PR_TARGET, allow_untrusted=True
        ).created

    # -- immutability and concurrency ----------------------------------------------------
    def test_entries_are_immutable(self, store: Store, tmp_path: Path) -> None:
        first = write(tmp_path / "a", b"first")
        second = write(tmp_path / "b", b"second")
        assert c.save(store, [first], key="k-imm", scope=MAIN).created
        again = c.save(store, [second], key="k-imm", scope=MAIN)
        assert not again.created
        dest = tmp_path / "dest"
        c.restore(store, [dest], key="k-imm", scope=MAIN)
        assert dest.read_bytes() == b"first"
        assert len([r for r in store.entries() if r.key == "k-imm"]) == 1

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
                results.append(c.save(store, [sources[i]], key="k-race", scope=MAIN))
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
        store = open_store(store_url)
        try:
            entries = [r for r in store.entries() if r.key == "k-race"]
            assert len(entries) == 1
            dest = tmp_path / "dest"
            assert c.restore(store, [dest], key="k-race", scope=MAIN).cache_hit
            winner = next(r for r in results if r.created)
            assert winner.record is not None
            assert dest.read_bytes() in {s.read_bytes() for s in sources}
            assert entries[0].entry_id == winner.record.entry_id
            # Losers removed their uploads: one blob is left.
            assert len(blob_names(store)) == 1
        finally:
            store.close()

    def test_concurrent_process_savers_leave_one_entry(
        self, store_url: str, tmp_path: Path
    ) -> None:
        n = self.process_savers
        sources = [write(tmp_path / f"p{i}", os.urandom(50_000) + bytes([i])) for i in range(n)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "buildonce",
                    "save",
                    "--store",
                    store_url,
                    "--key",
                    "k-proc",
                    str(src),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for src in sources
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * n, outputs
        assert sum("saved k-proc" in out for out, _ in outputs) == 1
        assert sum("already exists" in out for out, _ in outputs) == n - 1
        store = open_store(store_url)
        try:
            assert len([r for r in store.entries() if r.key == "k-proc"]) == 1
            assert c.restore(store, [tmp_path / "dest"], key="k-proc", scope=MAIN).cache_hit
        finally:
            store.close()

    # -- integrity -----------------------------------------------------------------------
    @pytest.mark.parametrize(
        "transform",
        [
            pytest.param(lambda d: d[:100] + bytes([d[100] ^ 0x01]) + d[101:], id="bit-flip-head"),
            pytest.param(
                lambda d: d[:-700] + bytes([d[-700] ^ 0x80]) + d[-699:], id="bit-flip-tail"
            ),
            pytest.param(lambda d: d[: len(d) // 2], id="truncated"),
            pytest.param(lambda d: d + b"\0" * 512, id="extended"),
        ],
    )
    def test_corrupt_content_is_a_miss_and_quarantined(
        self, store: Store, tmp_path: Path, transform: object
    ) -> None:
        src = write(tmp_path / "app", os.urandom(64_000))
        saved = c.save(store, [src], key="k-corrupt", scope=MAIN)
        assert saved.record is not None
        corrupt_blob(store, saved.record, transform)
        dest = write(tmp_path / "dest", b"previous contents")
        got = c.restore(store, [dest], key="k-corrupt", scope=MAIN)
        assert not got.restored
        assert not got.cache_hit
        assert any("quarantined" in w for w in got.warnings)
        # Nothing landed at the destination, and no scratch files are left beside it.
        assert dest.read_bytes() == b"previous contents"
        assert sorted(p.name for p in tmp_path.iterdir() if p.name != "store") == ["app", "dest"]
        # The entry is out of sight and the key can be saved again.
        assert not [r for r in store.entries() if r.key == "k-corrupt"]
        assert c.save(store, [src], key="k-corrupt", scope=MAIN).created
        assert c.restore(store, [dest], key="k-corrupt", scope=MAIN).cache_hit
        assert dest.read_bytes() == src.read_bytes()

    # -- archive safety ------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("name", "kind", "linkname"),
        [
            ("/etc/evil", tarfile.REGTYPE, ""),
            ("0/../../evil", tarfile.REGTYPE, ""),
            ("../evil", tarfile.REGTYPE, ""),
            ("0/link", tarfile.SYMTYPE, "/etc/passwd"),
            ("0/link", tarfile.SYMTYPE, "../../outside"),
            ("0/hard", tarfile.LNKTYPE, "/etc/passwd"),
            ("0/dev", tarfile.CHRTYPE, ""),
            ("0/fifo", tarfile.FIFOTYPE, ""),
            ("7", tarfile.REGTYPE, ""),
        ],
    )
    def test_crafted_archives_are_rejected(
        self, store: Store, tmp_path: Path, name: str, kind: bytes, linkname: str
    ) -> None:
        root = tarfile.TarInfo("0")
        root.type = tarfile.DIRTYPE
        root.mode = 0o755
        evil = tarfile.TarInfo(name)
        evil.type = kind
        evil.linkname = linkname
        evil.mode = 0o644
        key = f"k-evil-{abs(hash((name, kind, linkname)))}"
        publish_raw(store, tmp_path, key, malicious_tar([(root, b""), (evil, b"pwned")]))
        dest = tmp_path / "work" / "dest"
        got = c.restore(store, [dest], key=key, scope=MAIN)
        assert not got.restored
        assert any("quarantined" in w for w in got.warnings)
        assert not dest.exists()
        assert not (tmp_path / "evil").exists()
        assert not (tmp_path / "outside").exists()
        assert list((tmp_path / "work").iterdir()) == []

    def test_link_then_write_through_it_is_rejected(self, store: Store, tmp_path: Path) -> None:
        root = tarfile.TarInfo("0")
        root.type = tarfile.DIRTYPE
        link = tarfile.TarInfo("0/sub")
        link.type = tarfile.SYMTYPE
        link.linkname = "."  # inside: allowed on its own
        inner = tarfile.TarInfo("0/sub/../../escape")
        publish_raw(
            store, tmp_path, "k-chain", malicious_tar([(root, b""), (link, b""), (inner, b"x")])
        )
        got = c.restore(store, [tmp_path / "d"], key="k-chain", scope=MAIN)
        assert not got.restored
        assert not (tmp_path / "escape").exists()

    # -- eviction ------------------------------------------------------------------------
    def test_quota_evicts_least_recently_used(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        size = 20_000
        for name in ("a", "b", "c"):
            clock.advance(minutes=1)
            c.save(
                store,
                [write(tmp_path / name, os.urandom(size))],
                key=f"k-{name}",
                scope=MAIN,
                clock=clock,
                evict=False,
            )
        clock.advance(minutes=1)
        c.restore(store, [tmp_path / "d"], key="k-a", scope=MAIN, clock=clock)  # a is used again
        sizes = {r.key: r.size for r in store.entries()}
        quota = sizes["k-a"] + sizes["k-c"] + 100
        result = c.prune(store, quota_bytes=quota, clock=clock)
        assert [r.key for r in result.evicted] == ["k-b"]
        assert sorted(r.key for r in store.entries()) == ["k-a", "k-c"]
        assert c.stats(store, quota_bytes=quota).total_bytes <= quota

    def test_save_evicts_to_stay_under_the_quota(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        first = c.save(
            store, [write(tmp_path / "a", os.urandom(30_000))], key="k-1", scope=MAIN, clock=clock
        )
        assert first.record is not None
        clock.advance(minutes=1)
        second = c.save(
            store,
            [write(tmp_path / "b", os.urandom(30_000))],
            key="k-2",
            scope=MAIN,
            clock=clock,
            quota_bytes=first.record.size + 1000,
        )
        assert [r.key for r in second.evicted] == ["k-1"]
        assert any("of the" in w and "quota" in w for w in second.warnings)
        assert [r.key for r in store.entries()] == ["k-2"]

    def test_unused_for_seven_days_is_evicted(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        c.save(store, [write(tmp_path / "a", b"a")], key="k-old", scope=MAIN, clock=clock)
        c.save(store, [write(tmp_path / "b", b"b")], key="k-used", scope=MAIN, clock=clock)
        clock.advance(days=5)
        c.restore(store, [tmp_path / "d"], key="k-used", scope=MAIN, clock=clock)
        clock.advance(days=2, hours=1)
        result = c.prune(store, clock=clock)
        assert [r.key for r in result.evicted] == ["k-old"]
        assert "unused" in result.reasons[0]
        assert [r.key for r in store.entries()] == ["k-used"]
        clock.advance(days=7, minutes=1)
        assert [r.key for r in c.prune(store, clock=clock).evicted] == ["k-used"]

    def test_orphan_blobs_of_killed_savers_are_removed_after_an_hour(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        assert isinstance(store, ObjectStore)
        kept = c.save(store, [write(tmp_path / "a", b"a")], key="k-live", scope=MAIN)
        assert kept.record is not None
        store._put("blobs/" + "0" * 64 + "-1000-deadbeef", b"half an upload, long ago")
        # A saver between upload and commit right now: its blob must survive.
        young = "blobs/" + "1" * 64 + f"-{int(clock.now.timestamp())}-cafe"
        store._put(young, b"upload in progress")
        result = c.prune(store, clock=clock)
        assert result.orphans_removed == 1
        assert sorted(store.blob_names()) == sorted([kept.record.blob, young])

    # -- lifecycle -----------------------------------------------------------------------
    def test_history_follows_the_binary_lifecycle(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        src = write(tmp_path / "app", b"bin")
        c.save(store, [src], key="k-life", scope=MAIN, job="build-artifact", clock=clock)
        for job in ("system-test-1", "system-test-2", "system-test-1"):
            clock.advance(minutes=1)
            c.restore(store, [tmp_path / job], key="k-life", scope=MAIN, job=job, clock=clock)
        info = c.history(store, c.find_entry(store, "k-life"))
        assert [(r.event, r.source, r.target) for r in info.rows] == [
            ("seed", "Missing", "Seeded"),
            ("restore", "Seeded", "Restored"),
            ("restore", "Restored", "Restored"),
            ("restore", "Restored", "Restored"),
        ]
        assert info.rows[0].job == "build-artifact"
        assert info.consumers == ("system-test-1", "system-test-2")
        assert info.state == "Restored"
        assert info.last_used == clock.now

    def test_rebuild_after_a_miss_is_recorded_as_updated(
        self, store: Store, tmp_path: Path, clock: FakeClock
    ) -> None:
        c.save(
            store,
            [write(tmp_path / "a", b"a")],
            key="k-re",
            scope=MAIN,
            event="rebuild",
            job="system-test",
            clock=clock,
        )
        info = c.history(store, c.find_entry(store, "k-re"))
        assert [(r.event, r.source, r.target) for r in info.rows] == [
            ("rebuild", "Missing", "Updated")
        ]
        assert info.record.created_at == clock.now
        assert info.record.origin_job == "system-test"

    def test_unknown_paths_count_is_a_clear_error(self, store: Store, tmp_path: Path) -> None:
        from buildonce.errors import InputError

        c.save(store, [write(tmp_path / "a", b"a")], key="k-one", scope=MAIN)
        with pytest.raises(InputError, match="holds 1 path"):
            c.restore(store, [tmp_path / "x", tmp_path / "y"], key="k-one", scope=MAIN)

    def test_unreadable_record_is_a_clear_error(self, store: Store) -> None:
        assert isinstance(store, ObjectStore)
        store._put(store.entry_name(MAIN.current, "k-bad"), b"{not json")
        with pytest.raises(StoreError, match="not JSON"):
            store.lookup(c.Lookup(("k-bad",), (MAIN.current,)))
