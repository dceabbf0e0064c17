"""The job graph with its cache relationships, as Mermaid or Graphviz DOT.

Edges: ``needs`` (solid), a job saving the binary cache (dashed, "saves") and a job
restoring it (dashed, "restores").  Matrix jobs show their leg count.
"""

from __future__ import annotations

import re

from buildonce.workflow.analysis import Analysis
from buildonce.workflow.model import Workflow


def _node_id(job_id: str) -> str:
    return "j_" + re.sub(r"\W", "_", job_id)


def _label(workflow: Workflow, job_id: str, analysis: Analysis) -> str:
    job = workflow.jobs[job_id]
    label = job_id
    if job.matrix_node is not None:
        label += f" x{job.matrix_legs}" if job.matrix_legs else " (matrix)"
    roles = []
    if job_id in analysis.builders:
        roles.append("builder")
    if job_id in analysis.consumers:
        roles.append("consumer")
    if roles:
        label += f" [{', '.join(roles)}]"
    return label


def _caches(analysis: Analysis) -> dict[str, tuple[list[str], list[str]]]:
    """canonical key -> (jobs saving, jobs restoring)."""
    caches: dict[str, tuple[list[str], list[str]]] = {}
    for job_id, jf in analysis.jobs.items():
        for step in jf.saves:
            key = analysis.keys[id(step)].canonical
            savers = caches.setdefault(key, ([], []))[0]
            if job_id not in savers:
                savers.append(job_id)
        for step in jf.restores:
            key = analysis.keys[id(step)].canonical
            restorers = caches.setdefault(key, ([], []))[1]
            if job_id not in restorers:
                restorers.append(job_id)
    return caches


def _quote(text: str) -> str:
    return text.replace('"', "'")


def to_mermaid(workflow: Workflow, analysis: Analysis) -> str:
    lines = ["flowchart LR"]
    for job_id in workflow.jobs:
        lines.append(f'  {_node_id(job_id)}["{_quote(_label(workflow, job_id, analysis))}"]')
    for job in workflow.jobs.values():
        for need in job.needs:
            if need.job in workflow.jobs:
                lines.append(f"  {_node_id(need.job)} --> {_node_id(job.id)}")
    for index, (key, (savers, restorers)) in enumerate(_caches(analysis).items()):
        cache = f"c_{index}"
        lines.append(f'  {cache}[("binary cache: {_quote(key)}")]')
        lines.extend(f"  {_node_id(j)} -. saves .-> {cache}" for j in savers)
        lines.extend(f"  {cache} -. restores .-> {_node_id(j)}" for j in restorers)
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(workflow: Workflow, analysis: Analysis) -> str:
    lines = ["digraph workflow {", "  rankdir=LR;", "  node [shape=box];"]
    for job_id in workflow.jobs:
        lines.append(
            f"  {_node_id(job_id)} [label={_dot_quote(_label(workflow, job_id, analysis))}];"
        )
    for job in workflow.jobs.values():
        for need in job.needs:
            if need.job in workflow.jobs:
                lines.append(f"  {_node_id(need.job)} -> {_node_id(job.id)};")
    for index, (key, (savers, restorers)) in enumerate(_caches(analysis).items()):
        cache = f"c_{index}"
        lines.append(f"  {cache} [shape=cylinder, label={_dot_quote('binary cache: ' + key)}];")
        lines.extend(f'  {_node_id(j)} -> {cache} [style=dashed, label="saves"];' for j in savers)
        lines.extend(
            f'  {cache} -> {_node_id(j)} [style=dashed, label="restores"];' for j in restorers
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
