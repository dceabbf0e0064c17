"""LocalStore passes the store contract, plus what only a local directory can show."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildonce.errors import ConfigError, InputError, IntegrityError
from buildonce.store import archive, default_local_dir, open_store, resolve_store_url
from buildonce.store import cache as c
from buildonce.store.archive import CHUNK_DIGEST_FIELDS, VERIFY_CHUNK
from buildonce.store.local import LocalStore

from .contract import StoreContract


class TestLocalStore(StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return str(tmp_path / "store")


def test_file_url_and_plain_path_open_the_same_directory(tmp_path: Path) -> None:
    a = open_store(f"file://{tmp_path / 'st'}")
    b = open_store(str(tmp_path / "st"))
    assert isinstance(a, LocalStore)
    assert isinstance(b, LocalStore)
    assert a.root == b.root == tmp_path / "st"


def test_default_location_follows_the_environment(tmp_path: Path) -> None:
    assert default_local_dir({"BUILDONCE_CACHE_DIR": str(tmp_path / "x")}) == tmp_path / "x"
    assert default_local_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "buildonce"
    assert default_local_dir({}) == Path("~/.cache/buildonce").expanduser()


def test_store_selection_order() -> None:
    gha = {"ACTIONS_RESULTS_URL": "http://x", "ACTIONS_RUNTIME_TOKEN": "t"}
    assert resolve_store_url("s3://b/p", {**gha, "BUILDONCE_STORE": "/d"}) == "s3://b/p"
    assert resolve_store_url(None, {**gha, "BUILDONCE_STORE": "/d"}) == "/d"
    assert resolve_store_url(None, gha) == "gha"
    assert resolve_store_url(None, {"BUILDONCE_CACHE_DIR": "/c"}) == "/c"


def test_a_file_where_the_store_should_be_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        open_store(str(tmp_path / "file"))


def test_remote_file_url_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="local path"):
        open_store("file://example/some/path")


# -- the parallel, chunk-verified restore of uncompressed archives ------------------------------
MAIN = c.Scope("refs/heads/main", ("refs/heads/main",))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Files that straddle several 8 MiB chunks, and small ones between them."""
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "big").write_bytes(os.urandom(VERIFY_CHUNK + 12345))
    (root / "sub" / "small").write_bytes(b"small")
    (root / "sub" / "empty").write_bytes(b"")
    (root / "sub" / "big2").write_bytes(os.urandom(VERIFY_CHUNK * 2 - 700))
    (root / "sub" / "link").symlink_to("small")
    return root


def _snapshot(root: Path) -> dict[str, bytes | str]:
    return {
        p.relative_to(root).as_posix(): (os.readlink(p) if p.is_symlink() else p.read_bytes())
        for p in sorted(root.rglob("*"))
        if not p.is_dir() or p.is_symlink()
    }


def test_multi_chunk_tree_round_trips_through_the_parallel_path(tmp_path: Path, tree: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    saved = c.save(store, [tree], key="k-chunks", scope=MAIN)
    assert saved.record is not None
    chunks = archive.chunk_digests_of(saved.record.meta)
    assert chunks is not None
    assert chunks.size == VERIFY_CHUNK
    assert len(chunks.digests) == -(-saved.record.size // VERIFY_CHUNK) >= 4
    dest = tmp_path / "restored"
    got = c.restore(store, [dest], key="k-chunks", scope=MAIN)
    assert got.cache_hit
    assert _snapshot(dest) == _snapshot(tree)
    assert (dest / "big").stat().st_mtime == int((tree / "big").stat().st_mtime)


@given(data=st.data())
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_flipped_bit_in_any_chunk_is_a_miss(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    work = tmp_path_factory.mktemp("flip")
    src = work / "app"
    src.write_bytes(os.urandom(VERIFY_CHUNK * 2 + 4096))
    store = open_store(str(work / "store"))
    saved = c.save(store, [src], key="k", scope=MAIN)
    assert saved.record is not None
    blob = work / "store" / saved.record.blob
    raw = bytearray(blob.read_bytes())
    offset = data.draw(st.integers(0, len(raw) - 1), label="offset")
    raw[offset] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    blob.write_bytes(bytes(raw))
    dest = work / "dest"
    got = c.restore(store, [dest], key="k", scope=MAIN)
    assert not got.restored
    assert any("quarantined" in w for w in got.warnings)
    assert not dest.exists()
    assert sorted(p.name for p in work.iterdir()) == ["app", "store"]


@pytest.mark.parametrize(
    "meta",
    [
        pytest.param({"chunkSize": "banana"}, id="bad-chunk-size"),
        pytest.param({"chunkSize": "0"}, id="zero-chunk-size"),
        pytest.param({"<digests>": "ab" * 32}, id="too-few-digests"),
    ],
)
def test_a_record_with_broken_chunk_digests_is_a_miss(tmp_path: Path, meta: dict[str, str]) -> None:
    store = open_store(str(tmp_path / "store"))
    assert isinstance(store, LocalStore)
    src = tmp_path / "app"
    src.write_bytes(os.urandom(VERIFY_CHUNK + 1))
    saved = c.save(store, [src], key="k", scope=MAIN)
    assert saved.record is not None
    # Whichever digest field the store recorded (sha256 or BLAKE3) is the one to break.
    field = next(f for f in CHUNK_DIGEST_FIELDS.values() if f in saved.record.meta)
    meta = {field if k == "<digests>" else k: v for k, v in meta.items()}
    broken = replace(saved.record, meta={**saved.record.meta, **meta})
    store._put(store.entry_name(MAIN.current, "k"), broken.encode())
    got = c.restore(store, [tmp_path / "dest"], key="k", scope=MAIN)
    assert not got.restored
    assert any("quarantined" in w for w in got.warnings)
    assert not (tmp_path / "dest").exists()


# -- chunk digest algorithms: BLAKE3 when installed, sha256 as the fallback ---------------------
ALGORITHMS = [
    pytest.param("sha256", id="sha256"),
    pytest.param(
        "blake3",
        id="blake3",
        marks=pytest.mark.skipif(
            not archive.chunk_algorithm_available("blake3"), reason="blake3 is not installed"
        ),
    ),
]


def _pack(src: Path, out: Path, algorithm: str) -> archive.Packed:
    with open(out, "wb") as fh:
        return archive.pack(
            [src], fh, compression="none", progress=lambda _n: None, chunk_algorithm=algorithm
        )


def _unpack(tar: Path, dest: Path, packed: archive.Packed) -> None:
    chunks = archive.chunk_digests_of(packed.chunk_meta())
    assert chunks is not None
    assert chunks.algorithm == packed.chunk_algorithm
    fd = os.open(tar, os.O_RDONLY)
    try:
        archive.unpack_chunked(
            fd,
            dest,
            count=1,
            size=packed.size,
            chunk=chunks.size,
            digests=chunks.digests,
            progress=lambda _n: None,
            algorithm=chunks.algorithm,
        )
    finally:
        os.close(fd)


def test_blake3_chunk_digests_are_blake3() -> None:
    pytest.importorskip("blake3")
    # The official BLAKE3 test vector for empty input: a real BLAKE3, not a renamed sha256.
    empty = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    assert archive._chunk_hasher("blake3")(b"").hexdigest() == empty
    assert archive.preferred_chunk_algorithm() == "blake3"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_pack_records_the_whole_sha256_and_chunk_digests_of_its_algorithm(
    tmp_path: Path, algorithm: str
) -> None:
    import hashlib

    src = tmp_path / "app"
    src.write_bytes(os.urandom(2 * VERIFY_CHUNK + 99))
    tar = tmp_path / "a.tar"
    packed = _pack(src, tar, algorithm)
    data = tar.read_bytes()
    # Users see the whole-archive and the binary's sha256 whatever the chunk algorithm.
    assert packed.sha256 == hashlib.sha256(data).hexdigest()
    assert packed.file_sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    new = archive._chunk_hasher(algorithm)
    expected = [
        new(data[i : i + VERIFY_CHUNK]).hexdigest() for i in range(0, len(data), VERIFY_CHUNK)
    ]
    assert list(packed.chunk_digests) == expected
    meta = packed.chunk_meta()
    assert set(meta) == {"chunkSize", CHUNK_DIGEST_FIELDS[algorithm]}
    assert packed.chunk_sha256 == (packed.chunk_digests if algorithm == "sha256" else ())
    dest = tmp_path / "dest"
    dest.mkdir()
    _unpack(tar, dest, packed)
    assert (dest / "0").read_bytes() == src.read_bytes()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(data=st.data())
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_flipped_bit_fails_the_chunked_restore_of_either_algorithm(
    tmp_path_factory: pytest.TempPathFactory, algorithm: str, data: st.DataObject
) -> None:
    work = tmp_path_factory.mktemp("flip")
    src = work / "app"
    src.write_bytes(os.urandom(VERIFY_CHUNK + 3 * archive.VERIFY_SLICE + 777))
    tar = work / "a.tar"
    packed = _pack(src, tar, algorithm)
    raw = bytearray(tar.read_bytes())
    offset = data.draw(st.integers(0, len(raw) - 1), label="offset")
    raw[offset] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    tar.write_bytes(bytes(raw))
    dest = work / "dest"
    dest.mkdir()
    with pytest.raises(IntegrityError):
        _unpack(tar, dest, packed)


def test_records_prefer_blake3_and_old_records_keep_sha256() -> None:
    pytest.importorskip("blake3")
    both = {"chunkSize": "8", "chunkSha256": "a" * 128, "chunkBlake3": "b" * 64}
    got = archive.chunk_digests_of(both)
    assert got == archive.ChunkDigests("blake3", 8, ("b" * 64,))
    old = {"chunkSize": "8", "chunkSha256": "a" * 128}
    assert archive.chunk_digests_of(old) == archive.ChunkDigests("sha256", 8, ("a" * 64,) * 2)
    assert archive.chunk_digests_of({"chunkSize": "x", "chunkSha256": "a" * 64}) == (
        archive.ChunkDigests("sha256", 0, ("a" * 64,))
    )
    assert archive.chunk_digests_of({}) is None


@pytest.fixture
def no_blake3(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process behaves as if the blake3 wheel were not installed."""
    monkeypatch.setattr(archive, "_blake3_constructor", lambda: None)


@pytest.mark.usefixtures("no_blake3")
def test_without_blake3_saves_use_sha256_chunks_and_blake3_records_fall_back() -> None:
    assert archive.preferred_chunk_algorithm() == "sha256"
    assert not archive.chunk_algorithm_available("blake3")
    # A BLAKE3-only record: no chunk check this process can run, so the caller verifies the
    # whole archive's sha256 instead of treating a good entry as corrupt.
    assert archive.chunk_digests_of({"chunkSize": "8", "chunkBlake3": "b" * 64}) is None
    with pytest.raises(InputError, match="blake3"):
        archive._chunk_hasher("blake3")


@pytest.mark.parametrize("flip", [False, True], ids=["intact", "bit-flipped"])
def test_a_blake3_record_restores_without_blake3_through_the_whole_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flip: bool
) -> None:
    pytest.importorskip("blake3")
    store = open_store(str(tmp_path / "store"))
    assert isinstance(store, LocalStore)
    src = tmp_path / "app"
    src.write_bytes(os.urandom(VERIFY_CHUNK + 5000))
    saved = c.save(store, [src], key="k", scope=MAIN)
    assert saved.record is not None
    # The record a blake3-equipped saver writes: BLAKE3 chunk digests only.
    blob = tmp_path / "store" / saved.record.blob
    meta = {k: v for k, v in saved.record.meta.items() if k not in CHUNK_DIGEST_FIELDS.values()}
    new = archive._chunk_hasher("blake3")
    data = blob.read_bytes()
    meta["chunkSize"] = str(VERIFY_CHUNK)
    meta["chunkBlake3"] = "".join(
        new(data[i : i + VERIFY_CHUNK]).hexdigest() for i in range(0, len(data), VERIFY_CHUNK)
    )
    store._put(store.entry_name(MAIN.current, "k"), replace(saved.record, meta=meta).encode())
    if flip:
        raw = bytearray(data)
        raw[len(raw) // 2] ^= 0x10
        blob.write_bytes(bytes(raw))
    monkeypatch.setattr(archive, "_blake3_constructor", lambda: None)
    dest = tmp_path / "dest"
    got = c.restore(store, [dest], key="k", scope=MAIN)
    if flip:
        assert not got.restored
        assert any("quarantined" in w for w in got.warnings)
        assert not dest.exists()
    else:
        assert got.cache_hit, got.warnings
        assert dest.read_bytes() == src.read_bytes()
