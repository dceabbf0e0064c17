"""Every rule has an annotated fixture workflow, and its findings match the annotations."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from buildonce.lint import Linter
from buildonce.rules import RULES

from .conftest import DATA, expected_findings

FIXTURES = sorted(DATA.glob("*.yml"))


def test_every_rule_has_a_fixture() -> None:
    assert {p.stem for p in FIXTURES} >= set(RULES)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_findings_match_annotations(fixture: Path) -> None:
    expected = expected_findings(fixture)
    assert expected, "a fixture shows at least one finding"
    result = Linter().lint_paths([fixture])
    actual = Counter((f.location.line, f.rule) for f in result.findings)
    missing = expected - actual
    unexpected = actual - expected
    details = "\n".join(f"  {f.location.line}: {f.rule}: {f.message}" for f in result.findings)
    assert not missing, f"missing {sorted(missing)}; findings:\n{details}"
    assert not unexpected, f"unexpected {sorted(unexpected)}; findings:\n{details}"
    # The fixture's own rule is exercised.
    assert any(rule == fixture.stem for _, rule in expected)


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_module_documents_itself(rule_id: str) -> None:
    rule = RULES[rule_id]
    module = rule.check.__module__.rsplit(".", 1)[-1]
    assert module.replace("_", "-") == rule_id
    assert rule.doc.lstrip().startswith(rule_id + ":")
    assert "Fix" in rule.doc or "fix" in rule.doc


def test_docs_rules_md_is_generated_from_the_docstrings() -> None:
    from buildonce.rules import rules_markdown

    docs = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
    assert docs.read_text(encoding="utf-8") == rules_markdown(), (
        "regenerate: python -c 'from buildonce.rules import rules_markdown; "
        'open("docs/rules.md", "w").write(rules_markdown())\''
    )
