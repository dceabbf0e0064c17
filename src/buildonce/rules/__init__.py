"""The rule registry: one module per rule, listed here explicitly.

A rule module defines ``ID`` (kebab-case, its module name with dashes), ``SUMMARY`` (one
line), ``SEVERITY`` (default level) and ``check(ctx) -> Iterator[Finding]``; its docstring is
the user documentation (the anti-pattern and the fix), rendered into docs/rules.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from buildonce.rules.base import Finding, RuleContext, Severity

#: The built-in rule modules, in documentation order.  Imported on first use of ``RULES``
#: (PEP 562), so a lint run answered from the findings cache does not pay for them.
RULE_MODULES: tuple[str, ...] = (
    "single_source_build",
    "cache_key_consistency",
    "smoke_test_guard",
    "parallel_safety",
    "failure_propagation",
    "artifact_requires_builder",
    "unknown_needs",
    "needs_cycle",
    "cache_poisoning",
    "yaml_syntax",
    "invalid_workflow",
    "invalid_ignore",
)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    summary: str
    severity: Severity
    check: Callable[[RuleContext], Iterator[Finding]]
    doc: str


def _rule(module: ModuleType) -> Rule:
    return Rule(module.ID, module.SUMMARY, module.SEVERITY, module.check, module.__doc__ or "")


if TYPE_CHECKING:
    #: Every built-in rule by id, in documentation order.
    RULES: dict[str, Rule]


def all_rules() -> dict[str, Rule]:
    """The registry (``RULES``), importing the rule modules on first use."""
    rules: dict[str, Rule] | None = globals().get("RULES")
    if rules is None:
        modules = [importlib.import_module(f"buildonce.rules.{m}") for m in RULE_MODULES]
        rules = {r.id: r for r in map(_rule, modules)}
        globals()["RULES"] = rules
    return rules


def __getattr__(name: str) -> object:
    if name == "RULES":
        return all_rules()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    out += [
        f"| [`{r.id}`](#{r.id}) | {r.severity.value} | {r.summary} |" for r in all_rules().values()
    ]
    for rule in all_rules().values():
        head, _, body = rule.doc.strip().partition("\n")
        out += ["", f"## {rule.id}", "", f"*{head.split(':', 1)[1].strip()}*", "", body.strip()]
    return "\n".join(out) + "\n"


__all__ = [
    "RULES",
    "RULE_MODULES",
    "Finding",
    "Rule",
    "RuleContext",
    "Severity",
    "all_rules",
    "rules_markdown",
]
