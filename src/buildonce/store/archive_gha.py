"""actions/cache's archive layout: a pax tar of workspace-relative paths, compressed with zstd.

What ``actions/cache`` writes on Linux (toolkit ``tar.ts``, ``cache-semantics.md`` §6)::

    tar --posix -cf cache.tzst -P -C $GITHUB_WORKSPACE --files-from manifest.txt \\
        --use-compress-program zstdmt

so members are named relative to the workspace with ``/`` separators (``../..`` for paths
outside it, kept verbatim by ``-P``), symlinks are stored as links, and the stream is one
zstd frame without ``--long``.  We produce and consume the same bytes with :mod:`tarfile`
(``PAX_FORMAT``) and the ``zstandard`` binding, streaming in both directions so a 200 MB
binary never sits on disk twice.

Restoring is stricter than ``tar -P``: a member may only land inside one of the paths the
caller asked for, so a poisoned entry cannot write ``~/.bashrc`` through a cached
``.cache/app`` path.

buildonce's manifest (the gha store's integrity data) rides in the same archive: one pax
*global* header after the last member, holding a single ``comment`` record
(:data:`MANIFEST_PREFIX` + JSON).  POSIX.1-2008 tells readers to ignore ``comment``; GNU
tar extracts such an archive with status 0 and no message, and actions/cache restores it
(``tests/gha/test_actions_cache_oracle.py``).  It goes last because its digests are
computed over the bytes as they are written, in the same pass.  :func:`unpack` and
:func:`verify` are the reading side.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import stat
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from buildonce.errors import InputError, IntegrityError, UnsafeArchiveError
from buildonce.store import archive
from buildonce.store.base import Progress, _no_progress

ARCHIVE_NAME = "cache.tzst"
#: zstdmt's default is 3.  Level 1 compresses Go binaries ~8% less but about twice as fast,
#: which keeps compression ahead of the upload on a two-core runner (benchmarks/gha_bench.py).
ZSTD_LEVEL = 1
#: Accept frames written with ``--long=30`` (the toolkit's dormant "zstd" method) too.
MAX_WINDOW_SIZE = 1 << 31
_COPY_BUFSIZE = 4 << 20
_GLOB_CHARS = frozenset("*?[")
#: A pax ``comment`` record starting with this carries buildonce's manifest (JSON).  POSIX
#: says readers ignore ``comment``; GNU tar and bsdtar extract such an archive silently.
MANIFEST_PREFIX = "buildonce-manifest-v1 "


class ByteSink(Protocol):
    def write(self, data: bytes, /) -> int | None: ...


@dataclass(frozen=True, slots=True)
class ArchiveStats:
    """What went into (or came out of) an archive."""

    members: tuple[str, ...]
    content_bytes: int
    #: :class:`~buildonce.store.archive.TreeDigest` of the members (written archives).
    tree_sha256: str = ""
    #: sha256 of the only regular file, when there is exactly one.
    file_sha256: str | None = None


def _expand(path: str, workspace: Path, env: Mapping[str, str]) -> Path:
    """Absolute path for a ``path`` input, resolving ``~`` like @actions/glob (HOME)."""
    if path == "~" or path.startswith("~/"):
        home = env.get("HOME") or os.path.expanduser("~")
        path = home + path[1:]
    candidate = Path(path)
    return Path(os.path.normpath(candidate if candidate.is_absolute() else workspace / candidate))


def _literal_root(path: Path) -> Path:
    """The part of a (possibly glob) path before its first wildcard segment."""
    parts: list[str] = []
    for part in path.parts:
        if _GLOB_CHARS & set(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(path.anchor or ".")


def allowed_roots(
    paths: Sequence[str], workspace: Path, env: Mapping[str, str] | None = None
) -> tuple[Path, ...]:
    """Directories (or files) a restore of ``paths`` may write to."""
    environ = os.environ if env is None else env
    return tuple(_literal_root(_expand(p, workspace, environ)) for p in _clean(paths))


def _clean(paths: Sequence[str]) -> list[str]:
    """Trim lines and drop empties, as actions/cache does with its ``path`` input."""
    cleaned = [p.strip() for p in paths if p.strip()]
    if not cleaned:
        raise InputError(
            "no cache path given", where="path", hint="name at least one file or directory"
        )
    for p in cleaned:
        if p.startswith("!"):
            raise InputError(
                f"exclusion patterns are not supported: {p!r}",
                where="path",
                hint="list the files or directories to cache explicitly",
            )
    return cleaned


def resolve_paths(
    paths: Sequence[str], workspace: Path, env: Mapping[str, str] | None = None
) -> list[tuple[str, Path]]:
    """Match ``paths`` and name each match relative to the workspace, as the toolkit does."""
    environ = os.environ if env is None else env
    found: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for raw in _clean(paths):
        absolute = _expand(raw, workspace, environ)
        if _GLOB_CHARS & set(str(absolute)):
            matches = [
                Path(m)
                for m in sorted(glob.glob(str(absolute), recursive=True, include_hidden=True))
            ]
        else:
            matches = [absolute] if os.path.lexists(absolute) else []
        for match in matches:
            rel = os.path.relpath(match, workspace).replace(os.sep, "/")
            if rel not in seen:
                seen.add(rel)
                found.append((rel, match))
    if not found:
        raise InputError(
            f"none of the cache paths exist: {', '.join(_clean(paths))}",
            where="path",
            hint="build the files first, or check the paths are relative to GITHUB_WORKSPACE",
        )
    return found


def zstd_level(env: Mapping[str, str] | None = None) -> int:
    """Compression level: ``BUILDONCE_ZSTD_LEVEL`` or :data:`ZSTD_LEVEL`.

    Any level decompresses with plain ``unzstd``, so this never affects compatibility.
    """
    environ = os.environ if env is None else env
    text = environ.get("BUILDONCE_ZSTD_LEVEL", "").strip()
    if not text:
        return ZSTD_LEVEL
    try:
        level = int(text)
    except ValueError:
        level = 0
    if not (-7 <= level <= 19) or level == 0:
        raise InputError(
            f"BUILDONCE_ZSTD_LEVEL={text!r} is not a zstd level",
            where="BUILDONCE_ZSTD_LEVEL",
            hint="use -7..-1 (faster) or 1..19 (smaller); unset for the default",
        )
    return level


class _TarWriter:
    """Writes ustar/pax members straight into the compressor.

    :mod:`tarfile`'s stream mode re-buffers every byte through ``bytes`` slicing; at 200 MB
    that costs as much as the compression.  Headers still come from ``TarInfo.tobuf`` in
    ``PAX_FORMAT``, so long and non-ASCII names get the same pax records GNU tar reads.
    """

    def __init__(self, out: ByteSink, progress: Progress = _no_progress) -> None:
        self._out = out
        self._progress = progress
        self.offset = 0

    def _write(self, data: bytes | memoryview) -> None:
        self._out.write(data)  # type: ignore[arg-type]
        self.offset += len(data)

    def header(self, info: tarfile.TarInfo) -> None:
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def file(self, path: Path, size: int, digest: Any = None) -> None:
        remaining = size
        with open(path, "rb", buffering=0) as fh:
            while remaining:
                chunk = fh.read(min(_COPY_BUFSIZE, remaining))
                if not chunk:
                    raise InputError(
                        "the file shrank while it was being archived",
                        where=str(path),
                        hint="do not modify cached files while saving them",
                    )
                if digest is not None:
                    digest.update(chunk)
                self._write(chunk)
                self._progress(len(chunk))
                remaining -= len(chunk)
        if size % tarfile.BLOCKSIZE:
            self._write(tarfile.NUL * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE))

    def global_comment(self, text: str) -> None:
        """A pax global header holding one ``comment`` record (ignored by tar readers)."""
        body = pax_record("comment", text)
        info = tarfile.TarInfo("pax_global_header")
        info.type, info.size, info.mode = tarfile.XGLTYPE, len(body), 0o644
        self._write(info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict"))
        self._write(body + tarfile.NUL * (-len(body) % tarfile.BLOCKSIZE))

    def close(self) -> None:
        # Two zero blocks end the archive; pad to a whole 10 KiB record as tar does.
        self._write(tarfile.NUL * (2 * tarfile.BLOCKSIZE))
        if self.offset % tarfile.RECORDSIZE:
            self._write(tarfile.NUL * (tarfile.RECORDSIZE - self.offset % tarfile.RECORDSIZE))


def pax_record(key: str, value: str) -> bytes:
    """One pax record, ``"<len> <key>=<value>\\n"``, where ``len`` counts its own digits."""
    payload = f" {key}={value}\n".encode()
    length = len(payload)
    while len(str(length)) + len(payload) != length:
        length = len(str(length)) + len(payload)
    return str(length).encode() + payload


def _tarinfo(path: Path, arcname: str, st: os.stat_result) -> tarfile.TarInfo | None:
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.uid, info.gid = st.st_uid, st.st_gid
    if stat.S_ISREG(st.st_mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    else:
        return None  # sockets, FIFOs, devices: runtime debris, not cache content
    return info


def write_archive(
    paths: Sequence[str],
    workspace: Path,
    sink: ByteSink,
    *,
    env: Mapping[str, str] | None = None,
    level: int | None = None,
    members: Sequence[tuple[str, Path]] | None = None,
    manifest: Mapping[str, Any] | None = None,
    progress: Progress = _no_progress,
) -> ArchiveStats:
    """Stream a ``cache.tzst`` of ``paths`` into ``sink`` (anything with ``write``).

    ``members`` gives (archive name, path) pairs already resolved; ``paths`` is then only
    used for messages.  With ``manifest``, a pax global header after the last member
    carries it as JSON together with the tree digest, the content size and the single
    file's sha256: computed over the bytes actually written, in the same pass.
    """
    import zstandard

    if members is None:
        members = resolve_paths(paths, workspace, env)
    # threads=-1: one worker per core; the C library releases the GIL, so compression runs
    # beside the upload threads.  The frame checksum lets every reader detect corruption.
    compressor = zstandard.ZstdCompressor(
        level=zstd_level(env) if level is None else level, threads=-1, write_checksum=True
    )
    names: list[str] = []
    total = 0
    tree = archive.TreeDigest()
    with compressor.stream_writer(sink, closefd=False, write_size=1 << 20) as zwriter:  # type: ignore[arg-type]
        tar = _TarWriter(zwriter, progress)
        for arcname, path in members:
            for info_name, size in _add(tar, path, arcname, tree):
                names.append(info_name)
                total += size
        if manifest is not None:
            body = dict(
                manifest,
                treeSha256=tree.hexdigest(),
                contentSize=tree.content_size,
                files=tree.files,
                fileSha256=tree.file_sha256,
            )
            tar.global_comment(MANIFEST_PREFIX + json.dumps(body, sort_keys=True))
        tar.close()
    return ArchiveStats(tuple(names), total, tree.hexdigest(), tree.file_sha256)


def _open_tar(fileobj: Any, mode: str, **options: Any) -> tarfile.TarFile:
    # copybufsize is accepted by TarFile (3.8+) but missing from typeshed's open() overloads;
    # 4 MiB copies instead of 16 KiB ones matter at 200 MB.
    options["copybufsize"] = _COPY_BUFSIZE
    opener: Any = tarfile.open
    tar: tarfile.TarFile = opener(fileobj=fileobj, mode=mode, **options)
    return tar


def _add(
    tar: _TarWriter, path: Path, arcname: str, tree: archive.TreeDigest
) -> Iterator[tuple[str, int]]:
    """Add ``path`` (recursively, links not followed) and yield (member, size) pairs."""
    info = _tarinfo(path, arcname, os.lstat(path))
    if info is None:
        return
    tar.header(info)
    if info.isreg():
        digest = hashlib.sha256()
        tar.file(path, info.size, digest)
        tree.add(info.name, "file", info.mode, info.size, digest.hexdigest())
    elif info.isdir():
        tree.add(info.name, "dir", info.mode)
    else:
        tree.add(info.name, "symlink", info.mode, 0, info.linkname)
    yield info.name, info.size
    if info.isdir():
        for child in sorted(os.listdir(path)):
            yield from _add(tar, path / child, f"{arcname.rstrip('/')}/{child}", tree)


def _inside(target: str, roots: Sequence[str]) -> bool:
    return any(target == r or target.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def read_archive(
    source: IO[bytes] | Any,
    workspace: Path,
    roots: Sequence[Path],
) -> ArchiveStats:
    """Extract a ``cache.tzst`` stream into ``workspace``, confined to ``roots``."""
    import zstandard

    root_texts = [os.path.normpath(r) for r in roots]
    base = os.path.normpath(workspace)
    names: list[str] = []
    total = 0

    def confine(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
        target = os.path.normpath(os.path.join(base, member.name))
        if not _inside(target, root_texts):
            raise UnsafeArchiveError(
                f"archive member {member.name!r} would be written outside the restored paths",
                where="cache archive",
                hint="the entry was not written for these paths; refusing to restore it",
            )
        if member.issym() or member.islnk():
            link = member.linkname
            link_target = os.path.normpath(
                os.path.join(os.path.dirname(target), link)
                if member.issym()
                else os.path.join(base, link)
            )
            if not _inside(link_target, [*root_texts, base]):
                raise UnsafeArchiveError(
                    f"archive link {member.name!r} points outside the workspace ({link!r})",
                    where="cache archive",
                    hint="refusing to restore a link that escapes the cached paths",
                )
        # Replace rather than overwrite: truncating a running binary fails with ETXTBSY and
        # a stale symlink would redirect the write.
        if not member.isdir():
            try:
                st = os.lstat(target)
            except FileNotFoundError:
                pass
            else:
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(target)
        # Keep permission bits, drop setuid/setgid/sticky as tar does for non-root users.
        return member.replace(mode=member.mode & 0o777, deep=False)

    written: list[str] = []
    decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_SIZE)
    try:
        with (
            decompressor.stream_reader(
                source, read_size=1 << 20, read_across_frames=True, closefd=False
            ) as zreader,
            _open_tar(zreader, "r|", bufsize=1 << 20) as tar,
        ):
            for member in tar:
                if member.isreg():
                    # Recorded before extracting: a failure mid-file must remove the stub.
                    written.append(os.path.join(base, member.name))
                tar.extract(member, path=base, filter=confine)
                names.append(member.name)
                if member.isreg():
                    total += member.size
            # Drain to the end of the frame so its checksum is verified before we say "ok".
            while zreader.read(1 << 20):
                pass
    except BaseException as exc:
        # A half-restored binary is worse than none: remove what this archive wrote.
        for path in written:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if isinstance(exc, zstandard.ZstdError):
            raise IntegrityError(
                f"the cache archive is corrupt: {exc}",
                where="cache archive",
                hint="delete the entry (gh cache delete <key>) and let the next run re-save it",
            ) from exc
        if isinstance(exc, tarfile.TarError):
            raise IntegrityError(
                f"the cache archive is not a valid tar: {exc}",
                where="cache archive",
                hint="delete the entry (gh cache delete <key>) and let the next run re-save it",
            ) from exc
        if isinstance(exc, OSError) and not isinstance(exc, ConnectionError | TimeoutError):
            raise InputError(
                f"cannot write a restored file: {exc.strerror or exc}",
                where=str(exc.filename or workspace),
                hint="a directory or a read-only file is in the way; remove it and retry",
            ) from exc
        raise
    if not names:
        raise IntegrityError("the cache archive is empty", where="cache archive")
    return ArchiveStats(tuple(names), total)


# -- verified extraction for the gha store ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class Unpacked:
    """What :func:`unpack` read: digests computed here, and the manifest if there was one."""

    sha256: str  # of the archive bytes as stored (compressed)
    size: int
    tree_sha256: str
    content_size: int
    file_sha256: str | None
    manifest: Mapping[str, Any] | None


def _positional(names: Sequence[str]) -> Any:
    def rename(name: str) -> str:
        clean = name[2:] if name.startswith("./") else name
        clean = clean.rstrip("/") or "."
        for index, prefix in enumerate(names):
            if clean == prefix:
                return str(index)
            if prefix == "." and clean.split("/", 1)[0] != "..":
                return f"{index}/{clean}"
            if clean.startswith(prefix + "/"):
                return f"{index}{clean[len(prefix) :]}"
        raise UnsafeArchiveError(
            f"archive member {name!r} would be written outside the restored paths",
            where="cache archive",
            hint="the entry was not written for these paths; refusing to restore it",
        )

    return rename


def read_manifest(comment: str | None) -> dict[str, Any] | None:
    """buildonce's manifest from a pax ``comment`` record, or ``None`` (another writer)."""
    if not comment or not comment.startswith(MANIFEST_PREFIX):
        return None
    try:
        data = json.loads(comment[len(MANIFEST_PREFIX) :])
    except ValueError as exc:
        raise IntegrityError(
            "the cache archive's buildonce manifest is not JSON", where="cache archive"
        ) from exc
    if not isinstance(data, dict):
        raise IntegrityError("the cache archive's buildonce manifest is not an object")
    return data


def unpack(
    source: IO[bytes] | Any,
    scratch: Path,
    names: Sequence[str],
    progress: Progress = _no_progress,
) -> Unpacked:
    """Extract an actions/cache archive into ``scratch/<i>``, verifying nothing yet.

    ``names[i]`` is the workspace-relative name of the i-th destination, as actions/cache
    names members.  Extraction applies :func:`buildonce.store.archive.unpack`'s rules
    (no absolute or ``..`` names, links confined to their tree, no hard links or devices),
    reads the zstd stream to its end so the frame checksum is checked, and computes the
    tree digest and the archive's sha256 for the caller to compare with the manifest.
    """
    import zstandard

    hashing = archive.HashingReader(source, progress)  # type: ignore[arg-type]
    tree = archive.TreeDigest()
    try:
        reader = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_SIZE).stream_reader(
            hashing,  # type: ignore[arg-type]
            read_size=archive.CHUNK,
            read_across_frames=True,
            closefd=False,
        )
        tar = archive._TarReader(reader)
        archive._extract(tar, scratch, len(names), rename=_positional(names), tree=tree)
        while reader.read(archive.CHUNK):
            pass
        hashing.drain()
    except (UnsafeArchiveError, IntegrityError):
        raise
    except (EOFError, ValueError, zstandard.ZstdError) as exc:
        raise IntegrityError(
            f"the cache archive is unreadable ({type(exc).__name__}: {exc})",
            where="cache archive",
        ) from exc
    return Unpacked(
        hashing.hexdigest(),
        hashing.size,
        tree.hexdigest(),
        tree.content_size,
        tree.file_sha256,
        read_manifest(tar.global_pax.get("comment")),
    )


def verify(unpacked: Unpacked, where: str) -> bool:
    """Compare with the manifest: ``True`` when verified, ``False`` when there is none.

    Raises :class:`IntegrityError` on a mismatch.
    """
    manifest = unpacked.manifest
    if manifest is None:
        return False
    expected = (manifest.get("treeSha256"), manifest.get("contentSize"))
    if expected != (unpacked.tree_sha256, unpacked.content_size):
        raise IntegrityError(
            f"content hashes to tree {unpacked.tree_sha256[:16]}... "
            f"({unpacked.content_size} bytes), the manifest says "
            f"{str(expected[0])[:16]}... ({expected[1]} bytes)",
            where=where,
        )
    return True
