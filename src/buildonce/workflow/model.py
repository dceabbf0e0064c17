"""Workflow / Job / Step views over the YAML tree, each carrying its source location.

Steps are classified once, here, so rules share one answer to "does this step build the
binary, restore it, save it, smoke-test it?".  Local composite actions are expanded in place:
their steps appear in the calling job with ``caller`` set, so a rule sees ksail's
``prepare-ksail-binary`` cache steps as part of ``system-test``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the YAML parser is imported only where files are parsed
    from buildonce.workflow.yamltree import Node


@dataclass(frozen=True, slots=True)
class Location:
    """A 1-based position in a file."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


class CacheOp(Enum):
    """What a cache step does to an entry."""

    RESTORE_AND_SAVE = "cache"  # actions/cache: restore now, save in the post step
    RESTORE = "restore"
    SAVE = "save"


@dataclass(slots=True)
class CacheStep:
    op: CacheOp
    paths: tuple[str, ...]
    key: str
    restore_keys: tuple[str, ...]
    fail_on_miss: bool
    cross_os: bool = False  # enableCrossOsArchive: shared across OSes on purpose
    is_binary: bool = False
    is_module_cache: bool = False
    #: The entry is found by key alone and restored to any path (the buildonce action's
    #: store); actions/cache also versions an entry by its path list.
    path_agnostic: bool = False


#: The buildonce action's defaults (action.yml at the repository root).
BUILDONCE_INPUTS = ("go.mod", "go.sum", "**/*.go")
BUILDONCE_TEMPLATE = "{os}-{name}-bin-{go}-{hash}"
BUILDONCE_SMOKE = "{binary} --version"
_BUILDONCE_ACTION = re.compile(r"[\w-][\w.-]*/buildonce\Z", re.I)


@dataclass(frozen=True, slots=True)
class BuildonceStep:
    """A step of the buildonce GitHub Action itself.

    ``mode: build`` restores the binary by its key, builds and saves it on a miss and
    smoke-tests it (the builder); ``mode: consume`` restores and smoke-tests it, and on a
    miss rebuilds and re-saves when ``build`` is given, else fails.  ``needs-result`` makes
    the step stop before touching the cache when the build job did not succeed.
    """

    mode: str
    path: str
    build: str
    smoke: str
    needs_result: str
    key: str
    name: str
    inputs: tuple[str, ...]
    template: str
    working_directory: str

    @property
    def smoke_tests(self) -> bool:
        return self.smoke.strip().lower() not in ("", "none", "false")

    @property
    def saves(self) -> bool:
        """Whether the step can save the binary (always in build mode; on a miss with a
        build command in consume mode)."""
        return self.mode == "build" or bool(self.build)


def is_buildonce_action(uses: str) -> bool:
    """``<owner>/buildonce@ref``: the published action (a local ``./`` copy is recognised
    by the loader from its action.yml)."""
    if "buildonce" not in uses.lower():
        return False  # nearly every step: skip the regex
    return _BUILDONCE_ACTION.match(uses.split("@", 1)[0].strip()) is not None


@dataclass(slots=True)
class Step:
    """One step.  For a step of a local composite action, ``caller`` is the ``uses:`` step
    that brought it in and ``inputs`` the caller's ``with:`` values (or the defaults)."""

    index: int
    node: Node
    location: Location
    id: str | None
    name: str | None
    uses: str | None
    run: str | None
    run_node: Node | None
    with_: dict[str, Node]
    env: dict[str, Node]
    if_node: Node | None
    continue_on_error: bool
    caller: Step | None = None
    inputs: dict[str, Node] = field(default_factory=dict)
    action_path: str | None = None  # file of the composite action this step belongs to
    # classification, filled by the loader
    action: str = ""  # `uses:` without ref, lower case ("actions/cache/restore")
    cache: CacheStep | None = None
    builds: str | None = None  # output path of a `go build`, "" when unnamed
    build_offset: int = 0
    smoke: bool = False
    buildonce: BuildonceStep | None = None  # a step of the buildonce action
    expanded: bool = False  # a local composite whose steps follow in the job

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.id:
            return self.id
        if self.uses:
            return self.uses
        first = (self.run or "").strip().splitlines()
        return first[0][:60] if first else f"step {self.index + 1}"

    @property
    def anchor(self) -> Step:
        """The workflow-level step a finding inside a composite action is reported on."""
        step = self
        while step.caller is not None:
            step = step.caller
        return step

    @property
    def scope(self) -> int:
        """Step ids are unique per job or per composite invocation: the caller's identity."""
        return id(self.caller) if self.caller is not None else 0

    def with_text(self, name: str) -> str | None:
        node = self.with_.get(name)
        return node.text if node is not None and node.is_scalar else None


@dataclass(slots=True)
class Need:
    job: str
    location: Location


@dataclass(slots=True)
class Job:
    id: str
    node: Node
    location: Location
    name: str | None
    needs: list[Need]
    if_node: Node | None
    runs_on: str
    matrix_legs: int | None  # None: computed at run time (fromJSON …)
    matrix_axes: tuple[str, ...]
    matrix_node: Node | None
    fail_fast: bool
    steps: list[Step]
    uses: str | None  # reusable workflow
    with_: dict[str, Node]
    outputs: dict[str, Node]
    env: dict[str, Node]
    continue_on_error: bool
    environment: str | None
    called: Workflow | None = None  # local reusable workflow, loaded

    @property
    def label(self) -> str:
        return self.id

    @property
    def need_ids(self) -> tuple[str, ...]:
        return tuple(n.job for n in self.needs)

    @property
    def is_matrix(self) -> bool:
        return self.matrix_node is not None and self.matrix_legs != 1

    def step_with_id(self, step_id: str, scope: int) -> Step | None:
        for step in self.steps:
            if step.id == step_id and step.scope == scope:
                return step
        return None


@dataclass(slots=True)
class Workflow:
    """A workflow file, or a composite action file when ``is_action`` (then ``jobs`` holds
    one pseudo-job named after the action so its steps are visited too)."""

    path: str
    text: str
    root: Node | None
    triggers: dict[str, Node | None]
    jobs: dict[str, Job]
    env: dict[str, Node]
    is_action: bool = False
    problems: list[tuple[str, Location]] = field(default_factory=list)
    #: Scalar values holding ``${{`` (found while parsing); ``None``: not collected.
    expression_nodes: list[Node] | None = None

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def line(self, number: int) -> str:
        lines = self.lines
        return lines[number - 1] if 0 < number <= len(lines) else ""

    def descendants(self, job_id: str) -> set[str]:
        found: set[str] = set()
        changed = True
        while changed:
            changed = False
            for job in self.jobs.values():
                if job.id not in found and any(
                    n.job == job_id or n.job in found for n in job.needs
                ):
                    found.add(job.id)
                    changed = True
        return found

    def ancestors(self, job_id: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.jobs[job_id].need_ids) if job_id in self.jobs else []
        while todo:
            dep = todo.pop()
            if dep not in seen and dep in self.jobs:
                seen.add(dep)
                todo.extend(self.jobs[dep].need_ids)
        return seen


# --- step classification ------------------------------------------------------------------

#: Paths that hold Go's module and build caches, never the project binary.
MODULE_CACHE_PATH = re.compile(r"go/pkg/mod|go-build|gomodcache|gocache|\.cache/go\b", re.I)
_BIN_TOKEN = re.compile(r"(?:^|[-_/.])(?:bin|binary|binaries|exe)(?:$|[-_/.])", re.I)

#: `go build` producing a binary: not `go build ./...` (compile check, output discarded).
#: Starts with a literal so the regex engine can skip ahead; the "not inside a word" check
#: a leading look-behind would make (30x slower on long scripts) is done by hand.
_GO_BUILD = re.compile(r"go\s+(?:build|install)\b([^\n;&|]*)")
_OUTPUT_FLAG = re.compile(r"(?:^|\s)-o[=\s]+(\"[^\"]+\"|'[^']+'|\S+)")


def find_go_build(script: str) -> tuple[str, int] | None:
    """``(output path or "", offset)`` of the first ``go build``/``go install`` that
    produces the project's binary, or ``None``.

    ``go install tool@version`` installs a tool, and ``go build ./...`` only compiles, so
    neither counts.
    """
    if "go" not in script or ("build" not in script and "install" not in script):
        return None  # most scripts: skip the regex
    for match in _GO_BUILD.finditer(script):
        before = script[match.start() - 1] if match.start() else " "
        if before.isalnum() or before in "_-":
            continue
        line_start = script.rfind("\n", 0, match.start()) + 1
        prefix = script[line_start : match.start()].strip()
        if prefix.startswith("#") or "echo" in prefix.split():
            continue
        args = match.group(1)
        if "@" in args and match.group(0).split()[1] == "install":
            continue
        out = _OUTPUT_FLAG.search(args)
        if out is not None:
            return out.group(1).strip("\"'"), match.start()
        targets = [a for a in args.split() if not a.startswith("-")]
        if any(t.endswith("/...") for t in targets) and not out:
            continue
        if "-o" not in args.split() and match.group(0).split()[1] == "build" and not targets:
            return "", match.start()
        if targets:
            return "", match.start()
    return None


_SMOKE = re.compile(
    r"^\s*(?:\"?\$\{?\w+\}?\"?|\"?\.{0,2}/[\w./${}\"-]+|[\w.-]+/[\w./-]+)"
    r"\s+(?:--version|-version|version|-v|--help|-h|help)\b",
    re.M,
)


def is_smoke_line(line: str, smoke_command: str | None = None) -> bool:
    if smoke_command and smoke_command.strip() in line:
        return True
    return _SMOKE.match(line) is not None


def bin_token(text: str) -> bool:
    return _BIN_TOKEN.search(text) is not None


def is_smoke_script(script: str) -> bool:
    """Whether a script runs a binary by path with ``--version`` (or ``version``, ``--help``)."""
    if (
        "version" not in script
        and "help" not in script
        and " -v" not in script
        and " -h" not in script
    ):
        return False
    # Matching line by line is much faster than one multiline search over a long script
    # (the pattern is anchored at each line start anyway).
    return any(
        _SMOKE.match(line) is not None
        for line in script.splitlines()
        if "version" in line or "help" in line or "-v" in line or "-h" in line
    )
