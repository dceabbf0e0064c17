"""The binary cache key and the Go module cache key, their manifest, and why two differ.

Binary key (BinaryCacheEntry): ``{os}-{name}-bin-{go}-{hash}`` where ``hash`` is
``hashFiles('go.mod', 'go.sum', '**/*.go')`` with the Go module root as the workspace.
Because hashFiles drops search roots below another root, that equals the workflow's
``hashFiles('src/go.mod', 'src/go.sum', 'src/**/*.go')`` for a module in ``src/``: both
walk the module directory once, in the same order.

Go module cache key (GoModuleCache): ``{os}-go-{go}-{gosum_hash}`` with
``gosum_hash = hashFiles('go.sum')``.  A module without dependencies has no go.sum (the
bundled example is one); then go.mod is hashed instead, as ``actions/setup-go`` >= 6.3
does by default, and ``gosum_input`` says so.  An empty hash is never used: GitHub would
silently produce ``Linux-go-1.25.4-`` and share one entry across every dependency set.
"""

from __future__ import annotations

import json
import os
import string
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, get_args

from buildonce.errors import CacheKeyError, InputError
from buildonce.keys.hashfiles import FileDigest, hash_files_detailed
from buildonce.keys.toolchain import (
    GoVersion,
    GoVersionSource,
    read_go_mod,
    resolve_go_version,
    runner_os,
)
from buildonce.model._validate import MAX_KEY_LENGTH, key_syntax_problem

__all__ = [
    "DEFAULT_INPUTS",
    "DEFAULT_TEMPLATE",
    "GOMOD_TEMPLATE",
    "MANIFEST_FORMAT",
    "MAX_KEY_LENGTH",
    "TEMPLATE_FIELDS",
    "ComponentChange",
    "KeyComponents",
    "KeyDiff",
    "compute_keys",
    "diff_keys",
    "read_manifest",
    "render_key",
    "validate_key",
    "write_manifest",
]

DEFAULT_TEMPLATE: Final = "{os}-{name}-bin-{go}-{hash}"
DEFAULT_INPUTS: Final[tuple[str, ...]] = ("go.mod", "go.sum", "**/*.go")
GOMOD_TEMPLATE: Final = "{os}-go-{go}-{gosum_hash}"
#: Placeholders a template may use.
TEMPLATE_FIELDS: Final[tuple[str, ...]] = ("os", "name", "go", "hash", "gosum_hash", "module")
MANIFEST_FORMAT: Final = "buildonce-key-manifest"
MANIFEST_VERSION: Final = 1
_GO_SOURCES: Final = get_args(GoVersionSource)


def validate_key(key: str, *, where: str = "key", fix: str = "--name and --template") -> str:
    """Return ``key`` if GitHub's cache accepts it, else raise :class:`CacheKeyError`.

    The rules live in :func:`buildonce.model._validate.key_syntax_problem`; the store, the
    gha backend and ``key`` all come through here.  ``where`` names the offending argument
    and ``fix`` the input the user should change.
    """
    problem = key_syntax_problem(key)
    if problem is not None:
        raise CacheKeyError(problem.message, where=where, hint=f"{problem.fix} {fix}")
    return key


def render_key(template: str, fields: Mapping[str, str]) -> str:
    """Fill ``{placeholder}``s (see :data:`TEMPLATE_FIELDS`) and validate the key."""
    pieces: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise CacheKeyError(
            f"template {template!r} is malformed ({exc})",
            where="--template",
            hint="write placeholders as {name}; double braces for a literal brace",
        ) from exc
    for literal, name, spec, conversion in parsed:
        pieces.append(literal)
        if name is None:
            continue
        if name not in fields or spec or conversion:
            raise CacheKeyError(
                f"template placeholder {{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} is not supported",
                where="--template",
                hint=f"use only {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}",
            )
        pieces.append(fields[name])
    return validate_key("".join(pieces))


@dataclass(frozen=True, slots=True)
class KeyComponents:
    """Everything that went into the two keys, and the keys themselves."""

    binary_key: str
    gomod_key: str
    os: str
    go: GoVersion
    name: str
    module: str
    template: str
    inputs: tuple[str, ...]
    hash: str
    gosum_hash: str
    #: The file hashed for ``gosum_hash``: ``go.sum``, or ``go.mod`` when there is no go.sum.
    gosum_input: str
    files: tuple[FileDigest, ...]

    def to_json(self, *, files: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "binary_key": self.binary_key,
            "gomod_key": self.gomod_key,
            "os": self.os,
            "go": self.go.to_json(),
            "name": self.name,
            "module": self.module,
            "template": self.template,
            "inputs": list(self.inputs),
            "hash": self.hash,
            "gosum_hash": self.gosum_hash,
            "gosum_input": self.gosum_input,
            "file_count": len(self.files),
        }
        if files:
            data["files"] = [f.to_json() for f in self.files]
        return data

    @classmethod
    def from_json(cls, data: Any) -> KeyComponents:
        """Inverse of :meth:`to_json` (with files); raises ValueError on a bad document."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        try:
            go = data["go"]
            source = go["source"]
            if source not in _GO_SOURCES:
                raise ValueError(f"unknown go.source {source!r}")
            return cls(
                binary_key=_str(data["binary_key"]),
                gomod_key=_str(data["gomod_key"]),
                os=_str(data["os"]),
                go=GoVersion(_str(go["version"]), source, _str(go.get("detail", ""))),
                name=_str(data["name"]),
                module=_str(data["module"]),
                template=_str(data["template"]),
                inputs=tuple(_str(i) for i in data["inputs"]),
                hash=_str(data["hash"]),
                gosum_hash=_str(data["gosum_hash"]),
                gosum_input=_str(data["gosum_input"]),
                files=tuple(FileDigest(_str(f["path"]), _str(f["sha256"])) for f in data["files"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"missing or mistyped field {exc}") from exc


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(repr(value))
    return value


def compute_keys(
    root: Path,
    *,
    name: str | None = None,
    template: str = DEFAULT_TEMPLATE,
    inputs: Sequence[str] = DEFAULT_INPUTS,
    env: Mapping[str, str] | None = None,
) -> KeyComponents:
    """Compute both keys for the Go module at ``root``.

    ``name`` defaults to the module path's last element.  ``inputs`` are hashFiles
    patterns relative to ``root``.  ``env`` (default ``os.environ``) supplies
    ``RUNNER_OS`` and the ``PATH`` searched for ``go``.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(
            "directory does not exist" if not root.exists() else "is not a directory",
            where=str(root),
            hint="pass --root pointing at the Go module (the directory that holds go.mod)",
        )
    gomod = read_go_mod(root)
    go = resolve_go_version(root, env=env)
    os_name = runner_os(env)
    key_name = gomod.short_name if name is None else name
    if not key_name:
        raise CacheKeyError("the key name is empty", where="--name", hint="pass --name NAME")
    source = hash_files_detailed(list(inputs), root=root)
    if not source.hash:
        raise InputError(
            f"no file matches the key inputs {list(inputs)!r}",
            where=str(root),
            hint="check --input (patterns are relative to the module root)",
        )
    gosum = hash_files_detailed(["go.sum"], root=root)
    gosum_input = "go.sum"
    if not gosum.hash:
        gosum = hash_files_detailed(["go.mod"], root=root)
        gosum_input = "go.mod"
    fields = {
        "os": os_name,
        "name": key_name,
        "go": go.version,
        "hash": source.hash,
        "gosum_hash": gosum.hash,
        "module": gomod.module,
    }
    return KeyComponents(
        binary_key=render_key(template, fields),
        gomod_key=render_key(GOMOD_TEMPLATE, fields),
        os=os_name,
        go=go,
        name=key_name,
        module=gomod.module,
        template=template,
        inputs=tuple(inputs),
        hash=source.hash,
        gosum_hash=gosum.hash,
        gosum_input=gosum_input,
        files=source.files,
    )


# --------------------------------------------------------------------------- manifests


def write_manifest(components: KeyComponents, path: Path) -> None:
    """Write the components and per-file digests as JSON, atomically."""
    path = Path(path)
    data = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, **components.to_json()}
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(
            f"cannot write the manifest ({exc.strerror})",
            where=str(path),
            hint="pass --manifest a path in an existing, writable directory",
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(path: Path) -> KeyComponents:
    """Read a manifest written by :func:`write_manifest`."""
    path = Path(path)
    hint = "pass a file written by `buildonce key --manifest FILE`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError("manifest does not exist", where=str(path), hint=hint) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the manifest ({exc})", where=str(path), hint=hint) from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"manifest is not JSON (line {exc.lineno}: {exc.msg})", where=str(path), hint=hint
        ) from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise InputError("not a buildonce key manifest", where=str(path), hint=hint)
    if data.get("version") != MANIFEST_VERSION:
        raise InputError(
            f"manifest version {data.get('version')!r} is not supported "
            f"(this buildonce reads version {MANIFEST_VERSION})",
            where=str(path),
            hint="regenerate it with this buildonce",
        )
    try:
        return KeyComponents.from_json(data)
    except ValueError as exc:
        raise InputError(f"manifest is malformed ({exc})", where=str(path), hint=hint) from exc


# --------------------------------------------------------------------------- diff


@dataclass(frozen=True, slots=True)
class ComponentChange:
    """A key component with different values in the old and the new manifest."""

    component: str
    old: str
    new: str

    def to_json(self) -> dict[str, str]:
        return {"component": self.component, "old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class KeyDiff:
    """Why the new keys differ from the old ones (an explanation of a cache miss)."""

    old_binary_key: str
    new_binary_key: str
    old_gomod_key: str
    new_gomod_key: str
    components: tuple[ComponentChange, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    modified: tuple[str, ...]
    #: The same files with the same contents, hashed in another order.
    reordered: bool

    @property
    def binary_key_changed(self) -> bool:
        return self.old_binary_key != self.new_binary_key

    @property
    def gomod_key_changed(self) -> bool:
        return self.old_gomod_key != self.new_gomod_key

    @property
    def identical(self) -> bool:
        return not (self.binary_key_changed or self.gomod_key_changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "binary_key": {
                "old": self.old_binary_key,
                "new": self.new_binary_key,
                "changed": self.binary_key_changed,
            },
            "gomod_key": {
                "old": self.old_gomod_key,
                "new": self.new_gomod_key,
                "changed": self.gomod_key_changed,
            },
            "components": [c.to_json() for c in self.components],
            "files": {
                "added": list(self.added),
                "removed": list(self.removed),
                "modified": list(self.modified),
                "reordered": self.reordered,
            },
        }

    def explain(self) -> list[str]:
        """The diff as lines of text for people."""
        lines: list[str] = []
        for label, changed, old, new in (
            ("binary key", self.binary_key_changed, self.old_binary_key, self.new_binary_key),
            ("gomod key", self.gomod_key_changed, self.old_gomod_key, self.new_gomod_key),
        ):
            if changed:
                lines.append(f"{label} changed: {old} -> {new}")
            else:
                lines.append(f"{label} unchanged: {new}")
        for change in self.components:
            lines.append(f"  {change.component}: {change.old!r} -> {change.new!r}")
        if self.added or self.removed or self.modified:
            lines.append(
                f"  input files: {len(self.added)} added, {len(self.removed)} removed, "
                f"{len(self.modified)} modified"
            )
            lines.extend(f"    added    {p}" for p in self.added)
            lines.extend(f"    removed  {p}" for p in self.removed)
            lines.extend(f"    modified {p}" for p in self.modified)
        elif self.reordered:
            lines.append("  input files: same contents, hashed in a different order")
        return lines


def diff_keys(old: KeyComponents, new: KeyComponents) -> KeyDiff:
    """Compare two computations of the keys (e.g. two manifests) component by component."""
    changes: list[ComponentChange] = []

    def compare(component: str, a: str, b: str) -> None:
        if a != b:
            changes.append(ComponentChange(component, a, b))

    compare("os", old.os, new.os)
    compare("toolchain", old.go.version, new.go.version)
    compare("toolchain source", old.go.source, new.go.source)
    compare("name", old.name, new.name)
    compare("module", old.module, new.module)
    compare("template", old.template, new.template)
    compare("inputs", json.dumps(list(old.inputs)), json.dumps(list(new.inputs)))
    compare("go.sum input", old.gosum_input, new.gosum_input)
    compare("gosum hash", old.gosum_hash, new.gosum_hash)
    compare("source hash", old.hash, new.hash)

    old_files = {f.path: f.sha256 for f in old.files}
    new_files = {f.path: f.sha256 for f in new.files}
    added = tuple(p for p in new_files if p not in old_files)
    removed = tuple(p for p in old_files if p not in new_files)
    modified = tuple(p for p in new_files if p in old_files and old_files[p] != new_files[p])
    reordered = not (added or removed or modified) and [f.path for f in old.files] != [
        f.path for f in new.files
    ]
    return KeyDiff(
        old_binary_key=old.binary_key,
        new_binary_key=new.binary_key,
        old_gomod_key=old.gomod_key,
        new_gomod_key=new.gomod_key,
        components=tuple(changes),
        added=added,
        removed=removed,
        modified=modified,
        reordered=reordered,
    )
