"""Run a composite action the way the GitHub runner does, closely enough to test ours.

What it reproduces (runner ``CompositeActionHandler`` / ``ScriptHandler`` behaviour):

* each step's ``if:`` (default ``success()``), ``env:``, ``working-directory:`` and
  ``with:`` are expressions over ``inputs``, ``github``, ``steps``, ``env`` and ``runner``;
* ``run:`` steps execute with ``bash --noprofile --norc -eo pipefail``;
* ``$GITHUB_OUTPUT`` / ``$GITHUB_ENV`` / ``$GITHUB_PATH`` are fresh files per step, read back
  after it (``name=value`` and ``name<<DELIM`` blocks);
* a local ``uses: ./path`` resolves against the **workspace**, and a ``node20`` action runs
  its ``main`` with ``INPUT_*`` variables plus the runtime variables
  (``ACTIONS_RUNTIME_TOKEN``, ``ACTIONS_RESULTS_URL``...), which ``run:`` steps never get;
* the action's ``outputs`` are evaluated at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from buildonce.workflow.expressions import Status, condition_source, evaluate, split_template

RUNTIME_ONLY = ("ACTIONS_RUNTIME_TOKEN", "ACTIONS_RESULTS_URL", "ACTIONS_CACHE_SERVICE_V2")


@dataclass
class StepResult:
    name: str
    skipped: bool
    returncode: int
    output: str
    env_seen: dict[str, str] = field(default_factory=dict)


@dataclass
class ActionResult:
    outputs: dict[str, str]
    steps: list[StepResult]
    failed: bool


def parse_file_commands(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        i += 1
    return values


def _render(text: str, contexts: Mapping[str, object]) -> str:
    out = []
    for part in split_template(text):
        if part.expression is None:
            out.append(part.text)
        else:
            value = evaluate(part.expression, contexts)
            out.append(
                ""
                if value is None
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
    return "".join(out)


def run_action(
    action_dir: Path,
    *,
    workspace: Path,
    inputs: Mapping[str, str],
    job_env: Mapping[str, str],
    runtime_env: Mapping[str, str],
    temp: Path,
) -> ActionResult:
    """Run the composite action in ``action_dir`` as one step of a job in ``workspace``."""
    spec: dict[str, Any] = yaml.safe_load((action_dir / "action.yml").read_text())
    declared = spec.get("inputs", {})
    resolved_inputs = {
        name: inputs.get(name, str(meta.get("default", ""))) for name, meta in declared.items()
    }
    unknown = set(inputs) - set(declared)
    assert not unknown, f"inputs not declared by the action: {unknown}"
    env = dict(job_env)
    env.update(GITHUB_WORKSPACE=str(workspace), RUNNER_TEMP=str(temp))
    step_outputs: dict[str, dict[str, dict[str, str]]] = {}
    results: list[StepResult] = []
    failed = False
    for index, step in enumerate(spec["runs"]["steps"]):
        contexts: dict[str, object] = {
            "inputs": resolved_inputs,
            "github": {"action_path": str(action_dir), "workspace": str(workspace)},
            "steps": step_outputs,
            "env": env,
            "runner": {"temp": str(temp), "os": "Linux"},
        }
        name = step.get("name", f"step {index}")
        condition = condition_source(str(step.get("if", "success()")))
        status = Status(success=not failed, failure=failed)
        if not evaluate(condition, contexts, status=status):
            results.append(StepResult(name, True, 0, ""))
            continue
        files = {
            k: temp / f"{k.lower()}-{uuid.uuid4().hex}"
            for k in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")
        }
        for path in files.values():
            path.write_text("")
        step_env = dict(env)
        step_env.update({k: str(v) for k, v in files.items()})
        for key, value in (step.get("env") or {}).items():
            step_env[key] = _render(str(value), contexts)
        cwd = workspace / _render(str(step.get("working-directory", ".")), contexts)
        if "run" in step:
            argv = [
                "bash",
                "--noprofile",
                "--norc",
                "-eo",
                "pipefail",
                "-c",
                _render(step["run"], contexts),
            ]
        else:
            uses = str(step["uses"])
            assert uses.startswith("./"), "only local actions are emulated"
            target = workspace / uses[2:]
            sub = yaml.safe_load((target / "action.yml").read_text())
            assert sub["runs"]["using"] in ("node20", "node24")
            node = shutil.which("node")
            assert node is not None
            step_env.update(runtime_env)  # JavaScript actions, and only they, get these
            for key, value in (step.get("with") or {}).items():
                step_env[f"INPUT_{key.upper()}"] = _render(str(value), contexts)
            argv = [node, str(target / sub["runs"]["main"])]
        proc = subprocess.run(argv, cwd=cwd, env=step_env, capture_output=True, text=True)
        results.append(
            StepResult(name, False, proc.returncode, proc.stdout + proc.stderr, step_env)
        )
        if step.get("id"):
            step_outputs[step["id"]] = {
                "outputs": parse_file_commands(files["GITHUB_OUTPUT"].read_text())
            }
        env.update(parse_file_commands(files["GITHUB_ENV"].read_text()))
        for line in files["GITHUB_PATH"].read_text().splitlines():
            env["PATH"] = f"{line}{os.pathsep}{env.get('PATH', '')}"
        if proc.returncode != 0:
            failed = True
    contexts = {"steps": step_outputs, "inputs": resolved_inputs}
    outputs = {
        name: _render(str(meta["value"]), contexts)
        for name, meta in spec.get("outputs", {}).items()
    }
    return ActionResult(outputs, results, failed)
