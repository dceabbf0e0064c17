"""The buildonce action's own steps are understood: builder, consumers, key, smoke test,
needs-result; the bundled examples lint clean because of that, and breaking them is reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from buildonce.cli import main
from buildonce.lint import Linter
from buildonce.model import JobStatus
from buildonce.workflow.analysis import analyse
from buildonce.workflow.loader import Loader
from buildonce.workflow.model import Workflow, is_buildonce_action
from buildonce.workflow.simulate import simulate

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples" / "github").glob("*.yml"))
MATRIX = REPO / "examples" / "github" / "build-once-matrix.yml"


def _load(path: Path) -> Workflow:
    wf = Loader().load(path)
    assert isinstance(wf, Workflow)
    return wf


def _rules(path: Path) -> set[tuple[str, str | None]]:
    return {(f.rule, f.job) for f in Linter().lint_paths([path]).findings}


def test_examples_are_found() -> None:
    assert {p.name for p in EXAMPLES} >= {"build-once-matrix.yml", "ksail.yml"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_understood_and_lints_clean(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = analyse(_load(example))
    # Clean because the roles are recognised, not because nothing was seen.
    assert a.builders == ["build-artifact"]
    assert a.consumers == ["system-test"]
    builder, consumer = a.jobs["build-artifact"], a.jobs["system-test"]
    assert builder.saves
    assert builder.saves == builder.smoke == builder.guarded_builds
    assert not builder.builds
    assert consumer.restores
    assert consumer.smoke == consumer.restores  # the action smoke-tests what it restored
    assert consumer.uses_binary
    steps = consumer.job.steps
    assert steps.index(consumer.smoke[0]) < steps.index(consumer.uses_binary[0])
    keys = {a.keys[id(s)].canonical for s in [*builder.saves, *consumer.restores]}
    assert len(keys) == 1  # producer and consumer compute the same key
    info = a.keys[id(consumer.restores[0])]
    assert info.has_os
    assert info.has_go
    assert all(info.covers(f) for f in ("go.mod", "go.sum", "main.go"))
    assert main(["lint", "--no-cache", str(example)]) == 0
    assert "no findings" in capsys.readouterr().out


def _mutate(tmp_path: Path, old: str, new: str) -> Path:
    text = MATRIX.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "ci.yml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


CONSUMER_NEEDS = "    needs: [build-artifact]\n    runs-on: ubuntu-latest\n    strategy:"
NEEDS_RESULT = "          needs-result: ${{ needs.build-artifact.result }}\n"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            CONSUMER_NEEDS,
            "    runs-on: ubuntu-latest\n    strategy:",
            {
                ("artifact-requires-builder", "system-test"),
                ("failure-propagation", "system-test"),  # needs-result is always empty
                ("parallel-safety", "system-test"),  # races the builder's save
            },
            id="consumer-without-needs",
        ),
        pytest.param(
            NEEDS_RESULT,
            NEEDS_RESULT + "          smoke: none\n",
            {("smoke-test-guard", "system-test")},
            id="smoke-test-off",
        ),
        pytest.param(
            "          mode: consume\n",
            "          mode: consume\n          template: '{name}-{go}-{hash}'\n",
            {("cache-key-consistency", "system-test")},
            id="key-without-os",
        ),
        pytest.param(
            "          mode: consume\n",
            "          mode: consume\n          inputs: go.sum\n",
            {("cache-key-consistency", "system-test")},
            id="key-without-sources",
        ),
        pytest.param(
            "          mode: consume\n",
            "          mode: build\n",
            {("parallel-safety", "system-test")},  # every leg saves as a builder
            id="consumer-in-build-mode",
        ),
        pytest.param(
            "  pull_request:\n",
            "  pull_request_target:\n",
            {("cache-poisoning", "build-artifact"), ("cache-poisoning", "system-test")},
            id="privileged-trigger",
        ),
        pytest.param(
            "          mode: build\n",
            "          mode: bulid\n",
            {("invalid-workflow", None)},
            id="unknown-mode",
        ),
        pytest.param(
            "          build: go build -trimpath -o bin/app .\n      - name: Report",
            "      - name: Report",
            {("invalid-workflow", None)},
            id="build-mode-without-command",
        ),
    ],
)
def test_breaking_the_example_is_reported(
    tmp_path: Path, old: str, new: str, expected: set[tuple[str, str | None]]
) -> None:
    assert _rules(_mutate(tmp_path, old, new)) == expected


def test_always_guard_needs_the_build_result(tmp_path: Path) -> None:
    guarded = CONSUMER_NEEDS.replace("    runs-on", "    if: always()\n    runs-on")
    # Without needs-result the consumer runs (and restores) after a failed build.
    path = _mutate(tmp_path, CONSUMER_NEEDS, guarded)
    text = path.read_text(encoding="utf-8").replace(NEEDS_RESULT, "")
    path.write_text(text, encoding="utf-8")
    findings = Linter().lint_paths([path]).findings
    assert [
        (f.rule, "lets it run when 'build-artifact' failed" in f.message) for f in findings
    ] == [("failure-propagation", True)]
    # needs-result stops the action before the cache: only the always() misuse remains.
    findings = Linter().lint_paths([_mutate(tmp_path, CONSUMER_NEEDS, guarded)]).findings
    assert [(f.rule, "not a reporting job" in f.message) for f in findings] == [
        ("failure-propagation", True)
    ]


def test_local_action_in_its_own_repository(tmp_path: Path) -> None:
    # `uses: ./` in this repository's workflows means action.yml at the checkout root.
    shutil.copyfile(REPO / "action.yml", tmp_path / "action.yml")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    text = MATRIX.read_text(encoding="utf-8").replace("buildonce-dev/buildonce@v0.1.0", "./")
    (workflows / "ci.yml").write_text(text, encoding="utf-8")
    wf = _load(workflows / "ci.yml")
    a = analyse(wf)
    assert a.builders == ["build-artifact"]
    assert a.consumers == ["system-test"]
    # Recognised as the action, not expanded into its shell steps.
    assert all(s.caller is None for j in wf.jobs.values() for s in j.steps)
    assert Linter().lint_paths([tmp_path / ".github"]).findings == []
    # A local composite action of another name is expanded as before.
    other = tmp_path / "action.yml"
    other.write_text(
        other.read_text(encoding="utf-8").replace("name: buildonce", "name: mine", 1),
        encoding="utf-8",
    )
    wf = Loader().load(workflows / "ci.yml")
    assert isinstance(wf, Workflow)
    assert any(s.caller is not None for s in wf.jobs["system-test"].steps)
    assert not any(s.buildonce for s in wf.jobs["system-test"].steps)


@pytest.mark.parametrize(
    ("uses", "expected"),
    [
        ("buildonce-dev/buildonce@v0.1.0", True),
        ("someone/BuildOnce@main", True),
        ("someone/buildonce", True),
        ("./buildonce", False),
        ("someone/buildonce-fork@v1", False),
        ("someone/buildonce/sub@v1", False),
        ("actions/cache@v4", False),
    ],
)
def test_which_uses_is_the_action(uses: str, expected: bool) -> None:
    assert is_buildonce_action(uses) is expected


def test_explicit_key_and_step_output_are_followed(tmp_path: Path) -> None:
    path = _mutate(
        tmp_path,
        "          mode: consume\n",
        "          mode: consume\n          key: app-${{ hashFiles('go.sum') }}\n",
    )
    findings = Linter().lint_paths([path]).findings
    messages = {f.message for f in findings if f.rule == "cache-key-consistency"}
    assert any("lacks the runner OS, the Go version, a hash of go.mod" in m for m in messages)
    assert any("restores key" in m for m in messages)  # differs from the builder's key
    # steps.<id>.outputs.key of the action resolves to the key it computed.
    wf = _load(MATRIX)
    report = next(s for s in wf.jobs["build-artifact"].steps if s.name == "Report")
    assert report.run is not None
    from buildonce.workflow.keytrack import KeyResolver

    info = KeyResolver(wf).resolve(
        "${{ steps.binary.outputs.key }}", wf.jobs["build-artifact"], report
    )
    assert info.has_os
    assert info.has_go
    assert info.canonical == "{runner.os}-{name}-bin-{go-version}-{hash(go.mod,go.sum,**/*.go)}"


def test_simulated_consumer_requires_the_artifact(tmp_path: Path) -> None:
    result = simulate(_load(MATRIX), fail=["build-artifact"])
    statuses = {o.job: o.status for o in result.outcomes}
    assert statuses["system-test"] is JobStatus.SKIPPED
    assert result.run.jobs["system-test"].artifact_required
    guarded = CONSUMER_NEEDS.replace("    runs-on", "    if: always()\n    runs-on")
    result = simulate(_load(_mutate(tmp_path, CONSUMER_NEEDS, guarded)), fail=["build-artifact"])
    outcome = next(o for o in result.outcomes if o.job == "system-test")
    assert outcome.status is JobStatus.FAILURE
    assert outcome.reason == "artifact from 'build-artifact' is missing"


def test_json_report_names_the_missing_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _mutate(tmp_path, CONSUMER_NEEDS, "    runs-on: ubuntu-latest\n    strategy:")
    assert main(["lint", "--no-cache", "--format", "json", str(path)]) == 1
    report = json.loads(capsys.readouterr().out)
    hints = {f["rule"]: f["hint"] for f in report["findings"]}
    assert hints["artifact-requires-builder"] == "add needs: [build-artifact] to 'system-test'"


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        # GitHub's cache versions an entry by its path lines: another path never matches.
        ("", {("cache-key-consistency", "system-test")}),
        ("gha", {("cache-key-consistency", "system-test")}),
        # Object and directory stores look up by key alone, so the path may differ.
        ("s3://bucket/ci", set()),
    ],
)
def test_consumer_restoring_to_another_path(
    tmp_path: Path, store: str, expected: set[tuple[str, str | None]]
) -> None:
    text = MATRIX.read_text(encoding="utf-8")
    parts = text.split("          path: bin/app\n")
    assert len(parts) == 3
    extra = f"          store: {store}\n" if store else ""
    path = tmp_path / "ci.yml"
    path.write_text(
        parts[0]
        + "          path: bin/app\n"
        + extra
        + parts[1]
        + "          path: out/app\n"
        + extra
        + parts[2],
        encoding="utf-8",
    )
    assert _rules(path) == expected
