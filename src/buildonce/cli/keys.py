"""``buildonce hash`` and ``buildonce key``: hashFiles and cache keys on the command line."""

from __future__ import annotations

import argparse
from typing import Any

_ROOT_HELP = "workspace directory the patterns are relative to (default: the current directory)"


def register(subparsers: Any) -> None:
    hash_parser = subparsers.add_parser(
        "hash",
        help="print what ${{ hashFiles(...) }} evaluates to",
        description=(
            "Print exactly what GitHub's hashFiles(PATTERN, ...) gives with --root as the "
            "workspace: 64 hex characters, or an empty line when no file matches."
        ),
    )
    hash_parser.add_argument("--root", default=".", metavar="DIR", help=_ROOT_HELP)
    hash_parser.add_argument(
        "--follow-symbolic-links",
        action="store_true",
        help="descend into linked directories, as hashFiles('--follow-symbolic-links', ...)",
    )
    hash_parser.add_argument(
        "--list",
        action="store_true",
        help="first print '<sha256>  <path>' for each hashed file, in hashing order",
    )
    hash_parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="hashing processes (default: one per CPU for large trees; 1 = no pool)",
    )
    hash_parser.add_argument(
        "patterns", nargs="+", metavar="PATTERN", help="hashFiles pattern ('!' excludes)"
    )
    hash_parser.set_defaults(handler=_hash)

    key_parser = subparsers.add_parser(
        "key",
        usage=(
            "%(prog)s [--root DIR] [--name NAME] [--template T] [--input PATTERN]... "
            "[--json] [--manifest FILE]\n       %(prog)s diff [--json] OLD NEW"
        ),
        help="print the binary and Go module cache keys",
        description=(
            "Print the binary cache key (default template {os}-{name}-bin-{go}-{hash}, hash = "
            "hashFiles('go.mod', 'go.sum', '**/*.go') in the Go module) and the Go module "
            "cache key {os}-go-{go}-{gosum_hash}.  Inside GitHub Actions the keys are also "
            "written to $GITHUB_OUTPUT as binary-key, gomod-key, go-version and hash."
        ),
    )
    key_parser.add_argument(
        "--root", default=".", metavar="DIR", help="the Go module (the directory with go.mod)"
    )
    key_parser.add_argument(
        "--name", default=None, help="binary name in the key (default: the module's last element)"
    )
    key_parser.add_argument(
        "--template",
        default=None,
        metavar="T",
        help="binary key template; placeholders {os} {name} {go} {hash} {gosum_hash} {module}",
    )
    key_parser.add_argument(
        "--input",
        action="append",
        default=None,
        dest="inputs",
        metavar="PATTERN",
        help="hashFiles pattern for {hash}, repeatable (default: go.mod go.sum **/*.go)",
    )
    key_parser.add_argument("--json", action="store_true", help="print every component as JSON")
    key_parser.add_argument(
        "--manifest", metavar="FILE", help="also write the components and per-file digests here"
    )
    key_parser.set_defaults(handler=_key)

    key_commands = key_parser.add_subparsers(dest="key_command", metavar="{diff}")
    diff_parser = key_commands.add_parser(
        "diff",
        prog=f"{key_parser.prog} diff",
        help="explain a cache miss from two manifests",
        description=(
            "Compare two manifests written by `buildonce key --manifest`: which component "
            "changed (OS, toolchain, name, template, inputs) and which input files were "
            "added, removed or modified.  Exit 0 when both keys are equal, 1 when not."
        ),
    )
    diff_parser.add_argument("old", metavar="OLD", help="manifest of the run that saved the cache")
    diff_parser.add_argument("new", metavar="NEW", help="manifest of the run that missed")
    diff_parser.add_argument("--json", action="store_true", help="print the diff as JSON")
    diff_parser.set_defaults(handler=_key_diff)


def _hash(args: argparse.Namespace) -> int:
    from pathlib import Path

    from buildonce.errors import EXIT_OK
    from buildonce.keys.hashfiles import hash_files_detailed

    result = hash_files_detailed(
        args.patterns,
        root=Path(args.root),
        follow_symlinks=args.follow_symbolic_links,
        workers=args.jobs,
    )
    if args.list:
        for item in result.files:
            print(f"{item.sha256}  {item.path}")
    print(result.hash)
    return EXIT_OK


def _key(args: argparse.Namespace) -> int:
    from pathlib import Path

    from buildonce.cli._output import print_json, write_github_outputs
    from buildonce.errors import EXIT_OK
    from buildonce.keys.cache_key import (
        DEFAULT_INPUTS,
        DEFAULT_TEMPLATE,
        compute_keys,
        write_manifest,
    )

    components = compute_keys(
        Path(args.root),
        name=args.name,
        template=args.template if args.template is not None else DEFAULT_TEMPLATE,
        inputs=tuple(args.inputs) if args.inputs else DEFAULT_INPUTS,
    )
    if args.manifest:
        write_manifest(components, Path(args.manifest))
    if args.json:
        print_json(components.to_json(files=False))
    else:
        print(f"binary-key={components.binary_key}")
        print(f"gomod-key={components.gomod_key}")
    write_github_outputs(
        {
            "binary-key": components.binary_key,
            "gomod-key": components.gomod_key,
            "go-version": components.go.version,
            "hash": components.hash,
        }
    )
    return EXIT_OK


def _key_diff(args: argparse.Namespace) -> int:
    from pathlib import Path

    from buildonce.cli._output import print_json
    from buildonce.errors import EXIT_FAILURE, EXIT_OK
    from buildonce.keys.cache_key import diff_keys, read_manifest

    diff = diff_keys(read_manifest(Path(args.old)), read_manifest(Path(args.new)))
    if args.json:
        print_json(diff.to_json())
    else:
        for line in diff.explain():
            print(line)
    return EXIT_OK if diff.identical else EXIT_FAILURE
