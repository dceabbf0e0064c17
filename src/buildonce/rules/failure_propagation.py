"""failure-propagation: when the build fails, the jobs after it are skipped and say why.

Spec domain rule 5 and the CIJob rule "``needs`` must ensure no job starts before its
prerequisites succeed, except the ``if: always()`` guard of a reporting job".

**Anti-patterns**::

    deploy:
      needs: [build]
      if: always()               # deploys even when build failed
    build:
      continue-on-error: true    # a failed build looks green; consumers run without a binary

**Fix**: keep ``if: always()`` (better: ``!cancelled()``) for jobs that only report — declare
them with ``reporting-jobs`` in the config, or name them ``*-status``/``report``/``summary`` —
and give every other job the default ``success()`` guard.  A job that consumes the binary
and must run after failures anyway checks ``needs.<builder>.result == 'success'``, as ksail's
``system-test-status`` does, or passes it to the buildonce action (``needs-result: ${{
needs.<builder>.result }}``), which then stops before touching the cache.  A
``needs-result`` that reads a job the consumer does not ``need`` is always empty and is
reported.
"""

from __future__ import annotations

import re

from buildonce.rules.base import Findings, RuleContext, Severity
from buildonce.workflow import expressions as ex
from buildonce.workflow.model import Job

_NEEDS_RESULT = re.compile(r"needs\.([\w-]+)\.result")

ID = "failure-propagation"
SUMMARY = "a failed build skips its dependents; always() only on reporting jobs"
SEVERITY = Severity.ERROR


def check(ctx: RuleContext) -> Findings:
    a = ctx.analysis
    wf = ctx.workflow
    for job_id, jf in a.jobs.items():
        job = jf.job
        node = job.if_node
        if node is None or not node.is_scalar or not job.needs:
            continue
        try:
            expr = ex.parse(ex.condition_source(node.text))
        except ex.ExpressionError:
            continue  # reported by invalid-workflow
        names = {c.name.lower() for c in ex.calls(expr)}
        refs = " ".join(ex.references(expr))
        if job_id in a.consumers and names & {"always", "failure", "cancelled"}:
            builders = [b for b in a.builders if b in wf.ancestors(job_id)]
            # The buildonce action's needs-result input stops the job before it touches
            # the cache when the build did not succeed: the same guard, one step later.
            refs += " " + " ".join(_needs_results(job))
            if builders and not any(f"needs.{b}.result" in refs for b in builders):
                yield ctx.finding(
                    node,
                    f"job {job_id!r} consumes the binary but its if: lets it run when "
                    f"{builders[0]!r} failed",
                    hint=f"add && needs.{builders[0]}.result == 'success' to the condition",
                    job=job_id,
                )
                continue
        if "always" in names and not a.is_reporting(job):
            yield ctx.finding(
                node,
                f"if: always() on {job_id!r}, which is not a reporting job: it runs after its "
                "prerequisites failed and even after the run was cancelled",
                hint="drop always(), or declare the job in reporting-jobs; reporting jobs "
                "should prefer !cancelled()",
                job=job_id,
            )
    for job_id, jf in a.jobs.items():
        for step in jf.job.steps:
            if step.buildonce is None:
                continue
            for match in _NEEDS_RESULT.finditer(step.buildonce.needs_result):
                if match.group(1) not in jf.job.need_ids:
                    node = step.with_.get("needs-result")
                    yield ctx.finding(
                        node if node is not None else step,
                        f"needs-result reads needs.{match.group(1)}.result but {job_id!r} does "
                        f"not need {match.group(1)!r}: the value is always empty and the "
                        "check never runs",
                        hint=f"add needs: [{match.group(1)}] to {job_id!r}",
                        job=job_id,
                    )
    for builder in a.builders:
        jf = a.jobs[builder]
        if jf.job.continue_on_error:
            coe = jf.job.node.key_node("continue-on-error")
            yield ctx.finding(
                coe if coe is not None else jf.job,
                f"builder {builder!r} has continue-on-error: a failed build does not stop "
                "the jobs that need the binary",
                hint="remove continue-on-error from the builder",
                job=builder,
            )
        for step in [*jf.builds, *jf.guarded_builds, *jf.saves]:
            if step.continue_on_error:
                yield ctx.finding(
                    step,
                    f"step {step.label!r} of builder {builder!r} has continue-on-error: the "
                    "job succeeds without a binary",
                    hint="remove continue-on-error from build and save steps",
                    job=builder,
                )


def _needs_results(job: Job) -> list[str]:
    """The ``needs-result`` inputs the job passes to the buildonce action."""
    return [s.buildonce.needs_result for s in job.steps if s.buildonce is not None]
