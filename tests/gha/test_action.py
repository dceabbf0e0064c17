"""The GitHub Action (action.yml + action/runtime), its examples and the pre-commit hook."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gha.composite_runner import RUNTIME_ONLY, parse_file_commands, run_action
from gha.protocol_server import CacheServer

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
RUNTIME = ROOT / "action" / "runtime"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (GitHub runners have it; the runtime step needs it)")
    return node


def _spec() -> dict[str, object]:
    data = yaml.safe_load(ACTION.read_text())
    assert isinstance(data, dict)
    return data


# -- static checks ----------------------------------------------------------------------------
def test_action_declares_the_promised_inputs_and_outputs() -> None:
    spec = _spec()
    inputs = spec["inputs"]
    outputs = spec["outputs"]
    assert isinstance(inputs, dict)
    assert isinstance(outputs, dict)
    expected = {"mode", "name", "inputs", "template", "path", "build", "smoke", "store", "version"}
    assert expected <= set(inputs)
    assert {"key", "cache-hit", "sha256"} <= set(outputs)
    assert inputs["path"]["required"] is True
    runs = spec["runs"]
    assert isinstance(runs, dict)
    assert runs["using"] == "composite"
    step_ids = {s.get("id") for s in runs["steps"]}
    for meta in outputs.values():
        (step_id,) = re.findall(r"steps\.([\w-]+)\.outputs", meta["value"])
        assert step_id in step_ids


def test_no_expression_is_spliced_into_a_script() -> None:
    # ${{ inputs.x }} inside run: is a script-injection hole; values must travel through env:.
    runs = _spec()["runs"]
    assert isinstance(runs, dict)
    for step in runs["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")
        assert step.get("shell", "bash") == "bash" or "uses" in step


def test_runtime_action_is_a_dependency_free_node_action() -> None:
    spec = yaml.safe_load((RUNTIME / "action.yml").read_text())
    assert spec["runs"]["using"].startswith("node")
    source = (RUNTIME / spec["runs"]["main"]).read_text()
    assert set(re.findall(r"require\('([^']+)'\)", source)) <= {"crypto", "fs"}


def test_runtime_step_exports_and_masks_the_token(tmp_path: Path) -> None:
    node = _node()
    env_file = tmp_path / "env"
    env_file.write_text("EXISTING=1\n")
    proc = subprocess.run(
        [node, str(RUNTIME / "index.js")],
        env={
            "GITHUB_ENV": str(env_file),
            "ACTIONS_RUNTIME_TOKEN": "tok\nwith-newline",
            "ACTIONS_RESULTS_URL": "https://results.example/",
            "ACTIONS_CACHE_SERVICE_V2": "True",
        },
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first == "::add-mask::tok%0Awith-newline"  # masked before anything else is printed
    exported = parse_file_commands(env_file.read_text())
    assert exported == {
        "EXISTING": "1",
        "ACTIONS_RESULTS_URL": "https://results.example/",
        "ACTIONS_RUNTIME_TOKEN": "tok\nwith-newline",
        "ACTIONS_CACHE_SERVICE_V2": "True",
    }


def test_runtime_step_warns_when_the_runner_gave_nothing(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("")
    proc = subprocess.run(
        [_node(), str(RUNTIME / "index.js")],
        env={"GITHUB_ENV": str(env_file)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("::warning::")
    assert env_file.read_text() == ""


def test_runtime_step_outside_actions_fails_clearly() -> None:
    proc = subprocess.run(
        [_node(), str(RUNTIME / "index.js")], env={}, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("::error::GITHUB_ENV is not set")


# -- the composite, run the way the runner runs it --------------------------------------------
@pytest.fixture
def job(
    server: CacheServer, tmp_path: Path, example_project: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, object]:
    _node()
    temp = tmp_path / "runner-temp"
    (temp / "buildonce-venv" / "bin").mkdir(parents=True)
    # The install step is skipped when the venv exists: point it at the buildonce under test.
    # The console script of the interpreter running the tests, even when its venv is not on PATH.
    beside = Path(sys.executable).with_name("buildonce")
    exe = str(beside) if beside.exists() else shutil.which("buildonce")
    assert exe is not None
    (temp / "buildonce-venv" / "bin" / "buildonce").symlink_to(exe)
    summary = tmp_path / "summary.md"
    import os

    job_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "GITHUB_ACTIONS": "true",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_OS": "Linux",
        "BUILDONCE_GHA_RETRY_DELAY": "0",
        "BUILDONCE_CACHE_DIR": str(tmp_path / "must-not-be-used"),
    }
    runtime_env = {
        "ACTIONS_RUNTIME_TOKEN": server.token,
        "ACTIONS_RESULTS_URL": server.base_url + "/",
    }
    build = tmp_path / "build.py"
    build.write_text(
        "import pathlib, sys\n"
        "out = pathlib.Path(sys.argv[1]); out.parent.mkdir(parents=True, exist_ok=True)\n"
        f"out.write_text('#!{sys.executable}\\nprint(\"hello 1.0\")\\n')\n"
        "log = pathlib.Path(sys.argv[2]); log.write_text(log.read_text() + 'x' "
        "if log.exists() else 'x')\n"
    )
    return {
        "temp": temp,
        "job_env": job_env,
        "runtime_env": runtime_env,
        "summary": summary,
        "build": f"{sys.executable} {build} bin/hello {tmp_path / 'builds.log'}",
        "builds": tmp_path / "builds.log",
        "project": example_project,
        "tmp": tmp_path,
    }


def _run(job: dict[str, object], workspace: Path, **inputs: str):  # type: ignore[no-untyped-def]
    return run_action(
        ROOT,
        workspace=workspace,
        inputs=inputs,
        job_env=job["job_env"],  # type: ignore[arg-type]
        runtime_env=job["runtime_env"],  # type: ignore[arg-type]
        temp=job["temp"],  # type: ignore[arg-type]
    )


def _fresh_workspace(job: dict[str, object], name: str) -> Path:
    ws = job["tmp"] / name  # type: ignore[operator]
    shutil.copytree(job["project"], ws)  # type: ignore[arg-type]
    return ws  # type: ignore[no-any-return]


def test_build_job_then_matrix_legs_restore_through_the_gha_store(
    job: dict[str, object], server: CacheServer
) -> None:
    builder = _run(
        job, _fresh_workspace(job, "build-artifact"), mode="build", path="bin/hello",
        build=str(job["build"]),
    )  # fmt: skip
    assert not builder.failed, [s.output for s in builder.steps]
    assert builder.outputs["cache-hit"] == "false"
    assert builder.outputs["key"].startswith("Linux-hello-bin-1.25.4-")
    assert server.calls("FinalizeCacheEntryUpload") == 1
    # The token reached buildonce only through the JS step's GITHUB_ENV export.
    first_run = builder.steps[0]
    assert not any(name in first_run.env_seen for name in RUNTIME_ONLY)
    prepare = next(s for s in builder.steps if s.name.startswith("Restore, or build"))
    assert prepare.env_seen["ACTIONS_RUNTIME_TOKEN"] == server.token
    assert not (Path(str(job["tmp"])) / "must-not-be-used").exists()

    for leg in range(3):
        ws = _fresh_workspace(job, f"system-test-{leg}")
        consumer = _run(
            job, ws, mode="consume", path="bin/hello", build=str(job["build"]),
            **{"needs-result": "success"},
        )  # fmt: skip
        assert not consumer.failed, [s.output for s in consumer.steps]
        assert consumer.outputs["cache-hit"] == "true"
        assert consumer.outputs["key"] == builder.outputs["key"]
        binary = ws / "bin" / "hello"
        assert consumer.outputs["sha256"] == hashlib.sha256(binary.read_bytes()).hexdigest()
        assert consumer.outputs["sha256"] == builder.outputs["sha256"]
        assert not (ws / ".buildonce-runtime-action").exists()  # staged copy cleaned up
    assert Path(str(job["builds"])).read_text() == "x"  # built once for four jobs
    assert "hello" in Path(str(job["summary"])).read_text()


def test_consumer_stops_when_the_build_job_failed(
    job: dict[str, object], server: CacheServer
) -> None:
    result = _run(
        job, _fresh_workspace(job, "leg"), mode="consume", path="bin/hello",
        **{"needs-result": "failure"},
    )  # fmt: skip
    assert result.failed
    assert server.calls("GetCacheEntryDownloadURL") == 0
    assert any("failure" in s.output for s in result.steps if not s.skipped)


def test_bad_mode_fails_before_anything_runs(job: dict[str, object], server: CacheServer) -> None:
    result = _run(job, _fresh_workspace(job, "x"), mode="deploy", path="bin/hello")
    assert result.failed
    assert "::error title=buildonce::mode must be 'build' or 'consume'" in result.steps[0].output
    assert server.requests == []


def test_build_mode_without_a_build_command_is_refused(job: dict[str, object]) -> None:
    result = _run(job, _fresh_workspace(job, "x"), mode="build", path="bin/hello")
    assert result.failed
    assert "needs a build command" in result.steps[0].output


# -- examples and pre-commit ------------------------------------------------------------------
def test_examples_use_the_action_and_lint_clean(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("buildonce.lint", reason="buildonce lint is not available")
    from buildonce.cli import main

    examples = sorted((ROOT / "examples" / "github").glob("*.yml"))
    assert len(examples) >= 2
    for example in examples:
        text = example.read_text()
        assert "buildonce@" in text
        assert "mode: build" in text
        assert "mode: consume" in text
    assert main(["lint", *map(str, examples)]) == 0, capsys.readouterr().out
    assert main(["lint", str(ACTION)]) == 0, capsys.readouterr().out


def test_pre_commit_hook_runs_buildonce_lint_on_workflows() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "buildonce-lint"]
    assert hook["entry"].split()[:2] == ["buildonce", "lint"]
    assert hook["language"] == "python"
    pattern = re.compile(hook["files"])
    assert pattern.search(".github/workflows/ci.yml")
    assert pattern.search(".github/actions/x/action.yml")
    assert not pattern.search("src/app/main.go")
