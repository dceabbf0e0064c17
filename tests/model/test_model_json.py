"""JSON round-trip, schema conformance, and malformed input never escaping as a crash."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from model_strategies import binary_entries, ci_jobs, ci_runs, module_caches

from buildonce.errors import BuildonceError, ValidationError
from buildonce.model import BinaryCacheEntry, CIJob, CIRun, GoModuleCache, model_schema

SCHEMA = model_schema()
VALIDATORS = {
    name: Draft202012Validator(model_schema(name))
    for name in ("BinaryCacheEntry", "GoModuleCache", "CIJob", "CIRun")
}
ENTITIES: dict[str, tuple[Callable[[Any], Any], st.SearchStrategy[Any]]] = {
    "BinaryCacheEntry": (BinaryCacheEntry.from_json, binary_entries()),
    "GoModuleCache": (GoModuleCache.from_json, module_caches()),
    "CIJob": (CIJob.from_json, ci_jobs()),
    "CIRun": (CIRun.from_json, ci_runs()),
}
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for validator in VALIDATORS.values():
        Draft202012Validator.check_schema(validator.schema)


@pytest.mark.parametrize("name", sorted(ENTITIES))
@FAST
@given(data=st.data())
def test_round_trip_and_schema(name: str, data: st.DataObject) -> None:
    from_json, strategy = ENTITIES[name]
    value = data.draw(strategy)
    document = value.to_json()
    # Through real JSON text, as a file or an HTTP body would carry it.
    text = json.dumps(document)
    assert from_json(json.loads(text)) == value
    errors = sorted(VALIDATORS[name].iter_errors(json.loads(text)), key=str)
    assert errors == []
    # The document also matches the umbrella schema (anyOf the entities).
    assert Draft202012Validator(SCHEMA).is_valid(document)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, name: str) -> Any:
    """A valid document with one field replaced, removed or added: near misses find more
    holes than random values."""
    _, strategy = ENTITIES[name]
    document: Any = draw(strategy).to_json()
    target = document
    if name == "CIRun" and document["jobs"] and draw(st.booleans()):
        target = draw(st.sampled_from(document["jobs"]))
    elif isinstance(document.get("history"), list) and document["history"] and draw(st.booleans()):
        target = draw(st.sampled_from(document["history"]))
    field = draw(st.sampled_from([*sorted(target), "extra"]))
    action = draw(st.sampled_from(["replace", "delete"]))
    if action == "delete":
        target.pop(field, None)
    else:
        target[field] = draw(JSON_VALUES)
    return document


def _parse_or_reject(name: str, document: Any) -> None:
    from_json, _ = ENTITIES[name]
    try:
        value = from_json(document)
    except BuildonceError as exc:
        text = str(exc)
        assert text
        assert "\n" not in text
        return
    # Accepted input must be what the model itself would write, modulo defaults.
    again = value.to_json()
    assert VALIDATORS[name].is_valid(again), list(VALIDATORS[name].iter_errors(again))
    assert from_json(again) == value


@pytest.mark.parametrize("name", sorted(ENTITIES))
@settings(max_examples=100, deadline=None)
@given(document=JSON_VALUES)
def test_garbage_only_raises_buildonce_errors(name: str, document: Any) -> None:
    _parse_or_reject(name, document)


@pytest.mark.parametrize("name", sorted(ENTITIES))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_near_miss_documents_only_raise_buildonce_errors(name: str, data: st.DataObject) -> None:
    _parse_or_reject(name, data.draw(mutated(name)))


MALFORMED = [
    ("BinaryCacheEntry", [], "(root)", "object"),
    ("BinaryCacheEntry", {"paths": ["a"]}, "key", "required"),
    ("BinaryCacheEntry", {"key": "Linux-a-bin-1.25.4-abcdef"}, "paths", "required"),
    (
        "BinaryCacheEntry",
        {"key": "Linux-a-bin-1.25.4-abcdef", "paths": ["a"], "sizebytes": 1},
        "sizebytes",
        "unknown-field",
    ),
    (
        "BinaryCacheEntry",
        {"key": "Linux-a-bin-1.25.4-abcdef", "paths": {"a": 1}},
        "paths",
        "paths-list",
    ),
    (
        "BinaryCacheEntry",
        {"key": "Linux-a-bin-1.25.4-abcdef", "paths": ["a"], "state": "seeded"},
        "state",
        "state-enum",
    ),
    (
        "BinaryCacheEntry",
        {"key": "Linux-a-bin-1.25.4-abcdef", "paths": ["a"], "createdAt": "yesterday"},
        "createdAt",
        "datetime",
    ),
    (
        "BinaryCacheEntry",
        {"key": "Linux-a-bin-1.25.4-abcdef", "paths": ["a"], "history": [{"event": "seed"}]},
        "history[0].from",
        "required",
    ),
    ("GoModuleCache", {"key": "Linux-go-1.25.4-abcdef", "toolchain": "1.25.4"}, "hit", "required"),
    (
        "GoModuleCache",
        {"key": "Linux-go-1.25.4-abcdef", "toolchain": "1.25.4", "hit": True, "state": []},
        "state",
        "state-enum",
    ),
    ("CIJob", {"id": "a", "needs": {"b": 1}}, "needs", "list"),
    ("CIJob", {"id": "a", "status": ["pending"]}, "status", "status-enum"),
    ("CIJob", {"id": "a", "history": {}}, "history", "history-list"),
    ("CIRun", {"jobs": {}}, "jobs", "jobs-list"),
    ("CIRun", {"jobs": [], "builder": ["x"]}, "builder", "job-id"),
]


@pytest.mark.parametrize(("name", "document", "field", "rule"), MALFORMED)
def test_malformed_json_names_field_and_rule(
    name: str, document: Any, field: str, rule: str
) -> None:
    from_json, _ = ENTITIES[name]
    with pytest.raises(ValidationError) as info:
        from_json(document)
    assert (info.value.field, info.value.rule) == (field, rule)


def test_json_uses_the_spec_camel_case_names() -> None:
    from datetime import UTC, datetime

    entry = BinaryCacheEntry(key="Linux-a-bin-1.25.4-abcdef", paths=("a",)).seed(
        at=datetime(2025, 11, 16, tzinfo=UTC), job="build-artifact", size_bytes=5
    )
    assert list(entry.to_json())[:5] == ["key", "paths", "sizeBytes", "createdAt", "originJob"]
    assert list(
        GoModuleCache(key="Linux-go-1.25.4-abcdef", toolchain="1.25.4", hit=True).to_json()
    )[:5] == ["key", "paths", "hit", "toolchain", "lastUpdated"]
    assert list(CIJob(id="a").to_json())[:5] == [
        "id",
        "needs",
        "artifactRequired",
        "cacheHit",
        "status",
    ]


@st.composite
def documents(draw: st.DrawFn) -> Any:
    """Anything `buildonce model validate` may be fed: garbage, near misses of every
    entity, and snapshots whose parts are near misses."""
    kind = draw(st.sampled_from(["garbage", "near-miss", "snapshot"]))
    if kind == "garbage":
        return draw(JSON_VALUES)
    if kind == "near-miss":
        return draw(mutated(draw(st.sampled_from(sorted(ENTITIES)))))
    snapshot: dict[str, Any] = {"run": draw(ci_runs(max_events=5)).to_json()}
    if draw(st.booleans()):
        snapshot["binaryCacheEntry"] = draw(mutated("BinaryCacheEntry") | JSON_VALUES)
    if draw(st.booleans()):
        snapshot["goModuleCache"] = draw(module_caches()).to_json()
    if draw(st.booleans()):
        snapshot["buildToolchain"] = draw(st.sampled_from(["1.25.4", "go1.25", 1.25]) | JSON_VALUES)
    return snapshot


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents())
def test_document_recognition_only_raises_buildonce_errors(document: Any) -> None:
    from buildonce.model.document import parse_entity

    try:
        name, value = parse_entity(document)
    except BuildonceError as exc:
        message = str(exc)
        assert "\n" not in message
        return
    assert name in ENTITIES or name == "RunSnapshot"
    assert type(value).from_json(value.to_json()) == value  # type: ignore[attr-defined]
