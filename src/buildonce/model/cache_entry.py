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
from buildonce.model.lifecycle import Lifecycle, Transition

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
    """A compiled binary in the cache.  Immutable: transitions return a new value."""

    key: str
    paths: tuple[str, ...]
    size_bytes: int
    created_at: datetime
    origin_job: str = DEFAULT_ORIGIN_JOB
    state: EntryState = EntryState.MISSING
    history: tuple[Transition, ...] = field(default=())
    quota_bytes: int = REPOSITORY_QUOTA_BYTES

    def __post_init__(self) -> None:
        check_binary_key(self.key)
        object.__setattr__(self, "paths", v.check_paths(ENTITY, self.paths))
        if isinstance(self.size_bytes, bool) or not isinstance(self.size_bytes, int):
            raise v.fail(ENTITY, "sizeBytes", "size-integer", "sizeBytes must be an integer")
        if self.size_bytes < 0:
            raise v.fail(ENTITY, "sizeBytes", "size-non-negative", "sizeBytes must not be negative")
        if self.size_bytes >= self.quota_bytes:
            raise v.fail(
                ENTITY,
                "sizeBytes",
                "size-under-quota",
                f"sizeBytes {self.size_bytes} does not fit the {self.quota_bytes}-byte cache quota",
                hint="strip the binary (-ldflags '-s -w') or cache less",
            )
        v.check_datetime(ENTITY, "createdAt", self.created_at)
        v.check_job_id(ENTITY, "originJob", self.origin_job)
        if not isinstance(self.state, EntryState):
            raise v.fail(ENTITY, "state", "state-enum", f"unknown state {self.state!r}")

    # -- derived -------------------------------------------------------------------------
    @property
    def quota_share(self) -> float:
        return self.size_bytes / self.quota_bytes

    @property
    def comfortably_under_quota(self) -> bool:
        """Validation rule 3, as a soft check: callers warn when this is false."""
        return self.quota_share <= COMFORTABLE_SHARE

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
    def apply(self, event: EntryEvent, *, at: datetime, job: str | None = None) -> BinaryCacheEntry:
        target = ENTRY_LIFECYCLE.next_state(self.state, event)
        v.check_datetime(ENTITY, "at", at)
        if job is not None:
            v.check_job_id(ENTITY, "job", job)
        record = Transition(event.value, self.state.value, target.value, at, job)
        changes: dict[str, Any] = {"state": target, "history": (*self.history, record)}
        if event in (EntryEvent.SEED, EntryEvent.REBUILD):
            # A (re-)save is a new artifact: it has a new creation time and producing job.
            changes["created_at"] = at
            if job is not None:
                changes["origin_job"] = job
        return replace(self, **changes)

    def seed(self, *, at: datetime, job: str | None = None) -> BinaryCacheEntry:
        return self.apply(EntryEvent.SEED, at=at, job=job)

    def restore(self, *, at: datetime, job: str) -> BinaryCacheEntry:
        return self.apply(EntryEvent.RESTORE, at=at, job=job)

    def rebuild(self, *, at: datetime, job: str, size_bytes: int | None = None) -> BinaryCacheEntry:
        updated = self.apply(EntryEvent.REBUILD, at=at, job=job)
        return updated if size_bytes is None else replace(updated, size_bytes=size_bytes)

    # -- JSON ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "paths": list(self.paths),
            "sizeBytes": self.size_bytes,
            "createdAt": self.created_at.isoformat(),
            "originJob": self.origin_job,
            "state": self.state.value,
            "history": [t.to_json() for t in self.history],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BinaryCacheEntry:
        if not isinstance(data, Mapping):
            raise v.fail(ENTITY, "(root)", "object", "expected a JSON object")
        for name in ("key", "paths", "sizeBytes", "createdAt"):
            if name not in data:
                raise v.fail(ENTITY, name, "required", f"{name} is required")
        state = _enum(EntryState, data.get("state", EntryState.MISSING.value), "state")
        created = v.parse_datetime(ENTITY, "createdAt", data["createdAt"])
        assert created is not None
        return cls(
            key=data["key"],
            paths=tuple(data["paths"]) if isinstance(data["paths"], list) else data["paths"],
            size_bytes=data["sizeBytes"],
            created_at=created,
            origin_job=data.get("originJob", DEFAULT_ORIGIN_JOB),
            state=state,
            history=_history(data.get("history", [])),
        )


def _enum(kind: type[EntryState], value: Any, name: str) -> EntryState:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(s.value for s in kind)
        raise v.fail(ENTITY, name, "state-enum", f"{value!r} is not one of {allowed}") from None


def _history(items: Any) -> tuple[Transition, ...]:
    return parse_history(ENTITY, items)


def parse_history(entity: str, items: Any) -> tuple[Transition, ...]:
    if not isinstance(items, list):
        raise v.fail(entity, "history", "list", "history must be a list")
    result = []
    for item in items:
        if not isinstance(item, Mapping):
            raise v.fail(entity, "history", "object", "history items must be objects")
        at = v.parse_datetime(entity, "history.at", item.get("at"))
        assert at is not None
        result.append(
            Transition(
                str(item.get("event")),
                str(item.get("from")),
                str(item.get("to")),
                at,
                item.get("job"),
            )
        )
    return tuple(result)
