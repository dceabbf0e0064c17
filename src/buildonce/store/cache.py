"""Save and restore with actions/cache semantics, scopes, integrity, eviction and history.

Everything here is built on the :class:`~buildonce.store.base.Store` Protocol, so it works
the same on every backend.  Nothing here prints: warnings travel back in the outcomes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from buildonce.errors import (
    CacheKeyError,
    InputError,
    IntegrityError,
    InvalidTransitionError,
    StoreError,
)
from buildonce.keys.cache_key import validate_key
from buildonce.model import REPOSITORY_QUOTA_BYTES
from buildonce.store import archive
from buildonce.store.base import (
    EntryRecord,
    Event,
    Lookup,
    ObjectStore,
    Progress,
    Store,
    _no_progress,
    now_utc,
)

#: GitHub's repository cache quota (decimal, as GitHub states it).
DEFAULT_QUOTA_BYTES = REPOSITORY_QUOTA_BYTES
#: Entries not used for this long are evicted (GitHub's default retention).
DEFAULT_MAX_UNUSED = timedelta(days=7)
#: One entry above this share of the quota gets a warning (spec: "comfortably under").
LARGE_ENTRY_SHARE = 0.10
#: Blobs without a record older than this are leftovers of killed savers.
ORPHAN_AGE = timedelta(hours=1)
MAX_KEYS = 10

#: Events from which non-collaborators can trigger a run on the default branch's code
#: (cache-semantics.md §4): GitHub's token is read-only there, and so are we.
UNTRUSTED_EVENTS = frozenset({"pull_request_target", "issue_comment"})

#: ``factory(label, total_bytes)`` returns the callback a transfer reports progress to.
ProgressFactory = Callable[[str, int | None], Progress]
Clock = Callable[[], datetime]


def _silent(_label: str, _total: int | None) -> Progress:
    return _no_progress


# -- keys -------------------------------------------------------------------------------------
def check_key(key: str, *, what: str = "key") -> str:
    """GitHub's client-side key rules (cache-semantics.md §2), as a one-line error."""
    return validate_key(key, where=what, fix=f"the {what}")


# -- scopes -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Scope:
    """Where a save goes and which scopes a restore may read, like GitHub's cache.

    ``current`` is the run's ref; ``readable`` is the current ref, then the pull request's
    base branch, then the default branch.  The default branch reads only itself, so a pull
    request's entry is never restored there.
    """

    current: str
    readable: tuple[str, ...]
    event_name: str | None = None

    @property
    def trusted(self) -> bool:
        return self.event_name not in UNTRUSTED_EVENTS


def _as_ref(name: str) -> str:
    return name if name.startswith("refs/") else f"refs/heads/{name}"


def default_branch(env: Mapping[str, str]) -> str:
    if env.get("BUILDONCE_DEFAULT_BRANCH"):
        return env["BUILDONCE_DEFAULT_BRANCH"]
    event_path = env.get("GITHUB_EVENT_PATH")
    if event_path:
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            payload = json.loads(Path(event_path).read_text(encoding="utf-8"))
            branch = payload["repository"]["default_branch"]
            if isinstance(branch, str) and branch:
                return branch
    return "main"


def scope_from_env(
    env: Mapping[str, str] | None = None,
    *,
    scope: str | None = None,
    default: str | None = None,
) -> Scope:
    """The scope from ``--scope`` or from GITHUB_REF/GITHUB_BASE_REF/GITHUB_EVENT_NAME."""
    environ = os.environ if env is None else env
    default_ref = _as_ref(default or default_branch(environ))
    current = _as_ref(scope) if scope else environ.get("GITHUB_REF") or default_ref
    readable = [current]
    base = environ.get("GITHUB_BASE_REF")
    if base and _as_ref(base) not in readable:
        readable.append(_as_ref(base))
    if default_ref not in readable:
        readable.append(default_ref)
    return Scope(current, tuple(readable), environ.get("GITHUB_EVENT_NAME") or None)


# -- outcomes ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SaveOutcome:
    created: bool
    record: EntryRecord | None
    key: str
    scope: str
    warnings: tuple[str, ...] = ()
    evicted: tuple[EntryRecord, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "alreadyExists": not self.created,
            "key": self.key,
            "scope": self.scope,
            "entry": self.record.to_json() if self.record else None,
            "warnings": list(self.warnings),
            "evicted": [r.key for r in self.evicted],
        }


@dataclass(frozen=True, slots=True)
class RestoreOutcome:
    key: str
    record: EntryRecord | None
    cache_hit: bool
    warnings: tuple[str, ...] = ()

    @property
    def matched_key(self) -> str:
        return self.record.key if self.record else ""

    @property
    def restored(self) -> bool:
        return self.record is not None

    @property
    def verified(self) -> bool:
        """Whether the content was checked against digests its writer recorded.

        ``False`` only for a restored entry that carries none (actions/cache wrote it): its
        digests were computed, but there was nothing to compare them with.
        """
        return self.record is not None and self.record.meta.get("verification") != "unverified"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key,
            "cacheHit": self.cache_hit,
            "matchedKey": self.matched_key,
            "restored": self.restored,
            "verified": self.verified,
            "entry": self.record.to_json() if self.record else None,
            "warnings": list(self.warnings),
        }
        if self.record is not None and not self.verified:
            data["verification"] = self.record.meta.get("verificationNote", "not verified")
        return data


# -- save -------------------------------------------------------------------------------------
@contextlib.contextmanager
def _scratch(store: Store) -> Iterator[Path]:
    """A scratch directory; on the store's own disk for a local store, so publishing links."""
    make = getattr(store, "make_temp_dir", None)
    path = Path(make()) if callable(make) else Path(tempfile.mkdtemp(prefix="buildonce-"))
    try:
        yield path
    finally:
        archive.remove_tree(path)


def _content_size(paths: Sequence[Path]) -> int:
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            for dirpath, _dirs, files in os.walk(path):
                for name in files:
                    with contextlib.suppress(OSError):
                        st = os.lstat(os.path.join(dirpath, name))
                        total += (
                            st.st_size if not os.path.islink(os.path.join(dirpath, name)) else 0
                        )
    return total


def save(
    store: Store,
    paths: Sequence[Path],
    *,
    key: str,
    scope: Scope,
    kind: str = "binary",
    event: str = "seed",
    job: str | None = None,
    allow_untrusted: bool = False,
    meta: Mapping[str, str] | None = None,
    quota_bytes: int = DEFAULT_QUOTA_BYTES,
    evict: bool = True,
    clock: Clock = now_utc,
    progress: ProgressFactory = _silent,
    path_lines: Sequence[str] | None = None,
) -> SaveOutcome:
    """Archive ``paths`` under ``key`` in ``scope.current``; the first writer wins.

    ``path_lines`` are the paths as the user wrote them (default: ``str`` of each path).
    GitHub's cache hashes them into the entry's version, as actions/cache does.
    """
    check_key(key)
    allowed_events = {"binary": ("seed", "rebuild"), "gomod": ("save",)}.get(kind)
    if allowed_events is None or event not in allowed_events:
        raise InputError(f"cannot create a {kind!r} entry with event {event!r}")
    if not paths:
        raise InputError("nothing to save", hint="name at least one PATH")
    if not scope.trusted and not allow_untrusted:
        raise StoreError(
            f"refusing to save from the untrusted trigger {scope.event_name!r}: anyone who "
            "can open a pull request could plant a binary that later runs with your secrets",
            where=key,
            hint="save from push/pull_request runs, or pass --allow-untrusted if you trust it",
        )
    for path in paths:
        if not path.exists():
            raise InputError("path does not exist", where=str(path), hint="build it first")
    if len(set(paths)) != len(paths):
        raise InputError("a path is listed twice", where=", ".join(str(p) for p in paths))
    lines = tuple(path_lines) if path_lines is not None else tuple(str(p) for p in paths)
    if len(lines) != len(paths):
        raise InputError("path_lines must name each path once", where=", ".join(lines))
    warnings: list[str] = []
    total = _content_size(paths)
    save_paths = getattr(store, "save_paths", None)
    if callable(save_paths):
        # The store writes its own archive format (GitHub's cache: actions/cache's tar.zst,
        # streamed straight into the upload) and reserves the key before archiving.
        draft_meta = dict(meta or {})
        draft_meta["event"] = event
        draft = EntryRecord(
            key=key,
            scope=scope.current,
            kind=kind,
            paths=lines,
            sha256="",
            size=0,
            content_size=total,
            compression=store.compression,
            created_at=clock(),
            origin_job=job,
            meta=draft_meta,
        )
        result = save_paths(draft, list(paths), progress("save", total))
        return SaveOutcome(result.created, result.record, key, scope.current)
    # Cheap "already exists" before archiving anything (GitHub reserves first, too).
    existing = store.lookup(Lookup((key,), (scope.current,), exact=True, paths=lines))
    if existing is not None:
        return SaveOutcome(False, existing, key, scope.current)
    with _scratch(store) as scratch:
        archive_path = scratch / "entry.tar"
        with open(archive_path, "wb") as out:
            packed = archive.pack(
                paths,
                out,
                compression=store.compression,
                progress=progress("save", total),
                chunk_algorithm=archive.preferred_chunk_algorithm(),
            )
        created_at = clock()
        record_meta = dict(meta or {})
        record_meta["event"] = event
        if packed.file_sha256:
            record_meta["fileSha256"] = packed.file_sha256
        record_meta.update(packed.chunk_meta())
        record = EntryRecord(
            key=key,
            scope=scope.current,
            kind=kind,
            paths=tuple(str(p) for p in paths),
            sha256=packed.sha256,
            size=packed.size,
            content_size=packed.content_size,
            compression=store.compression,
            created_at=created_at,
            origin_job=job,
            meta=record_meta,
        )
        result = store.publish(record, archive_path, progress("upload", packed.size))
    if not result.created:
        return SaveOutcome(False, result.record, key, scope.current)
    committed = result.record or record
    if committed.size > quota_bytes * LARGE_ENTRY_SHARE:
        warnings.append(
            f"entry {key} is {committed.size} bytes, {committed.size / quota_bytes:.0%} of the "
            f"{quota_bytes}-byte quota (more than {LARGE_ENTRY_SHARE:.0%}); strip the binary "
            "(-ldflags '-s -w') or raise the quota"
        )
    evicted: tuple[EntryRecord, ...] = ()
    if evict:
        # GitHub saves first and then evicts least-recently-used entries (§5); so do we.
        with contextlib.suppress(StoreError):
            evicted = tuple(
                r
                for r in prune(store, quota_bytes=quota_bytes, clock=clock).evicted
                if r.entry_id != committed.entry_id
            )
    return SaveOutcome(True, committed, key, scope.current, tuple(warnings), evicted)


# -- restore ----------------------------------------------------------------------------------
def restore(
    store: Store,
    dests: Sequence[Path],
    *,
    key: str,
    restore_keys: Sequence[str] = (),
    scope: Scope,
    exact: bool = False,
    kind: str | None = None,
    job: str | None = None,
    lookup_only: bool = False,
    tolerate_unavailable: bool = False,
    clock: Clock = now_utc,
    progress: ProgressFactory = _silent,
    path_lines: Sequence[str] | None = None,
) -> RestoreOutcome:
    """Restore the best match into ``dests``; a corrupt or unreachable entry is a miss.

    A store that cannot even be asked (bad endpoint, no credentials) raises StoreError,
    unless ``tolerate_unavailable`` (``prepare`` and ``gomod restore`` build instead).
    A failure *during* the download is always a miss with a warning.  Nothing reaches a
    destination before the whole archive was read and its sha256 and size matched the
    record; each destination is then replaced by one rename.
    """
    check_key(key)
    for restore_key in restore_keys:
        check_key(restore_key, what="restore key")
    if 1 + len(restore_keys) > MAX_KEYS:
        raise CacheKeyError(f"{1 + len(restore_keys)} keys given; at most {MAX_KEYS} are allowed")
    if not dests:
        raise InputError("nothing to restore into", hint="name at least one PATH")
    if len({os.path.abspath(d) for d in dests}) != len(dests):
        raise InputError("a destination is listed twice", where=", ".join(map(str, dests)))
    lines = tuple(path_lines) if path_lines is not None else tuple(str(d) for d in dests)
    request = Lookup((key, *restore_keys), scope.readable, exact=exact, kind=kind, paths=lines)
    warnings: list[str] = []
    try:
        record = store.lookup(request)
    except IntegrityError as exc:
        return RestoreOutcome(key, None, False, (f"cache lookup failed: {exc}",))
    except StoreError as exc:
        if not tolerate_unavailable:
            raise
        return RestoreOutcome(key, None, False, (f"cache unavailable, treating as a miss: {exc}",))
    if record is None:
        return RestoreOutcome(key, None, False)
    if len(record.paths) != len(dests):
        raise InputError(
            f"entry {record.key} holds {len(record.paths)} path(s) "
            f"({', '.join(record.paths)}) but {len(dests)} were given",
            hint="restore the same number of paths, in the order they were saved",
        )
    hit = record.key == key
    if lookup_only:
        return RestoreOutcome(key, record, hit)
    try:
        record = _fetch_verified(store, record, dests, progress)
    except IntegrityError as exc:
        reason = str(exc)
        with contextlib.suppress(StoreError):
            store.quarantine(record, reason)
        warnings.append(
            f"entry {record.key} failed verification and was quarantined; treating as a miss: "
            f"{reason}"
        )
        return RestoreOutcome(key, None, False, tuple(warnings))
    except StoreError as exc:
        warnings.append(f"could not download entry {record.key}; treating as a miss: {exc}")
        return RestoreOutcome(key, None, False, tuple(warnings))
    with contextlib.suppress(StoreError):
        store.add_event(record, Event("restore", clock(), job))
    return RestoreOutcome(key, record, hit, tuple(warnings))


def _fetch_verified(
    store: Store, record: EntryRecord, dests: Sequence[Path], progress: ProgressFactory
) -> EntryRecord:
    try:
        scratch = archive.scratch_dir_for(dests[0])
    except OSError as exc:
        raise InputError(
            f"cannot write next to the destination ({exc.strerror})", where=str(dests[0])
        ) from exc
    try:
        tick = progress("restore", record.size or None)
        opener = getattr(store, "open_blob", None)
        unpack_into = getattr(store, "unpack_into", None)
        if callable(unpack_into):
            # The store reads its own format and verifies it against the digests it carries;
            # only the rename below is ours.
            completed: EntryRecord = unpack_into(record, scratch, dests, tick)
            for index, dest in enumerate(dests):
                archive.place(scratch / str(index), dest)
            return completed
        chunks = archive.chunk_digests_of(record.meta)
        if (
            callable(opener)
            and record.compression == "none"
            and chunks is not None
            and archive.parallel_restore_supported()
        ):
            # Local fast path: verify chunk by chunk on every core while copying, instead
            # of one sha256 over the whole archive on one core (benchmarks/store_bench.py).
            with opener(record.blob) as source:
                archive.unpack_chunked(
                    source.fileno(),
                    scratch,
                    count=len(dests),
                    size=record.size,
                    chunk=chunks.size,
                    digests=chunks.digests,
                    progress=tick,
                    algorithm=chunks.algorithm,
                )
            for index, dest in enumerate(dests):
                archive.place(scratch / str(index), dest)
            return record
        if callable(opener):
            with opener(record.blob) as source:
                got = archive.unpack(
                    source, scratch, count=len(dests), compression=record.compression, progress=tick
                )
        else:
            with tempfile.TemporaryFile() as buffer:
                store.download(record, buffer, tick)
                buffer.seek(0)
                got = archive.unpack(
                    buffer,
                    scratch,
                    count=len(dests),
                    compression=record.compression,
                    progress=_no_progress,
                )
        if got.sha256 != record.sha256 or got.size != record.size:
            raise IntegrityError(
                f"content hashes to {got.sha256[:16]}... ({got.size} bytes), the record says "
                f"{record.sha256[:16]}... ({record.size} bytes)",
                where=record.key,
            )
        for index, dest in enumerate(dests):
            archive.place(scratch / str(index), dest)
        return record
    except OSError as exc:
        raise InputError(
            f"cannot restore into the destination ({exc.strerror or exc})",
            where=str(getattr(exc, "filename", None) or dests[0]),
        ) from exc
    finally:
        archive.remove_tree(scratch)


# -- history ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HistoryRow:
    event: str
    source: str
    target: str
    at: datetime
    job: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "from": self.source,
            "to": self.target,
            "at": self.at.isoformat(),
            "job": self.job,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class EntryHistory:
    record: EntryRecord
    rows: tuple[HistoryRow, ...]
    state: str
    last_used: datetime
    consumers: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "entry": self.record.to_json(),
            "state": self.state,
            "lastUsed": self.last_used.isoformat(),
            "consumers": list(self.consumers),
            "history": [r.to_json() for r in self.rows],
        }


def history(store: Store, record: EntryRecord) -> EntryHistory:
    """Replay an entry's events through the model's lifecycle tables.

    A binary entry follows BinaryCacheEntry (Missing -seed-> Seeded, Missing -rebuild->
    Updated, -restore-> Restored); a Go module cache entry follows GoModuleCache (Warm or
    Cold -save-> Updated -invalidate-> Invalid; restores are uses, not transitions).  The
    creation transition comes from the commit record itself, so a saver killed right after
    committing still leaves a complete history.
    """
    from buildonce.model import (
        ENTRY_LIFECYCLE,
        MODULE_CACHE_LIFECYCLE,
        EntryEvent,
        EntryState,
        ModuleCacheEvent,
        ModuleCacheState,
    )

    events = store.events(record)
    rows: list[HistoryRow] = []
    consumers: dict[str, None] = {}
    last_used = record.created_at
    if record.kind == "gomod":
        mstate = ModuleCacheState(record.meta.get("initial", ModuleCacheState.COLD.value))
        target = MODULE_CACHE_LIFECYCLE.next_state(mstate, ModuleCacheEvent.SAVE)
        rows.append(
            HistoryRow("save", mstate.value, target.value, record.created_at, record.origin_job)
        )
        mstate = target
        for ev in events:
            if ev.event == ModuleCacheEvent.INVALIDATE.value:
                try:
                    nxt = MODULE_CACHE_LIFECYCLE.next_state(mstate, ModuleCacheEvent.INVALIDATE)
                except InvalidTransitionError:
                    continue  # invalidated twice by racing savers: the first one counts
                rows.append(HistoryRow(ev.event, mstate.value, nxt.value, ev.at, ev.job, ev.detail))
                mstate = nxt
            else:
                rows.append(
                    HistoryRow(ev.event, mstate.value, mstate.value, ev.at, ev.job, ev.detail)
                )
                if ev.event == "restore":
                    last_used = max(last_used, ev.at)
                    if ev.job:
                        consumers.setdefault(ev.job, None)
        state = mstate.value
    else:
        estate = EntryState.MISSING
        try:
            created = EntryEvent(record.meta.get("event", EntryEvent.SEED.value))
        except ValueError:
            created = (
                EntryEvent.SEED
            )  # a record from another writer: assume the build job seeded it
        target_state = ENTRY_LIFECYCLE.next_state(estate, created)
        rows.append(
            HistoryRow(
                created.value,
                estate.value,
                target_state.value,
                record.created_at,
                record.origin_job,
            )
        )
        estate = target_state
        for ev in events:
            try:
                nxt_state = ENTRY_LIFECYCLE.next_state(estate, EntryEvent(ev.event))
            except (ValueError, InvalidTransitionError):
                rows.append(
                    HistoryRow(ev.event, estate.value, estate.value, ev.at, ev.job, ev.detail)
                )
                continue
            rows.append(
                HistoryRow(ev.event, estate.value, nxt_state.value, ev.at, ev.job, ev.detail)
            )
            estate = nxt_state
            if ev.event == EntryEvent.RESTORE.value:
                last_used = max(last_used, ev.at)
                if ev.job:
                    consumers.setdefault(ev.job, None)
        state = estate.value
    return EntryHistory(record, tuple(rows), state, last_used, tuple(consumers))


def find_entry(store: Store, key: str, scope: str | None = None) -> EntryRecord:
    from buildonce.errors import EntryNotFoundError

    matches = [r for r in store.entries(scope) if r.key == key]
    if not matches:
        raise EntryNotFoundError(
            "no cache entry has this key", where=key, hint="list entries with `buildonce cache ls`"
        )
    return max(matches, key=lambda r: r.created_at)


# -- eviction ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PruneOutcome:
    evicted: tuple[EntryRecord, ...]
    reasons: tuple[str, ...]
    orphans_removed: int
    remaining_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "evicted": [
                {"key": r.key, "scope": r.scope, "size": r.size, "reason": why}
                for r, why in zip(self.evicted, self.reasons, strict=True)
            ],
            "orphansRemoved": self.orphans_removed,
            "remainingBytes": self.remaining_bytes,
        }


def prune(
    store: Store,
    *,
    quota_bytes: int = DEFAULT_QUOTA_BYTES,
    max_unused: timedelta = DEFAULT_MAX_UNUSED,
    clock: Clock = now_utc,
    remove_all: bool = False,
) -> PruneOutcome:
    """Evict like GitHub (§5): Invalid entries, entries unused for ``max_unused``, then the
    least recently used until the total fits ``quota_bytes``."""
    now = clock()
    infos = [history(store, r) for r in store.entries()]
    evicted: list[EntryRecord] = []
    reasons: list[str] = []

    def evict(info: EntryHistory, why: str) -> None:
        store.delete(info.record)
        evicted.append(info.record)
        reasons.append(why)

    kept: list[EntryHistory] = []
    for info in infos:
        if remove_all:
            evict(info, "all")
        elif info.state == "Invalid":
            evict(info, "invalid")
        elif now - info.last_used > max_unused:
            evict(info, f"unused for more than {max_unused.days} days")
        else:
            kept.append(info)
    total = sum(i.record.size for i in kept)
    for info in sorted(kept, key=lambda i: i.last_used):
        if total <= quota_bytes:
            break
        evict(info, "least recently used over the quota")
        total -= info.record.size
    orphans = _remove_orphans(store, now) if isinstance(store, ObjectStore) else 0
    return PruneOutcome(tuple(evicted), tuple(reasons), orphans, total)


def _remove_orphans(store: ObjectStore, now: datetime) -> int:
    referenced = {r.blob for r in store.entries()}
    removed = 0
    for name in store.blob_names():
        if name in referenced:
            continue
        # blobs/<sha256>-<unix seconds>-<random>: the time says whether a saver may still
        # be between upload and commit.
        try:
            stamp = int(name.rsplit("-", 2)[1])
        except (IndexError, ValueError):
            stamp = 0
        if now.timestamp() - stamp > ORPHAN_AGE.total_seconds():
            store.delete_blob(name)
            removed += 1
    clean = getattr(store, "clean_temp", None)
    if callable(clean):
        removed += int(clean(ORPHAN_AGE.total_seconds(), now.timestamp()))
    return removed


# -- stats ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Stats:
    entries: int
    total_bytes: int
    quota_bytes: int
    by_scope: Mapping[str, int]
    by_state: Mapping[str, int]
    large: tuple[EntryRecord, ...]

    @property
    def share(self) -> float:
        return self.total_bytes / self.quota_bytes if self.quota_bytes else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "totalBytes": self.total_bytes,
            "quotaBytes": self.quota_bytes,
            "share": round(self.share, 6),
            "byScope": dict(self.by_scope),
            "byState": dict(self.by_state),
            "largeEntries": [r.key for r in self.large],
        }


def stats(store: Store, *, quota_bytes: int = DEFAULT_QUOTA_BYTES) -> Stats:
    infos = [history(store, r) for r in store.entries()]
    by_scope: dict[str, int] = {}
    by_state: dict[str, int] = {}
    for info in infos:
        by_scope[info.record.scope] = by_scope.get(info.record.scope, 0) + 1
        by_state[info.state] = by_state.get(info.state, 0) + 1
    large = tuple(i.record for i in infos if i.record.size > quota_bytes * LARGE_ENTRY_SHARE)
    return Stats(
        len(infos), sum(i.record.size for i in infos), quota_bytes, by_scope, by_state, large
    )
