"""The specification's domain model: three entities, their rules and lifecycles.

Pure values, no I/O.  Every entity is a frozen dataclass that validates itself at
construction; transitions return a new value and raise
:class:`~buildonce.errors.InvalidTransitionError` when not allowed.
"""

from __future__ import annotations

from buildonce.model.cache_entry import (
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

__all__ = [
    "ENTRY_LIFECYCLE",
    "ENTRY_TRANSITIONS",
    "JOB_LIFECYCLE",
    "JOB_TRANSITIONS",
    "MODULE_CACHE_LIFECYCLE",
    "MODULE_CACHE_TRANSITIONS",
    "REPOSITORY_QUOTA_BYTES",
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
    "Transition",
    "check_binary_key",
    "check_module_key",
    "find_cycle",
]
