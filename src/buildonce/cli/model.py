"""``buildonce schema`` and ``buildonce model validate``: the domain model on the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

ENTITY_NAMES = ("BinaryCacheEntry", "GoModuleCache", "CIJob", "CIRun", "RunSnapshot")


def register(subparsers: Any) -> None:
    schema = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of the domain model",
        description=(
            "Print the JSON Schema (draft 2020-12) of the domain model's JSON form: "
            "BinaryCacheEntry, GoModuleCache, CIJob, CIRun and RunSnapshot."
        ),
    )
    schema.add_argument(
        "--entity",
        metavar="NAME",
        help=f"print only this entity's schema (one of {', '.join(ENTITY_NAMES)})",
    )
    schema.set_defaults(handler=run_schema)

    model = subparsers.add_parser(
        "model",
        help="check domain-model documents",
        description="Work with JSON documents of the domain model.",
    )
    commands = model.add_subparsers(dest="model_command", metavar="COMMAND", required=True)
    validate = commands.add_parser(
        "validate",
        help="validate a JSON document of entities",
        description=(
            "Validate a JSON document holding one entity (BinaryCacheEntry, GoModuleCache, "
            "CIJob, CIRun) or a RunSnapshot (a run with its caches, whose relationships are "
            "checked too).  Exit 0 when valid, 1 when invalid, 2 when the file cannot be read."
        ),
    )
    validate.add_argument("file", metavar="FILE", help="the JSON file, or - for stdin")
    validate.add_argument(
        "--entity",
        metavar="NAME",
        help="the entity the document holds (default: recognised from its fields)",
    )
    validate.add_argument("--json", action="store_true", help="print the result as JSON")
    validate.set_defaults(handler=run_validate)


def run_schema(args: argparse.Namespace) -> int:
    import json

    from buildonce.model.schema import model_schema

    # Not print_json: that sorts keys, and a schema reads best with $schema and $id first.
    print(json.dumps(model_schema(args.entity), indent=2, ensure_ascii=False))
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from buildonce.cli._output import print_json
    from buildonce.errors import ValidationError
    from buildonce.model.document import load_document, parse_entity

    data = load_document(args.file, sys.stdin)
    try:
        name, _ = parse_entity(data, args.entity)
    except ValidationError as exc:
        if args.json:
            print_json(
                {
                    "valid": False,
                    "file": args.file,
                    "entity": exc.entity,
                    "field": exc.field,
                    "rule": exc.rule,
                    "message": str(exc),
                }
            )
        print(f"buildonce: invalid: {args.file}: {exc} [rule: {exc.rule}]", file=sys.stderr)
        return 1
    if args.json:
        print_json({"valid": True, "file": args.file, "entity": name})
    else:
        print(f"{args.file}: valid {name}")
    return 0
