"""Time ``ingest github`` and ``report`` at scale against the replay server.

    python benchmarks/telemetry_bench.py                    # 10,000 runs x 20 jobs (targets below)
    python benchmarks/telemetry_bench.py --runs 1000 --repeat 3

The replay server runs in its own process with every response generated up front (ksail's
CI shape: twelve system-test legs, before/after the build-once change, a re-run every 50
runs), so serving is a lookup and the client is what is measured.  Three things run:

* ``fetch only``: the same HTTP client walking the same pages and decoding the JSON, storing
  nothing: the physical limit of a sequential client against this server;
* ``ingest``: ``ingest_github`` into a fresh SQLite file (runs, every attempt, jobs with
  derived records, caches); reported against the 60 s target and as a ratio to fetch-only;
* ``report``: ``build_report`` with a baseline and a current range over that database,
  ``--repeat`` times, median against the 2 s target; plus the ``buildonce report --format
  json`` command in a fresh process (interpreter start-up included).

Both wall and CPU seconds are printed: on a shared machine wall time includes waiting for a
core, CPU time does not.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REPO = "devantler-tech/ksail"
INGEST_TARGET_S = 60.0
REPORT_TARGET_S = 2.0
BUILDER = "Build KSail Binary"


def _serve(queue: Any, runs: int, jobs: int) -> None:
    from buildonce.telemetry._replay import ReplayServer, SyntheticGitHub

    gh = SyntheticGitHub(owner_repo=REPO, runs=runs, jobs_per_run=jobs, switch_at=runs // 2)
    gh.warm()
    with ReplayServer(gh) as server:
        queue.put(server.url)
        time.sleep(24 * 3600)


def _timed(fn: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def fetch_only(url: str, runs: int) -> int:
    """Walk the runs list and every run's jobs, decode, store nothing."""
    from buildonce.telemetry.github import GitHubClient

    count = 0
    with GitHubClient(api_url=url) as client:
        ids = []
        for page in client.paginate(f"/repos/{REPO}/actions/runs", {"per_page": 100}):
            ids += [r["id"] for r in page.data["workflow_runs"]]
        for run_id in ids:
            for page in client.paginate(
                f"/repos/{REPO}/actions/runs/{run_id}/jobs", {"filter": "all", "per_page": 100}
            ):
                count += len(page.data["jobs"])
    assert len(ids) == runs, (len(ids), runs)
    return count


def ingest(url: str, db_path: str) -> Any:
    from buildonce.telemetry.db import connect
    from buildonce.telemetry.github import GitHubClient
    from buildonce.telemetry.ingest import IngestOptions, ingest_github

    with connect(db_path) as db, GitHubClient(api_url=url) as client:
        return ingest_github(db, client, IngestOptions(repo=REPO))


def report(db_path: str, runs: int) -> Any:
    from buildonce.telemetry.db import connect
    from buildonce.telemetry.reports import CriteriaConfig, build_report

    half = runs // 2
    with connect(db_path) as db:
        return build_report(
            db,
            baseline=f"#1..#{half}",
            current=f"#{half + 1}..",
            config=CriteriaConfig(builder=BUILDER),
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=20, help="jobs per run (at most 20)")
    parser.add_argument("--repeat", type=int, default=5, help="report repetitions")
    parser.add_argument("--skip-fetch-only", action="store_true")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")  # a clean server process, no state inherited
    queue = ctx.Queue()
    print(f"generating {args.runs} runs x {args.jobs} jobs in the replay server...", flush=True)
    started = time.perf_counter()
    server = ctx.Process(target=_serve, args=(queue, args.runs, args.jobs), daemon=True)
    server.start()
    try:
        url = queue.get(timeout=1800)
        print(f"  ready in {time.perf_counter() - started:.1f}s at {url}")
        with tempfile.TemporaryDirectory(prefix="telemetry-bench-") as tmp:
            db_path = os.path.join(tmp, "telemetry.db")
            fetch = None
            if not args.skip_fetch_only:
                fetch = _timed(lambda: fetch_only(url, args.runs))
                print(
                    f"fetch only : {fetch[0]:6.1f}s wall {fetch[1]:6.1f}s cpu "
                    f"({fetch[2]} jobs decoded)"
                )
            wall, cpu, summary = _timed(lambda: ingest(url, db_path))
            verdict = "PASS" if wall <= INGEST_TARGET_S else "FAIL"
            print(
                f"ingest     : {wall:6.1f}s wall {cpu:6.1f}s cpu  target <= "
                f"{INGEST_TARGET_S:.0f}s {verdict}; {summary.requests} requests, "
                f"{summary.runs_seen} runs, {summary.attempts_fetched} earlier attempts, "
                f"{summary.jobs} jobs, {summary.cache_entries} cache entries"
            )
            if fetch:
                print(
                    f"             {wall / fetch[0]:.2f}x the fetch-only time "
                    f"({(wall - fetch[0]) / max(summary.jobs, 1) * 1e6:.0f} us per job "
                    "for deriving and storing)"
                )
            size = os.path.getsize(db_path) + sum(
                os.path.getsize(p) for p in (db_path + "-wal",) if os.path.exists(p)
            )
            print(f"database   : {size / 1e6:.0f} MB")
            times = []
            cpus = []
            result = None
            for _ in range(args.repeat):
                w, c, result = _timed(lambda: report(db_path, args.runs))
                times.append(w)
                cpus.append(c)
            med = statistics.median(times)
            verdict = "PASS" if med <= REPORT_TARGET_S else "FAIL"
            print(
                f"report     : median {med:.2f}s wall {statistics.median(cpus):.2f}s cpu of "
                f"{args.repeat} (min {min(times):.2f}s, max {max(times):.2f}s)  target <= "
                f"{REPORT_TARGET_S:.0f}s {verdict}"
            )
            assert result is not None
            total = result.current.runs + (result.baseline.runs if result.baseline else 0)
            criteria = ", ".join(f"{c.id}={c.status}" for c in result.criteria)
            print(f"             {total} runs; criteria: {criteria}")
            cli = []
            for _ in range(min(args.repeat, 3)):
                t = time.perf_counter()
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "buildonce",
                        "report",
                        "--db",
                        db_path,
                        "--format",
                        "json",
                        "--baseline",
                        f"#1..#{args.runs // 2}",
                        "--builder",
                        BUILDER,
                    ],
                    capture_output=True,
                    check=True,
                    cwd=REPO_ROOT,
                )
                cli.append(time.perf_counter() - t)
                assert proc.stdout.startswith(b"{")
            print(
                f"report CLI : median {statistics.median(cli):.2f}s (fresh process, "
                f"{len(cli)} runs)"
            )
    finally:
        server.terminate()
        server.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
