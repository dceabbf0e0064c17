"""``buildonce gomod save|restore``: keyed {os}-go-{go}-{go.sum hash}, misses are not failures."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from buildonce.cli import main
from buildonce.store import cache, gomod, open_store

from .conftest import FakeClock

SCOPE = cache.Scope("refs/heads/main", ("refs/heads/main",))


@pytest.fixture
def go_dirs(
    tmp_path: Path, go_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, example_project: Path
) -> tuple[Path, Path]:
    """Private GOMODCACHE/GOCACHE with module-cache-like content (read-only directories)."""
    mod = tmp_path / "gopath" / "pkg" / "mod"
    build = tmp_path / "gocache"
    pkg = mod / "example.com" / "dep@v1.0.0"
    pkg.mkdir(parents=True)
    (pkg / "dep.go").write_text("package dep\n")
    (pkg / "dep.go").chmod(0o444)
    pkg.chmod(0o555)  # go makes module directories read-only
    (build / "ab").mkdir(parents=True)
    (build / "ab" / "abcdef-d").write_bytes(os.urandom(4096))
    for name in ("GOFLAGS", "GOPROXY", "GOTOOLCHAIN", "GOTELEMETRY"):
        monkeypatch.setenv(name, go_env[name])
    monkeypatch.setenv("GOMODCACHE", str(mod))
    monkeypatch.setenv("GOCACHE", str(build))
    monkeypatch.setenv("RUNNER_OS", "Linux")
    (example_project / "go.sum").write_text("example.com/dep v1.0.0 h1:AAAA=\n")
    monkeypatch.chdir(example_project)
    return mod, build


def wipe(path: Path) -> None:
    for dirpath, dirnames, _files in os.walk(path):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)
    import shutil

    shutil.rmtree(path)


def test_miss_logs_and_exits_zero_then_save_and_hit(
    go_dirs: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert main(["gomod", "restore"]) == 0
    text = capsys.readouterr().out
    assert "Go module cache miss for key Linux-go-" in text
    assert "continuing with a cold cache" in text
    assert "cache-hit=false" in out.read_text()

    assert main(["gomod", "save", "--json"]) == 0
    saved = json.loads(capsys.readouterr().out)
    assert saved["created"] is True
    key = saved["key"]
    assert key.startswith("Linux-go-")
    assert saved["entry"]["kind"] == "gomod"

    mod, build = go_dirs
    wipe(mod)
    wipe(build)
    out.write_text("")
    assert main(["gomod", "restore", "--json"]) == 0
    restored = json.loads(capsys.readouterr().out)
    assert restored["cacheHit"] is True
    assert restored["state"] == "Warm"
    dep = mod / "example.com" / "dep@v1.0.0"
    assert (dep / "dep.go").read_text() == "package dep\n"
    assert stat.S_IMODE(dep.stat().st_mode) & 0o222 == 0
    assert len((build / "ab" / "abcdef-d").read_bytes()) == 4096
    assert "cache-hit=true" in out.read_text()

    # Restoring over a populated read-only module cache swaps it whole.
    assert main(["gomod", "restore"]) == 0
    assert "Go cache hit" in capsys.readouterr().out


def test_go_sum_change_invalidates_older_entries_which_are_evicted_first(
    go_dirs: tuple[Path, Path], example_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gomod", "save", "--json"]) == 0
    old_key = json.loads(capsys.readouterr().out)["key"]
    (example_project / "go.sum").write_text("example.com/dep v1.0.1 h1:BBBB=\n")
    assert main(["gomod", "save", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["key"] != old_key
    assert report["invalidated"] == [old_key]
    assert report["entry"]["meta"]["initial"] == "Cold"
    # The save prunes: the Invalid entry is gone, the new one stays.
    assert main(["cache", "ls", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["entry"]["key"], e["state"]) for e in listed] == [(report["key"], "Updated")]


def test_toolchain_change_marks_invalid_in_the_history(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    clock = FakeClock()
    mod = tmp_path / "mod"
    mod.mkdir()
    (mod / "f").write_text("x")
    old = gomod.ModuleKey("Linux-go-1.25.4-aaaaaaaa", "Linux", "1.25.4", "aaaaaaaa")
    new = gomod.ModuleKey("Linux-go-1.25.5-aaaaaaaa", "Linux", "1.25.5", "aaaaaaaa")
    other_os = gomod.ModuleKey("macOS-go-1.25.4-aaaaaaaa", "macOS", "1.25.4", "aaaaaaaa")
    gomod.save_modules(store, [mod], old, scope=SCOPE, hit=True, clock=clock)
    gomod.save_modules(store, [mod], other_os, scope=SCOPE, clock=clock)
    # Keep the old entry by making it the one used most recently: Invalid still goes first.
    clock.advance(minutes=1)
    info_before = cache.history(store, cache.find_entry(store, old.key))
    assert [(r.source, r.target) for r in info_before.rows] == [("Warm", "Updated")]
    outcome = gomod.save_modules(store, [mod], new, scope=SCOPE, job="build", clock=clock)
    assert outcome.invalidated == (old.key,)
    keys = sorted(r.key for r in store.entries())
    assert keys == sorted([new.key, other_os.key])


def test_invalid_entries_are_evicted_before_lru(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    clock = FakeClock()
    src = tmp_path / "m"
    src.mkdir()
    (src / "f").write_bytes(os.urandom(1000))
    a = gomod.ModuleKey("Linux-go-1.25.4-aaaaaaaa", "Linux", "1.25.4", "aaaaaaaa")
    saved = cache.save(
        store,
        [src],
        key=a.key,
        scope=SCOPE,
        kind="gomod",
        event="save",
        meta={"os": "Linux", "toolchain": "1.25.4", "gosumHash": "aaaaaaaa"},
        clock=clock,
    )
    assert saved.record is not None
    store.add_event(saved.record, cache.Event("invalidate", clock.advance(minutes=1), None))
    info = cache.history(store, saved.record)
    assert info.state == "Invalid"
    assert [(r.event, r.source, r.target) for r in info.rows] == [
        ("save", "Cold", "Updated"),
        ("invalidate", "Updated", "Invalid"),
    ]
    result = cache.prune(store, quota_bytes=10**9, clock=clock)
    assert [r.key for r in result.evicted] == [a.key]
    assert result.reasons == ("invalid",)
