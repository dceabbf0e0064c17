"""Ingest GitHub Actions runs, jobs and caches into the telemetry database.

Three phases, each made of small transactions so that killing the process at any point
loses at most the work of the transaction in flight, and re-running resumes:

1. **List runs** page by page (``Link`` pagination).  Each page's runs and its ETag are
   committed together.  A run whose ``updated_at`` changed is marked "jobs pending".
   Once a listing has completed, the next ingest sends ``If-None-Match`` and stops at the
   first page that is unchanged (304) or holds only runs it already has.  ``full=True``
   re-walks everything (catches re-runs of old runs).
2. **Fetch jobs** (``filter=all``: every attempt) for each pending run, plus the run object
   of every earlier attempt.  Rows are upserted by primary key, and the run is marked done
   in the same transaction, so a kill cannot leave it half-written or marked twice.
3. **Snapshot caches**: the caches list, usage and storage limit in one transaction, then
   link jobs to the entries they saved or restored.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote

from buildonce.errors import InputError
from buildonce.telemetry.db import Database
from buildonce.telemetry.github import GitHubClient, Response
from buildonce.telemetry.records import (
    DEFAULT_PATTERNS,
    JobRecord,
    StepPatterns,
    classify_steps,
    derive_job,
    steps_from_text,
    steps_to_text,
)
from buildonce.telemetry.timestamps import parse_time

_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
#: Runs committed per transaction in the jobs phase: small enough that a kill loses little.
JOBS_BATCH = 25
#: GitHub's documented default cache quota, used when storage-limit is not readable.
DEFAULT_LIMIT_GB = 10.0
#: Bulky nested objects dropped from the stored raw run JSON (derivable, never reported).
_DROP_FROM_RAW = ("repository", "head_repository", "head_commit", "actor", "triggering_actor")

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class IngestOptions:
    repo: str
    workflow: str | None = None
    since: str | None = None
    branch: str | None = None
    full: bool = False
    caches: bool = True
    workflow_files: bool = False
    patterns: StepPatterns = DEFAULT_PATTERNS

    def __post_init__(self) -> None:
        if not _REPO.match(self.repo):
            raise InputError(
                f"{self.repo!r} is not OWNER/NAME", where="--repo", hint="e.g. --repo octo/hello"
            )
        if self.since is not None:
            try:
                date.fromisoformat(self.since)
            except ValueError:
                raise InputError(
                    f"{self.since!r} is not a date", where="--since", hint="use YYYY-MM-DD"
                ) from None
        if self.workflow is not None and "/" in self.workflow.removeprefix(".github/workflows/"):
            raise InputError(
                f"{self.workflow!r} is not a workflow file name or id",
                where="--workflow",
                hint="use the file name (ci.yaml) or the numeric workflow id",
            )

    @property
    def scope(self) -> str:
        return (
            f"workflow={self.workflow or '*'};branch={self.branch or '*'};since={self.since or '*'}"
        )


@dataclass(slots=True)
class IngestSummary:
    repo: str
    pages: int = 0
    pages_not_modified: int = 0
    runs_seen: int = 0
    runs_updated: int = 0
    attempts_fetched: int = 0
    jobs: int = 0
    cache_entries: int = 0
    cache_links: int = 0
    workflow_files: int = 0
    requests: int = 0
    waited_s: float = 0.0
    listing_complete: bool = False
    rederived: int = 0
    rate_limit_remaining: int | None = None
    elapsed_s: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ingest_github(
    db: Database,
    client: GitHubClient,
    options: IngestOptions,
    *,
    progress: Progress | None = None,
) -> IngestSummary:
    """Bring the database up to date with ``options.repo``; safe to interrupt and repeat."""
    started = time.monotonic()
    summary = IngestSummary(repo=options.repo)
    say = progress or (lambda _msg: None)
    try:
        summary.rederived = rederive_if_patterns_changed(db, options.repo, options.patterns)
        _list_runs(db, client, options, summary, say)
        _fetch_jobs(db, client, options, summary, say)
        if options.workflow_files:
            _fetch_workflow_files(db, client, options, summary)
        if options.caches:
            _snapshot_caches(db, client, options, summary, say)
    finally:
        summary.requests = client.stats.requests
        summary.waited_s = client.stats.waited_s
        summary.rate_limit_remaining = client.stats.rate_limit_remaining
        summary.elapsed_s = time.monotonic() - started
    return summary


# -- phase 1: runs ------------------------------------------------------------------------
def _runs_path(options: IngestOptions) -> str:
    owner_repo = options.repo
    if options.workflow:
        workflow = options.workflow.rsplit("/", 1)[-1]
        return f"/repos/{owner_repo}/actions/workflows/{quote(workflow, safe='')}/runs"
    return f"/repos/{owner_repo}/actions/runs"


def _list_runs(
    db: Database,
    client: GitHubClient,
    options: IngestOptions,
    summary: IngestSummary,
    say: Progress,
) -> None:
    params: dict[str, Any] = {"per_page": 100}
    if options.branch:
        params["branch"] = options.branch
    if options.since:
        params["created"] = f">={options.since}"
    rows = db.query(
        "SELECT high_water, value FROM sync_state WHERE repo = ? AND scope = ?",
        (options.repo, options.scope),
    )
    # high_water: the newest run of the last *complete* listing.  value: "partial" while a
    # listing is under way, so a listing killed half-way is never mistaken for a complete one.
    high_water: float | None = rows[0][0] if rows else None
    was_complete = bool(rows) and rows[0][1] == "complete"
    incremental = high_water is not None and not options.full
    newest = high_water
    url: str | None = client.url(_runs_path(options), params)
    while url is not None:
        # A 304 on the first page proves nothing is missing only after a complete listing.
        use_etag = incremental and was_complete and summary.pages == 0
        etag = _stored_etag(db, client, url) if use_etag else None
        page = client.get(url, etag=etag)
        summary.pages += 1
        if page.status == 304:
            summary.pages_not_modified += 1
            break
        runs = page.data.get("workflow_runs") if isinstance(page.data, dict) else None
        if not isinstance(runs, list):
            raise InputError(
                "the runs list has no 'workflow_runs' array",
                where=page.url.split("?")[0],
                hint="GITHUB_API_URL must point at the REST API",
            )
        changed = 0
        oldest: float | None = None
        with db.transaction():
            for run in runs:
                if not isinstance(run, dict) or "id" not in run:
                    continue
                summary.runs_seen += 1
                created = parse_time(run.get("created_at"))
                if created is not None:
                    newest = created if newest is None else max(newest, created)
                    oldest = created if oldest is None else min(oldest, created)
                if _upsert_run(db, options.repo, run, latest=True):
                    changed += 1
            _store_etag(db, client, page)
            if summary.pages == 1:
                _set_listing_state(db, options, high_water, "partial")
        summary.runs_updated += changed
        say(f"runs: {summary.runs_seen} listed, {summary.runs_updated} new or changed")
        reached_known = oldest is not None and high_water is not None and oldest <= high_water
        if incremental and changed == 0 and reached_known:
            break  # from here on, everything was stored by an earlier complete listing
        url = page.next_url
    summary.listing_complete = True
    _set_listing_state(db, options, newest, "complete")


def _set_listing_state(
    db: Database, options: IngestOptions, high_water: float | None, state: str
) -> None:
    _upsert(
        db,
        "sync_state",
        ("repo", "scope"),
        {"repo": options.repo, "scope": options.scope, "high_water": high_water, "value": state},
    )


def _upsert_run(db: Database, repo: str, run: Mapping[str, Any], *, latest: bool) -> bool:
    """Store one run attempt; return whether its jobs must be (re)fetched."""
    run_id = int(run["id"])
    attempt = int(run.get("run_attempt") or 1)
    updated = parse_time(run.get("updated_at"))
    raw = {k: v for k, v in run.items() if k not in _DROP_FROM_RAW}
    prs = run.get("pull_requests")
    pr_numbers = ",".join(
        str(p["number"]) for p in prs or () if isinstance(p, Mapping) and "number" in p
    )
    row = {
        "repo": repo,
        "run_id": run_id,
        "attempt": attempt,
        "workflow_id": run.get("workflow_id"),
        "workflow_name": run.get("name"),
        "path": run.get("path"),
        "event": run.get("event"),
        "head_branch": run.get("head_branch"),
        "head_sha": run.get("head_sha"),
        "pr_numbers": pr_numbers,
        "run_number": run.get("run_number"),
        "status": run.get("status"),
        "conclusion": run.get("conclusion"),
        "created_at": parse_time(run.get("created_at")),
        "run_started_at": parse_time(run.get("run_started_at")),
        "updated_at": updated,
        "latest": 1 if latest else 0,
        "raw": json.dumps(raw, separators=(",", ":"), sort_keys=True),
    }
    if not latest:
        _upsert(db, "runs", ("repo", "run_id", "attempt"), row)
        return False
    # Earlier attempts of this run stop being "latest" (a re-run bumps run_attempt).
    db.execute(
        "UPDATE runs SET latest = 0 WHERE repo = ? AND run_id = ? AND attempt <> ? AND latest = 1",
        (repo, run_id, attempt),
    )
    _upsert(db, "runs", ("repo", "run_id", "attempt"), row)
    known = db.query(
        "SELECT updated_at, jobs_synced FROM run_sync WHERE repo = ? AND run_id = ?",
        (repo, run_id),
    )
    if known and known[0][0] == updated and known[0][1]:
        return False
    _upsert(
        db,
        "run_sync",
        ("repo", "run_id"),
        {"repo": repo, "run_id": run_id, "updated_at": updated, "jobs_synced": 0},
    )
    return True


# -- phase 2: jobs ------------------------------------------------------------------------
def _fetch_jobs(
    db: Database,
    client: GitHubClient,
    options: IngestOptions,
    summary: IngestSummary,
    say: Progress,
) -> None:
    pending = db.query(
        "SELECT s.run_id, r.attempt, r.status FROM run_sync s JOIN runs r"
        " ON r.repo = s.repo AND r.run_id = s.run_id AND r.latest = 1"
        " WHERE s.repo = ? AND s.jobs_synced = 0 ORDER BY s.run_id",
        (options.repo,),
    )
    total = len(pending)
    batch: list[_Fetched] = []
    for index, (run_id, listed_attempt, listed_status) in enumerate(pending, 1):
        attempt, status = listed_attempt, listed_status
        earlier: list[Mapping[str, Any]] = []
        refreshed: Mapping[str, Any] | None = None
        if status != "completed":
            # Listed while in progress: refresh the run itself so its end state is stored.
            resp = client.get(f"/repos/{options.repo}/actions/runs/{run_id}", allow_status=(404,))
            if resp.status == 200 and isinstance(resp.data, dict):
                refreshed = resp.data
                status = resp.data.get("status")
                attempt = int(resp.data.get("run_attempt") or attempt)
        for number in range(1, int(attempt)):
            have = db.query(
                "SELECT 1 FROM runs WHERE repo = ? AND run_id = ? AND attempt = ?",
                (options.repo, run_id, number),
            )
            if not have:
                resp = client.get(
                    f"/repos/{options.repo}/actions/runs/{run_id}/attempts/{number}",
                    allow_status=(404,),
                )
                if resp.status == 200 and isinstance(resp.data, dict):
                    earlier.append(resp.data)
                    summary.attempts_fetched += 1
        jobs: list[JobRecord] = []
        for page in client.paginate(
            f"/repos/{options.repo}/actions/runs/{run_id}/jobs",
            {"filter": "all", "per_page": 100},
        ):
            raw_jobs = page.data.get("jobs") if isinstance(page.data, dict) else None
            for raw in raw_jobs or ():
                if isinstance(raw, dict) and "id" in raw:
                    raw.setdefault("run_id", run_id)
                    jobs.append(derive_job(raw, options.patterns))
        batch.append(_Fetched(int(run_id), jobs, earlier, refreshed, status == "completed"))
        if len(batch) >= JOBS_BATCH or index == total:
            _commit_jobs(db, options.repo, batch)
            summary.jobs += sum(len(b.jobs) for b in batch)
            batch = []
            say(f"jobs: {index}/{total} runs, {summary.jobs} jobs")


@dataclass(frozen=True, slots=True)
class _Fetched:
    run_id: int
    jobs: list[JobRecord]
    earlier_attempts: list[Mapping[str, Any]]
    refreshed: Mapping[str, Any] | None
    completed: bool


def _commit_jobs(db: Database, repo: str, batch: Iterable[_Fetched]) -> None:
    with db.transaction():
        rows: list[tuple[Any, ...]] = []
        steps: list[tuple[Any, ...]] = []
        done: list[tuple[Any, ...]] = []
        for fetched in batch:
            if fetched.refreshed is not None:
                _upsert_run(db, repo, fetched.refreshed, latest=True)
            for run in fetched.earlier_attempts:
                _upsert_run(db, repo, run, latest=False)
            for job in fetched.jobs:
                rows.append(_job_row(repo, job))
                steps.append((repo, job.job_id, steps_to_text(job.steps)))
            if fetched.completed:
                # An in-progress run stays pending so the next ingest picks up its end.
                done.append((repo, fetched.run_id))
        db.executemany(_UPSERT_JOB, rows)
        db.executemany(_UPSERT_STEPS, steps)
        db.executemany("UPDATE run_sync SET jobs_synced = 1 WHERE repo = ? AND run_id = ?", done)


_JOB_COLUMNS = (
    "repo",
    "job_id",
    "run_id",
    "attempt",
    "name",
    "base_name",
    "status",
    "conclusion",
    "ci_status",
    "created_at",
    "started_at",
    "completed_at",
    "duration_s",
    "queue_s",
    "cache_hit",
    "cache_evidence",
    "rebuilt",
    "compile_steps",
    "smoke_ran",
    "uses_binary",
    "runner_name",
    "labels",
)


def _upsert_sql(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


_UPSERT_JOB = _upsert_sql("jobs", _JOB_COLUMNS, ("repo", "job_id"))
_UPSERT_STEPS = _upsert_sql("job_steps", ("repo", "job_id", "steps"), ("repo", "job_id"))


def _job_row(repo: str, job: JobRecord) -> tuple[Any, ...]:
    return (
        repo,
        job.job_id,
        job.run_id,
        job.attempt,
        job.name,
        job.base_name,
        job.status,
        job.conclusion,
        job.ci_status.value,
        job.created_at,
        job.started_at,
        job.completed_at,
        job.duration_s,
        job.queue_s,
        None if job.cache_hit is None else int(job.cache_hit),
        job.cache_evidence,
        int(job.rebuilt),
        job.compile_steps,
        int(job.smoke_ran),
        int(job.uses_binary),
        job.runner_name,
        _compact(list(job.labels)),
    )


# -- re-classification ------------------------------------------------------------------
_PATTERNS_SCOPE = "step-patterns"


def rederive_if_patterns_changed(db: Database, repo: str, patterns: StepPatterns) -> int:
    """Re-classify every stored job when the step patterns differ from the last ingest's.

    Unchanged runs are never fetched again, so without this a new ``--compile-step`` would
    only apply to new runs.  The stored steps are enough; no request is made.
    """
    rows = db.query(
        "SELECT value FROM sync_state WHERE repo = ? AND scope = ?", (repo, _PATTERNS_SCOPE)
    )
    if rows and rows[0][0] == patterns.fingerprint:
        return 0
    updates = []
    for job_id, text in db.query("SELECT job_id, steps FROM job_steps WHERE repo = ?", (repo,)):
        o = classify_steps(steps_from_text(text), patterns)
        hit = None if o.cache_hit is None else int(o.cache_hit)
        updates.append(
            (
                hit,
                o.evidence,
                int(o.compile_steps > 0),
                o.compile_steps,
                int(o.smoke_ran),
                int(o.uses_binary),
                repo,
                job_id,
            )
        )
    with db.transaction():
        db.executemany(
            "UPDATE jobs SET cache_hit = ?, cache_evidence = ?, rebuilt = ?, compile_steps = ?,"
            " smoke_ran = ?, uses_binary = ? WHERE repo = ? AND job_id = ?",
            updates,
        )
        _upsert(
            db,
            "sync_state",
            ("repo", "scope"),
            {"repo": repo, "scope": _PATTERNS_SCOPE, "value": patterns.fingerprint},
        )
    if updates:
        link_jobs_to_caches(db, repo)
    return len(updates)


# -- phase 3: caches ----------------------------------------------------------------------
def _snapshot_caches(
    db: Database,
    client: GitHubClient,
    options: IngestOptions,
    summary: IngestSummary,
    say: Progress,
) -> None:
    base = f"/repos/{options.repo}/actions"
    entries: dict[int, Mapping[str, Any]] = {}
    for page in client.paginate(f"{base}/caches", {"per_page": 100}, allow_status=(403, 404)):
        if page.status != 200:
            summary.warnings.append(
                f"cache list not readable (HTTP {page.status}); the token needs 'actions: read'"
            )
            return
        for entry in (page.data or {}).get("actions_caches") or ():
            if isinstance(entry, dict) and "id" in entry:
                entries[int(entry["id"])] = entry  # lists shift while paging: dedupe by id
    usage = client.get(f"{base}/cache/usage", allow_status=(403, 404))
    limit = client.get(f"{base}/cache/storage-limit", allow_status=(403, 404))
    limit_gb = DEFAULT_LIMIT_GB
    limit_source = "default"
    if limit.status == 200 and isinstance(limit.data, dict):
        value = limit.data.get("max_cache_size_gb")
        if isinstance(value, int | float) and value > 0:
            limit_gb, limit_source = float(value), "api"
    usage_data = usage.data if usage.status == 200 and isinstance(usage.data, dict) else {}
    snapshot_at = client.clock()
    listed_bytes = sum(int(e.get("size_in_bytes") or 0) for e in entries.values())
    with db.transaction():
        _upsert(
            db,
            "cache_snapshots",
            ("repo", "snapshot_at"),
            {
                "repo": options.repo,
                "snapshot_at": snapshot_at,
                "active_bytes": usage_data.get("active_caches_size_in_bytes"),
                "active_count": usage_data.get("active_caches_count"),
                "limit_gb": limit_gb,
                "limit_source": limit_source,
                "listed_bytes": listed_bytes,
                "listed_count": len(entries),
            },
        )
        db.executemany(
            _upsert_sql(
                "cache_entries",
                (
                    "repo",
                    "cache_id",
                    "ref",
                    "key",
                    "version",
                    "size_bytes",
                    "created_at",
                    "last_accessed_at",
                    "last_seen",
                ),
                ("repo", "cache_id"),
            ),
            [
                (
                    options.repo,
                    cache_id,
                    e.get("ref"),
                    e.get("key"),
                    e.get("version"),
                    int(e.get("size_in_bytes") or 0),
                    parse_time(e.get("created_at")),
                    parse_time(e.get("last_accessed_at")),
                    snapshot_at,
                )
                for cache_id, e in sorted(entries.items())
            ],
        )
        summary.cache_links = link_jobs_to_caches(db, options.repo)
    summary.cache_entries = len(entries)
    say(f"caches: {len(entries)} entries, {summary.cache_links} job links")


#: Seconds of slack around a job's window: second-resolution stamps and upload finishing.
_LINK_SLACK_S = 5.0


def link_jobs_to_caches(db: Database, repo: str) -> int:
    """Relate cache entries to the jobs that saved or last restored them.

    The API has no such link, so it is inferred (evidence ``time-window``): an entry created
    during a job that handles the binary (a restore, compile or smoke step) of a run on the
    entry's ref was saved by that job; one last accessed during such a job was restored by
    it.  Only the *last* restore is visible in the API.
    """
    entries = db.query(
        "SELECT cache_id, ref, created_at, last_accessed_at FROM cache_entries WHERE repo = ?",
        (repo,),
    )
    links: list[tuple[Any, ...]] = []
    for cache_id, ref, created, accessed in entries:
        branch, pr = _ref_scope(ref or "")
        for relation, moment in (("saved", created), ("restored", accessed)):
            if moment is None or (relation == "restored" and accessed == created):
                continue
            candidates = db.query(
                "SELECT j.job_id, r.head_branch, r.pr_numbers FROM jobs j JOIN runs r"
                " ON r.repo = j.repo AND r.run_id = j.run_id AND r.attempt = j.attempt"
                " WHERE j.repo = ? AND j.started_at <= ? AND j.completed_at >= ?"
                " AND j.started_at >= ? AND j.uses_binary = 1",
                (repo, moment + _LINK_SLACK_S, moment - _LINK_SLACK_S, moment - 6 * 3600),
            )
            for job_id, head_branch, pr_numbers in candidates:
                if pr is not None:
                    if pr not in (pr_numbers or "").split(","):
                        continue
                elif branch is not None and head_branch != branch:
                    continue
                links.append((repo, job_id, cache_id, relation, "time-window"))
    with db.transaction():
        db.execute("DELETE FROM job_cache_links WHERE repo = ?", (repo,))
        db.executemany(
            "INSERT INTO job_cache_links (repo, job_id, cache_id, relation, evidence)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            links,
        )
    return len(links)


def _ref_scope(ref: str) -> tuple[str | None, str | None]:
    """``(branch, pr_number)`` a cache ref belongs to."""
    if match := re.fullmatch(r"refs/pull/(\d+)/(merge|head)", ref):
        return None, match.group(1)
    if ref.startswith("refs/heads/"):
        return ref.removeprefix("refs/heads/"), None
    return (ref or None), None


# -- workflow files -----------------------------------------------------------------------
def _fetch_workflow_files(
    db: Database, client: GitHubClient, options: IngestOptions, summary: IngestSummary
) -> None:
    """The workflow file at each run's commit, so reports can use its real ``needs`` graph."""
    wanted = db.query(
        "SELECT DISTINCT r.path, r.head_sha FROM runs r LEFT JOIN workflow_files w"
        " ON w.repo = r.repo AND w.path = r.path AND w.sha = r.head_sha"
        " WHERE r.repo = ? AND r.path IS NOT NULL AND r.head_sha IS NOT NULL"
        " AND w.sha IS NULL",
        (options.repo,),
    )
    for path, sha in wanted:
        clean = str(path).split("@", 1)[0]
        resp = client.get(
            f"/repos/{options.repo}/contents/{quote(clean)}", {"ref": sha}, allow_status=(404,)
        )
        content = None
        if resp.status == 200 and isinstance(resp.data, dict) and resp.data.get("content"):
            try:
                content = base64.b64decode(resp.data["content"]).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                content = None
        _upsert(
            db,
            "workflow_files",
            ("repo", "path", "sha"),
            {"repo": options.repo, "path": path, "sha": sha, "content": content},
        )
        summary.workflow_files += 1


# -- helpers ------------------------------------------------------------------------------
def _upsert(db: Database, table: str, key: tuple[str, ...], row: Mapping[str, Any]) -> None:
    columns = tuple(row)
    db.execute(_upsert_sql(table, columns, key), tuple(row[c] for c in columns))


def _stored_etag(db: Database, client: GitHubClient, url: str) -> str | None:
    rows = db.query(
        "SELECT etag FROM http_etags WHERE credential = ? AND url = ?", (client.credential, url)
    )
    return rows[0][0] if rows else None


def _store_etag(db: Database, client: GitHubClient, page: Response) -> None:
    if page.etag:
        _upsert(
            db,
            "http_etags",
            ("credential", "url"),
            {
                "credential": client.credential,
                "url": page.url,
                "etag": page.etag,
                "last_modified": page.last_modified,
            },
        )
