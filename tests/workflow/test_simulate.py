from __future__ import annotations

from pathlib import Path

import pytest

from buildonce.errors import InputError
from buildonce.model import JobStatus
from buildonce.workflow.loader import Loader
from buildonce.workflow.model import Workflow
from buildonce.workflow.simulate import simulate


def _wf(text: str) -> Workflow:
    loaded = Loader().load_text(text, "wf.yml")
    assert isinstance(loaded, Workflow)
    return loaded


WF = """\
on: push
jobs:
  build:
    runs-on: x
    steps: [{run: go build -o bin/app .}]
  test:
    needs: build
    runs-on: x
    steps: [{run: echo}]
  e2e:
    needs: test
    runs-on: x
    steps: [{run: echo}]
  notify-failure:
    needs: [test]
    if: failure()
    runs-on: x
    steps: [{run: echo}]
  status:
    needs: [e2e]
    if: always()
    runs-on: x
    steps: [{run: echo}]
  only-on-tags:
    if: startsWith(github.ref, 'refs/tags/')
    runs-on: x
    steps: [{run: echo}]
"""


def _statuses(result: object) -> dict[str, str]:
    return {o.job: o.status.value for o in result.outcomes}  # type: ignore[attr-defined]


def test_nothing_fails() -> None:
    result = simulate(_wf(WF))
    assert _statuses(result) == {
        "build": "success",
        "test": "success",
        "e2e": "success",
        "notify-failure": "skipped",
        "status": "success",
        "only-on-tags": "success",
    }
    tags = next(o for o in result.outcomes if o.job == "only-on-tags")
    assert tags.assumed  # github.ref is unknown before the run


def test_failure_propagates_and_records_the_reason() -> None:
    result = simulate(_wf(WF), fail=["build"])
    assert _statuses(result) == {
        "build": "failure",
        "test": "skipped",
        "e2e": "skipped",
        "notify-failure": "success",  # failure() sees the failed ancestor
        "status": "success",  # always()
        "only-on-tags": "success",
    }
    test = next(o for o in result.outcomes if o.job == "test")
    assert test.reason is not None
    assert "'build'" in test.reason
    assert result.run.jobs["test"].status is JobStatus.SKIPPED


def test_cancel_skips_all_but_always() -> None:
    result = simulate(_wf(WF), cancel=["test"])
    statuses = _statuses(result)
    assert statuses["test"] == "failure"
    assert statuses["e2e"] == "skipped"
    assert statuses["status"] == "success"
    assert next(o for o in result.outcomes if o.job == "test").result == "cancelled"


def test_event_resolves_conditions() -> None:
    wf = _wf(WF.replace("startsWith(github.ref, 'refs/tags/')", "github.event_name == 'release'"))
    assert _statuses(simulate(wf, event="push"))["only-on-tags"] == "skipped"
    assert _statuses(simulate(wf, event="release"))["only-on-tags"] == "success"


def test_unknown_job_is_an_input_error() -> None:
    with pytest.raises(InputError, match="did you mean 'build'"):
        simulate(_wf(WF), fail=["biuld"])


def test_ksail_after_guard(ksail_after: Path) -> None:
    wf = Loader().load(ksail_after / "workflows" / "ci.yaml")
    assert isinstance(wf, Workflow)
    statuses = _statuses(simulate(wf, fail=["build-artifact"]))
    assert statuses["system-test"] == "skipped"
    assert statuses["system-test-status"] == "skipped"
    statuses = _statuses(simulate(wf, fail=["system-test"]))
    assert statuses["system-test-status"] == "success"  # !cancelled() and builder succeeded
    statuses = _statuses(simulate(wf, cancel=["system-test"]))
    assert statuses["system-test-status"] == "skipped"


ALWAYS_CONSUMER = """\
on: push
jobs:
  build-artifact:
    runs-on: ubuntu-latest
    steps:
      - run: go build -o bin/app .
      - uses: actions/cache/save@v4
        with:
          path: bin/app
          key: ${{ runner.os }}-app-${{ hashFiles('go.mod', 'go.sum', '**/*.go') }}
  system-test:
    needs: build-artifact
    if: always()
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache/restore@v4
        with:
          path: bin/app
          key: ${{ runner.os }}-app-${{ hashFiles('go.mod', 'go.sum', '**/*.go') }}
          fail-on-cache-miss: true
      - run: ./bin/app --version
  report:
    needs: system-test
    runs-on: ubuntu-latest
    steps: [{run: echo done}]
"""


def test_always_consumer_fails_when_the_build_failed() -> None:
    # GitHub starts an always() job after a failed build, but the binary it restores was
    # never saved: the model refuses success, so the simulation must report a failure.
    result = simulate(_wf(ALWAYS_CONSUMER), fail=["build-artifact"])
    assert _statuses(result) == {
        "build-artifact": "failure",
        "system-test": "failure",
        "report": "skipped",
    }
    test = next(o for o in result.outcomes if o.job == "system-test")
    assert test.reason == "artifact from 'build-artifact' is missing"
    assert test.result == "failure"
    assert result.run.jobs["system-test"].artifact_required
    report = next(o for o in result.outcomes if o.job == "report")
    assert report.reason is not None
    assert "'system-test'" in report.reason
    # Without the failure the same job succeeds: the failure comes from the missing artifact.
    assert _statuses(simulate(_wf(ALWAYS_CONSUMER)))["system-test"] == "success"


def test_cli_simulate_always_consumer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from buildonce.cli import main

    path = tmp_path / "ci.yml"
    path.write_text(ALWAYS_CONSUMER, encoding="utf-8")
    assert main(["simulate", str(path), "--fail", "build-artifact"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    line = next(ln for ln in out.splitlines() if ln.startswith("system-test"))
    assert line.split()[1] == "failure"
    assert "artifact from 'build-artifact' is missing" in line
