"""Follow a cache key from where it is used back to what it is made of.

ksail computes its binary key in a ``run:`` step::

    env: {GO_VERSION: ${{ inputs.go-version }}, SOURCE_HASH: ${{ inputs.source-hash }}}
    run: |
      KSAIL_CACHE_KEY="${RUNNER_OS}-ksail-bin-${GO_VERSION}-${SOURCE_HASH}"
      printf 'value=%s\\n' "$KSAIL_CACHE_KEY" >> "$GITHUB_OUTPUT"

and the cache step reads ``${{ steps.ksail-cache-key.outputs.value }}``.  :func:`resolve_key`
walks step outputs, ``$GITHUB_OUTPUT`` writes, shell variables, step/job/workflow ``env``,
composite ``inputs`` (back to the caller's ``with:``) and job outputs (``needs.*``), and
returns what the key depends on as a set of facts:

* ``os``: the runner OS (``runner.os``, ``$RUNNER_OS``, a matrix ``os`` axis used in
  ``runs-on``, or a literal OS/image name),
* ``go``: the Go toolchain version (setup-go's ``go-version`` output, a literal version, a
  ``go-version`` matrix axis or ``$(go version)``),
* ``sha``: the commit (``github.sha``): every source file is covered,
* ``file:<pattern>``: each ``hashFiles`` pattern (or file hashed in the shell).

``canonical`` is the key with each runtime part replaced by a placeholder, so a producer's
and a consumer's key can be compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from buildonce.workflow import expressions as ex
from buildonce.workflow.model import BuildonceStep, Job, Step, Workflow

if TYPE_CHECKING:
    from buildonce.workflow.yamltree import Node

_GO_VERSION_LITERAL = re.compile(r"(?:^|[-_/:+=@ ])(?:go-?)?1\.\d+(?:\.\d+)?(?=$|[-_/:+=@ ])", re.I)
_OS_LITERAL = re.compile(
    r"(?:^|[-_/:+=@ .])(?:linux|ubuntu|debian|alpine|macos|darwin|osx|windows|win)"
    r"(?:$|[-_/:+=@ .\d])",
    re.I,
)
_SHELL_VAR = re.compile(r"\$\{(\w+)(?:[:#%/][^}]*)?\}|\$(\w+)")
_ASSIGN = re.compile(r"^\s*(?:export\s+|local\s+|readonly\s+)?(\w+)=(.*)$")
_OUTPUT_WRITE = re.compile(
    r"""(?:echo|printf)\s+(?:-[a-z]+\s+)?(?P<arg>"[^"]*"|'[^']*'|\S+)(?P<rest>[^>\n]*)>>\s*"?\$\{?GITHUB_OUTPUT\}?"?"""
)
_MAX_DEPTH = 12


@dataclass(slots=True)
class KeyInfo:
    """What a key is made of (see the module docstring)."""

    canonical: str
    facts: set[str] = field(default_factory=set)
    patterns: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)

    @property
    def has_os(self) -> bool:
        return "os" in self.facts

    @property
    def has_go(self) -> bool:
        return "go" in self.facts

    @property
    def has_sha(self) -> bool:
        return "sha" in self.facts

    def covers(self, filename: str) -> bool:
        """Whether the key changes when ``filename`` (``go.mod``, ``x.go``) changes."""
        if self.has_sha:
            return True
        return any(_pattern_covers(p, filename) for p in self.patterns)


def _pattern_covers(pattern: str, filename: str) -> bool:
    p = pattern.strip().lstrip("!")
    if pattern.strip().startswith("!"):
        return False
    base = p.rsplit("/", 1)[-1]
    if base == filename:
        return True
    if filename.endswith(".go") and base in ("*.go", "**.go"):
        return True
    # "**" or "src/**" hashes everything below
    return base in ("**", "*") and "." not in filename.rsplit("/", 1)[0]


class KeyResolver:
    """Resolves keys within one workflow; memoises nothing (keys are few)."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow

    def resolve(self, text: str, job: Job, step: Step | None) -> KeyInfo:
        info = KeyInfo("")
        info.canonical = self._template(text, job, step, info, 0)
        if _OS_LITERAL.search(info.canonical):
            info.facts.add("os")
        if _GO_VERSION_LITERAL.search(info.canonical):
            info.facts.add("go")
        return info

    def resolve_buildonce(self, action: BuildonceStep, job: Job, step: Step) -> KeyInfo:
        """The key the buildonce action computes (``buildonce key``): an explicit ``key``
        input as written, else its template with ``{os}`` the runner OS, ``{go}`` the Go
        version resolved from go.mod/toolchain, ``{hash}`` the hashFiles of ``inputs``."""
        if action.key:
            return self.resolve(action.key, job, step)
        info = KeyInfo("")
        info.canonical = self._buildonce_template(action, info)
        return info

    def _buildonce_template(self, action: BuildonceStep, info: KeyInfo) -> str:
        root = action.working_directory.strip("./")
        prefix = f"{root}/" if root else ""

        def hashed(patterns: tuple[str, ...]) -> str:
            for p in patterns:
                info.facts.add(f"file:{p}")
            info.patterns.extend(patterns)
            return "{hash(" + ",".join(prefix + p for p in patterns) + ")}"

        def placeholder(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "os":
                info.facts.add("os")
                return "{runner.os}"
            if name == "go":
                info.facts.add("go")
                return "{go-version}"
            if name == "hash":
                return hashed(action.inputs)
            if name == "gosum_hash":
                return hashed(("go.sum",))
            if name == "name" and action.name:
                return action.name
            return "{" + prefix + name + "}"  # the module's name, known at run time

        return re.sub(r"\{(\w+)\}", placeholder, action.template)

    # -- templates and expressions ---------------------------------------------------------
    def _template(self, text: str, job: Job, step: Step | None, info: KeyInfo, depth: int) -> str:
        try:
            parts = ex.split_template(text)
        except ex.ExpressionError:
            info.unresolved.append(text)
            return text
        out: list[str] = []
        for part in parts:
            if part.expression is None:
                out.append(part.text)
                continue
            try:
                expr = ex.parse(part.expression)
            except ex.ExpressionError:
                info.unresolved.append(part.expression)
                out.append("{?}")
                continue
            out.append(self._expr(expr, job, step, info, depth))
        return "".join(out)

    def _expr(self, expr: ex.Expr, job: Job, step: Step | None, info: KeyInfo, depth: int) -> str:
        if isinstance(expr, ex.Literal):
            return ex.to_string(expr.value)
        if isinstance(expr, ex.Call):
            name = expr.name.lower()
            if name == "hashfiles":
                pats: list[str] = []
                for arg in expr.args:
                    if isinstance(arg, ex.Literal) and isinstance(arg.value, str):
                        for line in arg.value.splitlines():
                            if line.strip() and not line.strip().startswith("--"):
                                pats.append(line.strip())
                    else:
                        text = self._expr(arg, job, step, info, depth)
                        pats.extend(p.strip() for p in text.split("\n") if p.strip())
                for p in pats:
                    info.facts.add(f"file:{p}")
                info.patterns.extend(pats)
                return "{hash(" + ",".join(pats) + ")}"
            if name == "format" and expr.args and isinstance(expr.args[0], ex.Literal):
                fmt = ex.to_string(expr.args[0].value)
                args = [self._expr(a, job, step, info, depth) for a in expr.args[1:]]
                try:
                    return re.sub(r"\{(\d+)\}", lambda m: args[int(m.group(1))], fmt)
                except IndexError:
                    return fmt
            args_text = [self._expr(a, job, step, info, depth) for a in expr.args]
            return f"{{{name}({','.join(args_text)})}}"
        refs = ex.references(expr)
        if len(refs) == 1 and isinstance(expr, ex.Property | ex.Context | ex.Index):
            return self._reference(refs[0], job, step, info, depth)
        pieces = [self._reference(r, job, step, info, depth) for r in refs]
        return "{" + "|".join(pieces) + "}"

    def _reference(self, ref: str, job: Job, step: Step | None, info: KeyInfo, depth: int) -> str:
        if depth > _MAX_DEPTH:
            info.unresolved.append(ref)
            return "{?}"
        parts = ref.split(".")
        head = parts[0].lower()
        if head == "runner" and len(parts) == 2 and parts[1].lower() == "os":
            info.facts.add("os")
            return "{runner.os}"
        if head == "github" and len(parts) == 2 and parts[1].lower() == "sha":
            info.facts.add("sha")
            return "{github.sha}"
        if head == "matrix" and len(parts) >= 2:
            axis = parts[1].lower()
            self._matrix_fact(axis, job, info)
            return "{matrix." + parts[1] + "}"
        if head == "inputs" and len(parts) == 2 and step is not None and step.caller is not None:
            node = step.inputs.get(parts[1])
            if node is not None:
                return self._template(node.text, job, step.caller, info, depth + 1)
            return ""
        if head == "env" and len(parts) == 2:
            node = self._env(parts[1], job, step)
            if node is not None:
                return self._template(node.text, job, step, info, depth + 1)
            return self._shell_env(parts[1], info)
        if head == "steps" and len(parts) == 4 and parts[2] == "outputs":
            scope = step.scope if step is not None else 0
            source = job.step_with_id(parts[1], scope)
            if source is not None:
                return self._step_output(source, parts[3], job, info, depth + 1)
        if head == "needs" and len(parts) == 4 and parts[2] == "outputs":
            producer = self.workflow.jobs.get(parts[1])
            if producer is not None:
                node = producer.outputs.get(parts[3])
                if node is not None:
                    return self._template(node.text, producer, None, info, depth + 1)
        info.unresolved.append(ref)
        return "{" + ref + "}"

    def _matrix_fact(self, axis: str, job: Job, info: KeyInfo) -> None:
        if axis in ("os", "runner", "platform", "runs-on", "image") or (
            f"matrix.{axis}" in job.runs_on
        ):
            info.facts.add("os")
        if axis in ("go", "go-version", "go_version", "goversion", "golang"):
            info.facts.add("go")

    def _env(self, name: str, job: Job, step: Step | None) -> Node | None:
        while step is not None:
            if name in step.env:
                return step.env[name]
            step = step.caller
        if name in job.env:
            return job.env[name]
        return self.workflow.env.get(name)

    def _shell_env(self, name: str, info: KeyInfo) -> str:
        if name == "RUNNER_OS":
            info.facts.add("os")
            return "{runner.os}"
        if name == "GITHUB_SHA":
            info.facts.add("sha")
            return "{github.sha}"
        info.unresolved.append(f"${name}")
        return "{$" + name + "}"

    def _step_output(self, source: Step, name: str, job: Job, info: KeyInfo, depth: int) -> str:
        if source.action.startswith("actions/setup-go") and name == "go-version":
            info.facts.add("go")
            return "{go-version}"
        if source.buildonce is not None and name == "key":
            if source.buildonce.key:
                return self._template(source.buildonce.key, job, source, info, depth + 1)
            return self._buildonce_template(source.buildonce, info)
        if source.expanded and source.uses:
            # A composite action's output: `outputs.<name>.value` inside the action
            for inner in job.steps:
                if inner.caller is source:
                    break
            else:
                inner = None
            if inner is not None and inner.action_path:
                action = self._action_outputs(inner.action_path)
                node = action.get(name)
                if node is not None:
                    return self._template(node.text, job, inner, info, depth + 1)
        if source.run:
            value = _output_value(source.run, name)
            if value is not None:
                return self._shell(value, source.run, job, source, info=info, depth=depth)
        info.unresolved.append(f"steps.{source.id}.outputs.{name}")
        return "{steps." + (source.id or "?") + ".outputs." + name + "}"

    def _action_outputs(self, path: str) -> dict[str, Node]:
        from buildonce.workflow.loader import Loader

        loaded = Loader().load(path)
        if hasattr(loaded, "root") and loaded.root is not None and loaded.root.is_mapping:
            outputs = loaded.root.get("outputs")
            if outputs is not None:
                return {k.text: v.get("value") or v for k, v in outputs.pairs() if v is not None}
        return {}

    def _shell(
        self, value: str, script: str, job: Job, step: Step, *, info: KeyInfo, depth: int
    ) -> str:
        """Expand ``$VAR`` in ``value`` using the script's assignments and the step's env."""
        value = self._template(value, job, step, info, depth + 1) if "${{" in value else value
        assignments = _assignments(script)

        def expand(match: re.Match[str], level: int = 0) -> str:
            name = match.group(1) or match.group(2)
            if name in assignments and level < 4:
                inner = assignments[name]
                if "$(" in inner or "`" in inner:
                    return _command_facts(inner, info)
                inner = (
                    self._template(inner, job, step, info, depth + 1) if "${{" in inner else inner
                )
                return _SHELL_VAR.sub(lambda m: expand(m, level + 1), inner)
            node = self._env(name, job, step)
            if node is not None:
                return self._template(node.text, job, step, info, depth + 1)
            return self._shell_env(name, info)

        if "$(" in value or "`" in value:
            _command_facts(value, info)
        return _SHELL_VAR.sub(expand, value)


def _output_value(script: str, name: str) -> str | None:
    """The value a script writes as ``name`` to ``$GITHUB_OUTPUT`` (the last write wins)."""
    found: str | None = None
    for match in _OUTPUT_WRITE.finditer(script):
        arg = match.group("arg").strip("\"'")
        rest = match.group("rest").strip()
        if arg.startswith(f"{name}=%s") and rest:
            found = rest.split()[0].strip("\"'")
        elif arg.startswith(f"{name}="):
            found = arg[len(name) + 1 :]
    return found


def _assignments(script: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for line in script.splitlines():
        m = _ASSIGN.match(line)
        if m:
            value = m.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            result[m.group(1)] = value
    return result


def _command_facts(command: str, info: KeyInfo) -> str:
    """Facts about a ``$(…)`` command substitution."""
    low = command.lower()
    if "go version" in low or "go env goversion" in low:
        info.facts.add("go")
        return "{go-version}"
    if "uname" in low:
        info.facts.add("os")
        return "{os}"
    if "git rev-parse" in low or "git log" in low:
        info.facts.add("sha")
        return "{github.sha}"
    if any(tool in low for tool in ("sha256sum", "sha1sum", "md5sum", "shasum", "b3sum")):
        for name in ("go.mod", "go.sum", "*.go"):
            if name in command:
                info.facts.add(f"file:{name}")
                info.patterns.append(name)
        return "{hash}"
    info.unresolved.append(command)
    return "{$(...)}"
