"""Command-line entry point: the one place where errors become messages and exit codes.

Each command group lives in its own module that exposes ``register(subparsers)``.  Those
modules import only :mod:`argparse` at load time and import the library inside their
handlers, so ``buildonce --help`` does not pay for YAML, zstd, boto3 or SQLite.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from buildonce import __version__
from buildonce.errors import EXIT_USAGE, BuildonceError

#: Command-group modules, in the order their commands appear in ``--help``.
COMMAND_MODULES: tuple[str, ...] = (
    "buildonce.cli.keys",  # hash, key
    "buildonce.cli.store",  # save, restore, prepare, cache, gomod
    "buildonce.cli.lint",  # lint, graph, simulate
    "buildonce.cli.telemetry",  # ingest, report
    "buildonce.cli.model",  # schema
)

EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buildonce",
        description=(
            "Build the binary once per CI run, hand it to every job through a verified cache, "
            "and prove the workflow keeps that contract."
        ),
        epilog=(
            "Exit codes: 0 success; 1 the command ran and the answer is no (findings, a miss "
            "with --fail-on-miss, a failed smoke test or criterion); 2 bad input or usage."
        ),
    )
    parser.add_argument("--version", action="version", version=f"buildonce {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # A command group that is not written yet must not break the others.
            if exc.name == module_name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        result: int = handler(args)
    except BuildonceError as exc:
        print(f"buildonce: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("buildonce: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `buildonce cache ls | head` closes the pipe early; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # the one place unexpected errors are reported
        if os.environ.get("BUILDONCE_DEBUG"):
            raise
        print(
            f"buildonce: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
            "(hint: rerun with BUILDONCE_DEBUG=1 for a traceback and report it)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return result
