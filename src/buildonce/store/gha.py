"""The ``gha`` store: GitHub's Actions cache, spoken directly (no actions/cache needed).

Two front ends share one protocol client (:mod:`buildonce.store.gha_service`):

:class:`GhaCache` -- byte-compatible with ``actions/cache``
    An entry saved here restores with ``actions/cache/restore`` given the same ``key`` and
    ``path`` lines, and the other way round: both sides compute the same *version*
    (:func:`~buildonce.store.gha_service.cache_version` over the ``path`` lines as written)
    and use the same archive (:mod:`buildonce.store.archive_gha`).  Saving streams
    ``tar -> zstd -> 8 MiB blocks`` into parallel ``Put Block`` requests; restoring streams
    parallel ranged GETs, in order, into ``zstd -> tar``.  The archive never touches disk.

:class:`GhaStore` -- the :class:`~buildonce.store.base.Store` behind ``--store gha``
    What ``buildonce save/restore/prepare`` use.  It writes the very same archive and
    version as :class:`GhaCache`, so actions/cache and buildonce restore each other's
    entries, and carries buildonce's integrity manifest inside the archive in a pax
    ``comment`` record that tar readers ignore.

The service decides matching on its side (exact key, then prefix, newest first; scopes of
the current ref, base branch and default branch), so both can answer "restore the best
match for this key" but neither can list or delete entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from buildonce.errors import ConfigError, EntryNotFoundError, InputError, IntegrityError, StoreError
from buildonce.store import archive, archive_gha
from buildonce.store.base import EntryRecord, Event, Lookup, Progress, PublishResult, now_utc
from buildonce.store.gha_service import (
    COMPRESSION_ZSTD,
    MAX_KEYS,
    BlobClient,
    CacheServiceClient,
    DownloadLocation,
    EntryExistsError,
    GhaConfig,
    HttpTransport,
    RetryPolicy,
    ServiceUnavailableError,
    SignedUrlError,
    cache_version,
    validate_cache_key,
)

__all__ = [
    "EntryExistsError",
    "GhaCache",
    "GhaConfig",
    "GhaStore",
    "RestoreResult",
    "RetryPolicy",
    "SaveResult",
    "ServiceUnavailableError",
    "cache_version",
]

log = logging.getLogger(__name__)


def _log_warning(message: str) -> None:
    # Library code does not print.  With no logging configured (the CLI), Python's last-resort
    # handler writes WARNING records to stderr, so the user still sees why a job went uncached.
    log.warning("buildonce: warning: %s", " ".join(message.split()))


#: Upload blocks and download ranges.  8 MiB keeps the pipeline fine-grained: the first
#: block goes up, and the first range is being decompressed, after 8 MiB rather than 32
#: (benchmarks/gha_bench.py); 50,000 Azure blocks still allow 400 GB.
DEFAULT_BLOCK_SIZE = 8 << 20
DEFAULT_UPLOAD_CONCURRENCY = 4
DEFAULT_DOWNLOAD_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class SaveResult:
    key: str
    version: str
    archive_bytes: int
    content_bytes: int
    members: tuple[str, ...]
    entry_id: str


@dataclass(frozen=True, slots=True)
class RestoreResult:
    key: str
    matched_key: str
    version: str
    archive_bytes: int
    content_bytes: int
    members: tuple[str, ...]

    @property
    def exact(self) -> bool:
        """actions/cache's ``cache-hit``: the matched key equals the primary key (any case)."""
        return self.matched_key.casefold() == self.key.casefold()


class _BlockUploader:
    """A write-only sink that cuts the stream into blocks and uploads them in parallel."""

    def __init__(self, blob: BlobClient, pool: ThreadPoolExecutor, block_size: int, depth: int):
        self._blob = blob
        self._pool = pool
        self._block_size = block_size
        self._buf = bytearray()
        self._slots = threading.BoundedSemaphore(depth)
        self._futures: list[Future[str]] = []
        self.size = 0

    def _submit(self, data: bytes) -> None:
        self._raise_first_error()
        self._slots.acquire()
        future = self._pool.submit(self._blob.put_block, len(self._futures), data)
        future.add_done_callback(lambda _f: self._slots.release())
        self._futures.append(future)

    def _raise_first_error(self) -> None:
        for future in self._futures:
            if future.done() and future.exception() is not None:
                future.result()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self._buf += data
        while len(self._buf) >= self._block_size:
            block = bytes(self._buf[: self._block_size])
            del self._buf[: self._block_size]
            self._submit(block)
        return len(data)

    def finish(self) -> list[str]:
        if self._buf or not self._futures:
            self._submit(bytes(self._buf))
            self._buf.clear()
        return [f.result() for f in self._futures]

    def abandon(self) -> None:
        for future in self._futures:
            future.cancel()


class _ChunkStream(io.RawIOBase):
    """Reads a blob front to back while up to ``depth`` ranged GETs run ahead in parallel."""

    def __init__(
        self,
        blob: BlobClient,
        pool: ThreadPoolExecutor,
        chunk: int,
        depth: int,
        *,
        start: int = 0,
        end: int | None = None,
    ):
        self._blob = blob
        self._pool = pool
        self._chunk = chunk
        self._depth = depth
        first_end = start + chunk - 1 if end is None else min(start + chunk, end) - 1
        first, total = blob.get_range(start, first_end)
        #: The blob's size as the storage reports it.
        self.blob_size = total
        #: Where the stream stops: the blob's end, or ``end`` when reading a slice.
        self.total = total if end is None else min(end, total)
        self._current = memoryview(first)
        self._next_start = start + len(first)
        self._pending: deque[Future[tuple[bytes, int]]] = deque()
        self.received = start + len(first)
        self._fill()

    def _fill(self) -> None:
        # A bounded window: at most ``depth`` chunks in flight or waiting to be read, so a
        # slow consumer never makes the downloads pile up in memory.
        while len(self._pending) < self._depth and self._next_start < self.total:
            start = self._next_start
            end = min(start + self._chunk, self.total) - 1
            self._pending.append(self._pool.submit(self._blob.get_range, start, end))
            self._next_start = end + 1

    def readable(self) -> bool:
        return True

    def _advance(self) -> bool:
        """Make the next downloaded chunk current; ``False`` at the end of the blob."""
        if not self._pending:
            return False
        data, _total = self._pending.popleft().result()
        self._current = memoryview(data)
        self.received += len(data)
        self._fill()
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (one chunk's worth at most): no buffering layer, one copy."""
        while not self._current:
            if not self._advance():
                return b""
        n = len(self._current) if size < 0 else min(size, len(self._current))
        data = self._current[:n].tobytes()
        self._current = self._current[n:]
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._current:
            if not self._advance():
                return 0
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n

    def cancel(self) -> None:
        for future in self._pending:
            future.cancel()


class GhaCache:
    """Save and restore ``actions/cache``-compatible entries through the v2 cache service."""

    def __init__(
        self,
        config: GhaConfig,
        *,
        retry: RetryPolicy | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        upload_concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
        download_concurrency: int = DEFAULT_DOWNLOAD_CONCURRENCY,
        cross_os: bool = False,
        on_warning: Callable[[str], None] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if block_size < 1 or upload_concurrency < 1 or download_concurrency < 1:
            raise ValueError("block_size and concurrency must be positive")
        self.config = config
        self.retry = retry or RetryPolicy()
        self.block_size = block_size
        self.upload_concurrency = upload_concurrency
        self.download_concurrency = download_concurrency
        self.cross_os = cross_os
        self._warn = on_warning or _log_warning
        self._env = dict(os.environ if env is None else env)
        self._transport = HttpTransport()
        self._service = CacheServiceClient(
            config, retry=self.retry, transport=self._transport, on_retry=self._warn
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: object) -> GhaCache:
        environ = os.environ if env is None else env
        config = GhaConfig.from_env(environ)
        kwargs.setdefault("retry", retry_policy_from_env(environ))
        return cls(config, env=environ, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> GhaCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def workspace(self) -> Path:
        return Path(self._env.get("GITHUB_WORKSPACE") or os.getcwd())

    def version(self, paths: Sequence[str]) -> str:
        return cache_version(
            [p.strip() for p in paths if p.strip()],
            COMPRESSION_ZSTD,
            windows=os.name == "nt",
            cross_os=self.cross_os,
        )

    def _blob(self, url: str) -> BlobClient:
        return BlobClient(url, transport=self._transport, retry=self.retry, on_retry=self._warn)

    # -- save -------------------------------------------------------------------------------

    def save(self, key: str, paths: Sequence[str], *, workspace: Path | None = None) -> SaveResult:
        """Reserve, upload and finalize one entry.

        Raises :class:`EntryExistsError` when the key is taken (someone else saved it) and
        :class:`ServiceUnavailableError` when the service stays down; in both cases nothing
        is finalized, so no reader ever sees a partial entry.
        """
        validate_cache_key(key)
        root = workspace or self.workspace()
        # Resolve before reserving: a missing path must not leave a dangling reservation.
        archive_gha.resolve_paths(paths, root, self._env)
        version = self.version(paths)
        upload_url = self._service.create_entry(key, version)
        blob = self._blob(upload_url)
        with ThreadPoolExecutor(
            self.upload_concurrency, thread_name_prefix="buildonce-upload"
        ) as pool:
            uploader = _BlockUploader(blob, pool, self.block_size, self.upload_concurrency + 1)
            try:
                stats = archive_gha.write_archive(paths, root, uploader, env=self._env)
                block_ids = uploader.finish()
            except BaseException:
                uploader.abandon()
                raise
        blob.put_block_list(block_ids)
        entry_id = self._service.finalize_entry(key, version, uploader.size)
        return SaveResult(key, version, uploader.size, stats.content_bytes, stats.members, entry_id)

    # -- restore ----------------------------------------------------------------------------

    def lookup(
        self, key: str, paths: Sequence[str], restore_keys: Sequence[str] = ()
    ) -> DownloadLocation | None:
        """Ask the service which entry would be restored, without downloading it."""
        validate_cache_key(key)
        for i, extra in enumerate(restore_keys):
            validate_cache_key(extra, where=f"restore_keys[{i}]")
        if 1 + len(restore_keys) > MAX_KEYS:
            raise InputError(
                f"{1 + len(restore_keys)} keys given; the Actions cache accepts at most {MAX_KEYS}",
                where="restore_keys",
                hint="drop the least specific restore keys",
            )
        return self._service.get_download_url(key, list(restore_keys), self.version(paths))

    def restore(
        self,
        key: str,
        paths: Sequence[str],
        *,
        restore_keys: Sequence[str] = (),
        workspace: Path | None = None,
    ) -> RestoreResult | None:
        """Restore the best match into the workspace; ``None`` when nothing matches."""
        root = workspace or self.workspace()
        roots = archive_gha.allowed_roots(paths, root, self._env)
        location = self.lookup(key, paths, restore_keys)
        if location is None:
            return None
        try:
            return self._download(key, paths, location, root, roots)
        except SignedUrlError as exc:
            # Signed URLs are short-lived; a slow job may hold a stale one.  Ask once more.
            self._warn(f"{exc}; requesting a fresh download URL")
            location = self.lookup(key, paths, restore_keys)
            if location is None:
                return None
            return self._download(key, paths, location, root, roots)

    def _download(
        self,
        key: str,
        paths: Sequence[str],
        location: DownloadLocation,
        root: Path,
        roots: Sequence[Path],
    ) -> RestoreResult:
        blob = self._blob(location.url)
        with ThreadPoolExecutor(
            self.download_concurrency, thread_name_prefix="buildonce-download"
        ) as pool:
            stream = _ChunkStream(blob, pool, self.block_size, self.download_concurrency)
            try:
                stats = archive_gha.read_archive(stream, root, roots)
            finally:
                stream.cancel()
        if stream.received != stream.total:
            raise StoreError(
                f"restored {stream.received} of {stream.total} archive bytes",
                where=location.matched_key,
            )
        return RestoreResult(
            key,
            location.matched_key,
            self.version(paths),
            stream.total,
            stats.content_bytes,
            stats.members,
        )


def _env_number(
    env: Mapping[str, str], name: str, default: float, low: float, high: float
) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ConfigError(
            f"{name}={text!r} is not a number between {low:g} and {high:g}",
            where=name,
            hint=f"unset it to use the default ({default:g})",
        )
    return value


def retry_policy_from_env(env: Mapping[str, str]) -> RetryPolicy:
    """Retry bounds, tunable for slow GHES installations and for tests.

    ``BUILDONCE_GHA_ATTEMPTS`` (default 5), ``BUILDONCE_GHA_RETRY_DELAY`` seconds (3) and
    ``BUILDONCE_GHA_MAX_RETRY_AFTER`` seconds (60, the longest 429 wait we accept).
    """
    return RetryPolicy(
        max_attempts=int(_env_number(env, "BUILDONCE_GHA_ATTEMPTS", 5, 1, 20)),
        base_delay=_env_number(env, "BUILDONCE_GHA_RETRY_DELAY", 3.0, 0, 60),
        max_retry_after=_env_number(env, "BUILDONCE_GHA_MAX_RETRY_AFTER", 60.0, 0, 3600),
    )


# -- the Store protocol -----------------------------------------------------------------------


def _manifest(record: EntryRecord) -> dict[str, Any]:
    """What the service cannot keep for us, carried inside the archive (see archive_gha)."""
    return {
        "id": record.entry_id,
        "key": record.key,
        "scope": record.scope,
        "kind": record.kind,
        "paths": list(record.paths),
        "createdAt": record.created_at.isoformat(),
        "originJob": record.origin_job,
        "meta": dict(record.meta),
    }


class _HashingSink:
    """Counts and hashes the compressed bytes on their way to the uploader."""

    def __init__(self, raw: _BlockUploader) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.raw.write(data)


#: What ``--json`` and the step summary say about an entry actions/cache wrote.
UNVERIFIED_NOTE = (
    "the entry has no buildonce manifest (saved by actions/cache or another tool): its "
    "sha256 was computed on restore, but there was nothing to verify it against"
)


class GhaStore:
    """:class:`~buildonce.store.base.Store` over GitHub's cache service, in actions/cache's format.

    Every entry is exactly what ``actions/cache`` would write for the same ``key`` and
    ``path`` lines: the same version (hashed from the path lines as written), a pax tar of
    workspace-relative names, one zstd frame without ``--long``.  So
    ``actions/cache/restore`` restores what ``buildonce save``/``prepare`` saved, and
    buildonce restores what actions/cache saved.

    buildonce's integrity data (the tree digest over every member's name, mode, size and
    sha256; the content size; the binary's sha256; key, kind, origin job, creation time)
    travels in a pax *global* header after the last member, as a ``comment`` record, which
    POSIX tells readers to ignore.  A restore extracts into a scratch directory, computes
    the same digests over what it wrote and compares before anything is renamed into
    place.  An entry without the manifest (actions/cache wrote it) is restored with its
    digests computed and reported as unverified.

    Differences from an :class:`~buildonce.store.base.ObjectStore`, imposed by the service:

    * scopes are resolved by the service from the job's token (current ref, base branch,
      default branch); ``Lookup.scopes`` is not sent.  ``Lookup.exact`` is enforced on the
      client by rejecting a prefix match.
    * ``entries``/``delete`` are not possible with the runtime token: they raise
      :class:`StoreError` pointing at ``gh cache list``/``gh cache delete``.
    * ``quarantine`` hides the entry from this process only; ``add_event`` keeps nothing.
    """

    compression = "zstd"

    def __init__(
        self,
        config: GhaConfig,
        *,
        retry: RetryPolicy | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
        on_warning: Callable[[str], None] | None = None,
        workspace: Path | None = None,
        cross_os: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.url = "gha:"
        self.config = config
        self.retry = retry or RetryPolicy()
        self.block_size = block_size
        self.concurrency = concurrency
        self.cross_os = cross_os
        self._env = dict(os.environ if env is None else env)
        self.workspace = Path(
            workspace or self._env.get("GITHUB_WORKSPACE") or os.getcwd()
        ).absolute()
        self._warn = on_warning or _log_warning
        self._transport = HttpTransport()
        self._service = CacheServiceClient(
            config, retry=self.retry, transport=self._transport, on_retry=self._warn
        )
        self._located: dict[str, DownloadLocation] = {}  # entry id -> where its bytes are
        self._requests: dict[str, Lookup] = {}  # entry id -> the lookup that found it
        self._hidden: set[str] = set()  # matched keys quarantined in this process

    @classmethod
    def from_url(
        cls,
        url: str,
        env: Mapping[str, str],
        *,
        on_warning: Callable[[str], None] | None = None,
    ) -> GhaStore:
        if url not in ("gha", "gha:", "gha://"):
            raise ConfigError(
                f"unexpected gha store URL {url!r}",
                where="--store",
                hint="write just 'gha' (the service is found through the runner's environment)",
            )
        return cls(
            GhaConfig.from_env(env),
            retry=retry_policy_from_env(env),
            on_warning=on_warning,
            env=env,
        )

    def close(self) -> None:
        self._transport.close()

    def _blob(self, url: str) -> BlobClient:
        return BlobClient(url, transport=self._transport, retry=self.retry, on_retry=self._warn)

    def version(self, paths: Sequence[str]) -> str:
        """actions/cache's version of these ``path`` lines (trimmed, empties dropped)."""
        lines = [p.strip() for p in paths if p.strip()]
        if not lines:
            raise InputError(
                "the gha store needs the cached paths to find an entry",
                where=self.url,
                hint="GitHub's cache matches entries by key *and* path lines",
            )
        return cache_version(
            lines, COMPRESSION_ZSTD, windows=os.name == "nt", cross_os=self.cross_os
        )

    def _name(self, path: Path) -> str:
        # As the toolkit names members: relative to GITHUB_WORKSPACE, '/'-separated, and
        # '../..' for paths outside it (tar -P keeps those verbatim).
        rel = os.path.relpath(Path(path).absolute(), self.workspace).replace(os.sep, "/")
        return rel or "."

    # -- lookup -----------------------------------------------------------------------------
    def lookup(self, request: Lookup) -> EntryRecord | None:
        if not request.keys:
            return None
        version = self.version(request.paths)
        try:
            location = self._service.get_download_url(
                request.keys[0], list(request.keys[1:]), version
            )
        except (ServiceUnavailableError, SignedUrlError) as exc:
            # An outage must cost a rebuild, never the job: report it and answer "miss".
            self._warn(f"{exc}; treating it as a cache miss")
            return None
        if location is None or location.matched_key in self._hidden:
            return None
        if request.exact and location.matched_key not in request.keys:
            return None  # the service matched a longer key by prefix; prepare must not use it
        # What the service tells us; the rest comes from the archive's manifest on restore.
        record = EntryRecord(
            key=location.matched_key,
            scope="",
            kind=request.kind or "files",
            paths=request.paths,
            sha256="",
            size=0,
            content_size=0,
            compression=self.compression,
            created_at=now_utc(),
            blob="gha",
        )
        self._located[record.entry_id] = location
        self._requests[record.entry_id] = request
        return record

    # -- save: stream tar -> zstd -> blocks, no scratch archive ------------------------------
    def save_paths(
        self, record: EntryRecord, paths: Sequence[Path], progress: Progress
    ) -> PublishResult:
        """Reserve, stream and finalize one entry; ``created=False`` when the key is taken.

        ``record.paths`` are the path lines as written (they make the version); ``paths``
        are the files they name.  Nothing is finalized unless the whole archive went up,
        so a reader never sees a partial entry.
        """
        version = self.version(record.paths)
        members = [(self._name(p), Path(p).absolute()) for p in paths]
        for _name, path in members:
            if not os.path.lexists(path):
                raise InputError("path does not exist", where=str(path), hint="build it first")
        try:
            upload_url = self._service.create_entry(record.key, version)
        except EntryExistsError:
            return PublishResult(False, None)
        blob = self._blob(upload_url)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="buildonce-upload") as pool:
            uploader = _BlockUploader(blob, pool, self.block_size, self.concurrency + 1)
            sink = _HashingSink(uploader)
            try:
                stats = archive_gha.write_archive(
                    list(record.paths),
                    self.workspace,
                    sink,
                    env=self._env,
                    members=members,
                    manifest=_manifest(record),
                    progress=progress,
                )
                block_ids = uploader.finish()
            except BaseException:
                uploader.abandon()
                raise
        blob.put_block_list(block_ids)
        self._service.finalize_entry(record.key, version, uploader.size)
        meta = dict(record.meta, treeSha256=stats.tree_sha256)
        if stats.file_sha256:
            meta["fileSha256"] = stats.file_sha256
        committed = replace(
            record,
            sha256=sink.digest.hexdigest(),
            size=uploader.size,
            content_size=stats.content_bytes,
            compression=self.compression,
            blob="gha",
            meta=meta,
        )
        return PublishResult(True, committed)

    # -- restore: parallel ranged GETs -> zstd -> tar, into a scratch directory --------------
    def unpack_into(
        self, record: EntryRecord, scratch: Path, dests: Sequence[Path], progress: Progress
    ) -> EntryRecord:
        """Extract ``record`` into ``scratch/<i>`` and verify it; returns the full record.

        Raises :class:`IntegrityError` when the content does not match its manifest (or is
        not a safe archive) and :class:`StoreError` when the download fails.
        """
        names = [self._name(d) for d in dests]
        try:
            unpacked = self._unpack_once(record, scratch, names, progress)
        except SignedUrlError as exc:
            # Signed URLs are short-lived and a build may outlast one: ask for a fresh URL
            # and start over in an emptied scratch directory.
            self._warn(f"{exc}; requesting a fresh download URL")
            self._refresh(record)
            for child in scratch.iterdir():
                archive.remove_tree(child)
            unpacked = self._unpack_once(record, scratch, names, progress)
        verified = archive_gha.verify(unpacked, record.key)
        return self._completed(record, unpacked, verified)

    def _refresh(self, record: EntryRecord) -> None:
        request = self._requests.get(record.entry_id)
        location = None
        if request is not None:
            location = self._service.get_download_url(
                request.keys[0], list(request.keys[1:]), self.version(request.paths)
            )
        if location is None or location.matched_key != record.key:
            raise EntryNotFoundError(f"entry {record.key!r} is gone", where=self.url)
        self._located[record.entry_id] = location

    def _unpack_once(
        self, record: EntryRecord, scratch: Path, names: Sequence[str], progress: Progress
    ) -> archive_gha.Unpacked:
        location = self._located.get(record.entry_id)
        if location is None:
            raise EntryNotFoundError(
                f"entry {record.key!r} was not looked up in this store", where=self.url
            )
        blob = self._blob(location.url)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="buildonce-download") as pool:
            stream = _ChunkStream(blob, pool, self.block_size, self.concurrency)
            try:
                unpacked = archive_gha.unpack(stream, scratch, names, progress)
            finally:
                stream.cancel()
        if stream.received != stream.total or unpacked.size != stream.total:
            raise IntegrityError(
                f"read {unpacked.size} of {stream.total} archive bytes", where=record.key
            )
        return unpacked

    def _completed(
        self, record: EntryRecord, unpacked: archive_gha.Unpacked, verified: bool
    ) -> EntryRecord:
        manifest = unpacked.manifest or {}
        meta = {str(k): str(v) for k, v in dict(manifest.get("meta") or {}).items()}
        meta["treeSha256"] = unpacked.tree_sha256
        if unpacked.file_sha256:
            meta["fileSha256"] = unpacked.file_sha256
        meta["verification"] = "verified" if verified else "unverified"
        if not verified:
            meta["verificationNote"] = UNVERIFIED_NOTE
        created_at = record.created_at
        with contextlib.suppress(KeyError, TypeError, ValueError):
            created_at = datetime.fromisoformat(str(manifest["createdAt"]))
        origin = manifest.get("originJob")
        return replace(
            record,
            scope=str(manifest.get("scope") or record.scope),
            kind=str(manifest.get("kind") or record.kind),
            sha256=unpacked.sha256,
            size=unpacked.size,
            content_size=unpacked.content_size,
            created_at=created_at,
            origin_job=str(origin) if origin else None,
            meta=meta,
        )

    # -- what the service cannot do ------------------------------------------------------------
    def download(self, record: EntryRecord, sink: BinaryIO, progress: Progress) -> None:
        raise StoreError(
            "the gha store restores paths (unpack_into), not raw archives", where=self.url
        )

    def publish(self, record: EntryRecord, archive: Path, progress: Progress) -> PublishResult:
        raise StoreError("the gha store saves paths (save_paths), not raw archives", where=self.url)

    def entries(self, scope: str | None = None) -> list[EntryRecord]:
        raise StoreError(
            "the GitHub Actions cache cannot be listed with a job's runtime token",
            where=self.url,
            hint="use `gh cache list` (needs actions: read) to see entries",
        )

    def delete(self, record: EntryRecord) -> None:
        raise StoreError(
            f"cannot delete {record.key!r} with a job's runtime token",
            where=self.url,
            hint=f"run `gh cache delete '{record.key}'` (needs actions: write)",
        )

    def quarantine(self, record: EntryRecord, reason: str) -> None:
        # The service has no quarantine and the runtime token cannot delete: hide it from
        # this process so a rebuild re-saves (under a new key) instead of looping on it.
        # (restore already warns with the reason; `gh cache delete KEY` removes it for good.)
        self._hidden.add(record.key)

    def add_event(self, record: EntryRecord, event: Event) -> None:
        return None

    def events(self, record: EntryRecord) -> list[Event]:
        return []
