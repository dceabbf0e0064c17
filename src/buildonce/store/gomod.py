"""GOMODCACHE and GOCACHE as one GoModuleCache entry keyed ``{os}-go-{go}-{hash of go.sum}``.

A miss is logged and is not a failure (spec validation rule 3).  Saving under a new key
marks older entries of the same OS whose go.sum hash or toolchain differ Invalid
(spec transition 3); :func:`~buildonce.store.cache.prune` evicts Invalid entries first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildonce.errors import InputError, StoreError
from buildonce.store.base import Event, Store, now_utc
from buildonce.store.cache import (
    Clock,
    ProgressFactory,
    RestoreOutcome,
    SaveOutcome,
    Scope,
    _silent,
    history,
    restore,
    save,
)


@dataclass(frozen=True, slots=True)
class ModuleKey:
    key: str
    os: str
    toolchain: str
    gosum_hash: str


def _runner_os(env: Mapping[str, str]) -> str:
    if env.get("RUNNER_OS"):
        return env["RUNNER_OS"]
    return {"Darwin": "macOS", "Windows": "Windows"}.get(platform.system(), "Linux")


def go_env(names: Sequence[str], env: Mapping[str, str], cwd: Path) -> list[str]:
    go = shutil.which("go", path=env.get("PATH"))
    if go is None:
        raise InputError(
            "cannot find the go command to ask for " + ", ".join(names),
            hint="put Go on PATH or pass the cache directories with --path",
        )
    proc = subprocess.run(
        [go, "env", *names], cwd=cwd, env=dict(env), capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise InputError(f"`go env` failed: {proc.stderr.strip()}", where=str(cwd))
    return proc.stdout.splitlines()


def module_key(root: Path, env: Mapping[str, str]) -> ModuleKey:
    """The spec's key; uses :mod:`buildonce.keys` when it is available."""
    import importlib

    compute_keys: Any = None
    # buildonce.keys is written alongside this module; fall back to the same formula.
    with contextlib.suppress(ImportError, AttributeError):
        compute_keys = importlib.import_module("buildonce.keys.cache_key").compute_keys
    if compute_keys is not None:
        parts = compute_keys(root, env=env)
        toolchain = str(getattr(parts.go, "version", parts.go))
        return ModuleKey(str(parts.gomod_key), str(parts.os), toolchain, str(parts.gosum_hash))
    gosum = root / "go.sum"
    # hashFiles('go.sum'): sha256 over the file's raw sha256 digest; '' when absent.
    digest = (
        hashlib.sha256(hashlib.sha256(gosum.read_bytes()).digest()).hexdigest()
        if gosum.is_file()
        else ""
    )
    (version,) = go_env(["GOVERSION"], env, root)
    toolchain = version.removeprefix("go")
    runner_os = _runner_os(env)
    return ModuleKey(f"{runner_os}-go-{toolchain}-{digest}", runner_os, toolchain, digest)


def cache_dirs(env: Mapping[str, str], cwd: Path) -> list[Path]:
    mod, build = go_env(["GOMODCACHE", "GOCACHE"], env, cwd)
    return [Path(mod), Path(build)]


@dataclass(frozen=True, slots=True)
class GomodSaveOutcome:
    save: SaveOutcome
    invalidated: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return dict(self.save.to_json(), invalidated=list(self.invalidated))


def save_modules(
    store: Store,
    paths: Sequence[Path],
    mkey: ModuleKey,
    *,
    scope: Scope,
    hit: bool = False,
    job: str | None = None,
    allow_untrusted: bool = False,
    clock: Clock = now_utc,
    progress: ProgressFactory = _silent,
) -> GomodSaveOutcome:
    if not any(p.exists() for p in paths):
        raise InputError(
            "none of the Go cache directories exist",
            where=", ".join(str(p) for p in paths),
            hint="run go build or go mod download first",
        )
    # Save every directory, an empty one included, so restore always gets the same layout.
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)
    existing = list(paths)
    meta = {
        "os": mkey.os,
        "toolchain": mkey.toolchain,
        "gosumHash": mkey.gosum_hash,
        "initial": "Warm" if hit else "Cold",
    }
    outcome = save(
        store,
        existing,
        key=mkey.key,
        scope=scope,
        kind="gomod",
        event="save",
        job=job,
        allow_untrusted=allow_untrusted,
        meta=meta,
        evict=False,
        clock=clock,
        progress=progress,
    )
    invalidated: list[str] = []
    if outcome.created:
        with contextlib.suppress(StoreError):  # a store that cannot list cannot invalidate
            for record in store.entries(scope.current):
                if record.kind != "gomod" or record.key == mkey.key:
                    continue
                if record.meta.get("os") != mkey.os:
                    continue
                stale = (
                    record.meta.get("toolchain") != mkey.toolchain
                    or record.meta.get("gosumHash") != mkey.gosum_hash
                )
                if stale and history(store, record).state == "Updated":
                    why = (
                        "toolchain changed"
                        if record.meta.get("toolchain") != mkey.toolchain
                        else "go.sum changed"
                    )
                    store.add_event(record, Event("invalidate", clock(), job, why))
                    invalidated.append(record.key)
        from buildonce.store.cache import prune

        with contextlib.suppress(StoreError):
            prune(store, clock=clock)
    return GomodSaveOutcome(outcome, tuple(invalidated))


def restore_modules(
    store: Store,
    paths: Sequence[Path],
    mkey: ModuleKey,
    *,
    scope: Scope,
    job: str | None = None,
    clock: Clock = now_utc,
    progress: ProgressFactory = _silent,
) -> RestoreOutcome:
    return restore(
        store,
        list(paths),
        key=mkey.key,
        scope=scope,
        exact=True,
        kind="gomod",
        job=job,
        clock=clock,
        progress=progress,
    )


def environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    return dict(os.environ if env is None else env)
