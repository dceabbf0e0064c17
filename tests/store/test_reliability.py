"""Savers killed with SIGKILL at random points never leave a restorable bad entry."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

from buildonce.store import cache, open_store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs fork and SIGKILL")

SCOPE = cache.Scope("refs/heads/main", ("refs/heads/main",))


def _fork_saver(url: str, src: Path, key: str) -> int:
    pid = os.fork()
    if pid == 0:  # child: save and leave without running any of pytest's cleanup
        code = 3
        try:
            s3 = sys.modules.get("buildonce.store.s3")
            if s3 is not None:
                s3._CLIENTS.clear()  # never share the parent's HTTP connections
            store = open_store(url)
            cache.save(store, [src], key=key, scope=SCOPE)
            code = 0
        finally:
            os._exit(code)
    return pid


def _kill_savers(url: str, tmp_path: Path, rounds: int, size: int, seed: int) -> tuple[int, int]:
    src = tmp_path / "app"
    src.write_bytes(os.urandom(size))
    expected = src.read_bytes()
    # How long one complete save takes here, so kills land before, during and after it.
    start = time.monotonic()
    pid = _fork_saver(url, src, "k-timing")
    os.waitpid(pid, 0)
    full = time.monotonic() - start
    rng = random.Random(seed)
    store = open_store(url)
    restored = missed = 0
    (tmp_path / "out").mkdir()
    for i in range(rounds):
        key = f"k-kill-{i}"
        pid = _fork_saver(url, src, key)
        time.sleep(rng.uniform(0, full * 1.1))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        dest = tmp_path / "out" / f"app-{i}"
        outcome = cache.restore(store, [dest], key=key, scope=SCOPE, exact=True)
        assert not outcome.warnings, outcome.warnings  # never a corrupt entry to quarantine
        if outcome.restored:
            assert dest.read_bytes() == expected
            restored += 1
        else:
            assert not dest.exists()
            missed += 1
        leftovers = [p.name for p in dest.parent.iterdir() if ".buildonce-" in p.name]
        assert not leftovers
    return restored, missed


def test_sigkilled_local_savers(tmp_path: Path) -> None:
    restored, missed = _kill_savers(str(tmp_path / "store"), tmp_path, 50, 6_000_000, 1)
    # The kills must have landed on both sides of the commit to prove anything.
    assert restored > 0
    assert missed > 0
    # What the killed savers left (scratch files, uncommitted blobs) is pruned later.
    store = open_store(str(tmp_path / "store"))
    later = cache.now_utc() + cache.ORPHAN_AGE * 2
    cache.prune(store, clock=lambda: later)
    remaining = {r.blob for r in store.entries()}
    assert set(store.blob_names()) == remaining  # type: ignore[attr-defined]
    assert not list((tmp_path / "store" / "tmp").iterdir())


@pytest.mark.slow
def test_sigkilled_s3_savers(s3_url: str, tmp_path: Path) -> None:
    restored, missed = _kill_savers(s3_url, tmp_path, 8, 3_000_000, 2)
    assert restored + missed == 8
