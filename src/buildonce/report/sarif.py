"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

Every rule appears in ``tool.driver.rules`` (with its docstring as help text) and results point
to it by ``ruleIndex``; severities map to SARIF levels one to one (error, warning, note).
``partialFingerprints`` lets code scanning follow a finding when lines move.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

from buildonce import __version__
from buildonce.report._source import source_line
from buildonce.rules import RULES
from buildonce.rules.base import Finding

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"


def _uri(path: str) -> str:
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    if rel.startswith(".."):
        rel = path
    return rel.replace(os.sep, "/")


def render(findings: Sequence[Finding], files: Sequence[str]) -> str:
    rule_ids = list(RULES)
    rules: list[dict[str, Any]] = []
    for rule_id in rule_ids:
        rule = RULES[rule_id]
        rules.append(
            {
                "id": rule.id,
                "name": "".join(part.title() for part in rule.id.split("-")),
                "shortDescription": {"text": rule.summary},
                "fullDescription": {"text": rule.doc.strip().split("\n\n", 1)[0]},
                "help": {"text": rule.doc.strip(), "markdown": rule.doc.strip()},
                "defaultConfiguration": {"level": rule.severity.value},
            }
        )
    results: list[dict[str, Any]] = []
    for f in findings:
        text = f.message + (f" ({f.hint})" if f.hint else "")
        line_text = source_line(f.location.path, f.location.line) or ""
        fingerprint = hashlib.sha256(
            f"{f.rule}\0{_uri(f.location.path)}\0{line_text.strip()}\0{f.job or ''}".encode()
        ).hexdigest()
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": rule_ids.index(f.rule),
            "level": f.severity.value,
            "message": {"text": text},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(f.location.path)},
                        "region": {
                            "startLine": f.location.line,
                            "startColumn": f.location.col,
                        },
                    }
                }
            ],
            "partialFingerprints": {"buildonce/v1": fingerprint},
        }
        if f.related is not None:
            result["relatedLocations"] = [
                {
                    "id": 0,
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(f.related.path)},
                        "region": {"startLine": f.related.line, "startColumn": f.related.col},
                    },
                    "message": {"text": "inside this composite action step"},
                }
            ]
        results.append(result)
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "buildonce",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "artifacts": [{"location": {"uri": _uri(p)}} for p in files],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
