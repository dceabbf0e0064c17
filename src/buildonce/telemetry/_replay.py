"""A local stand-in for the GitHub REST API: replays recorded responses or synthesises runs.

Not public API: it exists for the test suite and ``benchmarks/telemetry_bench.py``.  It
speaks the protocol the client relies on (``Link`` pagination, ``ETag``/304, rate-limit
headers, ``Retry-After``) over real HTTP/1.1 on 127.0.0.1, so nothing in the client is
mocked.  Faults (5xx, 403/429, resets) are injected per path, in order.

The synthetic repository mirrors ksail's CI before and after its build-once change
(``../shared/corpus/ksail/ci.before.yaml`` / ``ci.after.yaml``): twelve ``system-test``
matrix legs that each compiled the binary, then a ``build-artifact`` job and legs that
restore it, a guarded build step being skipped on a cache hit.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

Reply = tuple[int, dict[str, str], bytes]
Router = Callable[[str, Mapping[str, list[str]], Mapping[str, str]], Reply]

_RATE_HEADERS = {
    "x-ratelimit-limit": "5000",
    "x-ratelimit-remaining": "4999",
    "x-ratelimit-used": "1",
    "x-ratelimit-reset": "1700000000",
    "x-ratelimit-resource": "core",
}


def json_reply(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    body = json.dumps(data, separators=(",", ":")).encode()
    merged = {"content-type": "application/json; charset=utf-8", **_RATE_HEADERS}
    merged.update(headers or {})
    return status, merged, body


@dataclass
class FaultPlan:
    """Replies served *before* the normal one for paths containing a substring."""

    queue: dict[str, list[Reply]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path_part: str, *replies: Reply) -> None:
        with self.lock:
            self.queue.setdefault(path_part, []).extend(replies)

    def take(self, path: str) -> Reply | None:
        with self.lock:
            for part, replies in self.queue.items():
                if part in path and replies:
                    return replies.pop(0)
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; without TCP_NODELAY each response waits
    # for the client's delayed ACK (~40 ms), which would make the replay server the bottleneck.
    disable_nagle_algorithm = True
    server: ReplayServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.log.append((parts.path + (f"?{parts.query}" if parts.query else ""), headers))
        fault = self.server.faults.take(parts.path)
        status, reply_headers, body = fault or self.server.router(parts.path, query, headers)
        if status == 304:
            body = b""
        self.send_response(status)
        for name, value in reply_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # keep test output clean


class ReplayServer(ThreadingHTTPServer):
    """``with ReplayServer(router) as server: server.url`` — serves until the block ends."""

    daemon_threads = True

    def __init__(self, router: Router) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.router = router
        self.faults = FaultPlan()
        self.log: list[tuple[str, dict[str, str]]] = []
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ReplayServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join()


# -- recorded responses ------------------------------------------------------------------
@dataclass
class RecordedRoutes:
    """Exact path → recorded body (and headers); unknown paths answer GitHub's 404 body."""

    routes: dict[str, Reply] = field(default_factory=dict)

    def add(
        self, path: str, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        self.routes[path] = json_reply(data, status, headers)

    def __call__(
        self, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Reply:
        reply = self.routes.get(path)
        if reply is None:
            return json_reply(
                {
                    "message": "Not Found",
                    "documentation_url": "https://docs.github.com/rest",
                    "status": "404",
                },
                404,
            )
        reply_headers = reply[1]
        etag = reply_headers.get("etag")
        if etag and headers.get("if-none-match") == etag:
            return 304, dict(reply_headers), b""
        return reply


# -- synthetic repository ----------------------------------------------------------------
KSAIL_LEGS = (
    "--distribution Kind",
    "--distribution Kind --cni Cilium",
    "--distribution Kind --cni Calico",
    "--distribution Kind --mirror-registry docker.io",
    "--distribution Kind --mirror-registry docker.io ghcr.io",
    "--distribution K3d",
    "--distribution K3d --cni Cilium",
    "--distribution K3d --cni Calico",
    "--distribution K3d --mirror-registry docker.io",
    "--distribution K3d --mirror-registry docker.io ghcr.io",
    "--distribution K3d --metrics-server Disabled",
    "--distribution Talos",
)
_OTHER_JOBS = ("pre-commit", "codeql (go)", "markdown-lint", "dependency-review")


def _iso(seconds: float, offset_hours: int = 0) -> str:
    if offset_hours == 0:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    from datetime import timedelta, timezone

    tz = timezone(timedelta(hours=offset_hours))
    return datetime.fromtimestamp(seconds, tz).isoformat(timespec="milliseconds")


@dataclass
class SyntheticGitHub:
    """``runs`` ksail-shaped runs of ``jobs_per_run`` (≤ 20) jobs; the first ``switch_at``
    runs are "before" (every leg compiles), the rest "after" (build once, legs restore)."""

    owner_repo: str = "devantler-tech/ksail"
    runs: int = 100
    jobs_per_run: int = 20
    switch_at: int | None = None
    start: float = datetime(2025, 10, 1, tzinfo=UTC).timestamp()
    hit_rate: float = 0.9
    failure_rate: float = 0.03
    rerun_every: int = 50
    in_progress_newest: bool = False
    seed: int = 7
    cache_entries: int = 12

    def __post_init__(self) -> None:
        if self.switch_at is None:
            self.switch_at = self.runs // 2
        self._prefix = f"/repos/{self.owner_repo}/actions"
        self._bodies: dict[int, bytes] = {}
        self._runs_cache: dict[int, dict[str, Any]] = {}

    # -- run model ----------------------------------------------------------------------
    def run_id(self, index: int) -> int:
        return 9_000_000_000 + index

    def attempts(self, index: int) -> int:
        return 2 if self.rerun_every and index % self.rerun_every == self.rerun_every - 1 else 1

    def after(self, index: int) -> bool:
        assert self.switch_at is not None
        return index >= self.switch_at

    def run(self, index: int, attempt: int | None = None) -> dict[str, Any]:
        if attempt is None and index in self._runs_cache:
            return self._runs_cache[index]
        latest = self.attempts(index)
        attempt = attempt or latest
        created = self.start + index * 3600.0
        started = created + (attempt - 1) * 1800.0 + 2
        in_progress = self.in_progress_newest and index == self.runs - 1
        jobs = self._jobs(index, attempt)
        failed = any(j["conclusion"] == "failure" for j in jobs)
        end = max(j["_end"] for j in jobs)
        return {
            "id": self.run_id(index),
            "name": "CI - Go",
            "node_id": f"WFR_{index}",
            "head_branch": "main" if index % 5 else f"feature-{index}",
            "head_sha": hashlib.sha1(str(index).encode()).hexdigest(),
            "path": ".github/workflows/ci.yaml",
            "display_title": f"change {index}",
            "run_number": index + 1,
            "event": "push" if index % 5 else "pull_request",
            "status": "in_progress" if in_progress else "completed",
            "conclusion": None if in_progress else ("failure" if failed else "success"),
            "workflow_id": 4242,
            "check_suite_id": 100 + index,
            "url": f"https://api.example.invalid{self._prefix}/runs/{self.run_id(index)}",
            "pull_requests": [] if index % 5 else [{"id": index, "number": 400 + index}],
            "created_at": _iso(created),
            "updated_at": _iso(end + 5),
            "run_attempt": attempt,
            "run_started_at": _iso(started),
            "previous_attempt_url": None if attempt == 1 else "https://api.example.invalid/x",
            "repository": {"id": 1, "full_name": self.owner_repo},
        }

    def _jobs(self, index: int, attempt: int) -> list[dict[str, Any]]:
        rng = random.Random(self.seed * 7_919 + index * 31 + attempt)
        created = self.start + index * 3600.0 + (attempt - 1) * 1800.0 + 2
        after = self.after(index)
        failed_leg = (
            rng.randrange(len(KSAIL_LEGS))
            if rng.random() < self.failure_rate and attempt == 1
            else -1
        )
        base_id = (self.run_id(index) - 9_000_000_000) * 100 + attempt * 40
        jobs: list[dict[str, Any]] = []

        def add(
            name: str,
            ready: float,
            run_s: float,
            steps: list[tuple[str, float, str]],
            offset: int = 0,
        ) -> dict[str, Any]:
            queue = rng.uniform(2, 9)
            start = ready + queue
            t = start
            raw_steps = []
            for number, (step_name, length, conclusion) in enumerate(steps, 1):
                raw_steps.append(
                    {
                        "name": step_name,
                        "status": "completed",
                        "conclusion": conclusion,
                        "number": number,
                        "started_at": _iso(t, offset),
                        "completed_at": _iso(t + length, offset),
                    }
                )
                t += length
            end = max(t, start + run_s)
            conclusion = "failure" if any(s[2] == "failure" for s in steps) else "success"
            job = {
                "id": base_id + len(jobs),
                "run_id": self.run_id(index),
                "run_attempt": attempt,
                "workflow_name": "CI - Go",
                "status": "completed",
                "conclusion": conclusion,
                "created_at": _iso(ready),
                "started_at": _iso(start),
                "completed_at": _iso(end),
                "name": name,
                "steps": raw_steps,
                "labels": ["ubuntu-latest"],
                "runner_name": f"GitHub Actions {rng.randrange(1000)}",
                "runner_group_name": "GitHub Actions",
                "_end": end,
            }
            jobs.append(job)
            return job

        def setup(extra: float = 0.0) -> list[tuple[str, float, str]]:
            return [
                ("Set up job", 2.0, "success"),
                ("Run actions/checkout@v5", 2.0 + extra, "success"),
                ("Run actions/setup-go@v6", rng.uniform(10, 11), "success"),
            ]

        schema = add(
            "📝 Generate JSON Schema",
            created,
            40,
            [*setup(), ("Generate schema", rng.uniform(24, 26), "success")],
        )
        if after:
            lint_ready = ci_ready = created
        else:
            lint_ready = ci_ready = schema["_end"] + 1
        add(
            "🧹 Lint - golangci-lint",
            lint_ready,
            90,
            [*setup(), ("golangci-lint", rng.uniform(80, 84), "success")],
        )
        ci = add(
            "ci",
            ci_ready,
            120,
            [*setup(), ("Run go test ./...", rng.uniform(100, 104), "success")],
            offset=1,
        )
        others = list(_OTHER_JOBS[: max(0, self.jobs_per_run - 16)])
        if after and others:
            others = others[:-1]
        for name in others:
            add(name, created, 30, [*setup(), ("Run check", rng.uniform(24, 26), "success")])
        gate = ci["_end"] + 1
        if after:
            builder = add(
                "🏗️ Build KSail Binary",
                created,
                100,
                [
                    *setup(),
                    ("♻️ Restore cached ksail binary", 3.0, "success"),
                    ("🏗️ Build ksail binary", rng.uniform(80, 100), "success"),
                    ("🔥 Smoke test ksail --version", 1.0, "success"),
                    ("Post ♻️ Restore cached ksail binary", 6.0, "success"),
                ],
            )
            gate = max(gate, builder["_end"] + 1)
        for leg_index, leg in enumerate(KSAIL_LEGS[: max(0, min(12, self.jobs_per_run - 4))]):
            outcome = "failure" if leg_index == failed_leg else "success"
            if after:
                hit = rng.random() < self.hit_rate
                binary = [
                    ("♻️ Restore cached ksail binary", rng.uniform(4, 8) if hit else 1.0, "success"),
                    (
                        "🏗️ Build ksail binary",
                        0.0 if hit else rng.uniform(80, 100),
                        "skipped" if hit else "success",
                    ),
                    ("🔥 Smoke test ksail --version", 1.0, "success"),
                ]
                test_s = rng.uniform(60, 75)
            else:
                binary = [
                    ("📦 Download dependencies", rng.uniform(20, 30), "success"),
                    ("🏗️ Build application", rng.uniform(80, 100), "success"),
                ]
                test_s = rng.uniform(65, 80)
            steps = [
                *setup(),
                *binary,
                ("🧪 ksail cluster create", test_s, outcome),
                ("🧹 Cleanup", 3.0, "success" if outcome == "success" else "skipped"),
                ("Complete job", 0.0, "success"),
            ]
            add(f"system-test ({leg})", gate, 60, steps, offset=-8 if leg_index % 4 == 0 else 0)
        last = max(j["_end"] for j in jobs) + 1
        add(
            "system-test-status",
            last,
            3,
            [("Set up job", 1.0, "success"), ("Report", 1.0, "success")],
        )
        return jobs

    def jobs(self, index: int) -> list[dict[str, Any]]:
        """``filter=all``: every attempt's jobs."""
        out = []
        for attempt in range(1, self.attempts(index) + 1):
            for job in self._jobs(index, attempt):
                out.append({k: v for k, v in job.items() if not k.startswith("_")})
        return out

    def caches(self) -> list[dict[str, Any]]:
        entries = []
        newest = self.start + (self.runs - 1) * 3600.0
        for i in range(self.cache_entries):
            ref = "refs/heads/main" if i % 3 else f"refs/pull/{400 + i}/merge"
            entries.append(
                {
                    "id": 50_000 + i,
                    "ref": ref,
                    "key": "Linux-ksail-bin-1.25.4-"
                    + hashlib.sha1(str(i).encode()).hexdigest()[:12],
                    "version": hashlib.sha256(str(i).encode()).hexdigest(),
                    "last_accessed_at": _iso(newest - i * 3600 + 60),
                    "created_at": _iso(newest - i * 3600 + 30),
                    "size_in_bytes": 216_000_000 + i * 1_000_000,
                }
            )
        return entries

    def warm(self) -> None:
        """Generate every run and jobs body up front, so serving is a lookup (benchmarks)."""
        for index in range(self.runs):
            jobs = self.jobs(index)
            self._bodies[index] = json.dumps(
                {"total_count": len(jobs), "jobs": jobs}, separators=(",", ":")
            ).encode()
            self._runs_cache[index] = self.run(index)

    # -- routing ------------------------------------------------------------------------
    def __call__(
        self, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Reply:
        q = {k: v[-1] for k, v in query.items()}
        per_page = min(int(q.get("per_page", 30)), 100)
        page = int(q.get("page", 1))
        if path in (f"{self._prefix}/runs", f"{self._prefix}/workflows/ci.yaml/runs"):
            indexes = list(range(self.runs - 1, -1, -1))  # newest first
            if "created" in q and q["created"].startswith(">="):
                since = datetime.fromisoformat(q["created"][2:]).replace(tzinfo=UTC).timestamp()
                indexes = [i for i in indexes if self.start + i * 3600.0 >= since]
            if "branch" in q:
                indexes = [
                    i for i in indexes if (("main" if i % 5 else f"feature-{i}") == q["branch"])
                ]
            chunk = indexes[(page - 1) * per_page : page * per_page]
            body = {"total_count": len(indexes), "workflow_runs": [self.run(i) for i in chunk]}
            return self._paged(path, q, (page, per_page, len(indexes)), body, headers)
        if m := re.fullmatch(rf"{re.escape(self._prefix)}/runs/(\d+)(?:/attempts/(\d+))?", path):
            index = int(m.group(1)) - 9_000_000_000
            if not 0 <= index < self.runs:
                return json_reply({"message": "Not Found", "status": "404"}, 404)
            return json_reply(self.run(index, int(m.group(2)) if m.group(2) else None))
        if m := re.fullmatch(rf"{re.escape(self._prefix)}/runs/(\d+)/jobs", path):
            index = int(m.group(1)) - 9_000_000_000
            if index in self._bodies and page == 1:
                return (
                    200,
                    {"content-type": "application/json", **_RATE_HEADERS},
                    self._bodies[index],
                )
            jobs = self.jobs(index)
            page_of_jobs = jobs[(page - 1) * per_page : page * per_page]
            body = {"total_count": len(jobs), "jobs": page_of_jobs}
            return self._paged(path, q, (page, per_page, len(jobs)), body, headers)
        if path == f"{self._prefix}/caches":
            entries = self.caches()
            page_of_entries = entries[(page - 1) * per_page : page * per_page]
            body = {"total_count": len(entries), "actions_caches": page_of_entries}
            return self._paged(path, q, (page, per_page, len(entries)), body, headers)
        if path == f"{self._prefix}/cache/usage":
            entries = self.caches()
            return json_reply(
                {
                    "full_name": self.owner_repo,
                    "active_caches_size_in_bytes": sum(e["size_in_bytes"] for e in entries),
                    "active_caches_count": len(entries),
                }
            )
        if path == f"{self._prefix}/cache/storage-limit":
            return json_reply(
                {"message": "Resource not accessible by integration", "status": "403"}, 403
            )
        return json_reply({"message": "Not Found", "status": "404"}, 404)

    def _paged(
        self,
        path: str,
        q: Mapping[str, str],
        position: tuple[int, int, int],
        body: Any,
        headers: Mapping[str, str],
    ) -> Reply:
        page, per_page, total = position
        last = max(1, -(-total // per_page))
        links = []
        origin = f"http://{headers.get('host', '127.0.0.1')}"
        base = {k: v for k, v in q.items() if k != "page"}
        if page < last:
            links.append(f'<{origin}{path}?{urlencode({**base, "page": page + 1})}>; rel="next"')
            links.append(f'<{origin}{path}?{urlencode({**base, "page": last})}>; rel="last"')
        if page > 1:
            links.append(f'<{origin}{path}?{urlencode({**base, "page": 1})}>; rel="first"')
        payload = json.dumps(body, separators=(",", ":")).encode()
        etag = 'W/"' + hashlib.sha256(payload).hexdigest()[:32] + '"'
        reply_headers = {
            "content-type": "application/json; charset=utf-8",
            "etag": etag,
            **_RATE_HEADERS,
        }
        if links:
            reply_headers["link"] = ", ".join(links)
        if headers.get("if-none-match") == etag:
            return 304, reply_headers, b""
        return 200, reply_headers, payload
