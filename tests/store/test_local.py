"""LocalStore passes the store contract, plus what only a local directory can show."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildonce.errors import ConfigError
from buildonce.store import cache as c
from buildonce.store import default_local_dir, open_store, resolve_store_url
from buildonce.store.archive import VERIFY_CHUNK
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
    digests = saved.record.meta["chunkSha256"]
    assert len(digests) == 64 * -(-saved.record.size // VERIFY_CHUNK) >= 64 * 4
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
        pytest.param({"chunkSha256": "ab" * 32}, id="too-few-digests"),
    ],
)
def test_a_record_with_broken_chunk_digests_is_a_miss(tmp_path: Path, meta: dict[str, str]) -> None:
    store = open_store(str(tmp_path / "store"))
    assert isinstance(store, LocalStore)
    src = tmp_path / "app"
    src.write_bytes(os.urandom(VERIFY_CHUNK + 1))
    saved = c.save(store, [src], key="k", scope=MAIN)
    assert saved.record is not None
    broken = replace(saved.record, meta={**saved.record.meta, **meta})
    store._put(store.entry_name(MAIN.current, "k"), broken.encode())
    got = c.restore(store, [tmp_path / "dest"], key="k", scope=MAIN)
    assert not got.restored
    assert any("quarantined" in w for w in got.warnings)
    assert not (tmp_path / "dest").exists()
