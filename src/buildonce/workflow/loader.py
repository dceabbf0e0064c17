"""Find workflow files, parse them with positions, and build :class:`Workflow` views.

Local composite actions (``uses: ./path``) and local reusable workflows are followed.  They
are found in the checkout (the folder that holds ``.github``), or, for flattened copies such
as the shared corpus (``owner__repo__.github__workflows__ci.yml`` next to
``owner__repo__.github__actions__x__action.yml``), by the same flattening rule.  Callers
with other layouts pass an explicit ``actions`` mapping from ``uses:`` value to file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from buildonce.errors import InputError
from buildonce.workflow.model import (
    BUILDONCE_INPUTS,
    BUILDONCE_SMOKE,
    BUILDONCE_TEMPLATE,
    MODULE_CACHE_PATH,
    BuildonceStep,
    CacheOp,
    CacheStep,
    Job,
    Location,
    Need,
    Step,
    Workflow,
    find_go_build,
    is_buildonce_action,
    is_smoke_script,
)
from buildonce.workflow.yamltree import Node, YamlSyntaxError, parse_yaml

CACHE_ACTIONS = {
    "actions/cache": CacheOp.RESTORE_AND_SAVE,
    "actions/cache/restore": CacheOp.RESTORE,
    "actions/cache/save": CacheOp.SAVE,
}
_MAX_DEPTH = 5


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    """A file that is not valid YAML (reported by the ``yaml-syntax`` rule)."""

    path: str
    text: str
    message: str
    line: int
    col: int


def _checkout_root(path: Path) -> Path | None:
    for parent in path.resolve().parents:
        if parent.name == ".github":
            return parent.parent
    return None


def _flattened_prefixes(path: Path) -> list[str]:
    name = path.name
    marker = ".github__"
    prefixes: list[str] = []
    if marker in name:
        prefixes.append(name[: name.index(marker)])
    stem = name.rsplit(".", 1)[0]
    prefixes.extend([f"{stem}.", ""])
    return prefixes


@dataclass
class Loader:
    """Loads files once and resolves local ``uses:`` references between them."""

    actions: Mapping[str, str | os.PathLike[str]] = field(default_factory=dict)
    _cache: dict[Path, Workflow | SyntaxProblem] = field(default_factory=dict)
    #: file -> local actions and reusable workflows it pulled in (for the lint cache)
    dependencies: dict[Path, set[Path]] = field(default_factory=dict)

    def all_dependencies(self, path: Path) -> set[Path]:
        """Every file whose content can change the analysis of ``path`` (transitively)."""
        seen: set[Path] = set()
        todo = list(self.dependencies.get(path, ()))
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                todo.extend(self.dependencies.get(dep, ()))
        return seen

    def resolve(self, ref: str, from_path: Path, *, workflow: bool = False) -> Path | None:
        """The file a local ``uses: ./…`` names, or ``None`` when it is not available."""
        ref = ref.split("@", 1)[0]
        if ref in self.actions:
            return Path(self.actions[ref])
        rel = ref[2:].strip("/") if ref.startswith("./") else ref.strip("/")
        root = _checkout_root(from_path)
        if root is not None:
            target = root / rel
            if workflow:
                return target if target.is_file() else None
            for name in ("action.yml", "action.yaml"):
                if (target / name).is_file():
                    return target / name
            return None
        # Flattened copies: "<prefix>.github__actions__x__action.yaml" or
        # "<stem>.actions__x__action.yaml" in the same folder.
        folder = from_path.parent
        flat = rel.replace("/", "__")
        flat_short = flat.removeprefix(".github__")
        for prefix in _flattened_prefixes(from_path):
            for body in (flat, flat_short):
                names = (
                    [prefix + body]
                    if workflow
                    else [
                        f"{prefix}{body}__action.yml",
                        f"{prefix}{body}__action.yaml",
                    ]
                )
                for candidate_name in names:
                    candidate = folder / candidate_name
                    if candidate.is_file():
                        return candidate
        return None

    def load(
        self, path: str | os.PathLike[str], data: bytes | None = None
    ) -> Workflow | SyntaxProblem:
        file = Path(path)
        cached = self._cache.get(file)
        if cached is not None:
            return cached
        try:
            text = (data if data is not None else file.read_bytes()).decode("utf-8")
        except UnicodeDecodeError as exc:
            result: Workflow | SyntaxProblem = SyntaxProblem(
                str(file), "", f"not UTF-8 text ({exc.reason} at byte {exc.start})", 1, 1
            )
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", where=str(file)) from exc
        else:
            result = self.load_text(text, str(file), _origin=file)
        self._cache[file] = result
        return result

    def load_text(
        self, text: str, path: str = "<text>", *, _origin: Path | None = None, _depth: int = 0
    ) -> Workflow | SyntaxProblem:
        """Build a workflow from ``text``; local references resolve relative to ``path``."""
        expressions: list[Node] = []
        try:
            root = parse_yaml(text, expressions)
        except YamlSyntaxError as exc:
            return SyntaxProblem(path, text, exc.message, exc.line, exc.col)
        workflow = _Builder(self, path, text, root, _origin or Path(path), _depth).build()
        workflow.expression_nodes = expressions
        return workflow


class _Builder:
    def __init__(  # noqa: PLR0917 - private, one call site
        self, loader: Loader, path: str, text: str, root: Node | None, origin: Path, depth: int
    ) -> None:
        self.loader = loader
        self.path = path
        self.text = text
        self.root = root
        self.origin = origin
        self.depth = depth
        self.problems: list[tuple[str, Location]] = []

    def loc(self, node: Node) -> Location:
        return Location(self.path, node.line, node.col)

    def problem(self, message: str, node: Node | None) -> None:
        self.problems.append(
            (message, self.loc(node) if node is not None else Location(self.path, 1, 1))
        )

    def build(self) -> Workflow:
        root = self.root
        workflow = Workflow(self.path, self.text, root, {}, {}, {}, problems=self.problems)
        if root is None or not root.is_mapping:
            self.problem("the file must be a YAML mapping (a workflow or an action)", root)
            return workflow
        workflow.env = _mapping(root.get("env"))
        runs = root.get("runs")
        # An action has `runs` and no `jobs`; a file named action.yml without `jobs` is an
        # action too (flux2 names a *workflow* .github/workflows/action.yaml).
        is_action = root.get("jobs") is None and (
            runs is not None
            or Path(self.path).name.rsplit("__", 1)[-1] in ("action.yml", "action.yaml")
        )
        if is_action:
            workflow.is_action = True
            if runs is None or not runs.is_mapping:
                self.problem("an action needs a 'runs' mapping", runs or root)
                return workflow
            if (runs.get_text("using") or "").lower() != "composite":
                return workflow  # JavaScript and Docker actions have no steps to analyse
            steps_node = runs.get("steps")
            name = Path(self.path).parent.name or "action"
            job = self._job_shell(name, root, root)
            job.steps = self.steps(steps_node, None, {}, self.path)
            workflow.jobs[name] = job
            return workflow
        on = root.get("on")
        if on is None:
            self.problem("a workflow needs an 'on' trigger", root)
        elif on.is_scalar:
            workflow.triggers[on.text] = None
        elif on.is_sequence:
            for item in on.items():
                workflow.triggers[item.text] = None
        elif on.is_mapping:
            for k, v in on.pairs():
                workflow.triggers[k.text] = v
        jobs = root.get("jobs")
        if jobs is None or not jobs.is_mapping:
            self.problem("a workflow needs a 'jobs' mapping", jobs or root)
            return workflow
        for key, value in jobs.pairs():
            if not value.is_mapping:
                self.problem(f"job {key.text!r} must be a mapping", value)
                continue
            workflow.jobs[key.text] = self.job(key, value)
        return workflow

    def _job_shell(self, job_id: str, key: Node, node: Node) -> Job:
        return Job(
            id=job_id,
            node=node,
            location=self.loc(key),
            name=None,
            needs=[],
            if_node=None,
            runs_on="",
            matrix_legs=1,
            matrix_axes=(),
            matrix_node=None,
            fail_fast=True,
            steps=[],
            uses=None,
            with_={},
            outputs={},
            env={},
            continue_on_error=False,
            environment=None,
        )

    def job(self, key: Node, node: Node) -> Job:
        job = self._job_shell(key.text, key, node)
        job.name = node.get_text("name")
        needs = node.get("needs")
        if needs is not None:
            for item in [needs] if needs.is_scalar else needs.items():
                if item.is_scalar:
                    job.needs.append(Need(item.text, self.loc(item)))
                else:
                    self.problem("each 'needs' entry must be a job id", item)
        job.if_node = node.get("if")
        runs_on = node.get("runs-on")
        if runs_on is not None:
            job.runs_on = (
                runs_on.text
                if runs_on.is_scalar
                else " ".join(n.text for n in runs_on.walk() if n.is_scalar)
            )
        strategy = node.get("strategy")
        if strategy is not None and strategy.is_mapping:
            job.fail_fast = strategy.get_text("fail-fast") not in ("false",)
            matrix = strategy.get("matrix")
            if matrix is not None:
                job.matrix_node = matrix
                job.matrix_legs, job.matrix_axes = matrix_legs(matrix)
        job.uses = node.get_text("uses")
        job.with_ = _mapping(node.get("with"))
        job.outputs = _mapping(node.get("outputs"))
        job.env = _mapping(node.get("env"))
        job.continue_on_error = node.get_text("continue-on-error") == "true"
        environment = node.get("environment")
        if environment is not None:
            job.environment = (
                environment.text if environment.is_scalar else (environment.get_text("name") or "")
            )
        job.steps = self.steps(node.get("steps"), None, {}, self.path)
        if job.uses and job.uses.startswith("./") and self.depth < _MAX_DEPTH:
            target = self.loader.resolve(job.uses, self.origin, workflow=True)
            if target is not None:
                self.loader.dependencies.setdefault(self.origin, set()).add(target)
                called = self.loader.load(target)
                if isinstance(called, Workflow):
                    job.called = called
                    for inner in called.jobs.values():
                        job.steps.extend(inner.steps)
        return job

    def steps(
        self, node: Node | None, caller: Step | None, inputs: dict[str, Node], path: str
    ) -> list[Step]:
        result: list[Step] = []
        if node is None:
            return result
        if not node.is_sequence:
            self.problem("'steps' must be a list", node)
            return result
        for index, item in enumerate(node.items()):
            if not item.is_mapping:
                self.problem("each step must be a mapping", item)
                continue
            fields = item.fields()
            run_node = fields.get("run")
            step = Step(
                index=index,
                node=item,
                location=Location(path, item.line, item.col),
                id=_text(fields.get("id")),
                name=_text(fields.get("name")),
                uses=_text(fields.get("uses")),
                run=run_node.text if run_node is not None else None,
                run_node=run_node,
                with_=_mapping(fields.get("with")),
                env=_mapping(fields.get("env")),
                if_node=fields.get("if"),
                continue_on_error=_text(fields.get("continue-on-error")) == "true",
                caller=caller,
                inputs=inputs,
                action_path=path if caller is not None else None,
            )
            classify(step)
            result.append(step)
            if step.uses and step.uses.startswith("./") and self._depth_of(step) < _MAX_DEPTH:
                result.extend(self.expand(step))
            if step.buildonce is not None:
                self._check_buildonce(step, step.buildonce)
        return result

    def _check_buildonce(self, step: Step, action: BuildonceStep) -> None:
        """The mistakes the buildonce action rejects at run time (exit 2), found before."""
        mode = step.with_.get("mode")
        if action.mode not in ("build", "consume") and "${{" not in action.mode:
            self.problem(
                f"buildonce action: mode must be 'build' or 'consume', got {action.mode!r}",
                mode if mode is not None else step.node,
            )
        elif action.mode == "build" and not action.build.strip():
            self.problem(
                "buildonce action: mode 'build' needs a build command "
                f"(with: build: 'go build -o {action.path or 'bin/app'} .')",
                mode if mode is not None else step.node,
            )
        if "path" not in step.with_:
            self.problem("buildonce action: the path input is required", step.node)

    def _depth_of(self, step: Step) -> int:
        depth = 0
        while step.caller is not None:
            depth += 1
            step = step.caller
        return depth

    def expand(self, step: Step) -> list[Step]:
        origin = Path(step.action_path) if step.action_path else self.origin
        target = self.loader.resolve(step.uses or "", origin)
        if target is None:
            return []
        self.loader.dependencies.setdefault(self.origin, set()).add(target)
        loaded = self.loader.load(target)
        if not isinstance(loaded, Workflow) or loaded.root is None or not loaded.root.is_mapping:
            return []
        if _is_buildonce_action_file(loaded.root):
            # The buildonce action (``uses: ./`` in its own repository): its steps are
            # shell calls to ``buildonce prepare``; what they do is known from the inputs.
            classify_buildonce(step)
            return []
        runs = loaded.root.get("runs")
        if runs is None or (runs.get_text("using") or "").lower() != "composite":
            return []
        inputs: dict[str, Node] = {}
        declared = loaded.root.get("inputs")
        if declared is not None:
            for k, v in declared.pairs():
                default = v.get("default") if v.is_mapping else None
                if default is not None:
                    inputs[k.text] = default
        inputs.update(step.with_)
        step.expanded = True
        return self.steps(runs.get("steps"), step, inputs, str(target))


def _text(node: Node | None) -> str | None:
    return node.value if node is not None and node.kind == "scalar" else None  # type: ignore[return-value]


def _mapping(node: Node | None) -> dict[str, Node]:
    if node is None or not node.is_mapping:
        return {}
    return {k.text: v for k, v in node.pairs()}


def matrix_legs(matrix: Node) -> tuple[int | None, tuple[str, ...]]:
    """Number of legs of a ``strategy.matrix`` and its axis names.

    ``include`` entries that match no combination add legs, ``exclude`` entries remove the
    combinations they match (GitHub's rules).  A matrix computed by an expression is ``None``.
    """
    if not matrix.is_mapping:
        return None, ()
    axes: dict[str, list[object]] = {}
    include: list[dict[str, object]] = []
    exclude: list[dict[str, object]] = []
    for key, value in matrix.pairs():
        if key.text == "include":
            if not value.is_sequence:
                return None, ()
            include = [i.to_python() for i in value.items() if i.is_mapping]  # type: ignore[misc]
        elif key.text == "exclude":
            if not value.is_sequence:
                return None, ()
            exclude = [i.to_python() for i in value.items() if i.is_mapping]  # type: ignore[misc]
        elif value.is_sequence:
            axes[key.text] = [i.to_python() for i in value.items()]
        else:
            return None, tuple(axes)  # `${{ fromJSON(...) }}`: decided at run time
    combos: list[dict[str, object]] = [{}]
    for name, values in axes.items():
        combos = [{**c, name: v} for c in combos for v in values]
    if not axes:
        combos = []
    combos = [
        c for c in combos if not any(all(c.get(k) == v for k, v in ex.items()) for ex in exclude)
    ]
    extra_axes: set[str] = set()
    for entry in include:
        matched = False
        for combo in combos:
            if all(combo.get(k) == v for k, v in entry.items() if k in axes):
                matched = True
        if not matched or not axes:
            combos.append(dict(entry))
        extra_axes.update(entry)
    return len(combos), tuple(dict.fromkeys([*axes, *sorted(extra_axes)]))


def classify(step: Step) -> None:
    """Fill the step's domain classification (cache operation, build, smoke test)."""
    if step.uses:
        step.action = step.uses.split("@", 1)[0].strip().lower()
        op = CACHE_ACTIONS.get(step.action)
        if op is not None:
            paths = tuple(
                line.strip() for line in (step.with_text("path") or "").splitlines() if line.strip()
            )
            restore_keys = tuple(
                line.strip()
                for line in (step.with_text("restore-keys") or "").splitlines()
                if line.strip()
            )
            step.cache = CacheStep(
                op=op,
                paths=paths,
                key=(step.with_text("key") or "").strip(),
                restore_keys=restore_keys,
                fail_on_miss=(step.with_text("fail-on-cache-miss") or "").strip() == "true",
                cross_os=(step.with_text("enableCrossOsArchive") or "").strip() == "true",
                is_module_cache=any(MODULE_CACHE_PATH.search(p) for p in paths),
            )
        if is_buildonce_action(step.uses):
            classify_buildonce(step)
    if step.run:
        found = find_go_build(step.run)
        if found is not None:
            step.builds, step.build_offset = found
        step.smoke = is_smoke_script(step.run)


def _is_buildonce_action_file(root: Node) -> bool:
    """The buildonce action's own action.yml: named ``buildonce`` with its mode and
    needs-result inputs."""
    if (root.get_text("name") or "").strip().lower() != "buildonce":
        return False
    inputs = root.get("inputs")
    declared = (
        {k.text for k, _ in inputs.pairs()} if inputs is not None and inputs.is_mapping else set()
    )
    return {"mode", "path", "needs-result"} <= declared


def classify_buildonce(step: Step) -> None:
    """Classify a step of the buildonce action from its inputs (defaults as in action.yml).

    It restores the binary by an exact key (no restore-keys), builds it only on a miss and
    then saves it, and smoke-tests whatever it restored or built.
    """

    def text(name: str, default: str = "") -> str:
        value = step.with_text(name)
        return default if value is None else value.strip()

    patterns = tuple(p.strip() for p in text("inputs").splitlines() if p.strip())
    action = BuildonceStep(
        mode=text("mode", "consume").lower(),
        path=text("path"),
        build=text("build"),
        smoke=text("smoke", BUILDONCE_SMOKE),
        needs_result=text("needs-result"),
        key=text("key"),
        name=text("name"),
        inputs=patterns or BUILDONCE_INPUTS,
        template=text("template") or BUILDONCE_TEMPLATE,
        working_directory=text("working-directory", ".") or ".",
    )
    step.buildonce = action
    step.cache = CacheStep(
        op=CacheOp.RESTORE_AND_SAVE if action.saves else CacheOp.RESTORE,
        paths=(action.path,) if action.path else (),
        key=action.key or action.template,
        restore_keys=(),
        fail_on_miss=not action.build,
        is_binary=True,
        # On GitHub's cache the archive's version hashes the path lines, so a consumer
        # restoring to another path misses; S3 and directory stores look up by key alone.
        path_agnostic=text("store", "gha").lower() not in ("gha", "gha:", "gha://"),
    )
    step.smoke = action.smoke_tests
    if action.build:
        found = find_go_build(action.build)
        step.builds = found[0] if found is not None and found[0] else action.path
