"""Byte-level interoperability with actions/cache's archives, using GNU tar and the zstd CLI.

actions/cache on a Linux runner creates and extracts with exactly these commands (toolkit
``tar.ts``), so an archive accepted by them is one actions/cache/restore accepts, and one
they produce is what actions/cache/save uploads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from buildonce.store.gha import GhaCache
from gha.protocol_server import CacheServer


def _gnu_tar() -> str:
    tar = shutil.which("gtar") or shutil.which("tar")
    if tar is None:
        pytest.skip("no tar on PATH")
    version = subprocess.run([tar, "--version"], capture_output=True, text=True).stdout
    if "GNU tar" not in version:
        pytest.skip("actions/cache uses GNU tar on Linux; this tar is not GNU tar")
    return tar


@pytest.fixture
def gnu_tar() -> str:
    tar = _gnu_tar()
    for tool in ("zstdmt", "unzstd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} (zstd CLI) is not installed; actions/cache needs it too")
    return tar


def _tree(root: Path) -> dict[str, tuple[str, bytes | str, int]]:
    """Comparable snapshot: relative path -> (kind, content or link target, mode bits)."""
    snap: dict[str, tuple[str, bytes | str, int]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        st = path.lstat()
        if path.is_symlink():
            snap[rel] = ("link", os.readlink(path), 0)
        elif path.is_dir():
            snap[rel] = ("dir", b"", 0)
        else:
            snap[rel] = ("file", path.read_bytes(), st.st_mode & 0o777)
    return snap


def _populate(ws: Path) -> None:
    (ws / ".cache" / "ksail").mkdir(parents=True)
    binary = ws / ".cache" / "ksail" / "ksail"
    binary.write_bytes(os.urandom(50_000) + b"\x7fELF" * 10_000)
    binary.chmod(0o755)
    (ws / ".cache" / "ksail" / "VERSION").write_text("1.25.4 ünïcode name ok\n")
    (ws / ".cache" / "ksail" / "current").symlink_to("ksail")
    long_dir = ws / ".cache" / "ksail" / ("d" * 120)
    long_dir.mkdir()
    (long_dir / ("f" * 120)).write_bytes(b"long names need pax headers")


def test_actions_cache_archive_restores_with_buildonce(
    gnu_tar: str, gha: GhaCache, server: CacheServer, workspace: Path, tmp_path: Path
) -> None:
    paths = [".cache/ksail"]
    _populate(workspace)
    expected = _tree(workspace / ".cache")
    # Exactly what actions/cache/save runs (manifest of workspace-relative paths).
    (tmp_path / "manifest.txt").write_text(".cache/ksail\n")
    archive = tmp_path / "cache.tzst"
    subprocess.run(
        [
            gnu_tar,
            "--posix",
            "-cf",
            str(archive),
            "--exclude",
            str(archive),
            "-P",
            "-C",
            str(workspace),
            "--files-from",
            str(tmp_path / "manifest.txt"),
            "--use-compress-program",
            "zstdmt",
        ],
        check=True,
    )
    server.seed("Linux-ksail-bin-1.25.4-abc", gha.version(paths), archive.read_bytes())
    shutil.rmtree(workspace / ".cache")

    result = gha.restore("Linux-ksail-bin-1.25.4-abc", paths)

    assert result is not None
    assert result.exact
    assert _tree(workspace / ".cache") == expected


def test_buildonce_archive_extracts_with_gnu_tar_and_unzstd(
    gnu_tar: str, gha: GhaCache, server: CacheServer, workspace: Path, tmp_path: Path
) -> None:
    paths = [".cache/ksail"]
    _populate(workspace)
    expected = _tree(workspace / ".cache")
    gha.save("Linux-ksail-bin-1.25.4-def", paths)
    archive = tmp_path / "cache.tzst"
    archive.write_bytes(server.blob_bytes("Linux-ksail-bin-1.25.4-def"))
    fresh = tmp_path / "other-runner-workspace"
    fresh.mkdir()
    # Exactly what actions/cache/restore runs.
    proc = subprocess.run(
        [
            gnu_tar,
            "-xf",
            str(archive),
            "-P",
            "-C",
            str(fresh),
            "--use-compress-program",
            "unzstd",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert _tree(fresh / ".cache") == expected
    # And the archive is pax (posix) format, single zstd frame with a checksum.
    listing = subprocess.run(
        ["zstd", "-lv", str(archive)], capture_output=True, text=True, check=True
    ).stdout
    assert "Frames: 1" in listing.replace("  ", " ") or "# Zstandard Frames: 1" in listing
    assert "XXH64" in listing


def test_paths_outside_the_workspace_use_dotdot_names_like_tar_dash_p(
    gnu_tar: str, gha: GhaCache, server: CacheServer, workspace: Path, tmp_path: Path
) -> None:
    # ~/go/pkg/mod style: outside GITHUB_WORKSPACE, stored as ../home/... with -P.
    home = workspace.parent / "home"
    (home / "go").mkdir(parents=True)
    (home / "go" / "mod.txt").write_text("module cache")
    gha.save("gomod-k", ["~/go"])
    archive = tmp_path / "cache.tzst"
    archive.write_bytes(server.blob_bytes("gomod-k"))
    names = subprocess.run(
        [gnu_tar, "-tf", str(archive), "-P", "--use-compress-program", "unzstd"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert names == ["../home/go/", "../home/go/mod.txt"]
    shutil.rmtree(home / "go")
    assert gha.restore("gomod-k", ["~/go"]) is not None
    assert (home / "go" / "mod.txt").read_text() == "module cache"


def test_store_archive_with_manifest_extracts_silently_with_gnu_tar(
    gnu_tar: str, server: CacheServer, workspace: Path, tmp_path: Path
) -> None:
    """The gha store's archive (manifest in a trailing pax global ``comment``) is plain tar."""
    from buildonce.store import cache as c
    from buildonce.store.gha import GhaStore
    from buildonce.store.gha_service import GhaConfig

    _populate(workspace)
    expected = _tree(workspace / ".cache")
    store = GhaStore(GhaConfig(server.base_url + "/", server.token), workspace=workspace)
    try:
        scope = c.Scope("refs/heads/main", ("refs/heads/main",))
        saved = c.save(
            store, [workspace / ".cache/ksail"], key="k-m", scope=scope, path_lines=[".cache/ksail"]
        )
    finally:
        store.close()
    assert saved.created
    archive = tmp_path / "cache.tzst"
    archive.write_bytes(server.blob_bytes("k-m"))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    proc = subprocess.run(
        [gnu_tar, "-xf", str(archive), "-P", "-C", str(fresh), "--use-compress-program", "unzstd"],
        capture_output=True,
        text=True,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert _tree(fresh / ".cache") == expected  # the manifest creates no file
    listing = subprocess.run(
        [gnu_tar, "-tf", str(archive), "--use-compress-program", "unzstd"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listing.stderr == ""
    assert all(line.startswith(".cache/ksail") for line in listing.stdout.splitlines())
    # ...and the manifest is in the raw tar stream, where buildonce reads it back.
    verbose = subprocess.run(["unzstd", "-c", str(archive)], capture_output=True, check=True).stdout
    assert b"comment=buildonce-manifest-v1 {" in verbose
