"""Queries → report values: durations, cache effectiveness, quota, and the spec's criteria.

``RANGE`` selects runs (latest attempt of each, completed only):

=========================  ================================================================
``2025-11-01..2025-11-20``  runs started on those UTC dates (inclusive); either end may be
                            left open: ``2025-11-01..``, ``..2025-11-20``
``#100..#200``              run numbers (inclusive; open ends allowed: ``#100..``)
``last:50``                 the 50 most recent runs
``sha:7a196fe``             runs of commits starting with that prefix
``pr:527``                  runs of pull request 527
``branch:main``             runs on that branch
``all``                     every run
=========================  ================================================================

Without ``--current`` the current range is every run newer than the baseline (or every run
when there is no baseline either).  Medians, not means, compare ranges: single slow runs on
a shared runner fleet must not decide a criterion.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, Protocol, TypeVar

from buildonce.errors import InputError
from buildonce.telemetry.dag import CriticalPath, DagJob, critical_path, needs_from_workflow
from buildonce.telemetry.db import Database
from buildonce.telemetry.records import base_job_name

REPORT_VERSION = 1
_DEAD_REF = re.compile(r"^refs/pull/\d+/(merge|head)$|gh-readonly-queue/")
_LEADING_SYMBOLS = re.compile(r"^\W+")
_KEY_HASH_TAIL = re.compile(r"[-_.]?[0-9a-f]{7,}$", re.IGNORECASE)


def same_job(name: str, wanted: str) -> bool:
    """Job names compared without leading emoji/punctuation and case: "🏗️ Build X" = "build x"."""
    return _LEADING_SYMBOLS.sub("", name).casefold() == _LEADING_SYMBOLS.sub("", wanted).casefold()


# -- ranges -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RunRange:
    kind: str
    low: Any = None
    high: Any = None
    text: str = "all"


def parse_range(text: str, where: str = "--current") -> RunRange:
    """Parse the ``RANGE`` syntax in the module docstring; bad input names the option."""
    value = text.strip()
    hint = "use DATE..DATE, #N..#M, last:N, sha:PREFIX, pr:N, branch:NAME or all"
    if value in ("", "all"):
        return RunRange("all", text="all")
    prefix, sep, rest = value.partition(":")
    if sep and prefix in ("last", "sha", "pr", "branch"):
        if prefix == "last":
            if not rest.isdigit() or int(rest) < 1:
                raise InputError(
                    f"{value!r}: last:N needs a positive number", where=where, hint=hint
                )
            return RunRange("last", int(rest), text=value)
        if prefix == "sha":
            if not re.fullmatch(r"[0-9a-fA-F]{4,40}", rest):
                raise InputError(f"{value!r}: sha needs 4-40 hex digits", where=where, hint=hint)
            return RunRange("sha", rest.lower(), text=value)
        if prefix == "pr":
            if not rest.isdigit():
                raise InputError(f"{value!r}: pr needs a number", where=where, hint=hint)
            return RunRange("pr", rest, text=value)
        if not rest:
            raise InputError(f"{value!r}: branch needs a name", where=where, hint=hint)
        return RunRange("branch", rest, text=value)
    if ".." in value:
        low_text, high_text = (part.strip() for part in value.split("..", 1))
        if (low_text + high_text).replace("#", "").isdigit() or (
            low_text.startswith("#") or high_text.startswith("#")
        ):
            try:
                low = int(low_text.lstrip("#")) if low_text else None
                high = int(high_text.lstrip("#")) if high_text else None
            except ValueError:
                raise InputError(
                    f"{value!r} is not a run-number range", where=where, hint=hint
                ) from None
            return RunRange("numbers", low, high, value)
        try:
            low_d = date.fromisoformat(low_text) if low_text else None
            high_d = date.fromisoformat(high_text) if high_text else None
        except ValueError:
            raise InputError(f"{value!r} is not a date range", where=where, hint=hint) from None
        if low_d is None and high_d is None:
            raise InputError(f"{value!r} has no bounds", where=where, hint=hint)
        low_s = _day_start(low_d) if low_d else None
        high_s = _day_start(high_d + timedelta(days=1)) if high_d else None
        if low_s is not None and high_s is not None and low_s >= high_s:
            raise InputError(f"{value!r} ends before it starts", where=where, hint=hint)
        return RunRange("dates", low_s, high_s, value)
    raise InputError(f"{value!r} is not a range", where=where, hint=hint)


def _day_start(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


# -- loaded data --------------------------------------------------------------------------
class JobRow(NamedTuple):
    """One job as reports read it (a tuple: a report reads every job of every run)."""

    name: str
    base_name: str
    ci_status: str
    created_at: float | None
    started_at: float | None
    completed_at: float | None
    duration_s: float | None
    queue_s: float | None
    cache_hit: int | None
    rebuilt: int
    compile_steps: int
    smoke_ran: int
    uses_binary: int


@dataclass(slots=True)
class RunRow:
    run_id: int
    attempt: int
    run_number: int | None
    head_sha: str
    head_branch: str
    pr_numbers: str
    conclusion: str | None
    started_at: float | None
    path: str | None
    jobs: list[JobRow] = field(default_factory=list)

    @property
    def wall_s(self) -> float | None:
        ends = [j.completed_at for j in self.jobs if j.completed_at is not None]
        if not ends:
            return None
        start = self.started_at
        if start is None:
            starts = [j.created_at or j.started_at for j in self.jobs]
            start = min(s for s in starts if s is not None) if any(starts) else None
        return None if start is None else max(max(ends) - start, 0.0)


class RunInfo(NamedTuple):
    """A run as reports need it: its jobs are aggregated in SQL, not loaded."""

    run_id: int
    attempt: int
    run_number: int | None
    head_sha: str
    head_branch: str
    pr_numbers: str
    conclusion: str | None
    started_at: float | None
    path: str | None
    wall_s: float | None


def _run_filter(repo: str, workflow: str | None) -> tuple[str, list[Any]]:
    where = "r.repo = ? AND r.latest = 1 AND r.status = 'completed'"
    params: list[Any] = [repo]
    if workflow:
        where += " AND (r.path LIKE ? OR r.workflow_name = ?)"
        params += [f"%{workflow.rsplit('/', 1)[-1]}", workflow]
    return where, params


def load_run_infos(db: Database, repo: str, workflow: str | None = None) -> list[RunInfo]:
    """Completed runs (latest attempt), oldest first, with their wall clock."""
    where, params = _run_filter(repo, workflow)
    infos = []
    for row in db.query(
        "SELECT r.run_id, r.attempt, r.run_number, r.head_sha, r.head_branch, r.pr_numbers,"
        " r.conclusion, r.run_started_at, r.path, MAX(j.completed_at),"
        " MIN(COALESCE(j.created_at, j.started_at))"
        " FROM runs r LEFT JOIN jobs j"
        " ON j.repo = r.repo AND j.run_id = r.run_id AND j.attempt = r.attempt"
        f" WHERE {where}"
        " GROUP BY r.run_id, r.attempt, r.run_number, r.head_sha, r.head_branch,"
        " r.pr_numbers, r.conclusion, r.run_started_at, r.path"
        " ORDER BY r.run_started_at, r.run_id",
        params,
    ):
        start = row[7] if row[7] is not None else row[10]
        wall = None if row[9] is None or start is None else max(row[9] - start, 0.0)
        infos.append(
            RunInfo(
                row[0],
                row[1],
                row[2],
                row[3] or "",
                row[4] or "",
                row[5] or "",
                row[6],
                row[7],
                row[8],
                wall,
            )
        )
    return infos


def repos_in(db: Database) -> list[str]:
    return [r[0] for r in db.query("SELECT DISTINCT repo FROM runs ORDER BY repo")]


def resolve_repo(db: Database, repo: str | None) -> str:
    known = repos_in(db)
    if repo:
        if repo not in known:
            raise InputError(
                f"no runs of {repo} in the database",
                where="--repo",
                hint=f"run `buildonce ingest github --repo {repo}` first"
                + (f"; known: {', '.join(known)}" if known else ""),
            )
        return repo
    if len(known) == 1:
        return known[0]
    if not known:
        raise InputError(
            "the telemetry database has no runs",
            where="--db",
            hint="run `buildonce ingest github --repo OWNER/NAME` first",
        )
    raise InputError(
        "the database holds several repositories",
        where="--repo",
        hint="pass --repo: " + ", ".join(known),
    )


def load_runs(db: Database, repo: str, workflow: str | None = None) -> list[RunRow]:
    """Completed runs (latest attempt) of ``repo``, oldest first, with their jobs."""
    where = "r.repo = ? AND r.latest = 1 AND r.status = 'completed'"
    params: list[Any] = [repo]
    if workflow:
        where += " AND (r.path LIKE ? OR r.workflow_name = ?)"
        params += [f"%{workflow.rsplit('/', 1)[-1]}", workflow]
    runs: dict[tuple[int, int], RunRow] = {}
    for row in db.query(
        "SELECT run_id, attempt, run_number, head_sha, head_branch, pr_numbers, conclusion,"
        f" run_started_at, path FROM runs r WHERE {where}"
        " ORDER BY run_started_at, run_id",
        params,
    ):
        runs[(row[0], row[1])] = RunRow(
            row[0], row[1], row[2], row[3] or "", row[4] or "", row[5] or "", row[6], row[7], row[8]
        )
    for row in db.query(
        "SELECT j.run_id, j.attempt, j.name, j.base_name, j.ci_status, j.created_at,"
        " j.started_at, j.completed_at, j.duration_s, j.queue_s, j.cache_hit, j.rebuilt,"
        " j.compile_steps, j.smoke_ran, j.uses_binary FROM jobs j JOIN runs r"
        " ON r.repo = j.repo AND r.run_id = j.run_id AND r.attempt = j.attempt"
        f" WHERE {where}",
        params,
    ):
        run = runs.get((row[0], row[1]))
        if run is not None:
            run.jobs.append(JobRow._make(row[2:]))
    return list(runs.values())


class _RunLike(Protocol):
    @property
    def run_number(self) -> int | None: ...
    @property
    def head_sha(self) -> str: ...
    @property
    def head_branch(self) -> str: ...
    @property
    def pr_numbers(self) -> str: ...
    @property
    def started_at(self) -> float | None: ...


_R = TypeVar("_R", bound=_RunLike)


def select_runs(runs: Sequence[_R], selector: RunRange) -> list[_R]:
    if selector.kind == "all":
        return list(runs)
    if selector.kind == "last":
        return list(runs[-int(selector.low) :])
    if selector.kind == "sha":
        return [r for r in runs if r.head_sha.lower().startswith(selector.low)]
    if selector.kind == "pr":
        return [r for r in runs if selector.low in r.pr_numbers.split(",")]
    if selector.kind == "branch":
        return [r for r in runs if r.head_branch == selector.low]
    if selector.kind == "numbers":
        return [
            r
            for r in runs
            if r.run_number is not None
            and (selector.low is None or r.run_number >= selector.low)
            and (selector.high is None or r.run_number <= selector.high)
        ]
    return [
        r
        for r in runs
        if r.started_at is not None
        and (selector.low is None or r.started_at >= selector.low)
        and (selector.high is None or r.started_at < selector.high)
    ]


# -- statistics ---------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100): always a value that was observed."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


@dataclass(frozen=True, slots=True)
class JobStats:
    name: str
    count: int
    median_s: float | None
    p90_s: float | None
    mean_s: float | None
    queue_median_s: float | None
    uses_binary: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "count": self.count,
            "median_s": _r(self.median_s),
            "p90_s": _r(self.p90_s),
            "mean_s": _r(self.mean_s),
            "queue_median_s": _r(self.queue_median_s),
            "uses_binary": self.uses_binary,
        }


@dataclass(frozen=True, slots=True)
class RangeStats:
    label: str
    selector: str
    runs: int
    first_run: int | None
    last_run: int | None
    pass_rate: float | None
    wall_median_s: float | None
    wall_p90_s: float | None
    wall_mean_s: float | None
    jobs: tuple[JobStats, ...]
    matrix: tuple[tuple[str, int, float | None], ...]  # base name, legs, mean duration
    hits: int
    misses: int
    unknown_outcome: int
    rebuilt_jobs: int
    compile_steps: int
    extra_compiles: int
    smoke_ran: int
    critical_path: CriticalPath | None
    critical_path_run: int | None
    wall_by_run: tuple[tuple[int, int | None, float | None, str | None], ...]

    @property
    def hit_rate(self) -> float | None:
        known = self.hits + self.misses
        return self.hits / known if known else None

    def job(self, name: str) -> JobStats | None:
        return next((j for j in self.jobs if j.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "range": self.selector,
            "runs": self.runs,
            "first_run_id": self.first_run,
            "last_run_id": self.last_run,
            "pass_rate": _r(self.pass_rate, 4),
            "wall_clock": {
                "median_s": _r(self.wall_median_s),
                "p90_s": _r(self.wall_p90_s),
                "mean_s": _r(self.wall_mean_s),
            },
            "jobs": [j.to_json() for j in self.jobs],
            "matrix": [{"name": n, "legs": legs, "mean_s": _r(m)} for n, legs, m in self.matrix],
            "cache": {
                "hits": self.hits,
                "misses": self.misses,
                "unknown": self.unknown_outcome,
                "hit_rate": _r(self.hit_rate, 4),
                "rebuilt_jobs": self.rebuilt_jobs,
                "compile_steps": self.compile_steps,
                "extra_compiles": self.extra_compiles,
                "smoke_tests_ran": self.smoke_ran,
            },
            "critical_path": (
                {"run_id": self.critical_path_run, **self.critical_path.to_json()}
                if self.critical_path
                else None
            ),
            "runs_detail": [
                {"run_id": r, "run_number": n, "wall_s": _r(w), "conclusion": c}
                for r, n, w, c in self.wall_by_run
            ],
        }


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _select(db: Database, runs: Sequence[RunInfo]) -> None:
    """Put the range's runs in a temporary table the aggregate queries join against."""
    db.execute(
        "CREATE TEMPORARY TABLE IF NOT EXISTS report_runs"
        " (run_id BIGINT NOT NULL, attempt INTEGER NOT NULL, PRIMARY KEY (run_id, attempt))"
    )
    db.execute("DELETE FROM report_runs")
    db.executemany(
        "INSERT INTO report_runs (run_id, attempt) VALUES (?, ?)",
        [(r.run_id, r.attempt) for r in runs],
    )


# Driven from the (small) selection into the jobs_run index, never a scan of all jobs.
_JOINED = (
    " FROM report_runs s JOIN jobs j"
    " ON j.repo = ? AND j.run_id = s.run_id AND j.attempt = s.attempt"
    " WHERE j.ci_status <> 'skipped'"
)


def range_stats(
    db: Database,
    repo: str,
    label: str,
    selector: RunRange,
    runs: Sequence[RunInfo],
    *,
    builder: str,
    workflow_needs: Mapping[str, tuple[str, tuple[str, ...]]] | None = None,
    workflow_files: Mapping[tuple[str, str], str] | None = None,
) -> RangeStats:
    """Statistics of one range.  Sums are computed by the database; medians and
    percentiles in Python over one narrow, sorted column (SQL has no portable median)."""
    _select(db, runs)
    durations: dict[str, list[float]] = defaultdict(list)
    queues: dict[str, list[float]] = defaultdict(list)
    leg_durations: dict[str, list[float]] = defaultdict(list)
    for name, base, duration, queue in db.query(
        f"SELECT j.name, j.base_name, j.duration_s, j.queue_s{_JOINED}", (repo,)
    ):
        if duration is not None:
            durations[name].append(duration)
            leg_durations[base].append(duration)
        if queue is not None:
            queues[name].append(queue)
    binary: dict[str, bool] = {}
    legs: dict[str, set[str]] = defaultdict(set)
    hits = misses = unknown = rebuilt = compiles = extra = smoke = 0
    for base, name, n_hit, n_miss, n_unknown, n_rebuilt, n_compile, n_smoke, uses in db.query(
        "SELECT j.base_name, j.name,"
        " SUM(CASE WHEN j.cache_hit = 1 THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN j.cache_hit = 0 THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN j.cache_hit IS NULL AND j.uses_binary = 1 THEN 1 ELSE 0 END),"
        " SUM(j.rebuilt), SUM(j.compile_steps), SUM(j.smoke_ran), MAX(j.uses_binary)"
        f"{_JOINED} GROUP BY j.base_name, j.name",
        (repo,),
    ):
        legs[base].add(name)
        binary[name] = bool(uses)
        rebuilt += int(n_rebuilt)
        compiles += int(n_compile)
        smoke += int(n_smoke)
        if same_job(base, builder):
            continue  # the builder seeds the cache: its lookups and its compile are expected
        hits += int(n_hit)
        misses += int(n_miss)
        unknown += int(n_unknown)
        extra += int(n_compile)
    job_stats = []
    for name in sorted(durations):
        values = sorted(durations[name])
        job_stats.append(
            JobStats(
                name,
                len(values),
                _sorted_median(values),
                percentile(values, 90),
                mean(values),
                median(queues.get(name, [])),
                binary.get(name, False),
            )
        )
    matrix = tuple(
        (base, len(names), mean(leg_durations[base]))
        for base, names in sorted(legs.items())
        if len(names) > 1
    )
    wall_values = [r.wall_s for r in runs if r.wall_s is not None]
    concluded = [r for r in runs if r.conclusion is not None]
    passed = sum(1 for r in concluded if r.conclusion == "success")
    path = None
    path_run = None
    if runs:
        newest = runs[-1]
        needs = workflow_needs
        if workflow_files and newest.path:
            text = workflow_files.get((newest.path, newest.head_sha))
            if text:
                needs = needs_from_workflow(text) or needs
        dag_jobs = [
            DagJob(*row)
            for row in db.query(
                "SELECT name, created_at, started_at, completed_at FROM jobs"
                " WHERE repo = ? AND run_id = ? AND attempt = ? AND ci_status <> 'skipped'",
                (repo, newest.run_id, newest.attempt),
            )
        ]
        path = critical_path(dag_jobs, newest.started_at, needs)
        path_run = newest.run_id
    return RangeStats(
        label=label,
        selector=selector.text,
        runs=len(runs),
        first_run=runs[0].run_id if runs else None,
        last_run=runs[-1].run_id if runs else None,
        pass_rate=passed / len(concluded) if concluded else None,
        wall_median_s=median(wall_values),
        wall_p90_s=percentile(wall_values, 90),
        wall_mean_s=mean(wall_values),
        jobs=tuple(job_stats),
        matrix=matrix,
        hits=hits,
        misses=misses,
        unknown_outcome=unknown,
        rebuilt_jobs=rebuilt,
        compile_steps=compiles,
        extra_compiles=extra,
        smoke_ran=smoke,
        critical_path=path,
        critical_path_run=path_run,
        wall_by_run=tuple((r.run_id, r.run_number, r.wall_s, r.conclusion) for r in runs),
    )


def _sorted_median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


# -- cache quota --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CacheEntryView:
    cache_id: int
    key: str
    ref: str
    size_bytes: int
    last_accessed_at: float | None
    dead_weight: bool
    jobs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CacheQuota:
    snapshot_at: float
    limit_bytes: int
    limit_source: str
    listed_bytes: int
    active_bytes: int | None
    entries: tuple[CacheEntryView, ...]
    families: tuple[tuple[str, int, int], ...]  # key family, entries, bytes

    @property
    def dead_bytes(self) -> int:
        return sum(e.size_bytes for e in self.entries if e.dead_weight)

    @property
    def used_fraction(self) -> float:
        used = self.active_bytes if self.active_bytes is not None else self.listed_bytes
        return used / self.limit_bytes if self.limit_bytes else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot_at": self.snapshot_at,
            "limit_bytes": self.limit_bytes,
            "limit_source": self.limit_source,
            "listed_bytes": self.listed_bytes,
            "active_bytes": self.active_bytes,
            "used_fraction": round(self.used_fraction, 4),
            "dead_weight_bytes": self.dead_bytes,
            "families": [{"family": f, "entries": n, "bytes": b} for f, n, b in self.families],
            "entries": [
                {
                    "id": e.cache_id,
                    "key": e.key,
                    "ref": e.ref,
                    "size_bytes": e.size_bytes,
                    "dead_weight": e.dead_weight,
                    "jobs": list(e.jobs),
                }
                for e in self.entries
            ],
        }


def key_family(key: str) -> str:
    """A cache key without its trailing content hash: ``ubuntu-ksail-bin-1.25.4-a1b2c3d``."""
    family = key
    while (stripped := _KEY_HASH_TAIL.sub("", family)) != family and stripped:
        family = stripped
    return family


def cache_quota(db: Database, repo: str) -> CacheQuota | None:
    rows = db.query(
        "SELECT snapshot_at, limit_gb, limit_source, listed_bytes, active_bytes"
        " FROM cache_snapshots WHERE repo = ? ORDER BY snapshot_at DESC LIMIT 1",
        (repo,),
    )
    if not rows:
        return None
    snapshot_at, limit_gb, source, listed, active = rows[0]
    jobs_by_entry: dict[int, list[str]] = defaultdict(list)
    for cache_id, relation, name in db.query(
        "SELECT l.cache_id, l.relation, j.name FROM job_cache_links l JOIN jobs j"
        " ON j.repo = l.repo AND j.job_id = l.job_id WHERE l.repo = ?",
        (repo,),
    ):
        jobs_by_entry[cache_id].append(f"{relation} by {name}")
    entries = tuple(
        CacheEntryView(
            cache_id,
            key or "",
            ref or "",
            int(size or 0),
            accessed,
            bool(_DEAD_REF.search(ref or "")),
            tuple(sorted(set(jobs_by_entry.get(cache_id, ())))),
        )
        for cache_id, key, ref, size, accessed in db.query(
            "SELECT cache_id, key, ref, size_bytes, last_accessed_at FROM cache_entries"
            " WHERE repo = ? AND last_seen = ? ORDER BY size_bytes DESC, cache_id",
            (repo, snapshot_at),
        )
    )
    families: dict[str, list[int]] = defaultdict(list)
    for entry in entries:
        families[key_family(entry.key)].append(entry.size_bytes)
    return CacheQuota(
        snapshot_at=snapshot_at,
        # GitHub states the quota in GB; decimal GB is the conservative reading (it warns
        # earlier) and the one the store and the model use, so all three agree.
        limit_bytes=int(float(limit_gb or 10) * 1000**3),
        limit_source=source or "default",
        listed_bytes=int(listed or 0),
        active_bytes=None if active is None else int(active),
        entries=entries,
        families=tuple(
            sorted(((f, len(s), sum(s)) for f, s in families.items()), key=lambda t: -t[2])
        ),
    )


# -- criteria -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CriteriaConfig:
    """The spec's success criteria; defaults are ksail's targets."""

    target_job: str = "system-test"
    target_s: float = 105.0
    min_reduction: float = 0.40
    min_hit_rate: float = 0.80
    max_slowdown: float = 0.10
    pass_rate_tolerance: float = 0.0
    builder: str = "build-artifact"


@dataclass(frozen=True, slots=True)
class Criterion:
    id: str
    title: str
    status: str  # "pass", "fail" or "n/a"
    actual: str
    target: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "actual": self.actual,
            "target": self.target,
            "detail": self.detail,
        }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def evaluate_criteria(
    current: RangeStats, baseline: RangeStats | None, config: CriteriaConfig
) -> tuple[Criterion, ...]:
    from buildonce.telemetry.timestamps import format_duration as fd

    out: list[Criterion] = []
    legs = [
        j
        for j in current.jobs
        if j.name == config.target_job or j.name.startswith(config.target_job + " (")
    ]
    total = sum(j.count for j in legs)
    avg = sum((j.mean_s or 0.0) * j.count for j in legs) / total if total else None
    out.append(
        Criterion(
            "avg-job-time",
            f"average {config.target_job} job time",
            "n/a" if avg is None else ("pass" if avg <= config.target_s else "fail"),
            fd(avg),
            f"<= {fd(config.target_s)}",
            f"{total} jobs in {len(legs)} legs"
            if legs
            else f"no {config.target_job!r} jobs in range",
        )
    )
    if baseline and baseline.wall_median_s and current.wall_median_s is not None:
        reduction = (baseline.wall_median_s - current.wall_median_s) / baseline.wall_median_s
        out.append(
            Criterion(
                "total-reduction",
                "workflow wall clock reduction (median)",
                "pass" if reduction >= config.min_reduction else "fail",
                _pct(reduction),
                f">= {_pct(config.min_reduction)}",
                f"{fd(baseline.wall_median_s)} -> {fd(current.wall_median_s)}",
            )
        )
    else:
        out.append(
            Criterion(
                "total-reduction",
                "workflow wall clock reduction (median)",
                "n/a",
                "-",
                f">= {_pct(config.min_reduction)}",
                "needs --baseline",
            )
        )
    out.append(
        Criterion(
            "extra-compiles",
            f"compile steps outside {config.builder}",
            "n/a" if current.runs == 0 else ("pass" if current.extra_compiles == 0 else "fail"),
            str(current.extra_compiles),
            "0",
            f"{current.compile_steps} compile steps in {current.runs} runs",
        )
    )
    rate = current.hit_rate
    out.append(
        Criterion(
            "hit-rate",
            "binary cache hit rate",
            "n/a" if rate is None else ("pass" if rate >= config.min_hit_rate else "fail"),
            _pct(rate),
            f">= {_pct(config.min_hit_rate)}",
            f"{current.hits} hits, {current.misses} misses, {current.unknown_outcome} unknown",
        )
    )
    if baseline:
        slower = []
        compared = 0
        for job in current.jobs:
            before = baseline.job(job.name)
            if (
                job.uses_binary
                or same_job(base_job_name(job.name), config.builder)
                or before is None
            ):
                continue
            if before.uses_binary or not before.median_s or job.median_s is None:
                continue
            compared += 1
            change = job.median_s / before.median_s - 1
            if change > config.max_slowdown:
                slower.append(f"{job.name} +{change * 100:.0f}%")
        out.append(
            Criterion(
                "other-jobs",
                "jobs without the binary no slower",
                "n/a" if compared == 0 else ("fail" if slower else "pass"),
                f"{len(slower)} slower of {compared}",
                f"none > +{_pct(config.max_slowdown)}",
                ", ".join(slower),
            )
        )
        if baseline.pass_rate is not None and current.pass_rate is not None:
            ok = current.pass_rate >= baseline.pass_rate - config.pass_rate_tolerance
            out.append(
                Criterion(
                    "pass-rate",
                    "run pass rate unchanged",
                    "pass" if ok else "fail",
                    _pct(current.pass_rate),
                    f">= {_pct(baseline.pass_rate - config.pass_rate_tolerance)}",
                    f"baseline {_pct(baseline.pass_rate)}",
                )
            )
        else:
            out.append(
                Criterion("pass-rate", "run pass rate unchanged", "n/a", "-", "-", "no runs")
            )
    else:
        out.append(
            Criterion(
                "other-jobs",
                "jobs without the binary no slower",
                "n/a",
                "-",
                "-",
                "needs --baseline",
            )
        )
        out.append(
            Criterion("pass-rate", "run pass rate unchanged", "n/a", "-", "-", "needs --baseline")
        )
    return tuple(out)


# -- the report ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Report:
    repo: str
    baseline: RangeStats | None
    current: RangeStats
    criteria: tuple[Criterion, ...]
    cache: CacheQuota | None
    config: CriteriaConfig

    @property
    def failed(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.status == "fail")

    def to_json(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "repo": self.repo,
            "baseline": self.baseline.to_json() if self.baseline else None,
            "current": self.current.to_json(),
            "criteria": [c.to_json() for c in self.criteria],
            "cache_quota": self.cache.to_json() if self.cache else None,
        }


def build_report(
    db: Database,
    *,
    repo: str | None = None,
    baseline: str | None = None,
    current: str | None = None,
    workflow: str | None = None,
    workflow_file_text: str | None = None,
    config: CriteriaConfig | None = None,
) -> Report:
    """Compute the whole report for ``repo`` from the database."""
    cfg = config or CriteriaConfig()
    name = resolve_repo(db, repo)
    runs = load_run_infos(db, name, workflow)
    base_sel = parse_range(baseline, "--baseline") if baseline else None
    cur_sel = parse_range(current, "--current") if current else None
    base_runs = select_runs(runs, base_sel) if base_sel else None
    if cur_sel is None:
        if base_runs:
            newest = max((r.started_at or 0.0) for r in base_runs)
            ids = {r.run_id for r in base_runs}
            cur_runs = [r for r in runs if (r.started_at or 0.0) > newest and r.run_id not in ids]
            cur_sel = RunRange("after-baseline", text=f"after {base_sel.text if base_sel else ''}")
        else:
            cur_runs = list(runs)
            cur_sel = RunRange("all")
    else:
        cur_runs = select_runs(runs, cur_sel)
    needs = needs_from_workflow(workflow_file_text) if workflow_file_text else None
    if needs and cfg.builder in needs:
        # --builder names the YAML job id; the API reports the job's display name.
        cfg = replace(cfg, builder=needs[cfg.builder][0])
    files = {
        (path, sha): text
        for path, sha, text in db.query(
            "SELECT path, sha, content FROM workflow_files WHERE repo = ? AND content IS NOT NULL",
            (name,),
        )
    }
    current_stats = range_stats(
        db,
        name,
        "current",
        cur_sel,
        cur_runs,
        builder=cfg.builder,
        workflow_needs=needs,
        workflow_files=files,
    )
    baseline_stats = (
        range_stats(
            db,
            name,
            "baseline",
            base_sel,
            base_runs or [],
            builder=cfg.builder,
            workflow_needs=needs,
            workflow_files=files,
        )
        if base_sel
        else None
    )
    return Report(
        repo=name,
        baseline=baseline_stats,
        current=current_stats,
        criteria=evaluate_criteria(current_stats, baseline_stats, cfg),
        cache=cache_quota(db, name),
        config=cfg,
    )


def report_json_text(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, sort_keys=True)
