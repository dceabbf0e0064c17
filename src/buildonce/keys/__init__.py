"""Cache keys identical to GitHub's: hashFiles, the Go toolchain version, the runner OS.

The public API other parts of buildonce build on::

    from buildonce.keys import compute_keys, hash_files, validate_key

    keys = compute_keys(Path("examples/hello"))
    keys.binary_key   # "Linux-hello-bin-1.25.4-<64 hex>"
    keys.gomod_key    # "Linux-go-1.25.4-<64 hex>"
"""

from __future__ import annotations

from buildonce.keys.cache_key import (
    DEFAULT_INPUTS,
    DEFAULT_TEMPLATE,
    GOMOD_TEMPLATE,
    MAX_KEY_LENGTH,
    ComponentChange,
    KeyComponents,
    KeyDiff,
    compute_keys,
    diff_keys,
    read_manifest,
    render_key,
    validate_key,
    write_manifest,
)
from buildonce.keys.hashfiles import (
    FileDigest,
    HashResult,
    combine_digests,
    hash_files,
    hash_files_detailed,
    match_files,
    split_hashfiles_args,
)
from buildonce.keys.toolchain import GoMod, GoVersion, read_go_mod, resolve_go_version, runner_os

__all__ = [
    "DEFAULT_INPUTS",
    "DEFAULT_TEMPLATE",
    "GOMOD_TEMPLATE",
    "MAX_KEY_LENGTH",
    "ComponentChange",
    "FileDigest",
    "GoMod",
    "GoVersion",
    "HashResult",
    "KeyComponents",
    "KeyDiff",
    "combine_digests",
    "compute_keys",
    "diff_keys",
    "hash_files",
    "hash_files_detailed",
    "match_files",
    "read_go_mod",
    "read_manifest",
    "render_key",
    "resolve_go_version",
    "runner_os",
    "split_hashfiles_args",
    "validate_key",
    "write_manifest",
]
