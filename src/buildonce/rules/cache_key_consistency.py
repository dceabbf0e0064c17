"""cache-key-consistency: cache keys name everything the cached content depends on.

Spec (BinaryCacheEntry, GoModuleCache, domain rule 2): the binary key encodes the runner
OS, the Go toolchain version and the hashes of ``go.mod``, ``go.sum`` and every ``.go``
file; the module-cache key includes the OS and the ``go.sum`` hash.

**Anti-pattern**::

    - uses: actions/cache@v4
      with:
        path: bin/app
        key: app-bin-${{ hashFiles('go.sum') }}   # no OS, no Go version, no sources
        restore-keys: app-bin-                    # a prefix match restores a stale binary

**Fix**::

        key: ${{ runner.os }}-app-bin-${{ steps.setup-go.outputs.go-version }}-${{
          hashFiles('**/go.mod', '**/go.sum', '**/*.go') }}

Keys built in a ``run:`` step and passed through ``$GITHUB_OUTPUT``, composite-action
inputs and job outputs are followed.  Also reported: ``restore-keys`` on a binary cache, and
a consumer that restores a different key or path list than the builder saved (a different
path list is a different cache version, so the restore always misses).
"""

from __future__ import annotations

from buildonce.rules.base import Findings, RuleContext, Severity

ID = "cache-key-consistency"
SUMMARY = "binary and module cache keys include OS, Go version and the right file hashes"
SEVERITY = Severity.ERROR

_BINARY_KEY = (
    "${{ runner.os }}-<name>-bin-${{ steps.setup-go.outputs.go-version }}-"
    "${{ hashFiles('**/go.mod', '**/go.sum', '**/*.go') }}"
)


def check(ctx: RuleContext) -> Findings:
    a = ctx.analysis
    for job_id, jf in a.jobs.items():
        for step in jf.job.steps:
            cache = step.cache
            info = a.key(step)
            if cache is None or info is None:
                continue
            if not cache.key:
                if cache.is_binary or cache.is_module_cache:
                    yield ctx.finding(step, "cache step has no key", job=job_id)
                continue
            if cache.is_binary:
                missing = []
                if not info.has_os:
                    missing.append("the runner OS")
                if not info.has_go:
                    missing.append("the Go version")
                missing += [
                    f"a hash of {f}" for f in ("go.mod", "go.sum", "*.go") if not info.covers(f)
                ]
                if missing:
                    opaque = [u for u in info.unresolved if not u.startswith("$")]
                    yield ctx.finding(
                        step,
                        f"binary cache key {cache.key!r} lacks {', '.join(missing)}"
                        + (f" (could not follow {', '.join(opaque[:2])})" if opaque else ""),
                        hint=f"use a key like {_BINARY_KEY}",
                        job=job_id,
                        severity=Severity.NOTE if opaque else None,
                    )
                if cache.restore_keys and cache.op.value != "save":
                    yield ctx.finding(
                        step,
                        "restore-keys on a binary cache: a prefix match restores a binary "
                        "built from other sources",
                        hint="remove restore-keys; rebuild on a miss instead",
                        job=job_id,
                    )
            elif cache.is_module_cache:
                missing = []
                # Module sources are the same on every OS; enableCrossOsArchive says the
                # sharing is deliberate, so only a binary key must name the OS.
                if not info.has_os and not cache.cross_os:
                    missing.append("the runner OS")
                if not info.covers("go.sum"):
                    missing.append("a hash of go.sum")
                if missing and not info.unresolved:
                    yield ctx.finding(
                        step,
                        f"module cache key {cache.key!r} lacks {', '.join(missing)}",
                        hint="use a key like ${{ runner.os }}-go-${{ hashFiles('**/go.sum') }}",
                        job=job_id,
                    )
    # producer/consumer agreement
    saved = [(b, s, a.keys[id(s)]) for b in a.builders for s in a.jobs[b].saves if id(s) in a.keys]
    if not saved:
        return
    for consumer in a.consumers:
        for step in a.jobs[consumer].restores:
            info = a.keys.get(id(step))
            if info is None or step.cache is None or info.unresolved:
                continue
            if any(k.canonical == info.canonical for _, _, k in saved):
                matching = [s for _, s, k in saved if k.canonical == info.canonical]
                if matching and all(
                    m.cache is not None
                    and m.cache.paths != step.cache.paths
                    # the buildonce store finds an entry by key and restores it anywhere
                    and not (m.cache.path_agnostic and step.cache.path_agnostic)
                    for m in matching
                ):
                    other = matching[0].cache
                    assert other is not None
                    yield ctx.finding(
                        step,
                        f"restores path {list(step.cache.paths)} but the builder saved "
                        f"{list(other.paths)}: a different path list is a different cache "
                        "version and never matches",
                        hint="use the same path list, in the same order, on save and restore",
                        job=consumer,
                    )
                continue
            if all(not k.unresolved for _, _, k in saved):
                builder, _, key = saved[0]
                yield ctx.finding(
                    step,
                    f"restores key {step.cache.key!r} but {builder!r} saves {key.canonical!r}",
                    hint="compute the key once (a job output) and use it on both sides",
                    job=consumer,
                )
