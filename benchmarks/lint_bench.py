"""Lint the whole shared corpus with buildonce and with zizmor, in the same run.

Usage::

    python benchmarks/lint_bench.py [--runs N] [--zizmor PATH] [--corpus DIR]

The flattened corpus (``owner__repo__.github__workflows__x.yml``) is laid out as one real
checkout per repository in a temporary folder, so both tools see the same files and the
same local composite actions.  Each tool runs as a fresh process per measurement (what a
user or CI step pays), ``--runs`` times after one warm-up; medians are printed with the
ratio buildonce/zizmor.  actionlint cannot be installed offline (research/linter-peers.md),
so its published 44 ms for 125 files / 20,178 lines is scaled to this corpus's line count.

It also times the YAML parser candidates on the same files, in process: our event-stream
composer, PyYAML ``compose`` and ``load`` with libyaml, pure-Python ``SafeLoader``, and
rapidyaml (``ryml``, parse only, no positions) when it is importable.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACTIONLINT_MS = 44.5  # median, research/linter-peers.md, 125 files / 20,178 lines
ACTIONLINT_LINES = 20_178


def layout(corpus: Path, target: Path) -> list[Path]:
    """One checkout per repository: <target>/<owner>__<repo>/.github/{workflows,actions}."""
    repos: set[Path] = set()
    for source in sorted((corpus / "workflows").iterdir()):
        name = source.name
        if ".github__" not in name:
            continue
        repo, rest = name.split("__.github__", 1)
        parts = rest.split("__")
        dest = target / repo / ".github" / Path(*parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        repos.add(target / repo)
    return sorted(repos)


_ZIZMOR_LOAD_FAILURE = re.compile(r"failed to load file://(\S+?) as ")


def zizmor_loadable(zizmor: str, repos: list[Path]) -> list[Path]:
    """Move away the files zizmor refuses to load: one such file makes it stop with "no
    audit was performed" in ~0.1 s, which would time nothing.  Both tools then lint the
    same remaining files.  Returns the files removed."""
    removed: list[Path] = []
    for _ in range(20):
        proc = subprocess.run(
            [zizmor, "--offline", "--format", "json", *map(str, repos)],
            capture_output=True,
            text=True,
            check=False,
        )
        match = _ZIZMOR_LOAD_FAILURE.search(proc.stderr)
        if "no audit was performed" not in proc.stderr or match is None:
            return removed
        bad = Path(match.group(1))
        if not bad.is_absolute() or not bad.is_file():
            return removed
        removed.append(bad)
        bad.rename(bad.with_name(bad.name + ".excluded"))
    return removed


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up (page cache, imports on disk)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def run_process(cmd: list[str], env: dict[str, str] | None = None) -> Callable[[], object]:
    def call() -> object:
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    return call


_IMPORTS = (
    "import buildonce.cli.lint, buildonce.lint, buildonce.workflow.loader, "
    "buildonce.workflow.analysis, buildonce.rules, buildonce.report.json"
)


def where_the_time_goes(
    files: list[Path], runs: int, env: dict[str, str], repos: list[Path]
) -> dict[str, float]:
    """One cold ``--jobs 1`` run split into its parts: interpreter start, imports (fresh
    processes), then in process and warm: libyaml events alone, our node tree, views and
    local actions (loader), analysis and rules (everything a file costs after loading)."""
    import gc

    import yaml

    from buildonce.lint import Linter
    from buildonce.workflow.loader import Loader
    from buildonce.workflow.yamltree import parse_yaml

    texts = [f.read_text(encoding="utf-8") for f in files]

    def events_only() -> None:
        for text in texts:
            parser = yaml.CSafeLoader(text)
            while parser.get_event() is not None:
                pass
            parser.dispose()

    def load_all() -> list[object]:
        loader = Loader()
        return [loader.load(f) for f in files]

    loaded = load_all()
    linter = Linter()
    gc.disable()
    try:
        parts = {
            "interpreter start (python -c pass)": median_ms(
                run_process([sys.executable, "-c", "pass"], env), runs
            ),
            "start + imports of the lint path": median_ms(
                run_process([sys.executable, "-c", _IMPORTS], env), runs
            ),
            "libyaml events only (C parser, Python event objects)": median_ms(events_only, runs),
            "events -> positioned node tree (parse_yaml)": median_ms(
                lambda: [parse_yaml(t) for t in texts], runs
            ),
            "tree -> workflow views, local actions (Loader.load)": median_ms(load_all, runs),
            "analysis + 12 rules + ignores (lint_loaded)": median_ms(
                lambda: [linter.lint_loaded(w) for w in loaded],
                runs,  # type: ignore[arg-type]
            ),
            "whole lint in process (Linter.lint_paths, warm imports)": median_ms(
                lambda: Linter().lint_paths(repos), runs
            ),
        }
    finally:
        gc.enable()
    return parts


def parser_candidates(files: list[Path], runs: int) -> dict[str, float]:
    import yaml

    from buildonce.workflow.yamltree import parse_yaml

    texts = [f.read_text(encoding="utf-8") for f in files]
    results = {
        "buildonce event composer (libyaml events, positions)": median_ms(
            lambda: [parse_yaml(t) for t in texts], runs
        ),
        "PyYAML compose, CSafeLoader (positions)": median_ms(
            lambda: [yaml.compose(t, Loader=yaml.CSafeLoader) for t in texts], runs
        ),
        "PyYAML load, CSafeLoader (no positions)": median_ms(
            lambda: [yaml.load(t, Loader=yaml.CSafeLoader) for t in texts], runs
        ),
        "PyYAML load, pure-Python SafeLoader (no positions)": median_ms(
            lambda: [yaml.load(t, Loader=yaml.SafeLoader) for t in texts], max(1, runs // 5)
        ),
    }
    try:
        import ryml  # type: ignore[import-not-found]
    except ImportError:
        results["rapidyaml (ryml): not installed"] = float("nan")
    else:
        data = [t.encode() for t in texts]
        results["rapidyaml parse_in_arena (no positions, no Python tree)"] = median_ms(
            lambda: [ryml.parse_in_arena(d) for d in data], runs
        )
    return results


def labelled_precision() -> str:
    path = ROOT / "tests" / "rules" / "data" / "labelled_findings.json"
    labels = json.loads(path.read_text(encoding="utf-8"))["labels"]
    tp = sum(1 for x in labels if x["true_positive"])
    return f"{tp}/{len(labels)} = {tp / len(labels):.1%}"


def main() -> int:
    from buildonce.lint import default_jobs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--zizmor", default=shutil.which("zizmor"), help="zizmor executable")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    args = parser.parse_args()
    if not (args.corpus / "workflows").is_dir():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        repos = layout(args.corpus, Path(tmp))
        if args.zizmor:
            for bad in zizmor_loadable(args.zizmor, repos):
                print(f"excluded from both tools (zizmor cannot load it): {bad.name}")
        files = [p for r in repos for p in (r / ".github").rglob("*.y*ml")]
        lines = sum(p.read_text(encoding="utf-8").count("\n") for p in files)
        print(f"corpus: {len(files)} files, {lines} lines, {len(repos)} repositories")
        dirs = [str(r) for r in repos]
        lint = [sys.executable, "-m", "buildonce", "lint", *dirs, "--format", "json"]
        # An installed wheel has compiled bytecode; a checkout run with
        # PYTHONDONTWRITEBYTECODE would recompile every module on every run, which is not
        # what users pay.  Keep the bytecode in a temp folder, out of the source tree.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        env["XDG_CACHE_HOME"] = str(Path(tmp) / "xdg")
        serial = median_ms(run_process([*lint, "--no-cache", "--jobs", "1"], env), args.runs)
        cold = median_ms(run_process([*lint, "--no-cache"], env), args.runs)
        ours = median_ms(run_process(lint, env), args.runs)  # the warm-up run fills the cache
        startup = median_ms(run_process([sys.executable, "-c", "pass"], env), args.runs)
        print(f"buildonce lint --no-cache --jobs 1 (process, median): {serial:8.1f} ms")
        print(
            f"buildonce lint --no-cache, default --jobs {default_jobs()} "
            f"(process, median of {args.runs}): {cold:8.1f} ms"
        )
        print(f"buildonce lint, warm findings cache (process, median): {ours:8.1f} ms")
        print(f"python -c pass (interpreter start):       {startup:8.1f} ms")
        actionlint_scaled = ACTIONLINT_MS * lines / ACTIONLINT_LINES
        print(
            f"actionlint reference, scaled to {lines} lines: {actionlint_scaled:8.1f} ms "
            f"(44.5 ms / 20,178 lines, linter-peers.md)"
        )
        print(
            f"  ratio buildonce / actionlint: cold {cold / actionlint_scaled:.2f}x "
            f"(--jobs 1: {serial / actionlint_scaled:.2f}x), "
            f"warm {ours / actionlint_scaled:.2f}x (target <= 3x)"
        )
        if args.zizmor:
            theirs = median_ms(
                run_process([args.zizmor, "--offline", "--format", "json", *dirs]), args.runs
            )
            print(f"zizmor --offline (process, median):       {theirs:8.1f} ms")
            print(
                f"  ratio buildonce / zizmor: cold {cold / theirs:.2f}x "
                f"(--jobs 1: {serial / theirs:.2f}x), warm {ours / theirs:.2f}x (target <= 0.3x)"
            )
        else:
            print("zizmor not found: pip install zizmor (into a throwaway venv) and pass --zizmor")
        print("where the time goes (medians; the lines below the imports are in process):")
        for name, ms in where_the_time_goes(files, args.runs, env, repos).items():
            print(f"  {ms:8.1f} ms  {name}")
        print("YAML parser candidates, in process, whole corpus (median):")
        for name, ms in parser_candidates(files, args.runs).items():
            print(f"  {ms:8.1f} ms  {name}")
    print(f"labelled precision (tests/rules/data/labelled_findings.json): {labelled_precision()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
