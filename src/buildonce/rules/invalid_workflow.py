"""invalid-workflow: the file has the shape of a workflow or action, and every expression
parses.

Reported: a file that is not a mapping, a workflow without ``on`` or ``jobs``, a job or step
that is not a mapping, a malformed ``needs`` entry, an ``if:`` or ``${{ }}`` expression that
does not parse (unknown function, wrong number of arguments, unclosed ``${{``).

**Fix**: follow the message; for expressions see GitHub's "Expressions" reference.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from buildonce.rules.base import Findings, RuleContext, Severity
from buildonce.workflow import expressions as ex
from buildonce.workflow.model import Location

if TYPE_CHECKING:
    from buildonce.workflow.yamltree import Node

_PLAIN_PATH = re.compile(r"[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\.\*)*\Z")
_PLAIN_EXPRESSION = re.compile(r"\$\{\{\s*[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\.\*)*\s*\}\}")

ID = "invalid-workflow"
SUMMARY = "the file is a well-formed workflow or action and its expressions parse"
SEVERITY = Severity.ERROR


def check(ctx: RuleContext) -> Findings:
    wf = ctx.workflow
    for message, location in wf.problems:
        yield ctx.finding(location, message)
    if wf.root is None:
        return
    conditions: set[int] = set()
    for job in wf.jobs.values():
        nodes = [job.if_node] + [s.if_node for s in job.steps if s.caller is None]
        for node in nodes:
            if node is None or not node.is_scalar:
                continue
            conditions.add(id(node))
            try:
                ex.parse(ex.condition_source(node.text))
            except ex.ExpressionError as exc:
                yield ctx.finding(
                    Location(wf.path, node.line, node.col),
                    f"if: {exc.message} at column {exc.column} of {exc.expression!r}",
                )
    if "${{" not in wf.text:
        return
    scalars: list[Node] = (
        wf.expression_nodes if wf.expression_nodes is not None else wf.root.scalars()
    )
    for scalar in scalars:
        text = scalar.text
        if id(scalar) in conditions or "${{" not in text:
            continue
        if "${{" not in _PLAIN_EXPRESSION.sub("", text):
            continue  # only `${{ a.b.c }}` references: they always parse
        try:
            for part in ex.split_template(text):
                # Most expressions are plain context paths; those always parse.
                if part.expression is not None and not _PLAIN_PATH.match(part.expression):
                    ex.parse(part.expression)
        except ex.ExpressionError as exc:
            yield ctx.finding(
                Location(wf.path, scalar.content_line(0), scalar.col),
                f"expression: {exc.message} at column {exc.column} of {exc.expression!r}",
            )
