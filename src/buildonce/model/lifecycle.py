"""Transition tables and the one function that applies them.

Every entity's lifecycle is a module-level table ``{(state, event): next_state}``.  Code never
assigns a state directly: it calls :meth:`Lifecycle.next_state`, which either returns the new
state or raises :class:`~buildonce.errors.InvalidTransitionError` naming the from-state, the
event and the events that *are* allowed, so the caller's object is never half-changed.

An entity's ``history`` records each applied transition.  A history read back from JSON is
checked against the same table (:meth:`Lifecycle.check_history`), so a stored entity cannot
claim a state its own history could not have reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from buildonce.errors import InvalidTransitionError
from buildonce.model import _validate as v

S = TypeVar("S", bound=Enum)
E = TypeVar("E", bound=Enum)


@dataclass(frozen=True, slots=True)
class Transition:
    """One applied transition, kept in an entity's history."""

    event: str
    source: str
    target: str
    at: datetime
    job: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "event": self.event,
            "from": self.source,
            "to": self.target,
            "at": self.at.isoformat(),
            "job": self.job,
        }


@dataclass(frozen=True, slots=True)
class Lifecycle(Generic[S, E]):
    """A finite-state machine given by its transition table."""

    entity: str
    table: Mapping[tuple[S, E], S]

    @property
    def state_type(self) -> type[S]:
        return type(next(iter(self.table.values())))

    @property
    def event_type(self) -> type[E]:
        return type(next(iter(self.table))[1])

    def allowed_events(self, state: S) -> tuple[E, ...]:
        return tuple(event for (source, event) in self.table if source == state)

    def next_state(self, state: S, event: E) -> S:
        try:
            return self.table[(state, event)]
        except KeyError:
            raise InvalidTransitionError(
                entity=self.entity,
                state=str(state.value),
                event=str(event.value),
                allowed=tuple(str(e.value) for e in self.allowed_events(state)),
            ) from None

    def is_terminal(self, state: S) -> bool:
        return not self.allowed_events(state)

    def record(self, state: S, event: E, *, at: datetime, job: str | None) -> tuple[S, Transition]:
        """Validate one event and return the new state with its history record."""
        target = self.next_state(state, event)
        v.check_datetime(self.entity, "at", at)
        if job is not None:
            v.check_job_id(self.entity, "job", job)
        return target, Transition(str(event.value), str(state.value), str(target.value), at, job)

    def check_history(self, history: Any, state: S) -> tuple[Transition, ...]:
        """Check that ``history`` is a legal walk through the table ending in ``state``.

        The walk may start in any state: an entity may be observed mid-life (a cache entry
        seeded by an earlier run, then restored in this one).
        """
        entity = self.entity
        if isinstance(history, str) or not isinstance(history, Sequence):
            raise v.fail(entity, "history", "history-list", "history must be a list")
        result = tuple(history)
        states = {str(s.value): s for s in self.state_type}
        events = {str(e.value): e for e in self.event_type}
        previous: Transition | None = None
        for index, t in enumerate(result):
            where = f"history[{index}]"
            if not isinstance(t, Transition):
                raise v.fail(entity, where, "history-item", "history items must be transitions")
            v.check_datetime(entity, f"{where}.at", t.at)
            if t.job is not None:
                v.check_job_id(entity, f"{where}.job", t.job)
            source, event, target = states.get(t.source), events.get(t.event), states.get(t.target)
            if source is None or event is None or target is None:
                raise v.fail(
                    entity,
                    where,
                    "history-names",
                    f"unknown state or event in {t.source!r} --{t.event}--> {t.target!r}",
                    hint=f"states: {', '.join(states)}; events: {', '.join(events)}",
                )
            if self.table.get((source, event)) is not target:
                raise v.fail(
                    entity,
                    where,
                    "history-legal",
                    f"{t.source} --{t.event}--> {t.target} is not a transition of {entity}",
                )
            if previous is not None:
                if previous.target != t.source:
                    raise v.fail(
                        entity,
                        where,
                        "history-chain",
                        f"history jumps from {previous.target} to {t.source}",
                    )
                if t.at < previous.at:
                    raise v.fail(
                        entity,
                        where,
                        "history-chronological",
                        f"transition at {t.at.isoformat()} is earlier than the one before it",
                    )
            previous = t
        if previous is not None and previous.target != str(state.value):
            raise v.fail(
                entity,
                "state",
                "history-matches-state",
                f"state is {state.value} but the history ends in {previous.target}",
            )
        return result

    def parse_history(self, items: Any) -> tuple[Transition, ...]:
        """Transitions from their JSON form; shapes are checked here, semantics later."""
        entity = self.entity
        if not isinstance(items, list):
            raise v.fail(entity, "history", "history-list", "history must be a list")
        result = []
        for index, item in enumerate(items):
            where = f"history[{index}]"
            if not isinstance(item, Mapping):
                raise v.fail(entity, where, "history-item", "history items must be objects")
            unknown = sorted(set(item) - {"event", "from", "to", "at", "job"}, key=str)
            if unknown:
                raise v.fail(
                    entity, where, "history-fields", f"unknown field {unknown[0]!r} in history"
                )
            for name in ("event", "from", "to"):
                if not isinstance(item.get(name), str):
                    raise v.fail(entity, f"{where}.{name}", "required", f"{name} must be a string")
            at = v.parse_datetime(entity, f"{where}.at", item.get("at"))
            assert at is not None
            job = item.get("job")
            if job is not None:
                v.check_job_id(entity, f"{where}.job", job)
            result.append(Transition(item["event"], item["from"], item["to"], at, job))
        return tuple(result)


def last_of(history: Sequence[Transition], events: frozenset[str]) -> Transition | None:
    """The most recent transition whose event is one of ``events``."""
    return next((t for t in reversed(history) if t.event in events), None)
