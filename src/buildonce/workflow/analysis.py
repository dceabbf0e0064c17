"""The build-once facts of one workflow: which caches hold the binary, who builds, who seeds
the shared entry, who consumes it, and what every key is made of.

Computed once per workflow and shared by all rules.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from buildonce.workflow import expressions as ex
from buildonce.workflow.keytrack import KeyInfo, KeyResolver
from buildonce.workflow.model import CacheOp, Job, Step, Workflow, bin_token

_CACHE_HIT_REF = re.compile(r"outputs\.(?:cache-hit|cache-matched-key)", re.I)


@dataclass(frozen=True, slots=True)
class Settings:
    """What the user declared (see :mod:`buildonce.config`)."""

    builder_jobs: tuple[str, ...] = ()
    reporting_jobs: tuple[str, ...] = ()
    binary_paths: tuple[str, ...] = ()
    smoke_command: str | None = None


@dataclass(slots=True)
class JobFacts:
    job: Job
    builds: list[Step] = field(default_factory=list)
    guarded_builds: list[Step] = field(default_factory=list)  # run only on a cache miss
    restores: list[Step] = field(default_factory=list)  # binary cache restore (or cache)
    saves: list[Step] = field(default_factory=list)  # binary cache save (or cache)
    smoke: list[Step] = field(default_factory=list)
    uses_binary: list[Step] = field(default_factory=list)  # run steps that call the binary
    downloads: list[Step] = field(default_factory=list)  # download-artifact of the binary
    uploads: list[Step] = field(default_factory=list)

    @property
    def produces(self) -> bool:
        return bool(self.saves or self.uploads)

    @property
    def consumes(self) -> bool:
        return bool(self.restores or self.downloads)


@dataclass(slots=True)
class Analysis:
    workflow: Workflow
    settings: Settings
    jobs: dict[str, JobFacts]
    keys: dict[int, KeyInfo]  # id(step) -> key of its cache step
    binary_names: set[str]
    builders: list[str]
    consumers: list[str]

    def key(self, step: Step) -> KeyInfo | None:
        return self.keys.get(id(step))

    def requires_binary(self, job_id: str) -> bool:
        return job_id in self.consumers

    def is_reporting(self, job: Job) -> bool:
        return is_reporting_job(job, self.settings)


_REPORTING_WORDS = re.compile(
    r"(?:^|[-_ ])(?:status|report|reporting|summary|summarize|summarise|notify|notification|"
    r"result|results|conclusion|alls?-green|all-checks|check-all|gate|finali[sz]e|cleanup|"
    r"clean-up|teardown|comment)(?:$|[-_ ])",
    re.I,
)


_READS_RESULTS = re.compile(r"needs\.[\w-]+\.result|needs\.\*|toJSON\(\s*needs\s*\)", re.I)


def is_reporting_job(job: Job, settings: Settings) -> bool:
    """A job that only reports on others: declared in the config, or named like one and
    doing no build or binary work."""
    if job.id in settings.reporting_jobs:
        return True
    if settings.reporting_jobs:
        return False
    if _REPORTING_WORDS.search(job.id) or _REPORTING_WORDS.search(job.name or ""):
        return True
    # A gate job (alls-green, "require checks") is a reporting job: its steps only read the
    # results of the jobs it needs.
    for step in job.steps:
        texts = [
            step.run or "",
            *(n.text for n in step.with_.values()),
            *(n.text for n in step.env.values()),
        ]
        if any(_READS_RESULTS.search(t) for t in texts):
            return not any(s.builds is not None or s.cache is not None for s in job.steps)
    return False


def _basename(path: str) -> str:
    return posixpath.basename(path.strip().strip("\"'").rstrip("/"))


def analyse(workflow: Workflow, settings: Settings | None = None) -> Analysis:
    settings = settings or Settings()
    resolver = KeyResolver(workflow)
    binary_names = {_basename(p) for p in settings.binary_paths}
    for job in workflow.jobs.values():
        for step in job.steps:
            if step.builds:
                name = _basename(step.builds)
                if name and "$" not in name:
                    binary_names.add(name)
            if step.buildonce is not None and step.buildonce.path:
                binary_names.add(_basename(step.buildonce.path))
    keys: dict[int, KeyInfo] = {}
    facts: dict[str, JobFacts] = {}
    for job in workflow.jobs.values():
        for step in job.steps:
            if step.buildonce is not None:
                keys[id(step)] = resolver.resolve_buildonce(step.buildonce, job, step)
            elif step.cache is not None:
                info = resolver.resolve(step.cache.key, job, step)
                keys[id(step)] = info
                cache = step.cache
                if not cache.is_module_cache:
                    explicit = any(_basename(p) in binary_names for p in cache.paths)
                    cache.is_binary = (
                        explicit
                        or any(bin_token(p) for p in cache.paths)
                        or bin_token(info.canonical)
                    )
    for job in workflow.jobs.values():
        for step in job.steps:
            if step.cache is not None and step.cache.is_binary:
                binary_names.update(
                    _basename(p) for p in step.cache.paths if "*" not in p and "$" not in p
                )
    binary_names.discard("")
    # A line that starts by running the binary through a path: ./bin/app, "$BIN/app", dist/app
    calls_binary = (
        re.compile(
            r"^[ \t]*[\"']?(?:[\w.${}\"-]*/)+(?:"
            + "|".join(re.escape(n) for n in sorted(binary_names))
            + r")[\"']?(?:[ \t]|$)",
            re.M,
        )
        if binary_names
        else None
    )
    for job in workflow.jobs.values():
        jf = JobFacts(job)
        facts[job.id] = jf
        for step in job.steps:
            # A step switched off by the caller (a composite's `save: "false"`) does nothing.
            if step.cache is not None and step.cache.is_binary and _step_may_run(step):
                if step.cache.op in (CacheOp.RESTORE, CacheOp.RESTORE_AND_SAVE):
                    jf.restores.append(step)
                if step.cache.op in (CacheOp.SAVE, CacheOp.RESTORE_AND_SAVE):
                    jf.saves.append(step)
            if step.builds is not None:
                if _guarded_by_cache_miss(step):
                    jf.guarded_builds.append(step)
                else:
                    jf.builds.append(step)
            if step.buildonce is not None and step.smoke and _step_may_run(step):
                jf.smoke.append(step)  # the action smoke-tests what it restored or built
            if step.run:
                if step.smoke or (
                    settings.smoke_command is not None and settings.smoke_command in step.run
                ):
                    if _step_may_run(step):
                        jf.smoke.append(step)
                elif (
                    calls_binary is not None
                    and any(n in step.run for n in binary_names)
                    and calls_binary.search(step.run)
                ):
                    jf.uses_binary.append(step)
            if step.action.startswith("actions/download-artifact") or step.action.startswith(
                "actions/upload-artifact"
            ):
                text = " ".join(filter(None, [step.with_text("name"), step.with_text("path")]))
                if any(n and n in text for n in binary_names) or bin_token(text):
                    target = jf.uploads if "upload" in step.action else jf.downloads
                    target.append(step)
    # A buildonce consume step saves only to repair an evicted entry; it does not make
    # its job a builder (so a consumer without needs: is still reported as a consumer).
    producers = [
        j
        for j, f in facts.items()
        if f.uploads or any(s.buildonce is None or s.buildonce.mode == "build" for s in f.saves)
    ]
    builders: list[str] = [b for b in settings.builder_jobs if b in workflow.jobs]
    if not builders:
        for job_id in producers:
            # The seeding job is a producer no other producer comes before.
            if not (workflow.ancestors(job_id) & set(producers)):
                builders.append(job_id)
    consumers = [j for j, f in facts.items() if f.consumes and j not in builders]
    return Analysis(workflow, settings, facts, keys, binary_names, builders, consumers)


def _guarded_by_cache_miss(step: Step) -> bool:
    """Whether a build step runs only after a cache miss (its ``if:`` or an env var its
    script tests reads a ``cache-hit`` output)."""
    if step.buildonce is not None:
        return True  # the action builds only when its exact-key restore missed
    s: Step | None = step
    while s is not None:
        if s.if_node is not None and _CACHE_HIT_REF.search(s.if_node.text):
            return True
        s = s.caller
    for name, node in step.env.items():
        if _CACHE_HIT_REF.search(node.text) and name in (step.run or ""):
            return True
    return bool(step.run and _CACHE_HIT_REF.search(step.run))


def _step_may_run(step: Step) -> bool:
    """False when the step's ``if:`` is statically false (e.g. a composite input set to
    ``"false"`` by the caller)."""
    s: Step | None = step
    while s is not None:
        if s.if_node is not None and s.if_node.is_scalar:
            try:
                expr = ex.parse(ex.condition_source(s.if_node.text))
            except ex.ExpressionError:
                return True
            inputs = {k: v.text for k, v in s.inputs.items() if v.is_scalar}
            contexts: dict[str, object] = {"inputs": inputs} if s.caller is not None else {}
            value = ex.Evaluator(contexts).evaluate(expr)
            if ex.truthy(value) is False:
                return False
        s = s.caller
    return True
