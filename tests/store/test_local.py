"""LocalStore passes the store contract, plus what only a local directory can show."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildonce.errors import ConfigError
from buildonce.store import default_local_dir, open_store, resolve_store_url
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
