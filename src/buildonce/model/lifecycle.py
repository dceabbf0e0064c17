"""Transition tables and the one function that applies them.

Every entity's lifecycle is a module-level table ``{(state, event): next_state}``.  Code never
assigns a state directly: it calls :meth:`Lifecycle.next_state`, which either returns the new
state or raises :class:`~buildonce.errors.InvalidTransitionError` naming the from-state, the
event and the events that *are* allowed, so the caller's object is never half-changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Generic, TypeVar

from buildonce.errors import InvalidTransitionError

S = TypeVar("S", bound=Enum)
E = TypeVar("E", bound=Enum)


@dataclass(frozen=True, slots=True)
class Lifecycle(Generic[S, E]):
    """A finite-state machine given by its transition table."""

    entity: str
    table: Mapping[tuple[S, E], S]

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
