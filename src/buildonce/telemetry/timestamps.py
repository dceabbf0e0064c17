"""Lenient timestamp parsing for GitHub API values.

The API mixes ``Z``, ``.000Z`` and local offsets such as ``+01:00`` in one response, cache
entries carry up to nine fractional digits, and some tools guard against a year-1 sentinel.
Everything is normalised to POSIX seconds in UTC, which is what the database stores.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

_FRACTION = re.compile(r"(\.\d{6})\d+")
#: Anything before 2000 is a placeholder ("0001-01-01T00:00:00Z"), not a real event.
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC).timestamp()


def parse_time(value: object) -> float | None:
    """``value`` as UTC epoch seconds, or ``None`` when absent, malformed or a sentinel."""
    if not isinstance(value, str) or not value:
        return None
    return parse_iso(value)


# A run's steps share most of their stamps (one step ends when the next starts), and an
# ingest parses millions of them: memoising is the cheapest speed-up there is.
@lru_cache(maxsize=65536)
def parse_iso(value: str) -> float | None:
    """:func:`parse_time` for a value already known to be a non-empty string."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        text = _FRACTION.sub(r"\1", value.strip())
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        # The API always sends an offset; a bare value is taken as UTC rather than local time.
        parsed = parsed.replace(tzinfo=UTC)
    seconds = parsed.timestamp()
    return None if seconds < _EARLIEST else seconds


def format_time(seconds: float | None) -> str:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ`` (empty for ``None``)."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_duration(seconds: float | None) -> str:
    """Seconds as ``1h02m03s`` / ``3m26s`` / ``45s``; ``-`` for ``None``."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    total = round(abs(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{sign}{minutes}m{secs:02d}s"
    return f"{sign}{secs}s"
