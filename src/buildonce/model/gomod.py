"""GoModuleCache: the shared Go module and build cache (spec § GoModuleCache).

Lifecycle, exactly the spec's three transitions:

=======  ==========  =======  ==========================================
from     event       to       spec
=======  ==========  =======  ==========================================
Warm     save        Updated  1: cache restored, dependencies saved
Cold     save        Updated  2: miss, dependencies downloaded and saved
Updated  invalidate  Invalid  3: go.sum or the toolchain changed
=======  ==========  =======  ==========================================

The initial state follows ``hit``: a restored cache starts Warm, a miss starts Cold.  Invalid
is terminal: a changed go.sum or toolchain means a new key, hence a new GoModuleCache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from buildonce.errors import ValidationError
from buildonce.model import _validate as v
from buildonce.model.lifecycle import Lifecycle, Transition, last_of

ENTITY = "GoModuleCache"

#: The spec's example paths (GOCACHE and GOMODCACHE on a Linux runner).
DEFAULT_PATHS = ("~/.cache/go-build", "~/go/pkg/mod")
#: States reached by a save: the cache has been written, so lastUpdated is known.
SAVED_STATES = frozenset({"Updated", "Invalid"})
#: JSON field names, in the spec's order, then the lifecycle fields buildonce adds.
JSON_FIELDS = ("key", "paths", "hit", "toolchain", "lastUpdated", "state", "history")


class ModuleCacheState(Enum):
    WARM = "Warm"
    COLD = "Cold"
    UPDATED = "Updated"
    INVALID = "Invalid"


class ModuleCacheEvent(Enum):
    SAVE = "save"
    INVALIDATE = "invalidate"


#: The states a cache starts in, chosen by ``hit``.
INITIAL_STATES = (ModuleCacheState.WARM, ModuleCacheState.COLD)

MODULE_CACHE_TRANSITIONS: Mapping[tuple[ModuleCacheState, ModuleCacheEvent], ModuleCacheState] = {
    (ModuleCacheState.WARM, ModuleCacheEvent.SAVE): ModuleCacheState.UPDATED,
    (ModuleCacheState.COLD, ModuleCacheEvent.SAVE): ModuleCacheState.UPDATED,
    (ModuleCacheState.UPDATED, ModuleCacheEvent.INVALIDATE): ModuleCacheState.INVALID,
}
MODULE_CACHE_LIFECYCLE: Lifecycle[ModuleCacheState, ModuleCacheEvent] = Lifecycle(
    ENTITY, MODULE_CACHE_TRANSITIONS
)


def check_module_key(key: str, toolchain: str | None = None) -> str:
    """Validation rule 1 and domain rule 2: the key names the OS, the Go version and the
    go.sum hash; with ``toolchain`` given, the version in the key must be that toolchain."""
    v.check_key_syntax(ENTITY, key)
    if v.os_in_key(key) is None:
        raise v.fail(
            ENTITY,
            "key",
            "key-encodes-os",
            f"key {key!r} does not name the runner OS",
            hint="start the key with ${{ runner.os }}",
        )
    versions = v.go_versions_in_key(key)
    if not versions:
        # The spec's example key (ubuntu-go-<hash>) omits the version, but domain rule 2
        # requires it: a toolchain upgrade must not reuse modules built by the old one.
        raise v.fail(
            ENTITY,
            "key",
            "key-encodes-toolchain",
            f"key {key!r} does not contain the Go version",
            hint="e.g. ${{ runner.os }}-go-1.25.4-${{ hashFiles('go.sum') }}",
        )
    if toolchain is not None and toolchain not in versions:
        raise v.fail(
            ENTITY,
            "key",
            "key-matches-toolchain",
            f"key {key!r} names Go {versions[0]} but the toolchain is {toolchain}",
            hint="build the key from the toolchain the job installs",
        )
    if not v.hashes_in_key(key):
        raise v.fail(
            ENTITY,
            "key",
            "key-encodes-gosum-hash",
            f"key {key!r} does not contain the go.sum hash",
            hint="append hashFiles('go.sum') so branches with other dependencies do not collide",
        )
    return key


def check_toolchain(value: Any, field_name: str = "toolchain") -> str:
    if not isinstance(value, str) or not v.GO_VERSION.fullmatch(value):
        raise v.fail(
            ENTITY,
            field_name,
            "toolchain-version",
            f"{value!r} is not a Go version",
            hint="use the form setup-go reports, e.g. 1.25.4",
        )
    return value


@dataclass(frozen=True, slots=True)
class GoModuleCache:
    """The Go module (GOMODCACHE) and build (GOCACHE) cache shared by a run's jobs.

    ``hit`` says whether the cache was restored when the run began; ``state`` defaults to
    Warm or Cold accordingly.
    """

    key: str
    toolchain: str
    hit: bool
    paths: tuple[str, ...] = DEFAULT_PATHS
    last_updated: datetime | None = None
    state: ModuleCacheState | None = None
    history: tuple[Transition, ...] = field(default=())

    def __post_init__(self) -> None:
        check_toolchain(self.toolchain)
        check_module_key(self.key, self.toolchain)
        v.check_bool(ENTITY, "hit", self.hit)
        object.__setattr__(self, "paths", v.check_paths(ENTITY, self.paths))
        v.check_datetime(ENTITY, "lastUpdated", self.last_updated, optional=True)
        initial = ModuleCacheState.WARM if self.hit else ModuleCacheState.COLD
        if self.state is None:
            object.__setattr__(self, "state", initial)
        elif not isinstance(self.state, ModuleCacheState):
            raise v.fail(ENTITY, "state", "state-enum", f"unknown state {self.state!r}")
        elif self.state in (ModuleCacheState.WARM, ModuleCacheState.COLD) and self.state != initial:
            raise v.fail(
                ENTITY,
                "state",
                "state-matches-hit",
                f"state {self.state.value} contradicts hit={str(self.hit).lower()}",
                hint="Warm means the cache was restored (hit=true), Cold means a miss",
            )
        if self.current.value in SAVED_STATES and self.last_updated is None:
            raise v.fail(
                ENTITY,
                "lastUpdated",
                "saved-has-last-updated",
                f"a cache in state {self.current.value} has been saved, so lastUpdated is required",
            )
        history = MODULE_CACHE_LIFECYCLE.check_history(self.history, self.current)
        object.__setattr__(self, "history", history)
        starts = history[0].source if history else None
        if starts in {s.value for s in INITIAL_STATES} and starts != initial.value:
            raise v.fail(
                ENTITY,
                "history[0]",
                "history-initial",
                f"history starts in {history[0].source} but hit="
                f"{str(self.hit).lower()} means the cache started {initial.value}",
            )
        saved = last_of(history, frozenset({ModuleCacheEvent.SAVE.value}))
        if saved is not None and self.last_updated != saved.at:
            raise v.fail(
                ENTITY,
                "lastUpdated",
                "last-updated-is-last-save",
                f"lastUpdated differs from the time of the last save ({saved.at.isoformat()})",
            )

    @property
    def current(self) -> ModuleCacheState:
        assert self.state is not None  # set in __post_init__
        return self.state

    @property
    def saved_by(self) -> tuple[str, ...]:
        """Jobs that saved this cache, in order, each once."""
        seen: dict[str, None] = {}
        for t in self.history:
            if t.event == ModuleCacheEvent.SAVE.value and t.job:
                seen.setdefault(t.job, None)
        return tuple(seen)

    def allowed_events(self) -> tuple[ModuleCacheEvent, ...]:
        return MODULE_CACHE_LIFECYCLE.allowed_events(self.current)

    def miss_message(self) -> str | None:
        """Validation rule 3: on a miss the job logs this line and carries on (never fails)."""
        if self.hit:
            return None
        return (
            f"Go module cache miss for key {self.key} (toolchain {self.toolchain}); "
            "continuing with a cold cache"
        )

    def check_toolchain_matches(self, build_toolchain: str) -> None:
        """Validation rule 2: the cache's toolchain equals the one the build job used."""
        check_toolchain(build_toolchain, "buildToolchain")
        if build_toolchain != self.toolchain:
            raise ValidationError(
                f"cache toolchain {self.toolchain} differs from the build job's {build_toolchain}",
                entity=ENTITY,
                field="toolchain",
                rule="toolchain-matches-build",
                hint="key the module cache on the Go version the build job installs",
            )

    def apply(
        self, event: ModuleCacheEvent, *, at: datetime, job: str | None = None
    ) -> GoModuleCache:
        """Apply one event; raises and leaves ``self`` as it was when it is not allowed."""
        target, record = MODULE_CACHE_LIFECYCLE.record(self.current, event, at=at, job=job)
        changes: dict[str, Any] = {"state": target, "history": (*self.history, record)}
        if event is ModuleCacheEvent.SAVE:
            changes["last_updated"] = at
        return replace(self, **changes)

    def save(self, *, at: datetime, job: str | None = None) -> GoModuleCache:
        return self.apply(ModuleCacheEvent.SAVE, at=at, job=job)

    def invalidate(self, *, at: datetime, job: str | None = None) -> GoModuleCache:
        return self.apply(ModuleCacheEvent.INVALIDATE, at=at, job=job)

    def is_invalidated_by(self, *, gosum_hash: str, toolchain: str) -> bool:
        """Spec transition 3's trigger: go.sum or the toolchain changed since this was saved."""
        return toolchain != self.toolchain or gosum_hash.lower() not in self.key.lower()

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "paths": list(self.paths),
            "hit": self.hit,
            "toolchain": self.toolchain,
            "lastUpdated": self.last_updated.isoformat() if self.last_updated else None,
            "state": self.current.value,
            "history": [t.to_json() for t in self.history],
        }

    @classmethod
    def from_json(cls, data: Any) -> GoModuleCache:
        """The inverse of :meth:`to_json`; any malformed input raises ValidationError."""
        data = v.check_object(ENTITY, data, JSON_FIELDS)
        v.require(ENTITY, data, "key", "hit", "toolchain")
        state = None
        if data.get("state") is not None:
            state = next((s for s in ModuleCacheState if s.value == data["state"]), None)
            if state is None:
                allowed = ", ".join(s.value for s in ModuleCacheState)
                raise v.fail(
                    ENTITY, "state", "state-enum", f"{data['state']!r} is not one of {allowed}"
                )
        return cls(
            key=data["key"],
            toolchain=data["toolchain"],
            hit=data["hit"],
            paths=v.as_tuple(data.get("paths", list(DEFAULT_PATHS))),
            last_updated=v.parse_datetime(
                ENTITY, "lastUpdated", data.get("lastUpdated"), optional=True
            ),
            state=state,
            history=MODULE_CACHE_LIFECYCLE.parse_history(data.get("history", [])),
        )
