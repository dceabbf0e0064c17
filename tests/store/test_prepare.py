"""``buildonce prepare`` end to end with the real Go toolchain and the bundled example."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from buildonce.cli import main
from buildonce.store import cache, open_store
from buildonce.store.prepare import prepare

from .conftest import WeedServer, weed_exe

pytestmark = pytest.mark.slow

KEY = "Linux-hello-bin-1.25.4-0123456789abcdef"
BUILD = "go build -o bin/hello ."


@pytest.fixture
def go_ready(go_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in (
        "GOCACHE",
        "GOPATH",
        "GOMODCACHE",
        "GOFLAGS",
        "GOPROXY",
        "GOTOOLCHAIN",
        "GOTELEMETRY",
        "CGO_ENABLED",
    ):
        monkeypatch.setenv(name, go_env[name])
    return go_env


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("buildonce: error: ")
    return lines[0]


def test_miss_builds_and_saves_then_hit_restores_without_building(
    example_project: Path,
    go_ready: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    argv = ["prepare", "--root", str(example_project), "--binary", "bin/hello", "--key", KEY]
    assert main([*argv, "--build", BUILD, "--job", "build-artifact", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["cacheHit"] is False
    assert first["built"] is True
    assert first["saved"] is True
    # The builder job seeds the entry (spec transition 1, domain rule 1).
    assert first["state"] == "Seeded"
    assert first["smoke"]["output"] == "hello dev"
    binary = example_project / "bin" / "hello"
    built_bytes = binary.read_bytes()
    assert first["sha256"] == hashlib.sha256(built_bytes).hexdigest()
    assert first["sizeBytes"] == len(built_bytes)

    # A consumer job: fresh checkout, and a build command that would fail if it ran.
    consumer = tmp_path / "consumer"
    shutil.copytree(example_project, consumer, ignore=shutil.ignore_patterns("bin"))
    out.write_text("")
    code = main(
        [
            "prepare",
            "--root",
            str(consumer),
            "--binary",
            "bin/hello",
            "--key",
            KEY,
            "--build",
            "false",
            "--job",
            "system-test",
        ]
    )
    assert code == 0
    assert "cache hit" in capsys.readouterr().out
    restored = consumer / "bin" / "hello"
    assert restored.read_bytes() == built_bytes
    assert restored.stat().st_mode & 0o111
    lines = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert lines["cache-hit"] == "true"
    assert lines["key"] == KEY
    assert lines["sha256"] == first["sha256"]
    text = summary.read_text()
    assert KEY in text
    assert "hit" in text
    assert first["sha256"] in text
    assert main(["cache", "show", KEY, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(h["from"], h["to"]) for h in shown["history"]] == [
        ("Missing", "Seeded"),
        ("Seeded", "Restored"),
    ]
    assert shown["consumers"] == ["system-test"]


@pytest.mark.parametrize(
    ("extra", "state"),
    [
        # A consumer that builds after a miss re-saves the entry: Missing -> Updated.
        (["--job", "system-test"], "Updated"),
        (["--job", "build-artifact"], "Seeded"),
        (["--job", "compile", "--builder-job", "compile"], "Seeded"),
        (["--job", "build-artifact", "--role", "consumer"], "Updated"),
        (["--job", "system-test", "--role", "builder"], "Seeded"),
    ],
)
def test_who_builds_decides_seeded_or_updated(
    example_project: Path,
    go_ready: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    state: str,
) -> None:
    argv = ["prepare", "--root", str(example_project), "--binary", "bin/hello", "--key", KEY]
    assert main([*argv, "--build", BUILD, *extra, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == state
    assert main(["cache", "show", KEY, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(h["from"], h["to"]) for h in shown["history"]] == [("Missing", state)]


def test_failing_build_is_one_line_and_exit_1(
    example_project: Path, go_ready: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    (example_project / "main.go").write_text("package main\nfunc main() { undefinedThing() }\n")
    code = main(
        [
            "prepare",
            "--root",
            str(example_project),
            "--binary",
            "bin/hello",
            "--key",
            KEY,
            "--build",
            BUILD,
        ]
    )
    assert code == 1
    line = one_line_error(capsys.readouterr().err)
    assert "build command" in line
    assert "undefined" in line
    assert not (example_project / "bin" / "hello").exists()
    assert main(["cache", "ls", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_failing_smoke_test_is_one_line_and_exit_1(
    example_project: Path, go_ready: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "prepare",
            "--root",
            str(example_project),
            "--binary",
            "bin/hello",
            "--key",
            KEY,
            "--build",
            BUILD,
            "--smoke",
            "{binary} -name=",
        ]
    )
    assert code == 1
    line = one_line_error(capsys.readouterr().err)
    assert "smoke test" in line
    assert "status 2" in line


def test_needs_result_failure_stops_before_anything(
    example_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "prepare",
            "--root",
            str(example_project),
            "--binary",
            "bin/hello",
            "--key",
            KEY,
            "--build",
            "false",
            "--needs-result",
            "failure",
            "--store",
            "s3://unreachable",
        ]
    )
    assert code == 1
    line = one_line_error(capsys.readouterr().err)
    assert "result 'failure'" in line
    assert "failure propagation" in line


def test_miss_without_build_command_fails(
    example_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["prepare", "--root", str(example_project), "--binary", "bin/hello", "--key", KEY])
    assert code == 1
    assert "no --build command" in one_line_error(capsys.readouterr().err)


def test_computed_key_when_keys_module_is_available(
    example_project: Path, go_ready: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    keys = pytest.importorskip("buildonce.keys.cache_key")
    expected = keys.compute_keys(example_project).binary_key
    assert (
        main(
            [
                "prepare",
                "--root",
                str(example_project),
                "--binary",
                "bin/hello",
                "--build",
                BUILD,
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["key"] == expected


def test_s3_server_stopped_mid_restore_falls_back_to_building(
    example_project: Path,
    go_ready: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = WeedServer(weed_exe(), tmp_path / "weed")
    server.start()
    try:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        store = open_store("s3://buildonce-test/mid")
        big = tmp_path / "big"
        # Random bytes do not compress: the download takes long enough to be cut.
        big.write_bytes(os.urandom(48 * 1024 * 1024))
        scope = cache.scope_from_env({})
        assert cache.save(store, [big], key=KEY, scope=scope).created

        def stop_on_first_bytes(label: str, total: int | None) -> object:
            state = {"stopped": False}

            def tick(n: int) -> None:
                if label == "restore" and not state["stopped"]:
                    state["stopped"] = True
                    # SIGKILL: a graceful stop lets weed finish the response in flight.
                    server.kill()

            return tick

        outcome = prepare(
            store,
            key=KEY,
            binary=Path("bin/hello"),
            build=BUILD,
            scope=scope,
            cwd=example_project,
            progress=stop_on_first_bytes,  # type: ignore[arg-type]
        )
    finally:
        server.stop()
    assert not outcome.cache_hit
    assert outcome.built
    assert not outcome.saved
    assert any("could not download" in w for w in outcome.warnings), outcome.warnings
    assert any("could not save" in w for w in outcome.warnings)
    assert outcome.smoke is not None
    assert outcome.smoke.output.strip() == "hello dev"
    assert not [p for p in (example_project / "bin").iterdir() if p.name != "hello"]
