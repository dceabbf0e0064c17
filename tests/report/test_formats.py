"""Lint output formats: text snippet, versioned JSON, SARIF 2.1.0 (official schema), GitHub."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from buildonce.report import FORMATTERS, github, sarif
from buildonce.rules import RULES
from buildonce.rules.base import Finding, Severity
from buildonce.workflow.model import Location

DATA = Path(__file__).parent / "data"

WORKFLOW = """\
on: push
jobs:
  e2e:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        leg: [a, b]
    steps:
      - run: go build -o bin/app .
"""


@pytest.fixture
def findings(tmp_path: Path) -> tuple[list[Finding], list[str]]:
    path = tmp_path / "ci.yml"
    path.write_text(WORKFLOW, encoding="utf-8")
    action = tmp_path / "action.yml"
    return (
        [
            Finding(
                "single-source-build",
                "job 'e2e' rebuilds the binary in each of its 2 matrix legs",
                Location(str(path), 9, 9),
                Severity.ERROR,
                hint="build once, restore in the legs",
                job="e2e",
            ),
            Finding(
                "smoke-test-guard",
                "50% done, a: b, c\nsecond line",
                Location(str(path), 3, 3),
                Severity.WARNING,
                related=Location(str(action), 4, 7),
            ),
            Finding(
                "cache-key-consistency", "opaque key", Location(str(path), 1, 1), Severity.NOTE
            ),
        ],
        [str(path)],
    )


def test_text_shows_the_source_line_and_a_caret(
    findings: tuple[list[Finding], list[str]],
) -> None:
    out = FORMATTERS["text"](*findings).splitlines()
    first = out.index(next(line for line in out if "single-source-build" in line))
    assert out[first + 1] == "    9 |       - run: go build -o bin/app ."
    assert out[first + 2] == " " * (len("    9 | ") + 8) + "^"
    assert out[first + 3] == "      = hint: build once, restore in the legs"
    assert out[-1] == "1 file checked: 1 error, 1 warning, 1 note"


def test_json_matches_its_versioned_schema(findings: tuple[list[Finding], list[str]]) -> None:
    report = json.loads(FORMATTERS["json"](*findings))
    schema = json.loads((DATA / "lint-report-v1.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(report, schema)
    assert report["version"] == 1
    assert report["summary"] == {"error": 1, "warning": 1, "note": 1}
    assert report["findings"][1]["related"]["line"] == 4


def test_sarif_is_valid_against_the_official_schema(
    findings: tuple[list[Finding], list[str]],
) -> None:
    log = json.loads(sarif.render(*findings))
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    levels = [r["level"] for r in run["results"]]
    assert levels == ["error", "warning", "note"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["partialFingerprints"]["buildonce/v1"]
    assert run["results"][1]["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 4


def test_sarif_of_a_real_lint_run_is_valid(shared_dir: Path) -> None:
    from buildonce.lint import Linter

    result = Linter().lint_paths([shared_dir / "corpus" / "ksail"])
    log = json.loads(sarif.render(result.findings, result.files))
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(log)
    assert len(log["runs"][0]["results"]) == len(result.findings) > 0


def test_github_annotations_escape_properties_and_data(
    findings: tuple[list[Finding], list[str]],
) -> None:
    lines = github.render(*findings).splitlines()
    assert lines[0].startswith("::error file=")
    assert ",line=9,col=9,title=buildonce single-source-build::job 'e2e'" in lines[0]
    assert lines[0].endswith("%0A%0Ahint: build once, restore in the legs")
    assert lines[1].startswith("::warning ")
    assert "::50%25 done, a: b, c%0Asecond line" in lines[1]
    assert lines[2].startswith("::notice ")
    assert github.render([], []) == ""


def test_the_schema_rejects_what_sarif_forbids(findings: tuple[list[Finding], list[str]]) -> None:
    """The stored schema is strict, so the validity tests above can fail."""
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    log = json.loads(sarif.render(*findings))
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert not validator.is_valid(log)
    log = json.loads(sarif.render(*findings))
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert not validator.is_valid(log)
    log = json.loads(sarif.render(*findings))
    log["runs"][0]["tool"]["driver"]["unknown"] = 1
    assert not validator.is_valid(log)
