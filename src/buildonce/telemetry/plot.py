"""Pictures: a run's Gantt timeline (PNG or Mermaid), duration trends, cache usage.

PNG output needs matplotlib (``pip install 'buildonce[plot]'``), imported only here and
only when a PNG is asked for; the Mermaid timeline needs nothing and renders inside a
GitHub job summary.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildonce.errors import ConfigError, InputError
from buildonce.telemetry.db import Database
from buildonce.telemetry.records import DEFAULT_PATTERNS, StepRecord, steps_from_text
from buildonce.telemetry.reports import cache_quota, load_runs, median
from buildonce.telemetry.timestamps import format_duration, format_time

#: Mermaid refuses diagrams longer than this; bigger timelines are split (actions-timeline #222).
MERMAID_MAX_CHARS = 50_000


@dataclass(frozen=True, slots=True)
class TimelineJob:
    name: str
    ci_status: str
    created_at: float | None
    started_at: float | None
    completed_at: float | None
    cache_hit: int | None
    rebuilt: int
    steps: tuple[StepRecord, ...]


@dataclass(frozen=True, slots=True)
class Timeline:
    run_id: int
    attempt: int
    title: str
    started_at: float
    jobs: tuple[TimelineJob, ...]


def load_timeline(db: Database, repo: str, run_id: int, attempt: int | None = None) -> Timeline:
    rows = db.query(
        "SELECT attempt, workflow_name, run_number, run_started_at, created_at FROM runs"
        " WHERE repo = ? AND run_id = ? ORDER BY attempt DESC",
        (repo, run_id),
    )
    if attempt is not None:
        rows = [r for r in rows if r[0] == attempt]
    if not rows:
        raise InputError(
            f"run {run_id}{f' attempt {attempt}' if attempt else ''} is not in the database",
            where=repo,
            hint="ingest it first, or pick a run id from `buildonce report --format json`",
        )
    chosen, workflow, number, run_started, created = rows[0]
    jobs = tuple(
        TimelineJob(name, status, c, s, e, hit, rebuilt, steps_from_text(steps))
        for name, status, c, s, e, hit, rebuilt, steps in db.query(
            "SELECT j.name, j.ci_status, j.created_at, j.started_at, j.completed_at,"
            " j.cache_hit, j.rebuilt, s.steps FROM jobs j LEFT JOIN job_steps s"
            " ON s.repo = j.repo AND s.job_id = j.job_id"
            " WHERE j.repo = ? AND j.run_id = ? AND j.attempt = ?"
            " ORDER BY j.started_at, j.name",
            (repo, run_id, chosen),
        )
    )
    starts = [t for j in jobs for t in (j.created_at, j.started_at) if t is not None]
    start = run_started if run_started is not None else (min(starts) if starts else created or 0.0)
    title = f"{workflow or 'workflow'} run {number or run_id} (id {run_id}, attempt {chosen})"
    return Timeline(run_id, chosen, title, start, jobs)


def _bar_label(job: TimelineJob) -> str:
    tags = []
    if job.cache_hit == 1:
        tags.append("cache hit")
    elif job.cache_hit == 0:
        tags.append("cache miss")
    if job.rebuilt:
        tags.append("rebuilt")
    return job.name + (f" [{', '.join(tags)}]" if tags else "")


def gantt_mermaid(timeline: Timeline) -> list[str]:
    """One or more Mermaid ``gantt`` diagrams (split to stay under Mermaid's size limit)."""
    header = [
        "gantt",
        f"    title {_mermaid_text(timeline.title)}",
        "    dateFormat x",
        "    axisFormat %H:%M:%S",
    ]
    sections: list[list[str]] = []
    counter = 0
    for job in timeline.jobs:
        if job.started_at is None or job.completed_at is None or job.ci_status == "skipped":
            continue
        lines = [f"    section {_mermaid_text(_bar_label(job))}"]
        if job.created_at is not None and job.started_at > job.created_at:
            counter += 1
            lines.append(
                f"    Waiting for a runner :active, t{counter}, {_ms(job.created_at)}, "
                f"{_ms(job.started_at)}"
            )
        steps = [s for s in job.steps if s.started_at is not None and s.completed_at is not None]
        if not steps:
            steps = [
                StepRecord(
                    "(no step data)",
                    "completed",
                    job.ci_status,
                    1,
                    job.started_at,
                    job.completed_at,
                )
            ]
        for step in steps:
            assert step.started_at is not None
            assert step.completed_at is not None
            if step.conclusion == "skipped":
                continue
            counter += 1
            tag = "crit, " if step.conclusion == "failure" else ""
            end = max(step.completed_at, step.started_at + 1.0)  # zero-length bars vanish
            lines.append(
                f"    {_mermaid_text(step.name) or 'step'} :{tag}t{counter}, "
                f"{_ms(step.started_at)}, {_ms(end)}"
            )
        sections.append(lines)
    diagrams: list[list[str]] = [list(header)]
    size = sum(len(x) + 1 for x in header)
    for lines in sections:
        chunk = sum(len(x) + 1 for x in lines)
        if size + chunk > MERMAID_MAX_CHARS and len(diagrams[-1]) > len(header):
            diagrams.append(list(header))
            size = sum(len(x) + 1 for x in header)
        diagrams[-1].extend(lines)
        size += chunk
    return ["\n".join(d) + "\n" for d in diagrams]


def _mermaid_text(text: str) -> str:
    # ':' ends a task name and ';' a statement in Mermaid; '#' starts an entity.
    return re.sub(r"[:;#]", " ", text).strip()[:80]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _plain(text: str) -> str:
    """``text`` without emoji: the default fonts have no glyphs for them (job names do)."""
    kept = "".join(c for c in text if unicodedata.category(c) not in ("So", "Cn", "Co", "Cs", "Mn"))
    return " ".join(kept.split())


_STEP_COLOURS = {"compile": "#fb8500", "restore": "#0969da", "smoke": "#8250df"}
_LEGEND = (
    ("waiting for a runner", "#d0d7de"),
    ("compile step", "#fb8500"),
    ("cache restore step", "#0969da"),
    ("smoke test", "#8250df"),
    ("other steps", "#2da44e"),
    ("failed step", "#cf222e"),
)


def _step_colour(step: StepRecord, index: int) -> str:
    """Compile/restore/smoke steps stand out; other steps alternate so each one is visible."""
    if step.conclusion in ("failure", "cancelled", "timed_out"):
        return "#cf222e"
    kinds = DEFAULT_PATTERNS.kinds(step.name)
    for kind, colour in _STEP_COLOURS.items():
        if kind in kinds:
            return colour
    return "#2da44e" if index % 2 == 0 else "#1a7f37"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(
            "PNG output needs matplotlib",
            where="--output",
            hint="pip install 'buildonce[plot]', or write a .mmd (Mermaid) file instead",
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def gantt_png(timeline: Timeline, output: Path) -> None:
    plt = _pyplot()
    jobs = [j for j in timeline.jobs if j.started_at is not None and j.completed_at is not None]
    height = max(2.5, 0.45 * len(jobs) + 1.5)
    fig, ax = plt.subplots(figsize=(12, height))
    try:
        t0 = timeline.started_at
        colours = {"success": "#2da44e", "failure": "#cf222e", "skipped": "#afb8c1"}
        for row, job in enumerate(jobs):
            assert job.started_at is not None
            assert job.completed_at is not None
            y = len(jobs) - 1 - row
            if job.created_at is not None and job.started_at > job.created_at:
                ax.barh(
                    y,
                    job.started_at - job.created_at,
                    left=job.created_at - t0,
                    color="#d0d7de",
                    height=0.6,
                    label="_wait",
                )
            colour = colours.get(job.ci_status, "#0969da")
            ax.barh(
                y,
                max(job.completed_at - job.started_at, 0.5),
                left=job.started_at - t0,
                color=colour,
                height=0.6,
                alpha=0.35,
            )
            for n, step in enumerate(job.steps):
                if step.started_at is None or step.completed_at is None:
                    continue
                if step.conclusion == "skipped" or step.completed_at - step.started_at < 1.0:
                    continue
                ax.barh(
                    y,
                    step.completed_at - step.started_at,
                    left=step.started_at - t0,
                    color=_step_colour(step, n),
                    height=0.3,
                )
            ax.text(
                job.completed_at - t0,
                y,
                f" {format_duration(job.completed_at - job.started_at)}",
                va="center",
                fontsize=8,
            )
        ax.set_yticks(range(len(jobs)))
        ax.set_yticklabels([_plain(_bar_label(j)) for j in reversed(jobs)], fontsize=8)
        ax.set_xlabel("seconds since the run started")
        from matplotlib.patches import Patch

        ax.legend(
            handles=[Patch(color=c, label=label) for label, c in _LEGEND],
            fontsize=8,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.5 / height - 0.02),
            ncol=len(_LEGEND),
            frameon=False,
        )
        ax.set_title(
            _plain(timeline.title) + "\nwide light bar: the job; narrow bars: its steps",
            fontsize=10,
        )
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        fig.savefig(output, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def trends_png(db: Database, repo: str, output: Path, *, top: int = 8) -> None:
    """Median duration per job and day, for the ``top`` jobs by total time.

    When the runs cover fewer than three days a per-day median is one dot per job and shows
    no trend, so each run becomes its own point instead (labelled by run number).
    """
    plt = _pyplot()
    from datetime import UTC, datetime

    runs = [r for r in load_runs(db, repo) if r.started_at is not None]
    days_seen = {datetime.fromtimestamp(r.started_at or 0, UTC).date() for r in runs}
    per_run = len(days_seen) < 3

    def bucket(run: Any) -> tuple[float, str]:
        started = float(run.started_at)
        if per_run:
            label = f"#{run.run_number}" if run.run_number is not None else str(run.run_id)
            return started, label
        day = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d")
        return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp(), day

    series_by_job: dict[str, dict[tuple[float, str], list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    walls: dict[tuple[float, str], list[float]] = defaultdict(list)
    totals: dict[str, float] = defaultdict(float)
    for run in runs:
        point = bucket(run)
        if (wall := run.wall_s) is not None:
            walls[point].append(wall)
        for job in run.jobs:
            if job.duration_s is None or job.ci_status == "skipped":
                continue
            series_by_job[job.base_name][point].append(job.duration_s)
            totals[job.base_name] += job.duration_s
    if not walls:
        raise InputError("no completed runs to plot", where=repo, hint="ingest runs first")
    names = sorted(totals, key=lambda n: -totals[n])[:top]
    points = sorted(walls)
    labels = [label for _, label in points]
    index = {point: i for i, point in enumerate(points)}
    fig, ax = plt.subplots(figsize=(12, 6))
    try:
        ax.plot(
            range(len(points)),
            [(median(walls[p]) or 0) / 60 for p in points],
            color="black",
            linewidth=2.5,
            label="run wall clock",
        )
        for name in names:
            series = series_by_job[name]
            xs = [p for p in points if p in series]
            ax.plot(
                [index[p] for p in xs],
                [(median(series[p]) or 0) / 60 for p in xs],
                marker=".",
                label=_plain(name),
            )
        ax.set_ylabel("median minutes")
        unit = "run" if per_run else "day"
        ax.set_title(f"{repo}: duration trends per job (median per {unit})")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        ax.grid(alpha=0.3)
        step = max(1, len(points) // 12)
        ax.set_xticks(range(0, len(points), step))
        ax.set_xticklabels(labels[::step])
        ax.tick_params(axis="x", rotation=30, labelsize=8)
        fig.tight_layout()
        fig.savefig(output, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def cache_png(db: Database, repo: str, output: Path, *, top: int = 25) -> None:
    """Cache entries by size against the quota; dead weight (PR / merge-queue refs) in red."""
    plt = _pyplot()
    quota = cache_quota(db, repo)
    if quota is None:
        raise InputError(
            "no cache snapshot in the database", where=repo, hint="run ingest without --no-caches"
        )
    entries = list(quota.entries[:top])
    fig, (bar_ax, list_ax) = plt.subplots(
        2,
        1,
        figsize=(12, max(4.0, 0.3 * len(entries) + 3)),
        height_ratios=[1, max(2, len(entries) // 3)],
    )
    try:
        gib = 1000**3  # GitHub states the quota in (decimal) GB
        live = (quota.listed_bytes - quota.dead_bytes) / gib
        dead = quota.dead_bytes / gib
        bar_ax.barh([0], [live], color="#0969da", label=f"live {live:.2f} GB")
        bar_ax.barh([0], [dead], left=[live], color="#cf222e", label=f"dead weight {dead:.2f} GB")
        bar_ax.axvline(
            quota.limit_bytes / gib,
            color="black",
            linestyle="--",
            label=f"quota {quota.limit_bytes / gib:.0f} GB ({quota.limit_source})",
        )
        bar_ax.set_xlim(0, max(quota.limit_bytes / gib, live + dead) * 1.05)
        bar_ax.set_yticks([])
        bar_ax.set_xlabel("GB")
        bar_ax.legend(fontsize=8, loc="lower right")
        bar_ax.set_title(f"{repo}: cache usage at {format_time(quota.snapshot_at)}")
        labels = [_plain(f"{e.key[:60]}  [{e.ref.removeprefix('refs/')}]") for e in entries]
        sizes = [e.size_bytes / 1024**2 for e in entries]
        list_ax.barh(
            range(len(entries)),
            sizes,
            color=["#cf222e" if e.dead_weight else "#0969da" for e in entries],
        )
        list_ax.set_yticks(range(len(entries)))
        list_ax.set_yticklabels(labels, fontsize=7)
        list_ax.invert_yaxis()
        list_ax.set_xlabel("MiB per entry (red: dead weight)")
        fig.tight_layout()
        fig.savefig(output, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
