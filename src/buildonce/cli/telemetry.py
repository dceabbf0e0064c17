"""``buildonce ingest``, ``buildonce report`` and ``buildonce plot``: CI telemetry commands.

Only :mod:`argparse` is imported at load time; the library (sqlite3, http.client,
matplotlib) is imported inside the handlers.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def _duration(text: str) -> float:
    """``1m45s``, ``105s``, ``105`` or ``1h`` as seconds (argparse type)."""
    match = _DURATION.match(text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (examples: 1m45s, 105s, 105)")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def _fraction(text: str) -> float:
    """``40%`` or ``0.4`` as a fraction (argparse type)."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a fraction (examples: 40%, 0.4)"
        ) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0% and 100%")
    return value


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database: a SQLite path (default $BUILDONCE_TELEMETRY_DB or "
        "$XDG_DATA_HOME/buildonce/telemetry.db) or postgresql://user@host/dbname",
    )


def register(subparsers: Any) -> None:
    ingest = subparsers.add_parser(
        "ingest",
        help="ingest CI telemetry into the local database",
        description=(
            "Ingest CI telemetry. Safe to interrupt and rerun: it resumes without duplicates."
        ),
    )
    sources = ingest.add_subparsers(dest="source", metavar="SOURCE", required=True)
    gh = sources.add_parser(
        "github",
        help="GitHub Actions runs, jobs (every attempt) and caches over the REST API",
        description=(
            "Fetch runs (every attempt), jobs with steps, cache entries and cache usage from "
            "the GitHub REST API ($GITHUB_API_URL, default https://api.github.com; GHES: "
            "https://HOST/api/v3) using $GITHUB_TOKEN. Follows pagination, sends conditional "
            "requests, backs off on rate limits and retries server errors."
        ),
    )
    gh.add_argument("--repo", metavar="OWNER/NAME", help="repository (default $GITHUB_REPOSITORY)")
    gh.add_argument(
        "--workflow", metavar="FILE", help="only this workflow (file name such as ci.yaml, or id)"
    )
    gh.add_argument(
        "--since", metavar="DATE", help="only runs created on or after DATE (YYYY-MM-DD)"
    )
    gh.add_argument("--branch", metavar="B", help="only runs on branch B")
    _add_db(gh)
    gh.add_argument(
        "--full", action="store_true", help="re-walk every page instead of stopping at known runs"
    )
    gh.add_argument("--no-caches", action="store_true", help="skip the cache list/usage snapshot")
    gh.add_argument(
        "--workflow-files",
        action="store_true",
        help="also fetch the workflow file at each run's commit (exact critical paths; "
        "one request per commit)",
    )
    gh.add_argument(
        "--max-wait",
        type=_duration,
        default=900.0,
        metavar="DURATION",
        help="most time to spend waiting on rate limits and retries in total (default 15m)",
    )
    _add_patterns(gh)
    gh.add_argument("--json", action="store_true", help="print the summary as JSON")
    gh.set_defaults(handler=_ingest_github)

    report = subparsers.add_parser(
        "report",
        help="durations, cache hit rate, quota and the success criteria",
        description=(
            "Report per-job durations (median, p90), matrix-leg averages, run wall clock, the "
            "critical path, cache hit rate, rebuilds, cache quota with dead weight, and the "
            "success criteria as pass/fail. RANGE: DATE..DATE, #N..#M (run numbers), last:N, "
            "sha:PREFIX, pr:N, branch:NAME or all. Without --current: runs after the "
            "baseline."
        ),
        epilog=(
            "Exit codes: 0 report written; 1 a criterion failed (with --fail-on-criteria); "
            "2 bad input."
        ),
    )
    _add_db(report)
    report.add_argument(
        "--repo", metavar="OWNER/NAME", help="repository (needed when the database holds several)"
    )
    report.add_argument(
        "--workflow", metavar="FILE", help="only runs of this workflow file or name"
    )
    report.add_argument("--baseline", metavar="RANGE", help="the runs before the change")
    report.add_argument("--current", metavar="RANGE", help="the runs after the change")
    report.add_argument("--format", choices=("text", "markdown", "json", "html"), default="text")
    report.add_argument(
        "--output", metavar="FILE", help="write the report to FILE instead of stdout"
    )
    report.add_argument(
        "--github-summary",
        action="store_true",
        help="append the markdown report to $GITHUB_STEP_SUMMARY",
    )
    report.add_argument(
        "--fail-on-criteria", action="store_true", help="exit 1 when a criterion fails"
    )
    report.add_argument(
        "--workflow-file",
        metavar="PATH",
        help="workflow YAML whose `needs` define the DAG (default: the stored file at the "
        "run's commit, else inferred from timing)",
    )
    report.add_argument(
        "--target-job",
        default="system-test",
        metavar="NAME",
        help="job whose average must meet --target (default system-test)",
    )
    report.add_argument(
        "--target",
        type=_duration,
        default=105.0,
        metavar="DURATION",
        help="average time target for --target-job (default 1m45s)",
    )
    report.add_argument(
        "--builder",
        default="build-artifact",
        metavar="NAME",
        help="the one job allowed to compile (default build-artifact)",
    )
    report.add_argument(
        "--min-reduction",
        type=_fraction,
        default=0.40,
        metavar="PCT",
        help="required wall clock reduction (default 40%%)",
    )
    report.add_argument(
        "--min-hit-rate",
        type=_fraction,
        default=0.80,
        metavar="PCT",
        help="required cache hit rate (default 80%%)",
    )
    report.add_argument(
        "--max-slowdown",
        type=_fraction,
        default=0.10,
        metavar="PCT",
        help="allowed slowdown of jobs without the binary (default 10%%)",
    )
    report.add_argument(
        "--pass-rate-tolerance",
        type=_fraction,
        default=0.0,
        metavar="PCT",
        help="how far the run pass rate may drop below the baseline's (default 0%%)",
    )
    report.set_defaults(handler=_report)

    plot = subparsers.add_parser(
        "plot",
        help="pictures: a run's Gantt timeline, duration trends, cache usage",
        description=(
            "Draw telemetry. .png needs matplotlib (buildonce[plot]); .mmd writes Mermaid "
            "(gantt only)."
        ),
    )
    kinds = plot.add_subparsers(dest="picture", metavar="PICTURE", required=True)
    gantt = kinds.add_parser("gantt", help="timeline of one run: jobs, steps, runner waits")
    gantt.add_argument("run_id", type=int, metavar="RUN_ID")
    gantt.add_argument("--attempt", type=int, help="attempt number (default: latest)")
    for sub in (
        gantt,
        kinds.add_parser("trends", help="median duration per job per day"),
        kinds.add_parser("cache", help="cache entries against the quota"),
    ):
        sub.add_argument(
            "--output", "-o", required=True, metavar="FILE", help="FILE.png or FILE.mmd"
        )
        sub.add_argument("--repo", metavar="OWNER/NAME")
        _add_db(sub)
        sub.set_defaults(handler=_plot)


def _add_patterns(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "step classification",
        "regular expressions (case-insensitive) matched against step names; defaults recognise "
        "actions/cache, buildonce, 'go build' and steps named Build/Compile/Smoke",
    )
    group.add_argument("--compile-step", metavar="REGEX", help="steps that compile the binary")
    group.add_argument(
        "--restore-step", metavar="REGEX", help="steps that restore the cached binary"
    )
    group.add_argument("--smoke-step", metavar="REGEX", help="steps that smoke-test the binary")


def _progress() -> Any:
    if not sys.stderr.isatty():
        return None

    def say(message: str) -> None:
        sys.stderr.write(f"\r\033[K{message}")
        sys.stderr.flush()

    return say


def _ingest_github(args: argparse.Namespace) -> int:
    from buildonce.cli._output import print_json
    from buildonce.errors import InputError
    from buildonce.telemetry.db import connect
    from buildonce.telemetry.github import GitHubClient, RetryPolicy
    from buildonce.telemetry.ingest import IngestOptions, ingest_github
    from buildonce.telemetry.records import DEFAULT_PATTERNS, StepPatterns

    repo = args.repo or os.environ.get("GITHUB_REPOSITORY")
    if not repo:
        raise InputError("no repository given", where="--repo", hint="pass --repo OWNER/NAME")
    patterns = DEFAULT_PATTERNS
    overrides = {
        k: v
        for k, v in (
            ("compile", args.compile_step),
            ("restore", args.restore_step),
            ("smoke", args.smoke_step),
        )
        if v
    }
    if overrides:
        patterns = StepPatterns(**overrides)
    options = IngestOptions(
        repo=repo,
        workflow=args.workflow,
        since=args.since,
        branch=args.branch,
        full=args.full,
        caches=not args.no_caches,
        workflow_files=args.workflow_files,
        patterns=patterns,
    )
    if not (os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")):
        # Unauthenticated requests get 60 an hour; a real ingest needs far more.
        print(
            "buildonce: warning: GITHUB_TOKEN is not set: anonymous requests are limited to "
            "60 an hour and cannot read private repositories or the cache API",
            file=sys.stderr,
        )
    progress = _progress()
    with (
        connect(args.db) as db,
        GitHubClient.from_env(
            os.environ, policy=RetryPolicy(max_total_wait_s=args.max_wait)
        ) as client,
    ):
        try:
            summary = ingest_github(db, client, options, progress=progress)
        finally:
            if progress:
                sys.stderr.write("\r\033[K")
    if args.json:
        print_json(summary.to_json())
    else:
        print(
            f"{summary.repo}: {summary.runs_seen} runs listed "
            f"({summary.runs_updated} new or changed), "
            f"{summary.jobs} jobs, {summary.attempts_fetched} earlier attempts, "
            f"{summary.cache_entries} cache entries; {summary.requests} requests "
            f"({summary.pages_not_modified} not modified) in {summary.elapsed_s:.1f}s"
        )
    for warning in summary.warnings:
        print(f"buildonce: warning: {warning}", file=sys.stderr)
    return 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from buildonce.cli._output import append_step_summary
    from buildonce.errors import EXIT_FAILURE, InputError
    from buildonce.telemetry.db import connect
    from buildonce.telemetry.render import FORMATTERS, render_markdown
    from buildonce.telemetry.reports import CriteriaConfig, build_report

    workflow_text = None
    if args.workflow_file:
        try:
            workflow_text = Path(args.workflow_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", where=args.workflow_file) from None
    config = CriteriaConfig(
        target_job=args.target_job,
        target_s=args.target,
        min_reduction=args.min_reduction,
        min_hit_rate=args.min_hit_rate,
        max_slowdown=args.max_slowdown,
        pass_rate_tolerance=args.pass_rate_tolerance,
        builder=args.builder,
    )
    with connect(args.db, create=False) as db:
        report = build_report(
            db,
            repo=args.repo,
            baseline=args.baseline,
            current=args.current,
            workflow=args.workflow,
            workflow_file_text=workflow_text,
            config=config,
        )
        timeline = ""
        if report.current.last_run is not None and (
            args.format == "markdown" or args.github_summary
        ):
            timeline = _timeline_markdown(db, report.repo, report.current.last_run)
    text = FORMATTERS[args.format](report)
    if args.format == "markdown":
        text += timeline
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror}", where=args.output) from None
    else:
        sys.stdout.write(text)
    if args.github_summary and not append_step_summary(render_markdown(report) + timeline):
        print(
            "buildonce: warning: --github-summary: $GITHUB_STEP_SUMMARY is not set", file=sys.stderr
        )
    if args.fail_on_criteria and report.failed:
        names = ", ".join(c.id for c in report.failed)
        print(f"buildonce: criteria failed: {names}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _timeline_markdown(db: Any, repo: str, run_id: int) -> str:
    """The newest run as Mermaid Gantt blocks, which GitHub renders in a job summary."""
    from buildonce.telemetry import plot

    timeline = plot.load_timeline(db, repo, run_id)
    blocks = "".join(f"\n```mermaid\n{d}```\n" for d in plot.gantt_mermaid(timeline))
    return f"\n### Timeline: {timeline.title}\n{blocks}"


def _plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from buildonce.errors import InputError
    from buildonce.telemetry import plot
    from buildonce.telemetry.db import connect
    from buildonce.telemetry.reports import resolve_repo

    output = Path(args.output)
    suffix = output.suffix.lower()
    allowed = (".png", ".mmd") if args.picture == "gantt" else (".png",)
    if suffix not in allowed:
        raise InputError(
            f"cannot write a {args.picture} picture as {suffix or 'a file without extension'}",
            where="--output",
            hint="use " + " or ".join(f"FILE{s}" for s in allowed),
        )
    if not output.parent.is_dir():
        raise InputError("the folder does not exist", where=str(output.parent))
    with connect(args.db, create=False) as db:
        repo = resolve_repo(db, args.repo)
        if args.picture == "gantt":
            timeline = plot.load_timeline(db, repo, args.run_id, args.attempt)
            if suffix == ".mmd":
                diagrams = plot.gantt_mermaid(timeline)
                output.write_text("\n".join(diagrams), encoding="utf-8")
            else:
                plot.gantt_png(timeline, output)
        elif args.picture == "trends":
            plot.trends_png(db, repo, output)
        else:
            plot.cache_png(db, repo, output)
    print(f"wrote {output}")
    return 0
