"""``prepare``: the consumer contract in one call (spec domain rules 1, 3 and 5).

1. Fail fast when the upstream build job did not succeed (Failure Propagation).
2. Restore the binary by its *exact* key: a prefix match would run a binary built from
   other sources, which is precisely what the key exists to prevent.
3. On a miss, run the build command, then save the binary (BinaryCacheEntry state Updated).
4. ``chmod +x`` and run the smoke test (Smoke Test Guard), by default ``<binary> --version``.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildonce.errors import CommandFailedError, InputError, StoreError
from buildonce.store.base import Store, now_utc
from buildonce.store.cache import Clock, ProgressFactory, Scope, _silent, restore, save

DEFAULT_SMOKE = "{binary} --version"
#: Results GitHub reports for ``needs.<job>.result``.
JOB_RESULTS = ("success", "failure", "cancelled", "skipped")


@dataclass(frozen=True, slots=True)
class CommandRun:
    argv: tuple[str, ...]
    returncode: int
    output: str


@dataclass(frozen=True, slots=True)
class PrepareOutcome:
    key: str
    binary: Path
    cache_hit: bool
    state: str
    sha256: str
    size: int
    built: bool
    saved: bool
    smoke: CommandRun | None
    warnings: tuple[str, ...] = ()
    #: False when the restored entry carried no digests to check (actions/cache wrote it).
    verified: bool = True
    verification: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "binary": str(self.binary),
            "cacheHit": self.cache_hit,
            "state": self.state,
            "sha256": self.sha256,
            "sizeBytes": self.size,
            "built": self.built,
            "saved": self.saved,
            "smoke": None
            if self.smoke is None
            else {"argv": list(self.smoke.argv), "output": self.smoke.output.strip()},
            "warnings": list(self.warnings),
            "verified": self.verified,
            "verification": self.verification,
        }

    def summary_markdown(self) -> str:
        hit = (
            "hit" if self.cache_hit else "miss (built and saved)" if self.saved else "miss (built)"
        )
        return (
            "### buildonce prepare\n\n"
            "| key | cache | state | sha256 | size |\n"
            "|---|---|---|---|---|\n"
            f"| `{self.key}` | {hit} | {self.state} | `{self.sha256}` | {self.size:,} bytes |\n"
            + (
                ""
                if self.verified
                else f"\n> [!NOTE]\n> sha256 not verified: {self.verification}\n"
            )
        )


def check_needs_result(result: str | None, upstream: str = "the build job") -> None:
    """Failure Propagation: stop before restoring anything when the upstream failed."""
    if result is None:
        return
    value = result.strip().lower()
    if value not in JOB_RESULTS:
        raise InputError(
            f"--needs-result must be one of {', '.join(JOB_RESULTS)}, got {result!r}",
            hint="pass ${{ needs.build-artifact.result }}",
        )
    if value != "success":
        raise CommandFailedError(
            f"{upstream} finished with result '{value}', so there is no binary to prepare; "
            "skipping this job (spec domain rule 5: failure propagation)",
            hint="fix the build job; its log has the cause",
        )


def _run(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], what: str) -> CommandRun:
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
    except FileNotFoundError as exc:
        raise CommandFailedError(
            f"{what} command not found: {argv[0]}", hint=f"check the {what} command"
        ) from exc
    except OSError as exc:
        # EACCES, ENOEXEC ("Exec format error": a binary for another OS/arch, or not one)...
        raise CommandFailedError(
            f"{what} command `{shlex.join(argv)}` could not start: {exc.strerror or exc}",
            hint="check that the binary was built for this runner's OS and architecture",
        ) from exc
    run = CommandRun(tuple(argv), proc.returncode, proc.stdout)
    if proc.returncode != 0:
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "no output"
        raise CommandFailedError(
            f"{what} command `{shlex.join(argv)}` exited with status {proc.returncode}: {last}",
        )
    return run


def _split(command: str, binary: Path, what: str) -> list[str]:
    try:
        argv = shlex.split(command.replace("{binary}", shlex.quote(str(binary))))
    except ValueError as exc:
        raise InputError(f"cannot parse the {what} command: {exc}", where=command) from exc
    if not argv:
        raise InputError(f"the {what} command is empty", hint=f"pass --{what} CMD")
    return argv


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def prepare(
    store: Store,
    *,
    key: str,
    binary: Path,
    build: str | None,
    smoke: str | None = DEFAULT_SMOKE,
    scope: Scope,
    job: str | None = None,
    needs_result: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    allow_untrusted: bool = False,
    clock: Clock = now_utc,
    progress: ProgressFactory = _silent,
    path_line: str | None = None,
    seed: bool = False,
) -> PrepareOutcome:
    """Restore or build ``binary``, then smoke-test it (see the module docstring).

    ``path_line`` is the binary's path as the user wrote it (default ``str(binary)``): the
    GitHub cache hashes it into the entry's version, as actions/cache does with ``path``.
    ``seed`` says this job is the builder: its build on a miss *seeds* the entry (Missing ->
    Seeded).  A consumer's build on a miss is a re-save (-> Updated), as domain rule 1 puts it.
    """
    check_needs_result(needs_result)
    workdir = cwd or Path.cwd()
    environ = dict(os.environ if env is None else env)
    lines = [path_line if path_line is not None else str(binary)]
    binary = binary if binary.is_absolute() else workdir / binary
    if binary.exists() and binary.is_dir():
        raise InputError("the binary path is a directory", where=str(binary))
    warnings: list[str] = []
    outcome = restore(
        store,
        [binary],
        key=key,
        scope=scope,
        exact=True,
        kind="binary",
        job=job,
        # An unreachable store (bad credentials, DNS, an outage) costs a build, not the job.
        tolerate_unavailable=True,
        clock=clock,
        progress=progress,
        path_lines=lines,
    )
    warnings.extend(outcome.warnings)
    built = saved = False
    verified, verification = True, "built here" if not outcome.restored else "verified"
    if outcome.restored:
        verified = outcome.verified
        if outcome.record is not None and not verified:
            verification = outcome.record.meta.get("verificationNote", "not verified")
        state = "Restored"
        digest = outcome.record.meta.get("fileSha256", "") if outcome.record else ""
    else:
        if not build:
            raise CommandFailedError(
                f"no cache entry for {key} and no --build command to fall back on",
                hint="pass --build 'go build -o BINARY .' or run the build job first",
            )
        _run(_split(build, binary, "build"), cwd=workdir, env=environ, what="build")
        built = True
        if not binary.is_file():
            raise CommandFailedError(
                "the build command succeeded but did not produce the binary",
                where=str(binary),
                hint="make --build write to --binary",
            )
        digest = ""
        state = "Seeded" if seed else "Updated"
        if not scope.trusted and not allow_untrusted:
            warnings.append(
                f"not saving: the trigger {scope.event_name!r} is untrusted (--allow-untrusted)"
            )
        else:
            try:
                saved_outcome = save(
                    store,
                    [binary],
                    key=key,
                    scope=scope,
                    kind="binary",
                    event="seed" if seed else "rebuild",
                    job=job,
                    allow_untrusted=allow_untrusted,
                    clock=clock,
                    progress=progress,
                    path_lines=lines,
                )
            except StoreError as exc:
                # The binary is built: a cache that cannot take it must not fail the job.
                warnings.append(f"could not save the binary to the cache: {exc}")
            else:
                warnings.extend(saved_outcome.warnings)
                saved = saved_outcome.created
                if not saved_outcome.created:
                    warnings.append(f"cache entry {key} already exists (another job saved it)")
    mode = binary.stat().st_mode
    binary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    if not digest:
        digest = file_sha256(binary)
    size = binary.stat().st_size
    smoke_run = None
    if smoke:
        smoke_run = _run(
            _split(smoke, binary, "smoke"), cwd=workdir, env=environ, what="smoke test"
        )
    return PrepareOutcome(
        key=key,
        binary=binary,
        cache_hit=outcome.cache_hit,
        state=state,
        sha256=digest,
        size=size,
        built=built,
        saved=saved,
        smoke=smoke_run,
        warnings=tuple(warnings),
        verified=verified,
        verification=verification,
    )
