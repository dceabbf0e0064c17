"""BinaryCacheEntry: the compiled binary stored in the cache (spec § BinaryCacheEntry).

Lifecycle (spec "State Transitions", plus what the relationships force):

========  =========  =========  ======================================================
from      event      to         why
========  =========  =========  ======================================================
Missing   seed       Seeded     spec 1: binary compiled and saved to cache
Seeded    restore    Restored   spec 2: a downstream job retrieves the cached binary
Restored  rebuild    Updated    spec 3: a job rebuilt after a miss and re-saved
Restored  restore    Restored   relationship 1--*: every further consumer restores it too
Updated   restore    Restored   consumers restore the re-saved entry
Missing   rebuild    Updated    domain rule 1: a downstream job rebuilds on a miss and
                                must re-save; nothing was seeded before it
========  =========  =========  ======================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from buildonce.model import _validate as v
from buildonce.model.lifecycle import Lifecycle, Transition, last_of

ENTITY = "BinaryCacheEntry"

#: GitHub's default repository cache quota (10 GB aggregate, decimal as GitHub states it).
REPOSITORY_QUOTA_BYTES = 10 * 1000**3
#: "comfortably under the quota": one entry may take at most this share before we warn.
COMFORTABLE_SHARE = 0.10
#: The spec's default builder job.
DEFAULT_ORIGIN_JOB = "build-artifact"


class EntryState(Enum):
    MISSING = "Missing"
    SEEDED = "Seeded"
    RESTORED = "Restored"
    UPDATED = "Updated"


class EntryEvent(Enum):
    SEED = "seed"
    RESTORE = "restore"
    REBUILD = "rebuild"


ENTRY_TRANSITIONS: Mapping[tuple[EntryState, EntryEvent], EntryState] = {
    (EntryState.MISSING, EntryEvent.SEED): EntryState.SEEDED,
    (EntryState.SEEDED, EntryEvent.RESTORE): EntryState.RESTORED,
    (EntryState.RESTORED, EntryEvent.REBUILD): EntryState.UPDATED,
    (EntryState.RESTORED, EntryEvent.RESTORE): EntryState.RESTORED,
    (EntryState.UPDATED, EntryEvent.RESTORE): EntryState.RESTORED,
    (EntryState.MISSING, EntryEvent.REBUILD): EntryState.UPDATED,
}
ENTRY_LIFECYCLE: Lifecycle[EntryState, EntryEvent] = Lifecycle(ENTITY, ENTRY_TRANSITIONS)

#: States in which the binary exists and consumers may smoke-test it (validation rule 2).
AVAILABLE_STATES = frozenset({EntryState.SEEDED, EntryState.RESTORED, EntryState.UPDATED})
#: Events that (re-)save the binary: each one makes a new artifact with a new producer.
SAVE_EVENTS = frozenset({EntryEvent.SEED.value, EntryEvent.REBUILD.value})
#: JSON field names, in the spec's order, then the lifecycle fields buildonce adds.
JSON_FIELDS = (
    "key",
    "paths",
    "sizeBytes",
    "createdAt",
    "originJob",
    "state",
    "history",
    "quotaBytes",
)


def check_binary_key(key: str) -> str:
    """Validation rule 1: the key encodes runner OS, Go toolchain and the source hashes."""
    v.check_key_syntax(ENTITY, key)
    if v.os_in_key(key) is None:
        raise v.fail(
            ENTITY,
            "key",
            "key-encodes-os",
            f"key {key!r} does not name the runner OS",
            hint="start the key with ${{ runner.os }}, e.g. Linux-app-bin-1.25.4-<hash>",
        )
    if v.go_version_in_key(key) is None:
        raise v.fail(
            ENTITY,
            "key",
            "key-encodes-toolchain",
            f"key {key!r} does not contain the Go toolchain version",
            hint="include the Go version, e.g. ...-bin-1.25.4-<hash>",
        )
    if not v.hashes_in_key(key):
        # A hex run of 6+ characters: the spec's example key ends in a 6-digit hash, and
        # hashFiles gives 64.  Which files were hashed cannot be read back from the key.
        raise v.fail(
            ENTITY,
            "key",
            "key-encodes-source-hash",
            f"key {key!r} does not contain a hash of go.mod, go.sum and the Go sources",
            hint="append hashFiles('go.mod', 'go.sum', '**/*.go') (buildonce key computes it)",
        )
    return key


@dataclass(frozen=True, slots=True)
class BinaryCacheEntry:
    """A compiled binary in the cache.  Immutable: transitions return a new value.

    ``size_bytes`` and ``created_at`` describe the saved binary, so they are required once
    the entry is available (Seeded, Restored, Updated); a Missing entry may leave them unset.
    ``quota_bytes`` is the repository's cache quota (GitHub's default 10 GB; admins can
    raise it), against which validation rule 3 is checked.
    """

    key: str
    paths: tuple[str, ...]
    size_bytes: int | None = None
    created_at: datetime | None = None
    origin_job: str = DEFAULT_ORIGIN_JOB
    state: EntryState = EntryState.MISSING
    history: tuple[Transition, ...] = field(default=())
    quota_bytes: int = REPOSITORY_QUOTA_BYTES

    def __post_init__(self) -> None:
        check_binary_key(self.key)
        object.__setattr__(self, "paths", v.check_paths(ENTITY, self.paths))
        v.check_int(ENTITY, "quotaBytes", self.quota_bytes, minimum=1)
        if self.size_bytes is not None:
            v.check_int(ENTITY, "sizeBytes", self.size_bytes)
            if self.size_bytes >= self.quota_bytes:
                raise v.fail(
                    ENTITY,
                    "sizeBytes",
                    "size-under-quota",
                    f"sizeBytes {self.size_bytes} does not fit the {self.quota_bytes}-byte "
                    "cache quota",
                    hint="strip the binary (-ldflags '-s -w') or cache less",
                )
        v.check_datetime(ENTITY, "createdAt", self.created_at, optional=True)
        v.check_job_id(ENTITY, "originJob", self.origin_job)
        if not isinstance(self.state, EntryState):
            raise v.fail(ENTITY, "state", "state-enum", f"unknown state {self.state!r}")
        if self.state in AVAILABLE_STATES:
            # Validation rule 2 speaks of an entry that exists: it has a size and a save time.
            if self.size_bytes is None:
                raise v.fail(
                    ENTITY,
                    "sizeBytes",
                    "available-has-size",
                    f"an entry in state {self.state.value} must have sizeBytes",
                )
            if self.created_at is None:
                raise v.fail(
                    ENTITY,
                    "createdAt",
                    "available-has-created-at",
                    f"an entry in state {self.state.value} must have createdAt",
                )
        history = ENTRY_LIFECYCLE.check_history(self.history, self.state)
        object.__setattr__(self, "history", history)
        saved = last_of(history, SAVE_EVENTS)
        if saved is not None:
            # The latest save defines the artifact: its time and the job that produced it.
            if self.created_at != saved.at:
                raise v.fail(
                    ENTITY,
                    "createdAt",
                    "created-at-is-last-save",
                    f"createdAt differs from the time of the last {saved.event} "
                    f"({saved.at.isoformat()})",
                )
            if saved.job is not None and self.origin_job != saved.job:
                raise v.fail(
                    ENTITY,
                    "originJob",
                    "origin-is-last-saver",
                    f"originJob is {self.origin_job!r} but the last {saved.event} was by "
                    f"{saved.job!r}",
                )

    # -- derived -------------------------------------------------------------------------
    @property
    def quota_share(self) -> float:
        return (self.size_bytes or 0) / self.quota_bytes

    @property
    def comfortably_under_quota(self) -> bool:
        """Validation rule 3, as a soft check: callers warn when this is false.

        Over the quota GitHub still saves, then evicts least-recently-used entries hourly;
        one entry taking more than a tenth of the quota makes that eviction churn.
        """
        return self.quota_share <= COMFORTABLE_SHARE

    def quota_warning(self) -> str | None:
        """The warning line for validation rule 3, or ``None`` when the size is comfortable."""
        if self.comfortably_under_quota:
            return None
        return (
            f"cache entry {self.key} is {self.size_bytes} bytes, {self.quota_share:.0%} of the "
            f"{self.quota_bytes}-byte repository cache quota; other entries will be evicted"
        )

    @property
    def available(self) -> bool:
        """Validation rule 2: the binary exists, so consumers may run their smoke tests."""
        return self.state in AVAILABLE_STATES

    @property
    def consumers(self) -> tuple[str, ...]:
        """Jobs that restored this entry, in order, each once (relationship 1--* CIJob)."""
        seen: dict[str, None] = {}
        for t in self.history:
            if t.event == EntryEvent.RESTORE.value and t.job:
                seen.setdefault(t.job, None)
        return tuple(seen)

    def allowed_events(self) -> tuple[EntryEvent, ...]:
        return ENTRY_LIFECYCLE.allowed_events(self.state)

    # -- transitions ---------------------------------------------------------------------
    def apply(
        self,
        event: EntryEvent,
        *,
        at: datetime,
        job: str | None = None,
        size_bytes: int | None = None,
    ) -> BinaryCacheEntry:
        """Apply one event; raises and leaves ``self`` as it was when it is not allowed."""
        target, record = ENTRY_LIFECYCLE.record(self.state, event, at=at, job=job)
        changes: dict[str, Any] = {"state": target, "history": (*self.history, record)}
        if event.value in SAVE_EVENTS:
            # A (re-)save is a new artifact: it has a new creation time and producing job.
            changes["created_at"] = at
            if job is not None:
                changes["origin_job"] = job
            if size_bytes is not None:
                changes["size_bytes"] = size_bytes
        elif size_bytes is not None:
            raise v.fail(
                ENTITY,
                "sizeBytes",
                "size-set-on-save",
                f"sizeBytes changes only when the binary is saved, not on {event.value}",
            )
        return replace(self, **changes)

    def seed(
        self, *, at: datetime, job: str | None = None, size_bytes: int | None = None
    ) -> BinaryCacheEntry:
        return self.apply(EntryEvent.SEED, at=at, job=job, size_bytes=size_bytes)

    def restore(self, *, at: datetime, job: str) -> BinaryCacheEntry:
        return self.apply(EntryEvent.RESTORE, at=at, job=job)

    def rebuild(self, *, at: datetime, job: str, size_bytes: int | None = None) -> BinaryCacheEntry:
        return self.apply(EntryEvent.REBUILD, at=at, job=job, size_bytes=size_bytes)

    # -- JSON ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "paths": list(self.paths),
            "sizeBytes": self.size_bytes,
            "createdAt": self.created_at.isoformat() if self.created_at else None,
            "originJob": self.origin_job,
            "state": self.state.value,
            "history": [t.to_json() for t in self.history],
            "quotaBytes": self.quota_bytes,
        }

    @classmethod
    def from_json(cls, data: Any) -> BinaryCacheEntry:
        """The inverse of :meth:`to_json`; any malformed input raises ValidationError."""
        data = v.check_object(ENTITY, data, JSON_FIELDS)
        v.require(ENTITY, data, "key", "paths")
        return cls(
            key=data["key"],
            paths=v.as_tuple(data["paths"]),
            size_bytes=data.get("sizeBytes"),
            created_at=v.parse_datetime(ENTITY, "createdAt", data.get("createdAt"), optional=True),
            origin_job=data.get("originJob", DEFAULT_ORIGIN_JOB),
            state=_enum(data.get("state", EntryState.MISSING.value)),
            history=ENTRY_LIFECYCLE.parse_history(data.get("history", [])),
            quota_bytes=data.get("quotaBytes", REPOSITORY_QUOTA_BYTES),
        )


def _enum(value: Any) -> EntryState:
    for state in EntryState:
        if state.value == value:
            return state
    allowed = ", ".join(s.value for s in EntryState)
    raise v.fail(ENTITY, "state", "state-enum", f"{value!r} is not one of {allowed}")
