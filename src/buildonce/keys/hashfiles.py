"""``hashFiles()`` byte-identical to the GitHub runner's, and fast on big trees.

The runner's script (actions/runner ``src/Misc/expressionFunc/hashFiles``) globs with
``followSymbolicLinks`` off unless asked, keeps files under the workspace, ``stat``s each
one (following links: a link to a directory is skipped, a broken link fails the call),
and returns ``sha256(sha256(f1) || sha256(f2) || ...)`` over the raw digests, or ``''``
when nothing matched (``../shared/research/cache-semantics.md`` §1.4-§1.5).

Digests are computed in a process pool once a walk turns out to be big (threads do not
help for small files: the GIL and per-task overhead outweigh SHA-256, engines.md §4).
Files are sent in large contiguous chunks and the chunks' results are read back in
submission order, so the combined hash is independent of scheduling.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from buildonce.errors import InputError
from buildonce.keys import _glob

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult, Pool

#: Below this many files a walk is hashed in-process: starting workers costs more.
PARALLEL_THRESHOLD: Final = 3000
#: Files per task sent to a worker; big chunks keep the IPC overhead per file small.
CHUNK_FILES: Final = 512
_READ_SIZE: Final = 1 << 20

__all__ = [
    "FileDigest",
    "HashResult",
    "combine_digests",
    "hash_files",
    "hash_files_detailed",
    "match_files",
    "split_hashfiles_args",
]


class FileDigest(NamedTuple):
    """One hashed file: its path relative to the root ('/'-separated) and its SHA-256."""

    path: str
    sha256: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class HashResult:
    """The hashFiles value and the files behind it, in hashing order."""

    hash: str
    files: tuple[FileDigest, ...]


def split_hashfiles_args(args: Sequence[str]) -> tuple[list[str], bool]:
    """Split ``hashFiles(...)`` arguments into patterns and the follow-links flag.

    Like the runner: only the first argument may be an option, and it must be
    ``--follow-symbolic-links`` (any case).
    """
    if args and args[0].startswith("--"):
        if args[0].lower() != "--follow-symbolic-links":
            raise InputError(
                f"invalid glob option {args[0]!r}",
                where="hashFiles",
                hint="the only option is '--follow-symbolic-links', as the first argument",
            )
        return list(args[1:]), True
    return list(args), False


def _workspace(root: Path | str) -> str:
    _glob.check_platform()
    path = Path(root)
    if not path.exists():
        raise InputError(
            "directory does not exist",
            where=str(root),
            hint="pass --root pointing at an existing directory (the workspace)",
        )
    if not path.is_dir():
        raise InputError(
            "is not a directory",
            where=str(root),
            hint="pass --root pointing at a directory (the workspace), not a file",
        )
    # The runner's script uses process.cwd(), which is the physical path.
    return os.path.realpath(path)


def _selected(
    matches: Iterable[_glob.Match], workspace: str, follow_symlinks: bool
) -> Iterator[str]:
    """The runner script's filter over the globber's output."""
    prefix = workspace + "/"
    for match in matches:
        if not match.path.startswith(prefix):
            continue  # "Ignore ... since it is not under GITHUB_WORKSPACE."
        if match.is_dir:
            continue  # "Skip directory ..."
        if match.is_symlink and not follow_symlinks:
            try:
                st = os.stat(match.path)  # fs.statSync follows the link
            except FileNotFoundError as exc:
                raise InputError(
                    "matched symbolic link is broken; GitHub's hashFiles fails the whole "
                    "call on it",
                    where=_glob._display(match.path),
                    hint="remove or fix the link, or exclude it with a '!' pattern",
                ) from exc
            except OSError as exc:
                raise InputError(
                    f"cannot follow the matched symbolic link ({exc.strerror}); hashFiles "
                    "fails the whole call on it",
                    where=_glob._display(match.path),
                    hint="fix the link or exclude it with a '!' pattern",
                ) from exc
            if stat.S_ISDIR(st.st_mode):
                continue
            regular = stat.S_ISREG(st.st_mode)
        else:
            regular = match.is_regular
        if not regular:
            # The runner would block on a FIFO until its 120 s limit, or fail on a socket.
            raise InputError(
                "matched path is not a regular file (a FIFO, socket or device); hashFiles "
                "cannot hash it",
                where=_glob._display(match.path),
                hint="exclude it with a '!' pattern",
            )
        yield match.path


def _matched_paths(patterns: Sequence[str], workspace: str, follow_symlinks: bool) -> Iterator[str]:
    parsed = _glob.parse_patterns(patterns, cwd=workspace, home=_glob.home_directory())
    return _selected(
        _glob.walk(parsed, follow_symlinks=follow_symlinks), workspace, follow_symlinks
    )


def match_files(
    patterns: Sequence[str], *, root: Path, follow_symlinks: bool = False
) -> list[Path]:
    """The files ``hashFiles(patterns)`` would hash, in hashing order (absolute paths)."""
    workspace = _workspace(root)
    return [Path(p) for p in _matched_paths(patterns, workspace, follow_symlinks)]


def _digest_file(path: str, buf: bytearray) -> bytes:
    view = memoryview(buf)
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        # readv fills the reused buffer in place: no bytes object per read.  (POSIX only,
        # like the rest of this module: check_platform refuses Windows.)
        while n := os.readv(fd, (buf,)):
            digest.update(view[:n])
    finally:
        os.close(fd)
    return digest.digest()


def _digest_chunk(paths: list[str]) -> tuple[bytes, tuple[str, str] | None]:
    """Worker task: concatenated raw digests, or the first failure (path, reason)."""
    out = bytearray()
    buffer = bytearray(_READ_SIZE)
    for path in paths:
        try:
            out += _digest_file(path, buffer)
        except OSError as exc:
            return bytes(out), (path, exc.strerror or type(exc).__name__)
    return bytes(out), None


def _read_error(path: str, reason: str) -> InputError:
    return InputError(
        f"cannot read file ({reason}); hashFiles fails the whole call on it",
        where=_glob._display(path),
        hint="make it readable (chmod +r) or exclude it with a '!' pattern",
    )


def _worker_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _pool(workers: int) -> Pool:
    import multiprocessing
    import threading

    # fork starts a worker in milliseconds, but is unsafe with other threads alive (and
    # on macOS at all); spawn re-imports this module in each worker.
    method = "fork" if sys.platform == "linux" and threading.active_count() == 1 else "spawn"
    return multiprocessing.get_context(method).Pool(workers)


#: A run of consecutive paths and their concatenated 32-byte digests.
_Chunk = tuple[list[str], bytes]


def _digests(paths: Iterable[str], workers: int | None) -> Iterator[_Chunk]:
    """Digests in input order, chunk by chunk; parallel once the input proves large."""
    count = workers if workers is not None else _worker_count()
    iterator = iter(paths)
    head: list[str] = []
    for path in iterator:
        head.append(path)
        if count > 1 and len(head) >= PARALLEL_THRESHOLD:
            break
    else:
        for start in range(0, len(head), CHUNK_FILES):
            chunk = head[start : start + CHUNK_FILES]
            data, error = _digest_chunk(chunk)
            if error is not None:
                raise _read_error(*error)
            yield chunk, data
        return

    pending: list[tuple[list[str], AsyncResult[Any]]] = []
    with _pool(count) as pool:
        for start in range(0, len(head), CHUNK_FILES):
            chunk = head[start : start + CHUNK_FILES]
            pending.append((chunk, pool.apply_async(_digest_chunk, (chunk,))))
        # Keep walking while the workers hash what has been found so far.
        chunk = []
        for path in iterator:
            chunk.append(path)
            if len(chunk) >= CHUNK_FILES:
                pending.append((chunk, pool.apply_async(_digest_chunk, (chunk,))))
                chunk = []
        if chunk:
            pending.append((chunk, pool.apply_async(_digest_chunk, (chunk,))))
        for chunk, result in pending:
            data, error = result.get()
            if error is not None:
                raise _read_error(*error)
            yield chunk, data


def combine_digests(digests: Iterable[bytes]) -> str:
    """``sha256`` over the concatenated raw digests, or ``''`` when there are none."""
    outer = hashlib.sha256()
    seen = False
    for digest in digests:
        outer.update(digest)
        seen = True
    return outer.hexdigest() if seen else ""


def hash_files_detailed(
    patterns: Sequence[str],
    *,
    root: Path,
    follow_symlinks: bool = False,
    workers: int | None = None,
) -> HashResult:
    """``hashFiles(patterns)`` run with ``root`` as the workspace, with per-file digests.

    ``workers`` caps the hashing processes (default: the usable CPUs; 1 = in-process).
    Raises :class:`~buildonce.errors.InputError` wherever the runner's call would fail.
    """
    workspace = _workspace(root)
    offset = len(workspace) + 1
    outer = hashlib.sha256()
    files: list[FileDigest] = []
    for chunk, data in _digests(_matched_paths(patterns, workspace, follow_symlinks), workers):
        outer.update(data)
        files.extend(
            FileDigest(path[offset:], data[i : i + 32].hex())
            for i, path in zip(range(0, len(data), 32), chunk, strict=True)
        )
    return HashResult(outer.hexdigest() if files else "", tuple(files))


def hash_files(
    patterns: Sequence[str],
    *,
    root: Path,
    follow_symlinks: bool = False,
    workers: int | None = None,
) -> str:
    """What ``${{ hashFiles(patterns) }}`` evaluates to with ``root`` as the workspace.

    64 lowercase hex characters, or ``''`` when no file matched.
    """
    return hash_files_detailed(
        patterns, root=root, follow_symlinks=follow_symlinks, workers=workers
    ).hash
