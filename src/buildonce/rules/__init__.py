"""The rule registry: one module per rule, listed here explicitly.

A rule module defines ``ID`` (kebab-case, its module name with dashes), ``SUMMARY`` (one
line), ``SEVERITY`` (default level) and ``check(ctx) -> Iterator[Finding]``; its docstring is
the user documentation (the anti-pattern and the fix), rendered into docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType

from buildonce.rules import (
    artifact_requires_builder,
    cache_key_consistency,
    cache_poisoning,
    failure_propagation,
    invalid_ignore,
    invalid_workflow,
    needs_cycle,
    parallel_safety,
    single_source_build,
    smoke_test_guard,
    unknown_needs,
    yaml_syntax,
)
from buildonce.rules.base import Finding, RuleContext, Severity


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    summary: str
    severity: Severity
    check: Callable[[RuleContext], Iterator[Finding]]
    doc: str


def _rule(module: ModuleType) -> Rule:
    return Rule(module.ID, module.SUMMARY, module.SEVERITY, module.check, module.__doc__ or "")


#: Every built-in rule by id, in documentation order.
RULES: dict[str, Rule] = {
    r.id: r
    for r in map(
        _rule,
        (
            single_source_build,
            cache_key_consistency,
            smoke_test_guard,
            parallel_safety,
            failure_propagation,
            artifact_requires_builder,
            unknown_needs,
            needs_cycle,
            cache_poisoning,
            yaml_syntax,
            invalid_workflow,
            invalid_ignore,
        ),
    )
}

__all__ = ["RULES", "Finding", "Rule", "RuleContext", "Severity"]


def rules_markdown() -> str:
    """docs/rules.md: every rule's summary, default level and docstring."""
    out = [
        "# buildonce lint rules",
        "",
        "Generated from the rule modules' docstrings (`buildonce.rules.rules_markdown()`);",
        "a test keeps this file in sync.  Silence one finding with",
        "`# buildonce: ignore[RULE] reason` on its line (or alone on the line above); configure",
        "levels in `[tool.buildonce.rules.<id>]` (see docs/lint.md).",
        "",
        "| rule | default level | checks |",
        "|---|---|---|",
    ]
    out += [f"| [`{r.id}`](#{r.id}) | {r.severity.value} | {r.summary} |" for r in RULES.values()]
    for rule in RULES.values():
        head, _, body = rule.doc.strip().partition("\n")
        out += ["", f"## {rule.id}", "", f"*{head.split(':', 1)[1].strip()}*", "", body.strip()]
    return "\n".join(out) + "\n"
