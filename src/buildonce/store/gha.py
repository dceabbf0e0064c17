"""The ``gha`` store: GitHub's Actions cache, spoken directly (no actions/cache needed).

Two front ends share one protocol client (:mod:`buildonce.store.gha_service`):

:class:`GhaCache` -- byte-compatible with ``actions/cache``
    An entry saved here restores with ``actions/cache/restore`` given the same ``key`` and
    ``path`` lines, and the other way round: both sides compute the same *version*
    (:func:`~buildonce.store.gha_service.cache_version` over the ``path`` lines as written)
    and use the same archive (:mod:`buildonce.store.archive_gha`).  Saving streams
    ``tar -> zstd -> 32 MiB blocks`` into parallel ``Put Block`` requests; restoring streams
    parallel ranged GETs, in order, into ``zstd -> tar``.  The archive never touches disk.

:class:`GhaStore` -- the :class:`~buildonce.store.base.Store` behind ``--store gha:``
    What ``buildonce save/restore/prepare`` use.  Those commands pack their own archive
    format and verify a sha256 the service cannot store, so each entry carries a small
    record header and a version of its own: actions/cache never picks one up by mistake.

The service decides matching on its side (exact key, then prefix, newest first; scopes of
the current ref, base branch and default branch), so both can answer "restore the best
match for this key" but neither can list or delete entries.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import struct
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from buildonce.errors import ConfigError, EntryNotFoundError, InputError, IntegrityError, StoreError
from buildonce.store import archive_gha
from buildonce.store.base import EntryRecord, Event, Lookup, Progress, PublishResult
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


DEFAULT_BLOCK_SIZE = 32 << 20
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

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._current:
            if not self._pending:
                return 0
            data, _total = self._pending.popleft().result()
            self._current = memoryview(data)
            self.received += len(data)
            self._fill()
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


# -- the Store protocol -----------------------------------------------------------------------

#: Entries written through :class:`GhaStore` carry a salt of their own in the version, so
#: actions/cache (which hashes ``path`` lines) can never pick them up, nor they its entries.
STORE_VERSION = hashlib.sha256(b"buildonce-store|record-header|1").hexdigest()
RECORD_MAGIC = b"BUILDONCE-RECORD\n"
_HEADER_PROBE = 64 * 1024


def encode_record_header(record: EntryRecord) -> bytes:
    """``magic | u64 length | record JSON``: the metadata the service cannot keep for us."""
    body = record.encode()
    return RECORD_MAGIC + struct.pack(">Q", len(body)) + body


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


class GhaStore:
    """:class:`~buildonce.store.base.Store` over GitHub's cache service.

    The service keeps only (key, version, scope) -> bytes.  The :class:`EntryRecord` (sha256,
    sizes, kind, origin job) travels in a small header in front of the archive, so one
    atomic entry holds both and a lookup costs one RPC plus one 64 KiB ranged GET.

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
    ) -> None:
        self.url = "gha:"
        self.config = config
        self.retry = retry or RetryPolicy()
        self.block_size = block_size
        self.concurrency = concurrency
        self._warn = on_warning or _log_warning
        self._transport = HttpTransport()
        self._service = CacheServiceClient(
            config, retry=self.retry, transport=self._transport, on_retry=self._warn
        )
        self._located: dict[str, tuple[str, int]] = {}  # entry id -> (signed URL, offset)
        self._hidden: set[str] = set()

    @classmethod
    def from_url(cls, url: str, env: Mapping[str, str]) -> GhaStore:
        if url not in ("gha", "gha:", "gha://"):
            raise ConfigError(
                f"unexpected gha store URL {url!r}",
                where="--store",
                hint="write just 'gha' (the service is found through the runner's environment)",
            )
        return cls(GhaConfig.from_env(env), retry=retry_policy_from_env(env))

    def close(self) -> None:
        self._transport.close()

    def _blob(self, url: str) -> BlobClient:
        return BlobClient(url, transport=self._transport, retry=self.retry, on_retry=self._warn)

    def _read_header(self, url: str, where: str) -> tuple[EntryRecord, int]:
        blob = self._blob(url)
        head, _total = blob.get_range(0, _HEADER_PROBE - 1)
        fixed = len(RECORD_MAGIC) + 8
        if len(head) < fixed or not head.startswith(RECORD_MAGIC):
            raise IntegrityError(
                "the cache entry was not written by buildonce's gha store",
                where=where,
                hint="delete it with `gh cache delete <key>`",
            )
        (length,) = struct.unpack(">Q", head[len(RECORD_MAGIC) : fixed])
        if fixed + length > len(head):
            more, _ = blob.get_range(len(head), fixed + length - 1)
            head += more
        try:
            data = json.loads(head[fixed : fixed + length])
        except ValueError as exc:
            raise IntegrityError("unreadable entry record", where=where) from exc
        return EntryRecord.from_json(data, where=where), fixed + length

    def lookup(self, request: Lookup) -> EntryRecord | None:
        if not request.keys:
            return None
        try:
            try:
                return self._lookup_once(request)
            except SignedUrlError:
                # The header probe hit an expired URL: one fresh URL, then give up.
                return self._lookup_once(request)
        except (ServiceUnavailableError, SignedUrlError) as exc:
            # An outage must cost a rebuild, never the job: report it and answer "miss".
            self._warn(f"{exc}; treating it as a cache miss")
            return None

    def _lookup_once(self, request: Lookup) -> EntryRecord | None:
        location = self._service.get_download_url(
            request.keys[0], list(request.keys[1:]), STORE_VERSION
        )
        if location is None:
            return None
        if request.exact and location.matched_key not in request.keys:
            return None  # the service matched a longer key by prefix; prepare must not use it
        record, offset = self._read_header(location.url, location.matched_key)
        if record.entry_id in self._hidden:
            return None
        if request.kind is not None and record.kind != request.kind:
            return None
        self._located[record.entry_id] = (location.url, offset)
        return record

    def _locate(self, record: EntryRecord) -> tuple[str, int]:
        located = self._located.get(record.entry_id)
        if located is None:
            found = self.lookup(Lookup(keys=(record.key,), scopes=(record.scope,), exact=True))
            located = self._located.get(found.entry_id) if found is not None else None
            if located is None:
                raise EntryNotFoundError(f"entry {record.key!r} is gone", where=self.url)
        return located

    def download(self, record: EntryRecord, sink: BinaryIO, progress: Progress) -> None:
        start = sink.tell() if sink.seekable() else None
        try:
            self._download_once(record, sink, progress)
        except SignedUrlError as exc:
            # Signed URLs are short-lived and a build may outlast one: fetch a fresh URL and
            # start over, if what was already written can be taken back.
            if start is None:
                raise
            self._warn(f"{exc}; requesting a fresh download URL")
            sink.seek(start)
            sink.truncate()
            self._located.pop(record.entry_id, None)
            self._download_once(record, sink, progress)

    def _download_once(self, record: EntryRecord, sink: BinaryIO, progress: Progress) -> None:
        url, offset = self._locate(record)
        blob = self._blob(url)
        if record.size == 0:
            return
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="buildonce-download") as pool:
            stream = _ChunkStream(
                blob, pool, self.block_size, self.concurrency, start=offset,
                end=offset + record.size,
            )  # fmt: skip
            if stream.blob_size != offset + record.size:
                stream.cancel()
                raise IntegrityError(
                    f"the stored entry is {stream.blob_size - offset} bytes but its record "
                    f"says {record.size}",
                    where=record.key,
                    hint=f"delete it with `gh cache delete '{record.key}'`",
                )
            try:
                while data := stream.read(1 << 20):
                    sink.write(data)
                    progress(len(data))
            finally:
                stream.cancel()

    def publish(self, record: EntryRecord, archive: Path, progress: Progress) -> PublishResult:
        committed = replace(record, blob="gha")
        try:
            upload_url = self._service.create_entry(record.key, STORE_VERSION)
        except EntryExistsError:
            existing = self.lookup(Lookup(keys=(record.key,), scopes=(record.scope,), exact=True))
            return PublishResult(False, existing)
        blob = self._blob(upload_url)
        header = encode_record_header(committed)
        with (
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="buildonce-upload") as pool,
            open(archive, "rb") as fh,
        ):
            uploader = _BlockUploader(blob, pool, self.block_size, self.concurrency + 1)
            try:
                uploader.write(header)
                while chunk := fh.read(1 << 20):
                    uploader.write(chunk)
                    progress(len(chunk))
                block_ids = uploader.finish()
            except BaseException:
                uploader.abandon()
                raise
        blob.put_block_list(block_ids)
        self._service.finalize_entry(record.key, STORE_VERSION, uploader.size)
        return PublishResult(True, committed)

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
        self._hidden.add(record.entry_id)
        self._warn(
            f"cache entry {record.key!r} failed verification ({reason}); "
            f"delete it with `gh cache delete '{record.key}'`"
        )

    def add_event(self, record: EntryRecord, event: Event) -> None:
        return None

    def events(self, record: EntryRecord) -> list[Event]:
        return []
