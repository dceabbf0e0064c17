"""What every rule shares: severities, findings and the context a rule inspects."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from buildonce.workflow.model import Job, Location, Step

if TYPE_CHECKING:
    from buildonce.workflow.analysis import Analysis
    from buildonce.workflow.model import Workflow
    from buildonce.workflow.yamltree import Node


class Severity(Enum):
    """Ordered from most to least severe; ``note`` never fails a lint run."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    @property
    def fails(self) -> bool:
        return self is not Severity.NOTE


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: which rule, where, what is wrong and how to fix it."""

    rule: str
    message: str
    location: Location
    severity: Severity
    hint: str | None = None
    job: str | None = None
    related: Location | None = None  # e.g. the line inside a composite action

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.path, loc.line, loc.col, self.rule, self.message)


@dataclass(slots=True)
class RuleContext:
    """Handed to a rule's ``check``: the workflow, its analysis, and a finding factory."""

    workflow: Workflow
    analysis: Analysis
    rule: str
    severity: Severity

    def at_node(self, node: Node) -> Location:
        return Location(self.workflow.path, node.line, node.col)

    def finding(
        self,
        where: Location | Node | Job | Step,
        message: str,
        *,
        hint: str | None = None,
        job: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        related: Location | None = None
        if isinstance(where, Step):
            if where.caller is not None:
                related = where.location
            location = where.anchor.location
        elif isinstance(where, Job):
            location = where.location
            job = job or where.id
        elif isinstance(where, Location):
            location = where
        else:
            location = self.at_node(where)
        if location.path != self.workflow.path and job in self.workflow.jobs:
            # A step of a called reusable workflow: report it on the calling job, where the
            # user can act (and put an ignore comment), and point at the step as related.
            related = related or location
            location = self.workflow.jobs[job].location
        return Finding(self.rule, message, location, severity or self.severity, hint, job, related)


Findings = Iterator[Finding]
