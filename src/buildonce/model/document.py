"""Reading a JSON document of entities: the library side of ``buildonce model validate``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from buildonce.errors import InputError, ValidationError
from buildonce.model.cache_entry import BinaryCacheEntry
from buildonce.model.gomod import GoModuleCache
from buildonce.model.job import CIJob, CIRun
from buildonce.model.relations import RunSnapshot
from buildonce.model.schema import ENTITIES

PARSERS: Mapping[str, Callable[[Any], object]] = {
    "BinaryCacheEntry": BinaryCacheEntry.from_json,
    "GoModuleCache": GoModuleCache.from_json,
    "CIJob": CIJob.from_json,
    "CIRun": CIRun.from_json,
    "RunSnapshot": RunSnapshot.from_json,
}

#: A field only one entity has, checked in this order, tells which entity a document holds.
_TELLTALE: tuple[tuple[str, str], ...] = (
    ("run", "RunSnapshot"),
    ("jobs", "CIRun"),
    ("id", "CIJob"),
    ("toolchain", "GoModuleCache"),
    ("hit", "GoModuleCache"),
    ("sizeBytes", "BinaryCacheEntry"),
    ("createdAt", "BinaryCacheEntry"),
    ("originJob", "BinaryCacheEntry"),
    ("quotaBytes", "BinaryCacheEntry"),
    ("key", "BinaryCacheEntry"),
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_document(path: str, stdin: TextIO) -> Any:
    """Parse a JSON file (``-`` reads ``stdin``); unreadable or malformed input is an InputError."""
    try:
        text = stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", where=path, hint="check the path") from None
    except IsADirectoryError:
        raise InputError("is a directory, not a JSON file", where=path) from None
    except PermissionError:
        raise InputError("permission denied", where=path) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start})", where=path, hint="save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), where=path) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", where=path
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"invalid JSON: {exc}", where=path) from None


def detect_entity(data: Any) -> str:
    """Which entity a JSON value holds, from its fields."""
    if isinstance(data, Mapping):
        for field, name in _TELLTALE:
            if field in data:
                return name
    raise ValidationError(
        "cannot tell which entity this document holds",
        entity="document",
        field="(root)",
        rule="entity-recognised",
        hint=f"pass --entity, one of {', '.join(ENTITIES)}",
    )


def parse_entity(data: Any, entity: str | None = None) -> tuple[str, object]:
    """Build the entity a JSON value holds; raises ValidationError naming field and rule."""
    if entity is None:
        name = detect_entity(data)
    else:
        found = next((n for n in ENTITIES if n.lower() == entity.lower()), None)
        if found is None:
            raise InputError(
                f"unknown entity {entity!r}",
                where="--entity",
                hint=f"choose one of {', '.join(ENTITIES)}",
            )
        name = found
    return name, PARSERS[name](data)
