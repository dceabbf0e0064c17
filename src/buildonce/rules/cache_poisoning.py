"""cache-poisoning: never restore the binary cache where an attacker could have written it.

A workflow triggered by ``pull_request_target`` or ``workflow_run`` runs with the base
repository's secrets and cache scope; code from a fork can plant a cache entry that the
trusted run then restores (actions/cache#1756 reports a real attack).  A release job that
restores the binary publishes whatever the cache held instead of what the tagged sources
build.

**Anti-pattern**::

    on: pull_request_target
    ...
      - uses: actions/cache/restore@v4
        with: {path: bin/app, key: ...}

**Fix**: build from source in privileged and release workflows (they run rarely, so the
build cost is small), and restore cached binaries only in ``push``/``pull_request`` runs.
"""

from __future__ import annotations

import re

from buildonce.rules.base import Findings, RuleContext, Severity

ID = "cache-poisoning"
SUMMARY = "no binary cache restored in pull_request_target/workflow_run runs or release jobs"
SEVERITY = Severity.ERROR

PRIVILEGED = ("pull_request_target", "workflow_run")
_RELEASE_NAME = re.compile(r"(?:^|[-_ ])(?:release|releases|publish|goreleaser)(?:$|[-_ ])", re.I)
#: `gh release download` only fetches a tool; these subcommands publish.
_GH_PUBLISH = re.compile(r"gh\s+release\s+(?:create|upload|edit)\b")
_RELEASE_ACTIONS = ("goreleaser/goreleaser-action", "softprops/action-gh-release")


def _publishes(script: str) -> bool:
    # A literal-first pattern plus a hand-made word-boundary check: a leading \b makes the
    # regex engine try every position (30x slower on long scripts).
    for match in _GH_PUBLISH.finditer(script):
        start = match.start()
        if start == 0 or not (script[start - 1].isalnum() or script[start - 1] == "_"):
            return True
    return False


def _release_reason(ctx: RuleContext, job_id: str) -> str | None:
    wf = ctx.workflow
    if "release" in wf.triggers:
        return "the workflow runs on release"
    push = wf.triggers.get("push")
    if push is not None and push.is_mapping and push.get("tags") is not None:
        return "the workflow runs on tag pushes"
    job = wf.jobs[job_id]
    if _RELEASE_NAME.search(job.id) or _RELEASE_NAME.search(job.name or ""):
        return f"job {job_id!r} is a release job"
    for step in job.steps:
        if step.action in _RELEASE_ACTIONS or (step.run and _publishes(step.run)):
            return f"job {job_id!r} publishes a release"
    return None


def check(ctx: RuleContext) -> Findings:
    wf = ctx.workflow
    privileged = [t for t in PRIVILEGED if t in wf.triggers]
    for job_id, jf in ctx.analysis.jobs.items():
        if not jf.restores:
            continue
        if privileged:
            reason = f"the workflow runs on {privileged[0]}"
        else:
            found = _release_reason(ctx, job_id)
            if found is None:
                continue
            reason = found
        for step in jf.restores:
            yield ctx.finding(
                step,
                f"binary cache restored where it can be poisoned: {reason}",
                hint="build from source here; restore cached binaries only in push and "
                "pull_request runs",
                job=job_id,
            )
