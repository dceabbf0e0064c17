"""GoModuleCache: the shared Go module and build cache (spec § GoModuleCache).

Lifecycle, exactly the spec's three transitions:

=======  ==========  =======  ==========================================
from     event       to       spec
=======  ==========  =======  ==========================================
Warm     save        Updated  1: cache restored, dependencies saved
Cold     save        Updated  2: miss, dependencies downloaded and saved
Updated  invalidate  Invalid  3: go.sum or the toolchain changed
=======  ==========  =======  ==========================================

The initial state follows ``hit``: a restored cache starts Warm, a miss starts Cold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from buildonce.errors import ValidationError
from buildonce.model import _validate as v
from buildonce.model.cache_entry import parse_history
from buildonce.model.lifecycle import Lifecycle, Transition

ENTITY = "GoModuleCache"

#: The spec's example paths (GOCACHE and GOMODCACHE on a Linux runner).
DEFAULT_PATHS = ("~/.cache/go-build", "~/go/pkg/mod")


class ModuleCacheState(Enum):
    WARM = "Warm"
    COLD = "Cold"
    UPDATED = "Updated"
    INVALID = "Invalid"


class ModuleCacheEvent(Enum):
    SAVE = "save"
    INVALIDATE = "invalidate"


MODULE_CACHE_TRANSITIONS: Mapping[tuple[ModuleCacheState, ModuleCacheEvent], ModuleCacheState] = {
    (ModuleCacheState.WARM, ModuleCacheEvent.SAVE): ModuleCacheState.UPDATED,
    (ModuleCacheState.COLD, ModuleCacheEvent.SAVE): ModuleCacheState.UPDATED,
    (ModuleCacheState.UPDATED, ModuleCacheEvent.INVALIDATE): ModuleCacheState.INVALID,
}
MODULE_CACHE_LIFECYCLE: Lifecycle[ModuleCacheState, ModuleCacheEvent] = Lifecycle(
    ENTITY, MODULE_CACHE_TRANSITIONS
)


def check_module_key(key: str) -> str:
    """Validation rule 1: the key includes the OS and the go.sum hash."""
    v.check_key_syntax(ENTITY, key)
    if v.os_in_key(key) is None:
        raise v.fail(
            ENTITY,
            "key",
            "key-encodes-os",
            f"key {key!r} does not name the runner OS",
            hint="start the key with ${{ runner.os }}",
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
    if not isinstance(value, str) or not v.GO_VERSION.match(value):
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
    """The Go module (GOMODCACHE) and build (GOCACHE) cache of one job."""

    key: str
    toolchain: str
    hit: bool
    paths: tuple[str, ...] = DEFAULT_PATHS
    last_updated: datetime | None = None
    state: ModuleCacheState | None = None
    history: tuple[Transition, ...] = field(default=())

    def __post_init__(self) -> None:
        check_module_key(self.key)
        check_toolchain(self.toolchain)
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

    @property
    def current(self) -> ModuleCacheState:
        assert self.state is not None  # set in __post_init__
        return self.state

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
        target = MODULE_CACHE_LIFECYCLE.next_state(self.current, event)
        v.check_datetime(ENTITY, "at", at)
        if job is not None:
            v.check_job_id(ENTITY, "job", job)
        record = Transition(event.value, self.current.value, target.value, at, job)
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
    def from_json(cls, data: Mapping[str, Any]) -> GoModuleCache:
        if not isinstance(data, Mapping):
            raise v.fail(ENTITY, "(root)", "object", "expected a JSON object")
        for name in ("key", "hit", "toolchain"):
            if name not in data:
                raise v.fail(ENTITY, name, "required", f"{name} is required")
        state = None
        if data.get("state") is not None:
            try:
                state = ModuleCacheState(data["state"])
            except ValueError:
                allowed = ", ".join(s.value for s in ModuleCacheState)
                raise v.fail(
                    ENTITY, "state", "state-enum", f"{data['state']!r} is not one of {allowed}"
                ) from None
        paths = data.get("paths", list(DEFAULT_PATHS))
        return cls(
            key=data["key"],
            toolchain=data["toolchain"],
            hit=data["hit"],
            paths=tuple(paths) if isinstance(paths, list) else paths,
            last_updated=v.parse_datetime(
                ENTITY, "lastUpdated", data.get("lastUpdated"), optional=True
            ),
            state=state,
            history=parse_history(ENTITY, data.get("history", [])),
        )
