"""Field checks shared by the entities; each raises ValidationError naming entity, field, rule."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from buildonce.errors import ValidationError

#: GitHub's rule for job ids: start with a letter or ``_``, then letters, digits, ``-``, ``_``.
JOB_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
#: Go release versions as setup-go reports them (``go version`` minus ``go``): 1.25, 1.25.4,
#: 1.26rc1, 1.26beta2.
GO_VERSION = re.compile(r"^[1-9][0-9]*\.[0-9]+(?:\.[0-9]+)?(?:(?:rc|beta)[0-9]+)?$")

#: Tokens that name a runner OS inside a key.  ``runner.os`` spells them Linux/macOS/Windows;
#: the spec's own example key starts with the image name ``ubuntu``, so image families count too.
OS_TOKENS: dict[str, tuple[str, ...]] = {
    "Linux": ("linux", "ubuntu", "debian", "alpine", "fedora", "centos", "rhel"),
    "macOS": ("macos", "darwin", "osx", "mac"),
    "Windows": ("windows", "win"),
}
_SEGMENT_SPLIT = re.compile(r"[-_/.:+=@ ]+")
_HEX = re.compile(r"^[0-9a-fA-F]{6,}$")
_GO_IN_KEY = re.compile(
    r"(?:^|[-_/:+=@ ])(?:go)?([1-9][0-9]*\.[0-9]+(?:\.[0-9]+)?(?:(?:rc|beta)[0-9]+)?)"
    r"(?=$|[-_/:+=@ ])"
)

#: actions/toolkit cache.ts refuses longer keys ("Key Validation Error").
MAX_KEY_LENGTH = 512


@dataclass(frozen=True, slots=True)
class KeyProblem:
    """Why GitHub's cache would refuse a key: the rule id, a message, and the fix as a verb
    phrase (``"shorten"``) to which callers append what the user should change."""

    rule: str
    message: str
    fix: str


def key_syntax_problem(key: str) -> KeyProblem | None:
    """The one statement of the client-side key rules (cache-semantics.md §2).

    The toolkit rejects keys over 512 characters and keys with commas (v1 sent keys
    comma-joined); buildonce also rejects unprintable characters, which no shell, log or
    YAML file round-trips reliably.  The model raises these as ValidationError and the
    commands as CacheKeyError.
    """
    if not key:
        return KeyProblem("key-required", "cache key is empty", "check")
    if len(key) > MAX_KEY_LENGTH:
        return KeyProblem(
            "key-length",
            f"cache key is {len(key)} characters; GitHub's cache refuses keys over "
            f"{MAX_KEY_LENGTH}",
            "shorten",
        )
    comma = key.find(",")
    if comma >= 0:
        return KeyProblem(
            "key-no-commas",
            f"cache key contains a comma at position {comma}, which GitHub's cache refuses",
            "remove commas from",
        )
    for index, char in enumerate(key):
        if not char.isprintable():
            return KeyProblem(
                "key-printable",
                f"cache key contains the unprintable character U+{ord(char):04X} at "
                f"position {index}",
                "use printable characters only in",
            )
    return None


def fail(
    entity: str, field: str, rule: str, message: str, hint: str | None = None
) -> ValidationError:
    return ValidationError(message, entity=entity, field=field, rule=rule, hint=hint)


def check_key_syntax(entity: str, key: Any) -> str:
    """The constraints GitHub's cache client enforces on every key, as ValidationError."""
    if not isinstance(key, str):
        raise fail(entity, "key", "key-required", "key must be a non-empty string")
    problem = key_syntax_problem(key)
    if problem is not None:
        raise fail(
            entity, "key", problem.rule, problem.message, hint=f"{problem.fix} the name or template"
        )
    return key


def os_in_key(key: str) -> str | None:
    """The runner OS a key names, or ``None``."""
    segments = [s.lower() for s in _SEGMENT_SPLIT.split(key) if s]
    for os_name, tokens in OS_TOKENS.items():
        for segment in segments:
            stripped = segment.rstrip("0123456789")
            if segment in tokens or stripped in tokens:
                return os_name
    return None


def go_version_in_key(key: str) -> str | None:
    match = _GO_IN_KEY.search(key)
    return match.group(1) if match else None


def go_versions_in_key(key: str) -> list[str]:
    """Every Go-version-shaped segment of a key, in order."""
    return _GO_IN_KEY.findall(key)


def hashes_in_key(key: str) -> list[str]:
    # A hex run with at least one letter: an all-digit run is more likely a version or date.
    return [s for s in _SEGMENT_SPLIT.split(key) if _HEX.fullmatch(s) and not s.isdigit()]


def check_paths(entity: str, paths: Any) -> tuple[str, ...]:
    if isinstance(paths, str) or not isinstance(paths, Sequence):
        raise fail(entity, "paths", "paths-list", "paths must be a list of strings")
    result = tuple(paths)
    if not result:
        raise fail(entity, "paths", "paths-non-empty", "paths must name at least one location")
    for p in result:
        if not isinstance(p, str) or not p.strip():
            raise fail(entity, "paths", "paths-non-empty", f"path {p!r} must be a non-empty string")
    dupes = sorted({p for p in result if result.count(p) > 1})
    if dupes:
        raise fail(entity, "paths", "paths-unique", f"path {dupes[0]!r} is listed twice")
    return result


def check_datetime(
    entity: str, field: str, value: Any, *, optional: bool = False
) -> datetime | None:
    if value is None and optional:
        return None
    if not isinstance(value, datetime):
        raise fail(entity, field, "datetime", f"{field} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise fail(
            entity,
            field,
            "datetime-aware",
            f"{field} has no timezone offset",
            hint="give times in UTC, e.g. 2025-11-16T10:00:00Z",
        )
    return value


def check_job_id(entity: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not JOB_ID.fullmatch(value):
        raise fail(
            entity,
            field,
            "job-id",
            f"{value!r} is not a valid job id",
            hint="job ids start with a letter or '_' and contain only letters, digits, '-' and '_'",
        )
    return value


def check_bool(entity: str, field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(entity, field, "boolean", f"{field} must be true or false, not {value!r}")
    return value


def check_unique_ids(entity: str, field: str, values: Iterable[Any]) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise fail(entity, field, "list", f"{field} must be a list of job ids")
    result = tuple(check_job_id(entity, field, v) for v in values)
    seen: set[str] = set()
    for v in result:
        if v in seen:
            raise fail(entity, field, "unique", f"{v!r} is listed twice in {field}")
        seen.add(v)
    return result


def parse_datetime(
    entity: str, field: str, value: Any, *, optional: bool = False
) -> datetime | None:
    """Parse an ISO 8601 string from JSON (``Z`` accepted)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise fail(entity, field, "datetime", f"{field} must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(entity, field, "datetime", f"{value!r} is not an ISO 8601 time") from None
    return check_datetime(entity, field, parsed)


def check_int(entity: str, field: str, value: Any, *, minimum: int = 0) -> int:
    # bool is an int subclass; JSON true must not pass as a size.
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(entity, field, "integer", f"{field} must be an integer, not {value!r}")
    if value < minimum:
        raise fail(entity, field, f"minimum-{minimum}", f"{field} must be at least {minimum}")
    return value


def check_object(entity: str, data: Any, known: Iterable[str]) -> Mapping[str, Any]:
    """A JSON object whose keys are all known field names (typos must not pass silently)."""
    if not isinstance(data, Mapping):
        raise fail(entity, "(root)", "object", f"expected a JSON object, not {type(data).__name__}")
    names = tuple(known)
    unknown = sorted((k for k in data if k not in names), key=str)
    if unknown:
        raise fail(
            entity,
            str(unknown[0]),
            "unknown-field",
            f"unknown field {unknown[0]!r}",
            hint=f"known fields: {', '.join(names)}",
        )
    return data


def require(entity: str, data: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if name not in data:
            raise fail(entity, name, "required", f"{name} is required")


def as_tuple(value: Any) -> Any:
    """JSON arrays become tuples; anything else is passed on for the field check to reject."""
    return tuple(value) if isinstance(value, list) else value


def check_reason(entity: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise fail(entity, "reason", "reason-text", "reason must be a non-empty string")
    return value
