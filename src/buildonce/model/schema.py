"""JSON Schema (draft 2020-12) of the domain model's JSON form.

Enums and the allowed history steps are generated from the transition tables, so the schema
cannot drift from the code.  The schema is a necessary condition, not a sufficient one: what
JSON Schema cannot say (a key *encodes* the OS, toolchain and hashes; ``sizeBytes`` is below
``quotaBytes``; a history chains and is chronological; the run's guard rules) is checked by
``from_json`` and reported as a ValidationError naming the rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from buildonce.errors import InputError
from buildonce.model import _validate as v
from buildonce.model.cache_entry import (
    AVAILABLE_STATES,
    DEFAULT_ORIGIN_JOB,
    ENTRY_TRANSITIONS,
    REPOSITORY_QUOTA_BYTES,
    EntryState,
)
from buildonce.model.gomod import DEFAULT_PATHS, MODULE_CACHE_TRANSITIONS, ModuleCacheState
from buildonce.model.job import JOB_TRANSITIONS, JobStatus

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:buildonce:model:v1"
#: Entities that ``buildonce schema --entity`` accepts, in display order.
ENTITIES = ("BinaryCacheEntry", "GoModuleCache", "CIJob", "CIRun", "RunSnapshot")

#: What ``datetime.isoformat()`` writes for an aware time: offset required, seconds optional
#: in the offset (Python writes them for odd historical zones).
_DATETIME_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?"
    r"(?:Z|[+-]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$"
)
#: GitHub's cache client rejects commas and keys over 512 characters; control characters
#: are what ``str.isprintable`` rejects that a JSON Schema regex can portably name.
_KEY_PATTERN = "^[^,\\u0000-\\u001f\\u007f-\\u009f]+$"


def _values(kind: type[Enum]) -> list[str]:
    return [str(member.value) for member in kind]


def _datetime(description: str, *, nullable: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": ["string", "null"] if nullable else "string",
        "format": "date-time",
        "pattern": _DATETIME_PATTERN,
        "description": description,
    }
    return schema


def _history(table: Mapping[tuple[Any, Any], Any], description: str) -> dict[str, Any]:
    steps = [
        {
            "properties": {
                "from": {"const": source.value},
                "event": {"const": event.value},
                "to": {"const": target.value},
            }
        }
        for (source, event), target in table.items()
    ]
    return {
        "type": "array",
        "description": description,
        "items": {
            "type": "object",
            "required": ["event", "from", "to", "at"],
            "additionalProperties": False,
            "properties": {
                "event": {"type": "string"},
                "from": {"type": "string"},
                "to": {"type": "string"},
                "at": _datetime("When the transition happened."),
                "job": {
                    "anyOf": [{"$ref": "#/$defs/JobId"}, {"type": "null"}],
                    "description": "The job that caused it.",
                },
            },
            "oneOf": steps,
        },
    }


def _key(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": v.MAX_KEY_LENGTH,
        "pattern": _KEY_PATTERN,
        "description": description,
    }


def _paths(description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": {"type": "string", "pattern": "\\S"},
        "description": description,
    }


def _defs() -> dict[str, Any]:
    available = sorted(s.value for s in AVAILABLE_STATES)
    return {
        "JobId": {
            "type": "string",
            "pattern": v.JOB_ID.pattern,
            "description": "A GitHub Actions job id.",
        },
        "GoVersion": {
            "type": "string",
            "pattern": v.GO_VERSION.pattern,
            "description": "A Go version as setup-go reports it, e.g. 1.25.4.",
        },
        "BinaryCacheEntry": {
            "type": "object",
            "title": "BinaryCacheEntry",
            "description": "The compiled binary stored in the cache.",
            "required": ["key", "paths"],
            "additionalProperties": False,
            "properties": {
                "key": _key(
                    "Cache identifier; encodes runner OS, Go toolchain and the hash of "
                    "go.mod, go.sum and the Go sources."
                ),
                "paths": _paths("Cached filesystem locations."),
                "sizeBytes": {
                    "type": ["integer", "null"],
                    "minimum": 0,
                    "description": "Size of the cached binary; below quotaBytes.",
                },
                "createdAt": _datetime("When the entry was saved.", nullable=True),
                "originJob": {
                    "$ref": "#/$defs/JobId",
                    "default": DEFAULT_ORIGIN_JOB,
                    "description": "The job that produced the entry.",
                },
                "state": {
                    "enum": _values(EntryState),
                    "default": EntryState.MISSING.value,
                },
                "history": _history(ENTRY_TRANSITIONS, "Applied transitions, oldest first."),
                "quotaBytes": {
                    "type": "integer",
                    "minimum": 1,
                    "default": REPOSITORY_QUOTA_BYTES,
                    "description": "The repository cache quota sizeBytes must stay under.",
                },
            },
            # Validation rule 2: an entry that exists has a size and a save time.
            "if": {"required": ["state"], "properties": {"state": {"enum": available}}},
            "then": {
                "required": ["sizeBytes", "createdAt"],
                "properties": {"sizeBytes": {"type": "integer"}, "createdAt": {"type": "string"}},
            },
        },
        "GoModuleCache": {
            "type": "object",
            "title": "GoModuleCache",
            "description": "The shared Go module and build cache.",
            "required": ["key", "hit", "toolchain"],
            "additionalProperties": False,
            "properties": {
                "key": _key("Cache key; includes runner OS, Go version and the go.sum hash."),
                "paths": _paths("Cached directories.") | {"default": list(DEFAULT_PATHS)},
                "hit": {"type": "boolean", "description": "Whether the cache was restored."},
                "toolchain": {"$ref": "#/$defs/GoVersion"},
                "lastUpdated": _datetime("When the cache was last saved.", nullable=True),
                "state": {
                    "enum": [*_values(ModuleCacheState), None],
                    "description": "Defaults to Warm on a hit and Cold on a miss.",
                },
                "history": _history(MODULE_CACHE_TRANSITIONS, "Applied transitions."),
            },
            "allOf": [
                {
                    "if": {"required": ["state"], "properties": {"state": {"const": "Warm"}}},
                    "then": {"properties": {"hit": {"const": True}}},
                },
                {
                    "if": {"required": ["state"], "properties": {"state": {"const": "Cold"}}},
                    "then": {"properties": {"hit": {"const": False}}},
                },
                {
                    "if": {
                        "required": ["state"],
                        "properties": {"state": {"enum": ["Updated", "Invalid"]}},
                    },
                    "then": {
                        "required": ["lastUpdated"],
                        "properties": {"lastUpdated": {"type": "string"}},
                    },
                },
            ],
        },
        "CIJob": {
            "type": "object",
            "title": "CIJob",
            "description": "A GitHub Actions job participating in the workflow.",
            "required": ["id"],
            "additionalProperties": False,
            "properties": {
                "id": {"$ref": "#/$defs/JobId"},
                "needs": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"$ref": "#/$defs/JobId"},
                    "default": [],
                },
                "artifactRequired": {"type": "boolean", "default": False},
                "cacheHit": {"type": "boolean", "default": False},
                "status": {"enum": _values(JobStatus), "default": JobStatus.PENDING.value},
                "alwaysGuard": {
                    "type": "boolean",
                    "default": False,
                    "description": "A reporting job guarded by if: always().",
                },
                "reason": {
                    "type": ["string", "null"],
                    "pattern": "\\S",
                    "description": "Why the job was skipped or failed.",
                },
                "history": _history(JOB_TRANSITIONS, "Applied transitions."),
            },
            # Domain rule 5: a skipped job records why.
            "if": {"required": ["status"], "properties": {"status": {"const": "skipped"}}},
            "then": {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
        },
        "CIRun": {
            "type": "object",
            "title": "CIRun",
            "description": "The jobs of one workflow run.",
            "required": ["jobs"],
            "additionalProperties": False,
            "properties": {
                "builder": {"$ref": "#/$defs/JobId", "default": DEFAULT_ORIGIN_JOB},
                "jobs": {"type": "array", "items": {"$ref": "#/$defs/CIJob"}},
            },
        },
        "RunSnapshot": {
            "type": "object",
            "title": "RunSnapshot",
            "description": "A run with the caches its jobs share (buildonce model validate).",
            "required": ["run"],
            "additionalProperties": False,
            "properties": {
                "run": {"$ref": "#/$defs/CIRun"},
                "binaryCacheEntry": {"$ref": "#/$defs/BinaryCacheEntry"},
                "goModuleCache": {"$ref": "#/$defs/GoModuleCache"},
                "buildToolchain": {"$ref": "#/$defs/GoVersion"},
            },
        },
    }


def model_schema(entity: str | None = None) -> dict[str, Any]:
    """The JSON Schema of the model, or of one entity (matched case-insensitively)."""
    defs = _defs()
    if entity is None:
        return {
            "$schema": SCHEMA_DIALECT,
            "$id": SCHEMA_ID,
            "title": "buildonce domain model",
            "description": "Any one of the model's entities in its JSON form.",
            "anyOf": [{"$ref": f"#/$defs/{name}"} for name in ENTITIES],
            "$defs": defs,
        }
    name = next((n for n in ENTITIES if n.lower() == entity.lower()), None)
    if name is None:
        raise InputError(
            f"unknown entity {entity!r}",
            where="--entity",
            hint=f"choose one of {', '.join(ENTITIES)}",
        )
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"{SCHEMA_ID}:{name}",
        "title": name,
        "$ref": f"#/$defs/{name}",
        "$defs": {n: defs[n] for n in sorted(_reachable(defs, name))},
    }


def _reachable(defs: Mapping[str, Any], name: str) -> set[str]:
    """The definitions ``name`` refers to, directly or not, and itself."""
    found: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        todo.extend(_refs(defs[current]))
    return found


def _refs(node: Any) -> list[str]:
    if isinstance(node, Mapping):
        refs = [str(node["$ref"]).rsplit("/", 1)[-1]] if "$ref" in node else []
        for value in node.values():
            refs.extend(_refs(value))
        return refs
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []
