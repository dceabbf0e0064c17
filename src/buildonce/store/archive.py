"""Archives: tar (pax) streamed through sha256 and, for network stores, multithreaded zstd.

Member names are positional: the i-th saved path is stored as ``<i>`` (a file) or ``<i>/...``
(a directory tree), so an entry can be restored to other locations than it was saved from
(``prepare --output``) and an archive can never name an absolute or parent path legitimately.

Extraction (:func:`unpack`) writes into an empty scratch directory and rejects, before
anything reaches the caller's destination:

* absolute names, ``..`` segments, names outside ``0..n-1``, duplicate names;
* symbolic links whose target is absolute or resolves outside the member's own tree;
* hard links, device files and FIFOs (never produced by :func:`pack`);
* writes through a directory that turned out to be a symlink.

The caller (:mod:`buildonce.store.cache`) checks the archive's sha256 and size, which
:func:`unpack` computes over exactly the bytes it read, and only then renames into place.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import hashlib
import importlib
import json
import os
import shutil
import stat
import tarfile
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from buildonce.errors import InputError, IntegrityError, UnsafeArchiveError
from buildonce.store.base import Progress

CHUNK = 1 << 20
BLOCK = 512
#: zstd level 1 with all cores: 540 MiB/s on two cores against ~400 for level 3, for a ratio of
#: 1.75 instead of 1.83 on real Go binaries (engines.md §3).  On a loaded two-core runner level
#: 3 took longer to compress than the upload it saved (benchmarks/store_bench.py).
ZSTD_LEVEL = 1


class TreeDigest:
    """One sha256 over every member's name, type, mode, size and content digest.

    Archive order, one JSON row per member: ``[name, kind, mode, size, sha256-or-target]``.
    Both sides compute it over what they actually wrote or read, so it verifies names,
    modes, link targets and every content byte with one hash pass per file; the rows stay
    out of the archive, so a GOMODCACHE of 50,000 files still carries a one-line manifest.
    """

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.files = 0
        self.content_size = 0
        #: The digest of the first regular file: the binary's sha256 for single-file entries.
        self.first_file_sha256: str | None = None

    def add(self, name: str, kind: str, mode: int, size: int = 0, detail: str = "") -> None:
        row = json.dumps([name.rstrip("/"), kind, mode & 0o7777, size, detail])
        self._digest.update(row.encode() + b"\n")
        if kind == "file":
            self.files += 1
            self.content_size += size
            if self.first_file_sha256 is None:
                self.first_file_sha256 = detail

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

    @property
    def file_sha256(self) -> str | None:
        """The content's own sha256 when the tree holds exactly one regular file."""
        return self.first_file_sha256 if self.files == 1 else None


#: Restore verifies uncompressed archives in chunks of this size, on all cores at once.
VERIFY_CHUNK = 8 << 20

#: Restore reads, hashes and writes a chunk in slices of this size (they stay in L2 cache).
VERIFY_SLICE = 1 << 20

#: Chunk digest algorithms and the record ``meta`` field that carries each one's digests
#: (hex, concatenated).  ``chunkSha256`` is what entries saved before BLAKE3 carry.
CHUNK_DIGEST_FIELDS: Mapping[str, str] = {"blake3": "chunkBlake3", "sha256": "chunkSha256"}


def _blake3_constructor() -> Callable[..., Any] | None:
    # Imported lazily and optional: without the wheel, chunks fall back to sha256.  By name,
    # so that type checking does not depend on whether the wheel is installed.
    try:
        module = importlib.import_module("blake3")
    except ImportError:
        return None
    constructor: Callable[..., Any] = module.blake3
    return constructor


def chunk_algorithm_available(algorithm: str) -> bool:
    if algorithm == "sha256":
        return True
    return algorithm == "blake3" and _blake3_constructor() is not None


def preferred_chunk_algorithm() -> str:
    """BLAKE3 when importable: ~3.4x sha256's speed per core here (SHA-NI against AVX-512),
    which moves a verified local restore from hash-bound to copy-bound."""
    return "blake3" if chunk_algorithm_available("blake3") else "sha256"


def _chunk_hasher(algorithm: str) -> Callable[..., Any]:
    if algorithm == "sha256":
        return hashlib.sha256
    constructor = _blake3_constructor() if algorithm == "blake3" else None
    if constructor is None:
        raise InputError(
            f"chunk digest algorithm {algorithm!r} is not available",
            hint="install the 'blake3' package, or save with sha256 chunk digests",
        )
    return constructor


@dataclass(frozen=True, slots=True)
class ChunkDigests:
    """How a record lets a restore verify its archive chunk by chunk."""

    algorithm: str
    #: As recorded; :func:`unpack_chunked` refuses a size that is not positive.
    size: int
    digests: tuple[str, ...]


def chunk_digests_of(meta: Mapping[str, str]) -> ChunkDigests | None:
    """The chunk digests a record carries that this process can check, best first.

    ``None`` when there are none usable (an entry saved without them, or with BLAKE3 digests
    where ``blake3`` is not installed): the caller then checks the whole-archive sha256.
    """
    for algorithm, field in CHUNK_DIGEST_FIELDS.items():
        text = meta.get(field, "")
        if text and chunk_algorithm_available(algorithm):
            try:
                size = int(meta.get("chunkSize", ""))
            except ValueError:
                size = 0  # unpack_chunked reports it as a corrupt record
            return ChunkDigests(
                algorithm, size, tuple(text[i : i + 64] for i in range(0, len(text), 64))
            )
    return None


@dataclass(frozen=True, slots=True)
class Packed:
    sha256: str
    size: int
    content_size: int
    #: sha256 of the content when exactly one regular file was saved (the binary's digest).
    file_sha256: str | None
    #: Digest of each :data:`VERIFY_CHUNK`-byte slice of the archive (uncompressed only).
    chunk_digests: tuple[str, ...] = ()
    chunk_algorithm: str = "sha256"

    @property
    def chunk_sha256(self) -> tuple[str, ...]:
        """The chunk digests when they are sha256 (what records before BLAKE3 carried)."""
        return self.chunk_digests if self.chunk_algorithm == "sha256" else ()

    def chunk_meta(self) -> dict[str, str]:
        """The record ``meta`` fields that let a restore verify this archive by chunks."""
        if not self.chunk_digests:
            return {}
        return {
            "chunkSize": str(VERIFY_CHUNK),
            CHUNK_DIGEST_FIELDS[self.chunk_algorithm]: "".join(self.chunk_digests),
        }


class _HashingWriter:
    """sha256 of everything written and, optionally, a digest of every ``chunk``-byte slice.

    The whole sha256 is what users see (and what names the blob); the chunk digests (BLAKE3
    or sha256) let a restore verify disjoint ranges in parallel (see :func:`unpack_chunked`).
    """

    def __init__(self, raw: BinaryIO, chunk: int = 0, algorithm: str = "sha256") -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0
        self.chunk = chunk
        self.chunk_digests: list[str] = []
        self._new = _chunk_hasher(algorithm)
        self._current = self._new()
        self._filled = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.size += view.nbytes
        self.raw.write(view)
        if self.chunk:
            rest = view
            while rest.nbytes:
                take = min(self.chunk - self._filled, rest.nbytes)
                self._current.update(rest[:take])
                self._filled += take
                rest = rest[take:]
                if self._filled == self.chunk:
                    self.chunk_digests.append(self._current.hexdigest())
                    self._current, self._filled = self._new(), 0
        return view.nbytes

    def finish_chunks(self) -> tuple[str, ...]:
        if self.chunk and self._filled:
            self.chunk_digests.append(self._current.hexdigest())
            self._current, self._filled = self._new(), 0
        return tuple(self.chunk_digests)

    def flush(self) -> None:
        self.raw.flush()


class HashingReader:
    """Counts and hashes every byte read through it.

    A source that already hashes what it delivers (``source.delivered_sha256``, e.g. S3's
    read-ahead thread) is not hashed twice: :meth:`hexdigest` then asks the source, which
    keeps the hash off the thread that decompresses and writes.
    """

    def __init__(self, raw: BinaryIO, progress: Progress) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0
        self.progress = progress
        self._source_digest = getattr(raw, "delivered_sha256", None)

    def hexdigest(self) -> str:
        """sha256 of every byte read so far (call after :meth:`drain` for the whole source)."""
        if self._source_digest is not None:
            return str(self._source_digest())
        return self.digest.hexdigest()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if self._source_digest is None:
            self.digest.update(data)
        self.size += len(data)
        self.progress(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def _header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


def _tarinfo(name: str, st: os.stat_result, kind: bytes, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.size = size
    return info


def pack(
    paths: Sequence[Path],
    out: BinaryIO,
    *,
    compression: str,
    progress: Progress,
    chunk_algorithm: str = "sha256",
) -> Packed:
    """Write ``paths`` as one archive to ``out``; returns the digest of the bytes written.

    Uncompressed archives also get a ``chunk_algorithm`` digest of every
    :data:`VERIFY_CHUNK`-byte slice (see :func:`preferred_chunk_algorithm`).
    """
    # Chunk digests cost a second hash pass at save time; they buy a restore that verifies
    # on every core (local stores keep archives uncompressed and restore by range).
    hashing = _HashingWriter(out, VERIFY_CHUNK if compression == "none" else 0, chunk_algorithm)
    content_size = 0
    file_digest: hashlib._Hash | None = None
    single_file = len(paths) == 1 and paths[0].is_file()
    cctx_writer: Any = None
    if compression == "zstd":
        import zstandard

        cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=-1)
        cctx_writer = cctx.stream_writer(hashing, closefd=False)  # type: ignore[arg-type]
        sink: Any = cctx_writer
    elif compression == "none":
        sink = hashing
    else:
        raise InputError(f"unknown compression {compression!r}", hint="use 'none' or 'zstd'")

    def add_file(name: str, path: Path, st: os.stat_result) -> None:
        nonlocal content_size, file_digest
        sink.write(_header(_tarinfo(name, st, tarfile.REGTYPE, st.st_size)))
        digest = hashlib.sha256() if single_file else None
        written = 0
        with open(path, "rb") as fh:
            while written < st.st_size:
                chunk = fh.read(min(CHUNK, st.st_size - written))
                if not chunk:
                    raise InputError("file shrank while it was being saved", where=str(path))
                if digest is not None:
                    digest.update(chunk)
                sink.write(chunk)
                written += len(chunk)
                progress(len(chunk))
        pad = -written % BLOCK
        if pad:
            sink.write(b"\0" * pad)
        content_size += written
        if digest is not None:
            file_digest = digest

    for index, path in enumerate(paths):
        root = str(index)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise InputError(
                "path does not exist", where=str(path), hint="save only paths that exist"
            ) from None
        if stat.S_ISREG(st.st_mode):
            add_file(root, path, st)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise InputError("only regular files and directories can be cached", where=str(path))
        sink.write(_header(_tarinfo(root, st, tarfile.DIRTYPE)))
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            rel = os.path.relpath(dirpath, path)
            prefix = root if rel == "." else f"{root}/{rel.replace(os.sep, '/')}"
            for name in sorted(dirnames) + sorted(filenames):
                full = os.path.join(dirpath, name)
                member = f"{prefix}/{name}"
                lst = os.lstat(full)
                if stat.S_ISLNK(lst.st_mode):
                    info = _tarinfo(member, lst, tarfile.SYMTYPE)
                    info.linkname = os.readlink(full)
                    sink.write(_header(info))
                elif stat.S_ISDIR(lst.st_mode):
                    sink.write(_header(_tarinfo(member, lst, tarfile.DIRTYPE)))
                elif stat.S_ISREG(lst.st_mode):
                    add_file(member, Path(full), lst)
                # Sockets, FIFOs and devices in a cache directory are runtime debris: skip.
    sink.write(b"\0" * (2 * BLOCK))
    if cctx_writer is not None:
        cctx_writer.flush(zstandard.FLUSH_FRAME)
        cctx_writer.close()
    out.flush()
    return Packed(
        hashing.digest.hexdigest(),
        hashing.size,
        content_size,
        file_digest.hexdigest() if file_digest is not None else None,
        hashing.finish_chunks(),
        chunk_algorithm if hashing.chunk else "sha256",
    )


@dataclass(frozen=True, slots=True)
class Unpacked:
    sha256: str
    size: int


def _unsafe(message: str, name: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        message,
        where=f"archive member {name!r}",
        hint="the entry was not written by buildonce or was tampered with; it is quarantined",
    )


def _check_name(name: str, count: int) -> list[str]:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise _unsafe("absolute path in archive", name)
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts:
        raise _unsafe("empty member name", name)
    if ".." in parts:
        raise _unsafe("'..' in archive member name", name)
    if not parts[0].isdigit() or int(parts[0]) >= count or str(int(parts[0])) != parts[0]:
        raise _unsafe(f"member is not under one of the {count} saved paths", name)
    return parts


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE)


@dataclass(frozen=True, slots=True)
class _Member:
    name: str
    type: bytes
    mode: int
    mtime: int
    size: int
    linkname: str


def _corrupt(message: str) -> IntegrityError:
    return IntegrityError(
        message, hint="the entry is corrupt; it is quarantined and treated as a miss"
    )


def _parse_pax(data: bytes) -> dict[str, str]:
    """pax extended header records: ``"<len> <key>=<value>\n"``."""
    result: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            raise _corrupt("malformed pax header")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise _corrupt("malformed pax header length") from None
        record = data[space + 1 : pos + length]
        if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            raise _corrupt("malformed pax record")
        key, _, value = record[:-1].partition(b"=")
        result[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return result


class _TarReader:
    """A minimal pax/ustar reader for the archives :func:`pack` writes.

    Why not :mod:`tarfile`: its stream mode copies member data through small Python reads
    (about 200 MB/s here, against ~1 GB/s for read-hash-write in 1 MiB chunks), and it
    interprets more than buildonce ever writes.  Anything unusual is refused.
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        #: Records of pax *global* headers (``g``), merged in archive order.  buildonce's
        #: gha archives carry their manifest there, in a ``comment`` record.
        self.global_pax: dict[str, str] = {}

    def _read(self, n: int) -> bytes:
        parts = []
        need = n
        while need > 0:
            chunk = self.raw.read(need)
            if not chunk:
                raise _corrupt("the archive ends early")
            parts.append(chunk)
            need -= len(chunk)
        return b"".join(parts) if len(parts) != 1 else parts[0]

    def members(self) -> Any:
        pax: dict[str, str] = {}
        while True:
            block = self._read(BLOCK)
            if block == b"\0" * BLOCK:
                return
            try:
                info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
            except tarfile.HeaderError as exc:
                raise _corrupt(f"bad tar header ({exc})") from exc
            padded = info.size + (-info.size % BLOCK)
            if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE):
                data = self._read(padded)[: info.size]
                if info.type == tarfile.XHDTYPE:
                    pax = _parse_pax(data)
                else:
                    self.global_pax.update(_parse_pax(data))
                continue
            try:
                size = int(pax.get("size", info.size))
                mtime = int(float(pax.get("mtime", info.mtime)))
            except ValueError:
                raise _corrupt("bad size or mtime in a pax header") from None
            member = _Member(
                pax.get("path", info.name),
                info.type,
                info.mode,
                mtime,
                size,
                pax.get("linkpath", info.linkname),
            )
            pax = {}
            yield member
            if member.type not in REGULAR:
                self.skip(size + (-size % BLOCK))

    def skip(self, n: int) -> None:
        while n > 0:
            n -= len(self._read(min(CHUNK, n)))

    def skip_data(self, size: int) -> None:
        """Pass over ``size`` data bytes and their padding, without reading them if possible."""
        advance = getattr(self.raw, "advance", None)
        if callable(advance):
            advance(size + (-size % BLOCK))
        else:
            self.skip(size + (-size % BLOCK))

    def copy_to(self, out_fd: int, size: int, digest: Any = None) -> None:
        """Copy ``size`` data bytes (and skip the padding) into ``out_fd``."""
        remaining = size
        while remaining > 0:
            chunk = self._read(min(CHUNK, remaining))
            if digest is not None:
                digest.update(chunk)
            _write_all(out_fd, chunk)
            remaining -= len(chunk)
        pad = -size % BLOCK
        if pad:
            self._read(pad)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def unpack(
    source: BinaryIO,
    dest: Path,
    *,
    count: int,
    compression: str,
    progress: Progress,
) -> Unpacked:
    """Extract an archive of ``count`` paths into the empty directory ``dest``.

    Raises :class:`UnsafeArchiveError` for a dangerous member and :class:`IntegrityError`
    when the bytes are not a readable archive.  Returns the sha256 and size of every byte
    read from ``source`` so that the caller can compare them with the entry's record.
    """
    hashing = HashingReader(source, progress)
    reader: Any = hashing
    if compression == "zstd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(
            hashing,  # type: ignore[arg-type]
            read_size=CHUNK,
            read_across_frames=True,
            closefd=False,
        )
    elif compression != "none":
        raise _corrupt(f"unknown compression {compression!r}")
    try:
        _extract(_TarReader(reader), dest, count)
        hashing.drain()
    except (UnsafeArchiveError, IntegrityError):
        raise
    except (EOFError, ValueError, _zstd_error()) as exc:
        raise _corrupt(f"the archive is unreadable ({type(exc).__name__}: {exc})") from exc
    return Unpacked(hashing.hexdigest(), hashing.size)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A regular file created empty whose bytes are copied later (see unpack_chunked)."""

    fd: int
    offset: int  # of its data in the archive
    size: int
    target: str
    mode: int
    mtime: int


def _extract(
    tar: _TarReader,
    dest: Path,
    count: int,
    *,
    rename: Callable[[str], str] | None = None,
    tree: TreeDigest | None = None,
    deferred: list[_Pending] | None = None,
) -> None:
    """Extract members named ``<i>/...`` into ``dest``.

    ``rename`` maps another layout's names onto positional ones first (actions/cache names
    members relative to the workspace); ``tree`` receives one row per member, with each
    file's sha256 computed over the bytes written.  With ``deferred``, regular files are
    created empty and left open, and their data is skipped: the caller copies it.
    """
    real_dest = os.path.realpath(dest)
    seen: set[str] = set()
    dir_modes: list[tuple[str, int, int]] = []
    for member in tar.members():
        parts = _check_name(rename(member.name) if rename else member.name, count)
        rel = "/".join(parts)
        if rel in seen:
            raise _unsafe("duplicate member", member.name)
        seen.add(rel)
        target = os.path.join(real_dest, *parts)
        parent = os.path.dirname(target)
        if not _inside(os.path.realpath(parent), real_dest):
            raise _unsafe("member would be written through a link", member.name)
        if member.type == tarfile.DIRTYPE:
            os.makedirs(target, mode=0o700, exist_ok=True)
            if os.path.islink(target) or not os.path.isdir(target):
                raise _unsafe("directory collides with another member", member.name)
            dir_modes.append((target, member.mode & 0o777, member.mtime))
            if tree is not None:
                tree.add(member.name, "dir", member.mode)
        elif member.type in REGULAR:
            os.makedirs(parent, mode=0o700, exist_ok=True)
            # O_EXCL + O_NOFOLLOW: never follow or overwrite what an earlier member placed.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            try:
                fd = os.open(target, flags, 0o600)
            except FileExistsError:
                raise _unsafe("member collides with another member", member.name) from None
            if deferred is not None:
                position = getattr(tar.raw, "pos", None)
                if position is None:  # pragma: no cover - only unpack_chunked defers
                    os.close(fd)
                    raise TypeError("deferred extraction needs a positional reader")
                deferred.append(
                    _Pending(fd, position, member.size, target, member.mode & 0o777, member.mtime)
                )
                tar.skip_data(member.size)
                continue
            digest = hashlib.sha256() if tree is not None else None
            try:
                tar.copy_to(fd, member.size, digest)
            finally:
                os.close(fd)
            if tree is not None and digest is not None:
                tree.add(member.name, "file", member.mode, member.size, digest.hexdigest())
            # Permission bits only: no setuid/setgid/sticky from an archive.
            os.chmod(target, member.mode & 0o777)
            os.utime(target, (member.mtime, member.mtime))
        elif member.type == tarfile.SYMTYPE:
            link = member.linkname
            member_root = os.path.join(real_dest, parts[0])
            resolved = os.path.normpath(os.path.join(parent, link))
            if os.path.isabs(link) or not _inside(resolved, member_root):
                raise _unsafe(f"link to {link!r} points outside its directory", member.name)
            if len(parts) == 1:
                raise _unsafe("a saved path cannot be a link", member.name)
            os.makedirs(parent, mode=0o700, exist_ok=True)
            os.symlink(link, target)
            if tree is not None:
                tree.add(member.name, "symlink", member.mode, 0, link)
        elif member.type == tarfile.LNKTYPE:
            raise _unsafe("hard links are not allowed", member.name)
        elif member.type in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
            raise _unsafe("device files and FIFOs are not allowed", member.name)
        else:
            raise _unsafe(f"unsupported tar member type {member.type!r}", member.name)
    for missing in range(count):
        if str(missing) not in seen:
            raise _corrupt(f"the archive lacks saved path #{missing}")
    # Directory modes last and deepest first: a read-only directory (GOMODCACHE makes them)
    # must not block writing its own children.
    for target, mode, mtime in sorted(dir_modes, key=lambda t: t[0].count(os.sep), reverse=True):
        # Owner read+execute at least, or the restored tree could not even be listed.
        os.chmod(target, mode | 0o500)
        os.utime(target, (mtime, mtime))


class _PositionalReader:
    """``read`` with ``pread`` at a tracked position, remembering every byte it returned.

    The tar headers are parsed from these bytes before the chunk digests are checked; the
    parallel pass then compares each remembered range with the verified chunk, so nothing
    the extraction relied on escapes verification.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pos = 0
        self.seen: list[tuple[int, bytes]] = []

    def read(self, n: int) -> bytes:
        data = os.pread(self.fd, n, self.pos)
        if data:
            self.seen.append((self.pos, data))
        self.pos += len(data)
        return data

    def advance(self, n: int) -> None:
        self.pos += n


def parallel_restore_supported() -> bool:
    return hasattr(os, "pread") and hasattr(os, "pwrite")


def _workers(chunks: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4, chunks))


def unpack_chunked(
    fd: int,
    dest: Path,
    *,
    count: int,
    size: int,
    chunk: int,
    digests: Sequence[str],
    progress: Progress,
    algorithm: str = "sha256",
) -> None:
    """Extract an uncompressed archive into ``dest``, verifying every byte on every core.

    1. The headers are parsed (``pread``, data skipped) and the files created empty.
    2. Worker threads take disjoint chunks: read, hash with ``algorithm`` (hashlib and
       blake3 both release the GIL), compare with the chunk digest recorded at save time,
       compare the header bytes step 1 used, then ``pwrite`` the chunk's file data into place.
    3. Only when every chunk matched are modes and times set; the caller then renames.

    Raises :class:`IntegrityError` on any mismatch, a size that differs from the record,
    or a missing chunk digest; nothing outside ``dest`` is touched in any case.
    """
    new_hasher = _chunk_hasher(algorithm)
    actual = os.fstat(fd).st_size
    if actual != size:
        raise _corrupt(f"the stored archive is {actual} bytes, the record says {size}")
    if chunk <= 0:
        raise _corrupt(f"the record's chunk size {chunk} is not positive")
    chunks = -(-size // chunk)
    if len(digests) != chunks:
        raise _corrupt(f"the record has {len(digests)} chunk digests for {chunks} chunks")
    reader = _PositionalReader(fd)
    pending: list[_Pending] = []
    try:
        _extract(_TarReader(reader), dest, count, deferred=pending)
        segments = sorted((p.offset, p.offset + p.size, p.fd) for p in pending if p.size)
        seg_starts = [start for start, _end, _fd in segments]
        seen = sorted(reader.seen)
        seen_starts = [pos for pos, _data in seen]
        errors: list[BaseException] = []
        failed = threading.Event()
        lock = threading.Lock()

        def check_and_copy(start: int, view: memoryview) -> None:
            end = start + len(view)
            i = max(bisect.bisect_right(seen_starts, start) - 1, 0)
            while i < len(seen) and seen[i][0] < end:
                pos, data = seen[i]
                lo, hi = max(pos, start), min(pos + len(data), end)
                if lo < hi and view[lo - start : hi - start] != data[lo - pos : hi - pos]:
                    raise _corrupt("a tar header changed while it was being read")
                i += 1
            j = max(bisect.bisect_right(seg_starts, start) - 1, 0)
            while j < len(segments) and segments[j][0] < end:
                seg_start, seg_end, out_fd = segments[j]
                lo, hi = max(seg_start, start), min(seg_end, end)
                while lo < hi:
                    lo += os.pwrite(out_fd, view[lo - start : hi - start], lo - seg_start)
                j += 1

        def worker(first: int, step: int) -> None:
            # Slices of a chunk go read -> hash -> write while they are still in the CPU
            # cache.  Their bytes reach only the scratch directory before the chunk's digest
            # is compared; a mismatch fails the restore and the scratch is removed unseen.
            buffer = bytearray(min(VERIFY_SLICE, chunk, size))
            whole = memoryview(buffer)
            try:
                for index in range(first, chunks, step):
                    if failed.is_set():
                        return
                    start = index * chunk
                    end = min(start + chunk, size)
                    hasher = new_hasher()
                    offset = start
                    while offset < end:
                        view = whole[: min(len(whole), end - offset)]
                        got = 0
                        while got < len(view):
                            n = _pread_into(fd, view[got:], offset + got)
                            if n == 0:
                                raise _corrupt("the archive ends early")
                            got += n
                        hasher.update(view)
                        check_and_copy(offset, view)
                        offset += len(view)
                    if hasher.hexdigest() != digests[index]:
                        raise _corrupt(
                            f"bytes {start}..{end} do not match their recorded {algorithm}"
                        )
                    with lock:
                        progress(end - start)
            except BaseException as exc:
                errors.append(exc)
                failed.set()

        step = _workers(chunks)
        threads = [
            threading.Thread(target=worker, args=(w, step), name=f"buildonce-verify-{w}")
            for w in range(1, step)
        ]
        for thread in threads:
            thread.start()
        worker(0, step)
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
    finally:
        for item in pending:
            os.close(item.fd)
    for item in pending:
        # Permission bits only, set after the data: no setuid/setgid/sticky from an archive.
        os.chmod(item.target, item.mode)
        os.utime(item.target, (item.mtime, item.mtime))


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    preadv = getattr(os, "preadv", None)
    if preadv is not None:
        n: int = preadv(fd, [view], offset)
        return n
    data = os.pread(fd, len(view), offset)  # pragma: no cover - no preadv (older macOS)
    view[: len(data)] = data  # pragma: no cover
    return len(data)  # pragma: no cover


def _zstd_error() -> type[Exception]:
    try:
        import zstandard
    except ModuleNotFoundError:  # pragma: no cover - zstandard is a core dependency
        return ValueError
    error: type[Exception] = zstandard.ZstdError
    return error


def _force_remove(path: Path) -> None:
    def onerror(func: Callable[..., Any], name: str, _exc: Any) -> None:
        # Go makes module cache directories read-only; make them writable, then retry.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), 0o700)
            os.chmod(name, 0o700)
        with contextlib.suppress(FileNotFoundError):
            func(name)

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=onerror)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def scratch_dir_for(dest: Path) -> Path:
    """An empty directory beside ``dest``: same file system, so the final rename is atomic."""
    parent = dest.parent
    parent.mkdir(parents=True, exist_ok=True)
    scratch = parent / f".{dest.name}.buildonce-{uuid.uuid4().hex[:12]}"
    scratch.mkdir(mode=0o700)
    return scratch


def place(extracted: Path, dest: Path) -> None:
    """Move one extracted member onto ``dest`` atomically (a directory is swapped whole)."""
    if dest.is_dir() and not dest.is_symlink():
        old = dest.parent / f".{dest.name}.buildonce-old-{uuid.uuid4().hex[:12]}"
        os.rename(dest, old)
        try:
            _move(extracted, dest)
        except BaseException:
            os.rename(old, dest)
            raise
        _force_remove(old)
    else:
        _move(extracted, dest)


def _move(src: Path, dest: Path) -> None:
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # Another file system: copy beside the destination, then rename there.
        staging = dest.parent / f".{dest.name}.buildonce-{uuid.uuid4().hex[:12]}"
        try:
            if src.is_dir():
                shutil.copytree(src, staging, symlinks=True)
            else:
                shutil.copy2(src, staging)
            os.replace(staging, dest)
        finally:
            _force_remove(staging)
        _force_remove(src)


def remove_tree(path: Path) -> None:
    _force_remove(path)
