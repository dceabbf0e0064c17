"""needs-cycle: the ``needs:`` graph has no cycles (a job needing itself included).

GitHub refuses a workflow whose jobs wait for each other in a circle.

**Fix**: remove one of the ``needs`` edges printed in the message.
"""

from __future__ import annotations

from buildonce.rules.base import Findings, RuleContext, Severity

ID = "needs-cycle"
SUMMARY = "the needs: graph is acyclic"
SEVERITY = Severity.ERROR


def check(ctx: RuleContext) -> Findings:
    jobs = ctx.workflow.jobs
    for job in jobs.values():
        for need in job.needs:
            if need.job == job.id:
                yield ctx.finding(
                    need.location,
                    f"job {job.id!r} needs itself",
                    job=job.id,
                    hint="remove it from its own needs",
                )
    graph = {
        j.id: [n.job for n in j.needs if n.job != j.id and n.job in jobs] for j in jobs.values()
    }
    if not _has_cycle(graph):
        return
    # The domain model names the cycle (imported only now: it is a large package).
    from buildonce.model.job import find_cycle

    cycle = find_cycle(graph)
    if cycle:
        job = jobs[cycle[0]]
        need = next(n for n in job.needs if n.job == cycle[1])
        yield ctx.finding(
            need.location,
            f"jobs wait for each other in a cycle: {' -> '.join(cycle)}",
            hint=f"remove one edge, e.g. {cycle[1]!r} from the needs of {cycle[0]!r}",
            job=job.id,
        )


def _has_cycle(graph: dict[str, list[str]]) -> bool:
    """Kahn's peel: whether some jobs are left that wait for each other."""
    waiting = {job: len(needs) for job, needs in graph.items()}
    needed_by: dict[str, list[str]] = {}
    for job, needs in graph.items():
        for need in needs:
            needed_by.setdefault(need, []).append(job)
    ready = [job for job, count in waiting.items() if count == 0]
    done = 0
    while ready:
        job = ready.pop()
        done += 1
        for after in needed_by.get(job, ()):
            waiting[after] -= 1
            if waiting[after] == 0:
                ready.append(after)
    return done < len(graph)
