"""The store contract: what a cache backend must implement, and the records it keeps.

Two levels, so that a backend can be as small as its service allows:

:class:`Store` (the Protocol every backend satisfies)
    The operations the cache logic in :mod:`buildonce.store.cache` calls.  A backend whose
    service does key matching itself (GitHub's cache service: key, prefix and version lookup
    are server side and it cannot list) implements this Protocol directly:

    ``lookup(request)``
        Return the newest visible :class:`EntryRecord` for ``request`` with actions/cache
        semantics (see :class:`Lookup`), or ``None``.  Must not raise for "no match".
    ``download(record, sink, progress)``
        Write the archive bytes of ``record`` to the binary file ``sink``.  The caller
        verifies ``record.sha256``/``record.size``; the backend does not have to.
    ``publish(record, archive, progress)``
        Store the archive file ``archive`` under ``record`` *if no entry with the same
        (scope, key) exists*.  Returns the committed record and ``True``, or the existing
        record (when known, else ``None``) and ``False`` ("already exists").  Exactly one of
        N concurrent publishers may get ``True``; the others must not corrupt its entry.
    ``entries(scope=None)``
        Every committed record (optionally of one scope).  Raise
        :class:`~buildonce.errors.StoreError` when the service cannot list (then ``cache ls``,
        ``stats`` and ``prune`` say so; save/restore still work).
    ``delete(record)``, ``quarantine(record, reason)``
        Remove an entry; move a corrupt one out of lookup's sight (a later save may reuse
        the key).  ``quarantine`` may simply delete when the service has nowhere to move it.
    ``add_event(record, event)``, ``events(record)``
        Lifecycle history and last use.  A backend without metadata storage may make
        ``add_event`` a no-op and return ``[]``; eviction then falls back to ``created_at``.
    ``compression``
        ``"zstd"`` (network stores: fewer bytes on the wire) or ``"none"`` (local disks:
        copy speed beats compression, engines.md §3).
    ``url``, ``close()``.

:class:`ObjectStore` (an abstract base class for key/value backends)
    Implements the whole Protocol on top of seven primitives over a flat namespace of
    ``/``-separated names (a directory tree or an S3 bucket prefix).  The local directory and
    S3 backends only implement those primitives, so they share the commit protocol, the
    layout and therefore the contract tests.

Layout of an :class:`ObjectStore`::

    blobs/<sha256>-<time>-<rand>   archive bytes; unique name, written before the commit
    entries/<scope>/<key>.json     the commit record; created if absent (first writer wins)
    events/<entry-id>/<ts>-<uuid>  one small JSON object per lifecycle event (append-only)
    quarantine/<entry-id>.json     records whose blob failed verification

Keys and scopes are percent-encoded.  An encoded key is cut into segments of at most 180
bytes joined with ``/``, so that no path segment exceeds a file system's 255-byte name limit,
and the encoded form of a key prefix is still a string prefix of the key's encoded form
(prefix lookup lists by prefix instead of reading every record).
"""

from __future__ import annotations

import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable
from urllib.parse import quote

from buildonce.errors import StoreError

#: Progress callback: called with the number of bytes moved since the previous call.
Progress = Callable[[int], None]

RECORD_VERSION = 1
#: Encoded key segments stay under this many bytes (255-byte file name limit, minus ".json").
_SEGMENT_BYTES = 180


def _no_progress(_: int) -> None:
    return None


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class EntryRecord:
    """One immutable cache entry: where its archive is and what it must hash to."""

    key: str
    scope: str
    kind: str  # "binary", "gomod" or "files"
    paths: tuple[str, ...]
    sha256: str  # of the archive bytes as stored
    size: int  # of the archive bytes as stored
    content_size: int  # sum of the regular files' sizes, before archiving
    compression: str  # "none" or "zstd"
    created_at: datetime
    origin_job: str | None = None
    blob: str = ""  # backend-specific location of the archive
    entry_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    meta: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "id": self.entry_id,
            "key": self.key,
            "scope": self.scope,
            "kind": self.kind,
            "paths": list(self.paths),
            "sha256": self.sha256,
            "size": self.size,
            "contentSize": self.content_size,
            "compression": self.compression,
            "createdAt": self.created_at.isoformat(),
            "originJob": self.origin_job,
            "blob": self.blob,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, where: str = "entry record") -> EntryRecord:
        try:
            return cls(
                key=str(data["key"]),
                scope=str(data["scope"]),
                kind=str(data["kind"]),
                paths=tuple(str(p) for p in data["paths"]),
                sha256=str(data["sha256"]),
                size=int(data["size"]),
                content_size=int(data["contentSize"]),
                compression=str(data["compression"]),
                created_at=datetime.fromisoformat(str(data["createdAt"])),
                origin_job=data.get("originJob"),
                blob=str(data.get("blob", "")),
                entry_id=str(data["id"]),
                meta={str(k): str(v) for k, v in dict(data.get("meta") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(
                f"unreadable entry record ({type(exc).__name__}: {exc})",
                where=where,
                hint="delete it with `buildonce cache prune --all` or remove the file",
            ) from exc

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True).encode()


@dataclass(frozen=True, slots=True)
class Event:
    """One lifecycle event of an entry (model event names: seed, restore, rebuild, save...)."""

    event: str
    at: datetime
    job: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "at": self.at.isoformat(),
            "job": self.job,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        return cls(
            event=str(data["event"]),
            at=datetime.fromisoformat(str(data["at"])),
            job=data.get("job"),
            detail=str(data.get("detail", "")),
        )


@dataclass(frozen=True, slots=True)
class Lookup:
    """A restore request, matched like actions/cache (cache-semantics.md §2).

    For each scope in ``scopes`` (current ref first, then the base branch, then the default
    branch), for each of ``keys`` in order (the primary key, then the restore keys): an exact
    match wins, else the newest entry whose key starts with it.  ``exact`` disables prefix
    matching (``prepare`` must never run a binary built from other sources).
    """

    keys: tuple[str, ...]
    scopes: tuple[str, ...]
    exact: bool = False
    kind: str | None = None
    #: The paths as the user wrote them.  GitHub's cache matches entries by a "version"
    #: hashed from these lines; stores that match by key alone ignore them.
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PublishResult:
    created: bool
    record: EntryRecord | None


@runtime_checkable
class Store(Protocol):
    """What the cache logic needs from a backend; see the module docstring for the rules."""

    url: str
    compression: str

    def lookup(self, request: Lookup) -> EntryRecord | None: ...

    def download(self, record: EntryRecord, sink: BinaryIO, progress: Progress) -> None: ...

    def publish(self, record: EntryRecord, archive: Path, progress: Progress) -> PublishResult: ...

    def entries(self, scope: str | None = None) -> list[EntryRecord]: ...

    def delete(self, record: EntryRecord) -> None: ...

    def quarantine(self, record: EntryRecord, reason: str) -> None: ...

    def add_event(self, record: EntryRecord, event: Event) -> None: ...

    def events(self, record: EntryRecord) -> list[Event]: ...

    def close(self) -> None: ...


def encode_scope(scope: str) -> str:
    return quote(scope, safe="")


def encode_key(key: str) -> str:
    # Greedy, character by character: the segments of a prefix are the key's segments up
    # to the prefix's end, so the encoded prefix is a string prefix of the encoded key.
    segments: list[str] = []
    current: list[str] = []
    length = 0
    for char in key:
        encoded = quote(char, safe="")
        if length + len(encoded) > _SEGMENT_BYTES:
            segments.append("".join(current))
            current, length = [], 0
        current.append(encoded)
        length += len(encoded)
    segments.append("".join(current))
    return "/".join(segments)


def match_records(records: Sequence[EntryRecord], request: Lookup) -> EntryRecord | None:
    """Apply actions/cache's matching order to the records of the visible scopes."""
    by_scope: dict[str, list[EntryRecord]] = {}
    for record in records:
        if request.kind is None or record.kind == request.kind:
            by_scope.setdefault(record.scope, []).append(record)
    for scope in request.scopes:
        candidates = by_scope.get(scope, [])
        for key in request.keys:
            exact = [r for r in candidates if r.key == key]
            if exact:
                return max(exact, key=lambda r: r.created_at)
            if request.exact:
                continue
            prefixed = [r for r in candidates if r.key.startswith(key)]
            if prefixed:
                # "Among several prefix matches the most recently created entry wins."
                return max(prefixed, key=lambda r: r.created_at)
    return None


class ObjectStore(ABC):
    """A :class:`Store` built from seven primitives over ``/``-separated names.

    Subclasses implement:

    ``_put_file(name, path, progress)``   upload/copy a file; may overwrite (names are unique)
    ``_put_if_absent(name, data) -> bool`` create a small object atomically only if absent
    ``_put(name, data)``                   create or overwrite a small object
    ``_get(name) -> bytes | None``         read a small object, ``None`` when absent
    ``_get_file(name, sink, progress)``    stream an object into a binary file
    ``_list(prefix) -> Iterator[str]``     names starting with ``prefix`` (any depth)
    ``_delete(name)``                      remove; absent is not an error
    """

    url: str
    compression: str = "none"

    # -- primitives ------------------------------------------------------------------------
    @abstractmethod
    def _put_file(self, name: str, path: Path, progress: Progress) -> None: ...

    @abstractmethod
    def _put_if_absent(self, name: str, data: bytes) -> bool: ...

    @abstractmethod
    def _put(self, name: str, data: bytes) -> None: ...

    @abstractmethod
    def _get(self, name: str) -> bytes | None: ...

    @abstractmethod
    def _get_file(self, name: str, sink: BinaryIO, progress: Progress) -> None: ...

    @abstractmethod
    def _list(self, prefix: str) -> Iterator[str]: ...

    @abstractmethod
    def _delete(self, name: str) -> None: ...

    def close(self) -> None:
        return None

    # -- names -----------------------------------------------------------------------------
    @staticmethod
    def entry_name(scope: str, key: str) -> str:
        return f"entries/{encode_scope(scope)}/{encode_key(key)}.json"

    # -- derived operations ----------------------------------------------------------------
    def _read_record(self, name: str) -> EntryRecord | None:
        data = self._get(name)
        if data is None:
            return None
        try:
            parsed = json.loads(data)
        except ValueError as exc:
            raise StoreError(
                "entry record is not JSON", where=f"{self.url} {name}", hint="delete it"
            ) from exc
        return EntryRecord.from_json(parsed, where=f"{self.url} {name}")

    def _records_under(self, prefix: str) -> list[EntryRecord]:
        records = []
        for name in self._list(prefix):
            if name.endswith(".json"):
                record = self._read_record(name)
                if record is not None:
                    records.append(record)
        return records

    def lookup(self, request: Lookup) -> EntryRecord | None:
        found: list[EntryRecord] = []
        for scope in request.scopes:
            base = f"entries/{encode_scope(scope)}/"
            for key in request.keys:
                exact = self._read_record(self.entry_name(scope, key))
                if exact is not None:
                    found.append(exact)
                if not request.exact:
                    # List by the encoded prefix: only candidates are read, not the store.
                    found.extend(self._records_under(base + encode_key(key)))
        return match_records(found, request)

    def download(self, record: EntryRecord, sink: BinaryIO, progress: Progress) -> None:
        self._get_file(record.blob, sink, progress)

    def publish(self, record: EntryRecord, archive: Path, progress: Progress) -> PublishResult:
        name = self.entry_name(record.scope, record.key)
        existing = self._read_record(name)
        if existing is not None:
            return PublishResult(False, existing)
        blob = f"blobs/{record.sha256}-{int(time.time())}-{uuid.uuid4().hex[:12]}"
        # The content goes first under a name nobody else uses; the small record is the
        # commit.  A saver killed before the commit leaves an orphan blob (pruned later),
        # never a visible entry pointing at half a blob.
        self._put_file(blob, archive, progress)
        committed = replace(record, blob=blob)
        try:
            created = self._put_if_absent(name, committed.encode())
        except BaseException:
            self._delete(blob)
            raise
        if created:
            return PublishResult(True, committed)
        self._delete(blob)
        return PublishResult(False, self._read_record(name))

    def entries(self, scope: str | None = None) -> list[EntryRecord]:
        prefix = "entries/" if scope is None else f"entries/{encode_scope(scope)}/"
        return self._records_under(prefix)

    def delete(self, record: EntryRecord) -> None:
        name = self.entry_name(record.scope, record.key)
        current = self._read_record(name)
        # Only remove the record if it is still this entry (a re-save may have replaced it).
        if current is not None and current.entry_id == record.entry_id:
            self._delete(name)
        if record.blob:
            self._delete(record.blob)
        for event_name in list(self._list(f"events/{record.entry_id}/")):
            self._delete(event_name)

    def quarantine(self, record: EntryRecord, reason: str) -> None:
        data = dict(record.to_json(), quarantineReason=reason)
        self._put(f"quarantine/{record.entry_id}.json", json.dumps(data, sort_keys=True).encode())
        name = self.entry_name(record.scope, record.key)
        current = self._read_record(name)
        if current is not None and current.entry_id == record.entry_id:
            self._delete(name)

    def quarantined(self) -> list[dict[str, Any]]:
        result = []
        for name in self._list("quarantine/"):
            data = self._get(name)
            if data is not None:
                result.append(json.loads(data))
        return result

    def add_event(self, record: EntryRecord, event: Event) -> None:
        # One object per event: appends never race, and S3 has no append.
        stamp = f"{time.time_ns():020d}"
        name = f"events/{record.entry_id}/{stamp}-{uuid.uuid4().hex[:8]}.json"
        self._put(name, json.dumps(event.to_json()).encode())

    def events(self, record: EntryRecord) -> list[Event]:
        result = []
        for name in sorted(self._list(f"events/{record.entry_id}/")):
            data = self._get(name)
            if data is not None:
                result.append(Event.from_json(json.loads(data)))
        result.sort(key=lambda e: e.at)
        return result

    def blob_names(self) -> list[str]:
        return list(self._list("blobs/"))

    def delete_blob(self, name: str) -> None:
        self._delete(name)


__all__ = [
    "EntryRecord",
    "Event",
    "Lookup",
    "ObjectStore",
    "Progress",
    "PublishResult",
    "Store",
    "encode_key",
    "encode_scope",
    "match_records",
    "now_utc",
]
