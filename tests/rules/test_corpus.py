"""The shared corpus: every file lints, ksail's before/after expectations, labelled precision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildonce.lint import Linter, LintResult

from .conftest import DATA

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def corpus_result(shared_dir: Path) -> LintResult:
    corpus = shared_dir / "corpus"
    return Linter().lint_paths([corpus / "workflows", corpus / "ksail"])


def _rel(path: str) -> str:
    return path.split("/corpus/", 1)[1]


def test_every_corpus_file_lints(corpus_result: LintResult, shared_dir: Path) -> None:
    corpus = shared_dir / "corpus"
    expected = sorted(
        str(p)
        for d in ("workflows", "ksail")
        for p in (corpus / d).iterdir()
        if p.suffix in (".yml", ".yaml")
    )
    assert sorted(corpus_result.files) == expected
    assert len(expected) >= 300
    # Every corpus file is valid YAML (research: 0 parse failures) and a valid workflow.
    assert not [f for f in corpus_result.findings if f.rule in ("yaml-syntax", "invalid-workflow")]


def test_ksail_before_reports_the_per_leg_rebuild(corpus_result: LintResult) -> None:
    found = [
        (f.location.line, f.job)
        for f in corpus_result.findings
        if _rel(f.location.path) == "ksail/ci.before.yaml" and f.rule == "single-source-build"
    ]
    assert found == [(147, "system-test")]


def test_ksail_after_has_no_single_source_build_finding(corpus_result: LintResult) -> None:
    after = [f for f in corpus_result.findings if _rel(f.location.path) == "ksail/ci.after.yaml"]
    assert after  # the composite action was followed: its save race is still reported
    assert not [f for f in after if f.rule == "single-source-build"]


def test_ksail_after_in_a_real_checkout(ksail_checkout: Path) -> None:
    result = Linter().lint_paths([ksail_checkout])
    rules = sorted({f.rule for f in result.findings})
    assert "single-source-build" not in rules
    assert rules == ["parallel-safety", "smoke-test-guard"]


def test_labelled_sample_precision(corpus_result: LintResult) -> None:
    data = json.loads((DATA / "labelled_findings.json").read_text(encoding="utf-8"))
    labels = data["labels"]
    assert len(labels) >= 30
    produced = {(_rel(f.location.path), f.location.line, f.rule) for f in corpus_result.findings}
    stale = [
        (x["file"], x["line"], x["rule"])
        for x in labels
        if (x["file"], x["line"], x["rule"]) not in produced
    ]
    assert not stale, f"labelled findings no longer reported (relabel them): {stale}"
    assert all(x["justification"].strip() for x in labels)
    true_positives = sum(1 for x in labels if x["true_positive"])
    precision = true_positives / len(labels)
    print(f"labelled precision: {true_positives}/{len(labels)} = {precision:.1%}")
    assert precision >= 0.8
