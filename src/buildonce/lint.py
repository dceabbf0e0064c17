"""The lint engine: load files, run the rules, apply config and ignore comments.

Rules only produce findings; suppression (config, ``# buildonce: ignore[RULE] reason``),
severity and the exit status live here, so every rule behaves the same way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from buildonce.config import Config
from buildonce.errors import EXIT_FAILURE, EXIT_OK
from buildonce.rules import RULES, yaml_syntax
from buildonce.rules.base import Finding, RuleContext, Severity
from buildonce.workflow.analysis import Settings, analyse
from buildonce.workflow.loader import Loader, SyntaxProblem, discover
from buildonce.workflow.model import Location, Workflow

_IGNORE = re.compile(r"#\s*buildonce:\s*ignore\[([^\]]*)\](.*)$")
#: Rules that still apply to a composite action file on its own; the domain rules need the
#: calling workflow and see the action's steps through it.
_ACTION_RULES = frozenset({"invalid-workflow"})


@dataclass(frozen=True, slots=True)
class Ignore:
    line: int  # the line the ignore applies to
    rules: tuple[str, ...]
    reason: str
    location: Location


@dataclass(slots=True)
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    suppressed: int = 0

    @property
    def exit_code(self) -> int:
        return EXIT_FAILURE if any(f.severity.fails for f in self.findings) else EXIT_OK


def _severity(rule_id: str, config: Config) -> Severity | None:
    """The level a rule reports at, or ``None`` when it is disabled."""
    rc = config.rule(rule_id)
    if not rc.enabled:
        return None
    return Severity(rc.severity) if rc.severity else RULES[rule_id].severity


def parse_ignores(path: str, text: str) -> tuple[list[Ignore], list[Finding]]:
    """Ignore comments in ``text`` and findings for the malformed ones."""
    ignores: list[Ignore] = []
    problems: list[Finding] = []
    if "buildonce:" not in text:
        return ignores, problems
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if "buildonce:" not in line:
            continue
        match = _IGNORE.search(line)
        if match is None:
            continue
        col = match.start() + 1
        loc = Location(path, number, col)
        rules = tuple(r.strip() for r in match.group(1).split(",") if r.strip())
        # The reason runs to the end of the line or to the next comment.
        reason = match.group(2).split("#", 1)[0].strip()
        unknown = [r for r in rules if r not in RULES]
        if not rules or unknown:
            problems.append(
                Finding(
                    "invalid-ignore",
                    f"ignore comment names unknown rule {unknown[0]!r}"
                    if unknown
                    else "ignore comment names no rule",
                    loc,
                    RULES["invalid-ignore"].severity,
                    hint=f"known rules: {', '.join(RULES)}",
                )
            )
            continue
        if not reason:
            problems.append(
                Finding(
                    "invalid-ignore",
                    f"ignore[{', '.join(rules)}] has no reason, so it is not applied",
                    loc,
                    RULES["invalid-ignore"].severity,
                    hint="write why after the bracket: # buildonce: ignore[rule] <reason>",
                )
            )
            continue
        # A comment alone on its line covers the next line; otherwise its own line.
        target = number + 1 if line.lstrip().startswith("#") else number
        ignores.append(Ignore(target, rules, reason, loc))
    return ignores, problems


class Linter:
    """Lints files with one configuration; reuse it to share the loader's file cache."""

    def __init__(
        self, config: Config | None = None, *, actions: dict[str, str] | None = None
    ) -> None:
        self.config = config or Config()
        self.loader = Loader(actions=actions or {})
        self.settings = Settings(
            builder_jobs=self.config.builder_jobs,
            reporting_jobs=self.config.reporting_jobs,
            binary_paths=self.config.binary_paths,
            smoke_command=self.config.smoke_command,
        )

    def lint_paths(self, paths: Iterable[str | os.PathLike[str]]) -> LintResult:
        result = LintResult()
        for file in discover(paths):
            result.files.append(str(file))
            found, suppressed = self.lint_loaded(self.loader.load(file))
            result.findings.extend(found)
            result.suppressed += suppressed
        result.findings.sort(key=lambda f: f.sort_key)
        return result

    def lint_text(self, text: str, path: str = "<text>") -> list[Finding]:
        found, _ = self.lint_loaded(self.loader.load_text(text, path))
        return sorted(found, key=lambda f: f.sort_key)

    def lint_loaded(self, loaded: Workflow | SyntaxProblem) -> tuple[list[Finding], int]:
        findings: list[Finding] = []
        if isinstance(loaded, SyntaxProblem):
            level = _severity(yaml_syntax.ID, self.config)
            if level is not None:
                findings.append(
                    yaml_syntax.finding_for(
                        loaded.path, loaded.message, loaded.line, loaded.col, level
                    )
                )
            text, path = loaded.text, loaded.path
        else:
            findings.extend(self.run_rules(loaded))
            text, path = loaded.text, loaded.path
        ignores, problems = parse_ignores(path, text)
        level = _severity("invalid-ignore", self.config)
        if level is not None:
            findings.extend(Finding(p.rule, p.message, p.location, level, p.hint) for p in problems)
        kept: list[Finding] = []
        suppressed = 0
        # Steps of one composite action call share the calling step's location; the same
        # problem found on its restore and its save step is one finding.
        findings = list(dict.fromkeys(findings))
        for finding in findings:
            if any(
                i.line == finding.location.line
                and finding.rule in i.rules
                and finding.location.path == path
                for i in ignores
            ):
                suppressed += 1
            else:
                kept.append(finding)
        return kept, suppressed

    def run_rules(self, workflow: Workflow, rules: Sequence[str] | None = None) -> list[Finding]:
        analysis = analyse(workflow, self.settings)
        findings: list[Finding] = []
        for rule in RULES.values():
            if rules is not None and rule.id not in rules:
                continue
            if workflow.is_action and rule.id not in _ACTION_RULES:
                continue
            level = _severity(rule.id, self.config)
            if level is None:
                continue
            ctx = RuleContext(workflow, analysis, rule.id, level)
            findings.extend(rule.check(ctx))
        return findings


def lint_paths(paths: Iterable[str | os.PathLike[str]], config: Config | None = None) -> LintResult:
    """Lint workflow files and folders (see :func:`buildonce.workflow.loader.discover`)."""
    return Linter(config).lint_paths(paths)


def default_paths(cwd: Path | None = None) -> list[str]:
    return [str((cwd or Path.cwd()) / ".github")]
