"""The specification's domain model: three entities, their rules and lifecycles.

Pure values, no I/O.  Every entity is a frozen dataclass that validates itself at
construction (:class:`~buildonce.errors.ValidationError` names the field and the rule);
transitions return a new value and raise :class:`~buildonce.errors.InvalidTransitionError`
when not allowed.  :mod:`buildonce.model.relations` checks the spec's two relationships
across entities, and :func:`model_schema` is the JSON Schema of the JSON form.
"""

from __future__ import annotations

from buildonce.model.cache_entry import (
    AVAILABLE_STATES,
    ENTRY_LIFECYCLE,
    ENTRY_TRANSITIONS,
    REPOSITORY_QUOTA_BYTES,
    BinaryCacheEntry,
    EntryEvent,
    EntryState,
    check_binary_key,
)
from buildonce.model.gomod import (
    MODULE_CACHE_LIFECYCLE,
    MODULE_CACHE_TRANSITIONS,
    GoModuleCache,
    ModuleCacheEvent,
    ModuleCacheState,
    check_module_key,
)
from buildonce.model.job import (
    JOB_LIFECYCLE,
    JOB_TRANSITIONS,
    CIJob,
    CIRun,
    JobEvent,
    JobStatus,
    find_cycle,
)
from buildonce.model.lifecycle import Lifecycle, Transition
from buildonce.model.relations import (
    ArtifactUse,
    ModuleCacheUse,
    RunSnapshot,
    build_toolchain_of,
    link_artifact,
    link_module_cache,
)
from buildonce.model.schema import model_schema

__all__ = [
    "AVAILABLE_STATES",
    "ENTRY_LIFECYCLE",
    "ENTRY_TRANSITIONS",
    "JOB_LIFECYCLE",
    "JOB_TRANSITIONS",
    "MODULE_CACHE_LIFECYCLE",
    "MODULE_CACHE_TRANSITIONS",
    "REPOSITORY_QUOTA_BYTES",
    "ArtifactUse",
    "BinaryCacheEntry",
    "CIJob",
    "CIRun",
    "EntryEvent",
    "EntryState",
    "GoModuleCache",
    "JobEvent",
    "JobStatus",
    "Lifecycle",
    "ModuleCacheEvent",
    "ModuleCacheState",
    "ModuleCacheUse",
    "RunSnapshot",
    "Transition",
    "build_toolchain_of",
    "check_binary_key",
    "check_module_key",
    "find_cycle",
    "link_artifact",
    "link_module_cache",
    "model_schema",
]
