"""Time ``buildonce hash`` against the runner's hashFiles and a parallel sha256sum pipeline.

    python benchmarks/hashfiles_bench.py                 # kubernetes size: 20,000 .go files, 250 MB
    python benchmarks/hashfiles_bench.py --files 2000 --mb 25 --repeat 3

The tree is generated once (deterministic content, so every run hashes the same bytes) and
reused while its parameters match.  Each command then runs once to warm the page cache and
``--repeat`` times for the medians:

* ``buildonce``: ``python -m buildonce hash --root TREE go.mod go.sum '**/*.go'`` (a fresh
  process, interpreter start-up included), plus the in-process library call for reference;
* ``oracle``: the runner's hashFiles script on @actions/glob (``tests/oracle/hashfiles.mjs``,
  one node process per run);
* ``sha256sum``: ``find TREE -name '*.go' -type f -print0 | xargs -0 -P$(nproc) sha256sum``.

All three must agree on the files: buildonce's and the oracle's hashes are compared, and
the pipeline's file count is checked against buildonce's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ORACLE = REPO / "tests" / "oracle"
PATTERNS = ["go.mod", "go.sum", "**/*.go"]
# Kubernetes-like: lots of .go files, a few other files the '**/*.go' walk must skip.
OTHER_FILE_SHARE = 0.1

_GO_TEXT = (
    b"// Code generated for the buildonce benchmark. DO NOT EDIT.\n\n"
    b"func (c *Controller) reconcile(ctx context.Context, key string) error {\n"
    b"\tobj, exists, err := c.indexer.GetByKey(key)\n"
    b'\tif err != nil {\n\t\treturn fmt.Errorf("fetching %q: %w", key, err)\n\t}\n'
    b"\tif !exists {\n\t\treturn nil\n\t}\n\t_ = obj\n\treturn nil\n}\n\n"
)


def _sizes(files: int, total: int, rng: random.Random) -> list[int]:
    # Log-normal sizes (most files small, a few large), scaled to the requested total.
    raw = [rng.lognormvariate(0.0, 1.0) for _ in range(files)]
    scale = total / sum(raw)
    return [max(64, int(r * scale)) for r in raw]


def generate(root: Path, files: int, mb: int) -> None:
    """Write ``files`` .go files totalling ~``mb`` MB (10**6 bytes) under ``root``."""
    rng = random.Random(20_000)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "go.mod").write_text("module k8s.example/bench\n\ngo 1.25\n")
    (root / "go.sum").write_text("example.com/dep v1.0.0 h1:AAAA=\n")
    blob = _GO_TEXT * (1 + (4 << 20) // len(_GO_TEXT))
    sizes = _sizes(files, mb * 1_000_000, rng)
    for index, size in enumerate(sizes):
        top, mid = index % 23, (index // 23) % 37
        directory = root / "pkg" / f"area{top:02d}" / f"component-{mid:02d}"
        if index % 7 == 0:
            directory = directory / "internal"
        directory.mkdir(parents=True, exist_ok=True)
        header = f"package component{mid}\n\n// file {index}\n".encode()
        start = rng.randrange(0, len(blob) - size - 1)
        (directory / f"file_{index:05d}.go").write_bytes(header + blob[start : start + size])
        if rng.random() < OTHER_FILE_SHARE:
            (directory / f"README_{index:05d}.md").write_bytes(blob[:512])
    (root / ".bench-params").write_text(json.dumps({"files": files, "mb": mb}))


def ensure_tree(root: Path, files: int, mb: int) -> None:
    marker = root / ".bench-params"
    try:
        if json.loads(marker.read_text()) == {"files": files, "mb": mb}:
            return
    except (OSError, ValueError):
        pass
    print(f"generating {files} .go files, ~{mb} MB under {root} ...", flush=True)
    started = time.perf_counter()
    generate(root, files, mb)
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)


def timed(run: Callable[[], str], repeat: int) -> tuple[float, str]:
    output = run()  # warm-up: page cache, node's module cache, Python's bytecode cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
        if result != output:
            raise SystemExit(f"result changed between runs: {output!r} then {result!r}")
    return statistics.median(times), output


def run_buildonce_cli(root: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "buildonce", "hash", "--root", str(root), *PATTERNS],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def run_buildonce_library(root: Path) -> str:
    from buildonce.keys.hashfiles import hash_files

    return hash_files(PATTERNS, root=root)


def run_oracle(node: str, root: Path) -> str:
    request = json.dumps({"cwd": str(root), "patterns": PATTERNS, "follow": False})
    proc = subprocess.run(
        [node, str(ORACLE / "hashfiles.mjs")],
        input=request + "\n",
        capture_output=True,
        text=True,
        check=True,
        cwd=ORACLE,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("__ORACLE__"):
            answer = json.loads(line[len("__ORACLE__") :])
            if "error" in answer:
                raise SystemExit(f"oracle failed: {answer['error']}")
            return str(answer["hash"])
    raise SystemExit("oracle printed no answer")


def run_pipeline(root: Path, cpus: int) -> str:
    proc = subprocess.run(
        f"find . -name '*.go' -type f -print0 | xargs -0 -P{cpus} sha256sum",
        shell=True,
        cwd=root,
        capture_output=True,
        check=True,
    )
    return str(proc.stdout.count(b"\n"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000, help=".go files (default 20000)")
    parser.add_argument("--mb", type=int, default=250, help="total MB of .go files (default 250)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per command")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where the tree lives (default: a reusable folder in the temp directory)",
    )
    parser.add_argument("--skip-oracle", action="store_true", help="do not time the node oracle")
    args = parser.parse_args(argv)

    root = args.dir or Path(tempfile.gettempdir()) / f"buildonce-bench-{args.files}-{args.mb}"
    ensure_tree(root, args.files, args.mb)
    root = root.resolve()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    size = sum(p.stat().st_size for p in root.rglob("*.go"))
    print(
        f"tree: {args.files} .go files, {size / 1e6:.0f} MB; {cpus} CPUs; "
        f"median of {args.repeat} warm runs",
        flush=True,
    )

    rows: list[tuple[str, float]] = []
    cli_time, cli_hash = timed(lambda: run_buildonce_cli(root), args.repeat)
    rows.append(("buildonce hash (CLI process)", cli_time))
    lib_time, lib_hash = timed(lambda: run_buildonce_library(root), args.repeat)
    rows.append(("buildonce hash_files() in-process", lib_time))
    if cli_hash != lib_hash:
        raise SystemExit(f"CLI and library disagree: {cli_hash} vs {lib_hash}")

    pipe_time, pipe_count = timed(lambda: run_pipeline(root, cpus), args.repeat)
    rows.append((f"find | xargs -0 -P{cpus} sha256sum", pipe_time))
    from buildonce.keys.hashfiles import match_files

    matched = match_files(PATTERNS, root=root)
    go_files = sum(1 for p in matched if p.suffix == ".go")
    if int(pipe_count) != go_files:
        raise SystemExit(f"sha256sum hashed {pipe_count} files, buildonce {go_files}")

    oracle_time = None
    node = shutil.which("node")
    if args.skip_oracle:
        print("oracle: skipped (--skip-oracle)")
    elif node is None or not (ORACLE / "node_modules" / "@actions" / "glob").is_dir():
        print("oracle: skipped (needs node and `npm ci --prefix tests/oracle`)")
    else:
        oracle_time, oracle_hash = timed(lambda: run_oracle(node, root), args.repeat)
        rows.append(("@actions/glob oracle (runner script)", oracle_time))
        if oracle_hash != cli_hash:
            raise SystemExit(f"oracle and buildonce disagree: {oracle_hash} vs {cli_hash}")

    print(f"hash: {cli_hash} ({len(matched)} files)")
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds:7.3f} s  {size / 1e6 / seconds:7.0f} MB/s")
    if oracle_time is not None:
        print(f"buildonce (CLI) is {oracle_time / cli_time:.1f}x faster than the oracle")
    print(
        f"buildonce (CLI) takes {cli_time / pipe_time:.2f}x the sha256sum pipeline's time "
        f"(in-process: {lib_time / pipe_time:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
