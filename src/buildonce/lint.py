"""The lint engine: load files, run the rules, apply config and ignore comments.

Rules only produce findings; suppression (config, ``# buildonce: ignore[RULE] reason``),
severity and the exit status live here, so every rule behaves the same way.
"""

from __future__ import annotations

import gc
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildonce.config import Config
from buildonce.errors import EXIT_FAILURE, EXIT_OK
from buildonce.rules.base import Finding, RuleContext, Severity
from buildonce.workflow.files import discover
from buildonce.workflow.model import Location

if TYPE_CHECKING:
    from buildonce.workflow.analysis import Settings
    from buildonce.workflow.loader import Loader, SyntaxProblem
    from buildonce.workflow.model import Workflow

_IGNORE = re.compile(r"#\s*buildonce:\s*ignore\[([^\]]*)\](.*)$")
#: Rules that still apply to a composite action file on its own; the domain rules need the
#: calling workflow and see the action's steps through it.
_ACTION_RULES = frozenset({"invalid-workflow"})


@dataclass(frozen=True, slots=True)
class Ignore:
    line: int  # the line the ignore applies to
    rules: tuple[str, ...]
    reason: str
    location: Location


@dataclass(slots=True)
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    suppressed: int = 0

    @property
    def exit_code(self) -> int:
        return EXIT_FAILURE if any(f.severity.fails for f in self.findings) else EXIT_OK


def _severity(rule_id: str, config: Config) -> Severity | None:
    """The level a rule reports at, or ``None`` when it is disabled."""
    rc = config.rule(rule_id)
    if not rc.enabled:
        return None
    from buildonce.rules import RULES  # imported when a file is linted, not on a cache hit

    return Severity(rc.severity) if rc.severity else RULES[rule_id].severity


def parse_ignores(path: str, text: str) -> tuple[list[Ignore], list[Finding]]:
    """Ignore comments in ``text`` and findings for the malformed ones."""
    from buildonce.rules import RULES

    ignores: list[Ignore] = []
    problems: list[Finding] = []
    if "buildonce:" not in text:
        return ignores, problems
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if "buildonce:" not in line:
            continue
        match = _IGNORE.search(line)
        if match is None:
            continue
        col = match.start() + 1
        loc = Location(path, number, col)
        rules = tuple(r.strip() for r in match.group(1).split(",") if r.strip())
        # The reason runs to the end of the line or to the next comment.
        reason = match.group(2).split("#", 1)[0].strip()
        unknown = [r for r in rules if r not in RULES]
        if not rules or unknown:
            problems.append(
                Finding(
                    "invalid-ignore",
                    f"ignore comment names unknown rule {unknown[0]!r}"
                    if unknown
                    else "ignore comment names no rule",
                    loc,
                    RULES["invalid-ignore"].severity,
                    hint=f"known rules: {', '.join(RULES)}",
                )
            )
            continue
        if not reason:
            problems.append(
                Finding(
                    "invalid-ignore",
                    f"ignore[{', '.join(rules)}] has no reason, so it is not applied",
                    loc,
                    RULES["invalid-ignore"].severity,
                    hint="write why after the bracket: # buildonce: ignore[rule] <reason>",
                )
            )
            continue
        # A comment alone on its line covers the next line; otherwise its own line.
        target = number + 1 if line.lstrip().startswith("#") else number
        ignores.append(Ignore(target, rules, reason, loc))
    return ignores, problems


class Linter:
    """Lints files with one configuration; reuse it to share the loader's file cache.

    With ``cache_dir``, findings are kept per file, keyed by the file's SHA-256, the hashes
    of the local actions and reusable workflows it uses, the configuration and the linter's
    own code, so an unchanged file is not parsed again (like ruff's cache).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        actions: dict[str, str] | None = None,
        cache_dir: Path | None = None,
        jobs: int = 1,
    ) -> None:
        self.config = config or Config()
        #: Worker processes for large inputs (Linux only, where fork is cheap and safe in a
        #: single-threaded process); 1 lints everything in this process.
        self.jobs = max(1, jobs)
        self._actions = actions or {}
        self._loader: Loader | None = None
        self.cache = _FindingsCache(cache_dir, self.config) if cache_dir is not None else None
        self._settings: Settings | None = None
        self._levels: dict[str, Severity | None] = {}

    def level(self, rule_id: str) -> Severity | None:
        """The level a rule reports at under this configuration (``None``: disabled)."""
        try:
            return self._levels[rule_id]
        except KeyError:
            level = self._levels[rule_id] = _severity(rule_id, self.config)
            return level

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from buildonce.workflow.analysis import Settings

            self._settings = Settings(
                builder_jobs=self.config.builder_jobs,
                reporting_jobs=self.config.reporting_jobs,
                binary_paths=self.config.binary_paths,
                smoke_command=self.config.smoke_command,
            )
        return self._settings

    @property
    def loader(self) -> Loader:
        if self._loader is None:
            from buildonce.workflow.loader import Loader

            self._loader = Loader(actions=self._actions)
        return self._loader

    def lint_paths(self, paths: Iterable[str | os.PathLike[str]]) -> LintResult:
        # The run allocates many small, short-lived, acyclic objects; the cyclic collector
        # would scan them again and again (a third of the run time on the shared corpus).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._lint_paths(paths)
        finally:
            if was_enabled:
                gc.enable()

    def _lint_paths(self, paths: Iterable[str | os.PathLike[str]]) -> LintResult:
        result = LintResult()
        todo: list[tuple[Path, bytes, str]] = []
        for file in discover(paths):
            result.files.append(str(file))
            try:
                data = file.read_bytes()
            except OSError as exc:
                from buildonce.errors import InputError

                raise InputError(f"cannot read: {exc.strerror}", where=str(file)) from exc
            digest = _sha256(data) if self.cache is not None else ""
            hit = self.cache.get(file, digest) if self.cache is not None else None
            if hit is not None:
                result.findings.extend(hit[0])
                result.suppressed += hit[1]
            else:
                todo.append((file, data, digest))
        for (file, _, digest), (found, suppressed, deps) in zip(
            todo, self._lint_files(todo), strict=True
        ):
            if self.cache is not None:
                self.cache.put(file, digest, deps, found, suppressed)
            result.findings.extend(found)
            result.suppressed += suppressed
        if self.cache is not None:
            self.cache.save()
        result.findings.sort(key=lambda f: f.sort_key)
        return result

    def _lint_files(self, todo: list[tuple[Path, bytes, str]]) -> list[_FileResult]:
        """Lint files in this process, or split over ``jobs`` forked workers when there are
        enough of them to pay for the fork (about 1 ms each; linting is ~1 ms per file)."""
        workers = min(self.jobs, len(todo) // _FILES_PER_WORKER)
        if workers < 2 or not _can_fork():
            return [self._lint_one(f, d) for f, d, _ in todo]
        return _lint_forked(self, todo, workers)

    def _lint_one(self, file: Path, data: bytes) -> _FileResult:
        found, suppressed = self.lint_loaded(self.loader.load(file, data))
        deps = self.loader.all_dependencies(file) if self.cache is not None else set()
        return found, suppressed, deps

    def lint_text(self, text: str, path: str = "<text>") -> list[Finding]:
        found, _ = self.lint_loaded(self.loader.load_text(text, path))
        return sorted(found, key=lambda f: f.sort_key)

    def lint_loaded(self, loaded: Workflow | SyntaxProblem) -> tuple[list[Finding], int]:
        from buildonce.rules import yaml_syntax
        from buildonce.workflow.loader import SyntaxProblem

        findings: list[Finding] = []
        if isinstance(loaded, SyntaxProblem):
            level = self.level(yaml_syntax.ID)
            if level is not None:
                findings.append(
                    yaml_syntax.finding_for(
                        loaded.path, loaded.message, loaded.line, loaded.col, level
                    )
                )
            text, path = loaded.text, loaded.path
        else:
            findings.extend(self.run_rules(loaded))
            text, path = loaded.text, loaded.path
        ignores, problems = parse_ignores(path, text)
        level = self.level("invalid-ignore")
        if level is not None:
            findings.extend(Finding(p.rule, p.message, p.location, level, p.hint) for p in problems)
        kept: list[Finding] = []
        suppressed = 0
        # Steps of one composite action call share the calling step's location; the same
        # problem found on its restore and its save step is one finding.
        findings = list(dict.fromkeys(findings))
        for finding in findings:
            if any(
                i.line == finding.location.line
                and finding.rule in i.rules
                and finding.location.path == path
                for i in ignores
            ):
                suppressed += 1
            else:
                kept.append(finding)
        return kept, suppressed

    def run_rules(self, workflow: Workflow, rules: Sequence[str] | None = None) -> list[Finding]:
        from buildonce.rules import RULES
        from buildonce.workflow.analysis import analyse

        analysis = analyse(workflow, self.settings)
        findings: list[Finding] = []
        for rule in RULES.values():
            if rules is not None and rule.id not in rules:
                continue
            if workflow.is_action and rule.id not in _ACTION_RULES:
                continue
            level = self.level(rule.id)
            if level is None:
                continue
            ctx = RuleContext(workflow, analysis, rule.id, level)
            findings.extend(rule.check(ctx))
        return findings


def _sha256(data: bytes) -> str:
    # Imported on use: a --no-cache run never hashes (OpenSSL's start-up costs ~4 ms).
    import hashlib

    return hashlib.sha256(data).hexdigest()


_FileResult = tuple[list[Finding], int, set[Path]]
#: Below this many files per worker a fork costs more than it saves.
_FILES_PER_WORKER = 48


def default_jobs() -> int:
    """Worker processes for the CLI: the CPUs this process may use, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def _can_fork() -> bool:
    import sys
    import threading

    # fork() copies only the calling thread; with other threads alive a worker could
    # inherit a held lock.  macOS frameworks are not fork-safe, Windows has no fork.
    return sys.platform == "linux" and threading.active_count() == 1


def _chunks(todo: list[tuple[Path, bytes, str]], workers: int) -> list[list[list[int]]]:
    """``todo`` split into at most ``workers`` shares of about equal bytes, each a list of
    groups of indices: the files of one checkout stay together so its local actions are
    parsed once, and a group is the unit a worker reports (or the parent takes over)."""
    groups: dict[Path, list[int]] = {}
    for i, (file, _, _) in enumerate(todo):
        root = next((p.parent for p in file.parents if p.name == ".github"), file.parent)
        groups.setdefault(root, []).append(i)
    shares: list[list[list[int]]] = [[] for _ in range(workers)]
    sizes = [0] * workers
    by_size = sorted(groups.values(), key=lambda g: -sum(len(todo[i][1]) for i in g))
    for group in by_size:
        target = sizes.index(min(sizes))
        shares[target].append(group)
        sizes[target] += sum(len(todo[i][1]) for i in group)
    return [share for share in shares if share]


@dataclass(slots=True)
class _Child:
    """A forked worker: it sends one length-prefixed pickle per finished group."""

    pid: int
    fd: int
    groups: list[list[int]]
    pending: set[int]
    buffer: bytearray = field(default_factory=bytearray)
    open: bool = True

    def drain(self, results: dict[int, _FileResult]) -> None:
        """Take every result the worker has sent so far, without waiting."""
        import pickle

        while self.open:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                self.open = False
            self.buffer += chunk
        while len(self.buffer) >= 8:
            size = int.from_bytes(self.buffer[:8], "little")
            if len(self.buffer) < 8 + size:
                break
            number, items = pickle.loads(self.buffer[8 : 8 + size])
            del self.buffer[: 8 + size]
            if number in self.pending:
                self.pending.discard(number)
                for i, item in zip(self.groups[number], items, strict=True):
                    results[i] = item

    def stop(self) -> None:
        import signal

        # Not reaped yet, so the pid is still ours even when the worker has exited; it may
        # still be linting a group the parent took over.
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def _lint_forked(
    linter: Linter, todo: list[tuple[Path, bytes, str]], workers: int
) -> list[_FileResult]:
    """Lint one share here and the others in forked workers that report each finished
    checkout through a pipe.  When its own share is done the parent takes over the
    workers' unfinished groups from the end, so a worker starved of CPU (a busy machine)
    or one that failed (a bug, a file that vanished) costs no more than linting here; the
    parent's own run raises the errors a serial run would."""
    import pickle

    shares = _chunks(todo, workers)
    results: dict[int, _FileResult] = {}

    def lint_group(group: list[int]) -> None:
        for i in group:
            results[i] = linter._lint_one(todo[i][0], todo[i][1])

    children: list[_Child] = []
    try:
        for groups in shares[1:]:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child; its results are asserted in the parent
                os.close(read_end)
                status = 0
                try:
                    with os.fdopen(write_end, "wb") as out:
                        for number, group in enumerate(groups):
                            items = [linter._lint_one(todo[i][0], todo[i][1]) for i in group]
                            frame = pickle.dumps((number, items), protocol=pickle.HIGHEST_PROTOCOL)
                            out.write(len(frame).to_bytes(8, "little") + frame)
                            out.flush()
                except BaseException:
                    status = 1
                finally:
                    os._exit(status)
            os.close(write_end)
            os.set_blocking(read_end, False)
            children.append(_Child(pid, read_end, groups, set(range(len(groups)))))
        for group in shares[0]:
            lint_group(group)
        for child in children:
            child.drain(results)
            while child.pending:
                number = max(child.pending)
                child.pending.discard(number)
                lint_group(child.groups[number])
                child.drain(results)
    finally:
        for child in children:
            child.stop()
    return [results[i] for i in range(len(todo))]


def lint_paths(paths: Iterable[str | os.PathLike[str]], config: Config | None = None) -> LintResult:
    """Lint workflow files and folders (see :func:`buildonce.workflow.loader.discover`)."""
    return Linter(config).lint_paths(paths)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/buildonce`` (``~/.cache/buildonce`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "buildonce"


def _code_stamp() -> str:
    """Changes whenever the linter's code changes (size and mtime of its modules)."""
    import buildonce

    package = Path(buildonce.__file__).parent
    parts = [buildonce.__version__]
    for folder in (package / "workflow", package / "rules"):
        for module in sorted(folder.glob("*.py")):
            stat = module.stat()
            parts.append(f"{module.name}:{stat.st_size}:{stat.st_mtime_ns}")
    for module in (package / "lint.py", package / "config.py"):
        stat = module.stat()
        parts.append(f"{module.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return _sha256("\n".join(parts).encode())


def _finding_to_json(f: Finding) -> list[Any]:
    related = [f.related.path, f.related.line, f.related.col] if f.related else None
    loc = f.location
    return [
        f.rule,
        f.message,
        loc.path,
        loc.line,
        loc.col,
        f.severity.value,
        f.hint,
        f.job,
        related,
    ]


def _finding_from_json(row: list[Any]) -> Finding:
    rule, message, path, line, col, severity, hint, job, related = row
    rel = Location(*related) if related else None
    return Finding(rule, message, Location(path, line, col), Severity(severity), hint, job, rel)


class _FindingsCache:
    """One JSON file of per-file findings; a damaged or foreign file is simply ignored."""

    def __init__(self, directory: Path, config: Config) -> None:
        self.path = directory / "lint-v1.json"
        self.fingerprint = _sha256(f"{_code_stamp()}|{config!r}".encode())
        self.entries: dict[str, Any] = {}
        self.dirty = False
        self._hashes: dict[str, str | None] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("fingerprint") == self.fingerprint:
            entries = data.get("entries")
            if isinstance(entries, dict):
                self.entries = entries

    def _hash(self, path: str) -> str | None:
        if path not in self._hashes:
            try:
                self._hashes[path] = _sha256(Path(path).read_bytes())
            except OSError:
                self._hashes[path] = None
        return self._hashes[path]

    def get(self, file: Path, digest: str) -> tuple[list[Finding], int] | None:
        entry = self.entries.get(os.path.abspath(file))
        if not isinstance(entry, dict) or entry.get("sha256") != digest:
            return None
        try:
            if any(self._hash(dep) != sha for dep, sha in entry["deps"].items()):
                return None
            return [_finding_from_json(r) for r in entry["findings"]], int(entry["suppressed"])
        except (KeyError, TypeError, ValueError):
            return None

    def put(
        self, file: Path, digest: str, deps: set[Path], findings: list[Finding], suppressed: int
    ) -> None:
        self.entries[os.path.abspath(file)] = {
            "sha256": digest,
            "deps": {os.path.abspath(d): self._hash(os.path.abspath(d)) for d in sorted(deps)},
            "findings": [_finding_to_json(f) for f in findings],
            "suppressed": suppressed,
        }
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        data = {"fingerprint": self.fingerprint, "entries": self.entries}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Write a temp file next to the cache and rename it: a concurrent reader sees the
            # old or the new cache, never half of one.
            import tempfile

            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".lint-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(data, fh, separators=(",", ":"))
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            pass  # a read-only home must not fail the lint; the next run just parses again
        self.dirty = False
