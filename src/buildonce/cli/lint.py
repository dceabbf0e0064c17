"""``buildonce lint``, ``graph`` and ``simulate``: check a workflow keeps the build-once
contract, draw its job graph, and predict job outcomes after a failure."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the library is imported inside handlers, so --help stays fast
    from buildonce.workflow.analysis import Analysis
    from buildonce.workflow.model import Workflow

LINT_FORMATS = ("text", "json", "sarif", "github")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lint = subparsers.add_parser(
        "lint",
        help="check workflows against the build-once rules",
        description=(
            "Check GitHub Actions workflows and local composite actions against the "
            "build-once rules (single source build, cache keys, smoke test, parallel safety, "
            "failure propagation, job graph, cache poisoning)."
        ),
        epilog=(
            "Exit codes: 0 no findings (notes allowed), 1 findings, 2 bad usage, bad config "
            "or internal error.  Silence one finding with a comment on its line or the line "
            "above: # buildonce: ignore[RULE] reason (the reason is required)."
        ),
    )
    lint.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="workflow files or folders (default: .github/ in the current folder)",
    )
    lint.add_argument(
        "--format",
        choices=LINT_FORMATS,
        default=None,
        help="output format (default: github inside GitHub Actions, text elsewhere)",
    )
    lint.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: nearest .buildonce.toml or pyproject.toml [tool.buildonce])",
    )
    lint.add_argument(
        "--rules", action="store_true", help="list the rules with their default level and exit"
    )
    lint.add_argument(
        "--no-cache",
        action="store_true",
        help="ignore and do not update the findings cache ($XDG_CACHE_HOME/buildonce)",
    )
    lint.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="worker processes for large inputs (default: the CPUs available, at most 4; "
        "Linux only, elsewhere 1)",
    )
    lint.set_defaults(handler=run_lint)

    graph = subparsers.add_parser(
        "graph",
        help="draw a workflow's job graph with its cache relationships",
        description="Print the job DAG (needs) with binary cache saves and restores.",
    )
    graph.add_argument("workflow", nargs="?", metavar="WORKFLOW", help=_WORKFLOW_HELP)
    graph.add_argument(
        "--format", choices=("mermaid", "dot"), default="mermaid", help="default: mermaid"
    )
    graph.set_defaults(handler=run_graph)

    sim = subparsers.add_parser(
        "simulate",
        help="predict every job's status when jobs fail or the run is cancelled",
        description=(
            "Simulate one run under GitHub's needs/if semantics and print each job's status "
            "(success, failure, skipped) with the reason, to check failure propagation "
            "before pushing."
        ),
        epilog="Exit codes: 0 simulated, 2 unknown job, invalid workflow or bad usage.",
    )
    sim.add_argument("workflow", nargs="?", metavar="WORKFLOW", help=_WORKFLOW_HELP)
    sim.add_argument(
        "--fail", action="append", default=[], metavar="JOB", help="this job fails (repeatable)"
    )
    sim.add_argument(
        "--cancel",
        action="append",
        default=[],
        metavar="JOB",
        help="the run is cancelled while this job runs (repeatable)",
    )
    sim.add_argument("--event", metavar="NAME", help="github.event_name for conditions (e.g. push)")
    sim.add_argument("--json", action="store_true", help="print JSON")
    sim.set_defaults(handler=run_simulate)


_WORKFLOW_HELP = "workflow file (default: the only file in .github/workflows/)"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def run_lint(args: argparse.Namespace) -> int:
    from buildonce.config import load_config
    from buildonce.errors import EXIT_OK, InputError
    from buildonce.lint import Linter, default_cache_dir, default_jobs
    from buildonce.report import FORMATTERS
    from buildonce.rules import RULES

    if args.rules:
        for rule in RULES.values():
            print(f"{rule.id:28} {rule.severity.value:8} {rule.summary}")
        return EXIT_OK
    paths = list(args.paths)
    if not paths:
        default = Path(".github")
        if not default.is_dir():
            raise InputError(
                "no .github/ folder here",
                where=str(Path.cwd()),
                hint="run in the repository root or give workflow paths",
            )
        paths = [str(default)]
    start = Path(paths[0])
    config = load_config(args.config, start=start if start.is_dir() else start.parent)
    cache_dir = None if args.no_cache else default_cache_dir()
    jobs = args.jobs if args.jobs is not None else default_jobs()
    result = Linter(config, cache_dir=cache_dir, jobs=jobs).lint_paths(paths)
    if not result.files:
        raise InputError(
            "no workflow files found",
            where=", ".join(paths),
            hint="workflows live in .github/workflows/*.yml",
        )
    fmt = args.format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    sys.stdout.write(FORMATTERS[fmt](result.findings, result.files))
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        from buildonce.cli._output import append_step_summary
        from buildonce.report.summary import render as summary

        append_step_summary(summary(result.findings, result.files))
    return result.exit_code


def _load_workflow(arg: str | None) -> Workflow:
    from buildonce.errors import InputError
    from buildonce.workflow.loader import Loader, SyntaxProblem

    if arg is None:
        folder = Path(".github/workflows")
        files = (
            sorted(p for p in folder.glob("*") if p.suffix in (".yml", ".yaml"))
            if folder.is_dir()
            else []
        )
        if len(files) != 1:
            listing = ", ".join(p.name for p in files) or "none found"
            raise InputError(
                "name the workflow to use",
                where=str(folder),
                hint=f"workflows: {listing}",
            )
        arg = str(files[0])
    path = Path(arg)
    if not path.is_file():
        raise InputError("no such workflow file", where=arg)
    loaded = Loader().load(path)
    if isinstance(loaded, SyntaxProblem):
        raise InputError(
            f"invalid YAML: {loaded.message}",
            where=f"{loaded.path}:{loaded.line}:{loaded.col}",
            hint="buildonce lint shows every problem",
        )
    if loaded.is_action or not loaded.jobs:
        raise InputError("not a workflow with jobs", where=arg)
    return loaded


def _analysed(arg: str | None) -> tuple[Workflow, Analysis]:
    """The workflow ``arg`` names, analysed with the config found beside it."""
    from buildonce.config import load_config
    from buildonce.workflow.analysis import Settings, analyse

    workflow = _load_workflow(arg)
    config = load_config(None, start=Path(workflow.path).parent)
    settings = Settings(
        config.builder_jobs, config.reporting_jobs, config.binary_paths, config.smoke_command
    )
    return workflow, analyse(workflow, settings)


def run_graph(args: argparse.Namespace) -> int:
    from buildonce.workflow.graph import to_dot, to_mermaid

    workflow, analysis = _analysed(args.workflow)
    render = to_dot if args.format == "dot" else to_mermaid
    sys.stdout.write(render(workflow, analysis))
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    from buildonce.cli._output import print_json
    from buildonce.workflow.simulate import simulate

    workflow, analysis = _analysed(args.workflow)
    result = simulate(
        workflow, fail=args.fail, cancel=args.cancel, event=args.event, analysis=analysis
    )
    if args.json:
        print_json(result.to_json())
        return 0
    width = max(len(o.job) for o in result.outcomes)
    for o in result.outcomes:
        status = o.status.value + (" (cancelled)" if o.result == "cancelled" else "")
        line = f"{o.job:<{width}}  {status:<20}"
        if o.reason:
            line += f"  {o.reason}"
        print(line.rstrip())
    return 0
