"""One error root for the whole library.

The library raises these and never prints or exits; :func:`buildonce.cli.main` is the one
place that turns them into a one-line message and an exit code.  Every error carries
structured context (``where`` names the file, field, key or URL at fault; ``hint`` says how
to fix it) so the message can be written for the user, not the developer.
"""

from __future__ import annotations

from typing import ClassVar

#: Exit codes shared by every command.
EXIT_OK = 0
#: The command ran and its answer is "no": lint findings, a failed smoke test, a failed criterion.
EXIT_FAILURE = 1
#: The command could not run as asked: bad input, bad usage, or an internal error.
EXIT_USAGE = 2


class BuildonceError(Exception):
    """Root of every error buildonce raises on purpose.

    ``message`` says what is wrong, ``where`` where it is, ``hint`` how to fix it.
    """

    exit_code: ClassVar[int] = EXIT_USAGE

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = f"{text} (hint: {self.hint})"
        # The CLI promises one line per error, whatever the wrapped message contains.
        return " ".join(text.split())


class InputError(BuildonceError):
    """A path, pattern, file or argument given by the user cannot be used."""


class ConfigError(BuildonceError):
    """The configuration file or an environment variable holds an invalid value."""


class ValidationError(BuildonceError):
    """A domain value breaks one of the specification's validation rules.

    ``field`` names the attribute and ``rule`` the rule it breaks.
    """

    def __init__(
        self,
        message: str,
        *,
        entity: str,
        field: str,
        rule: str,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, where=f"{entity}.{field}", hint=hint)
        self.entity = entity
        self.field = field
        self.rule = rule


class InvalidTransitionError(BuildonceError):
    """A lifecycle event is not allowed in the current state; the object is left unchanged."""

    def __init__(self, *, entity: str, state: str, event: str, allowed: tuple[str, ...]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none (terminal state)"
        super().__init__(
            f"event {event!r} is not allowed in state {state!r}; allowed events: {allowed_text}",
            where=entity,
        )
        self.entity = entity
        self.state = state
        self.event = event
        self.allowed = allowed


class CacheKeyError(BuildonceError):
    """A cache key is invalid (too long, a comma, unprintable characters)."""


class StoreError(BuildonceError):
    """A storage backend failed or is unreachable."""

    exit_code: ClassVar[int] = EXIT_FAILURE


class EntryNotFoundError(StoreError):
    """No cache entry matches the requested key."""


class IntegrityError(StoreError):
    """Stored content does not match its recorded digest or size."""


class CommandFailedError(BuildonceError):
    """A user command (build, smoke test) exited non-zero."""

    exit_code: ClassVar[int] = EXIT_FAILURE


class NetworkError(BuildonceError):
    """A remote API could not be reached or answered with an unrecoverable error."""

    exit_code: ClassVar[int] = EXIT_FAILURE


class UnsafeArchiveError(IntegrityError):
    """An archive holds a member that would land outside its destination (or a device file)."""
