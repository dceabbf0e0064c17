"""Key tracking through job outputs, format(), shell command substitution and reusable
workflows."""

from __future__ import annotations

from pathlib import Path

from buildonce.workflow.analysis import analyse
from buildonce.workflow.loader import Loader
from buildonce.workflow.model import Workflow

PLAN_AND_USE = """\
on: push
env:
  GO_VERSION: "1.25.4"
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      key: ${{ steps.k.outputs.key }}
    steps:
      - id: k
        run: |
          SUM=$(sha256sum go.mod go.sum $(git ls-files '*.go') | sha256sum | cut -c1-16)
          echo "key=$(uname -s)-app-bin-go${GO_VERSION}-${SUM}" >> "$GITHUB_OUTPUT"
  build:
    needs: plan
    runs-on: ubuntu-latest
    steps:
      - run: go build -o bin/app . && ./bin/app --version
      - uses: actions/cache/save@v4
        with:
          path: bin/app
          key: ${{ needs.plan.outputs.key }}
  use:
    needs: [plan, build]
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache/restore@v4
        with:
          path: bin/app
          key: ${{ format('{0}', needs.plan.outputs.key) }}
          fail-on-cache-miss: true
      - run: ./bin/app --version
"""


def _wf(text: str, path: str = "wf.yml") -> Workflow:
    loaded = Loader().load_text(text, path)
    assert isinstance(loaded, Workflow)
    return loaded


def test_key_from_a_job_output_and_shell_commands() -> None:
    wf = _wf(PLAN_AND_USE)
    analysis = analyse(wf)
    save = analysis.jobs["build"].saves[0]
    info = analysis.key(save)
    assert info is not None
    assert info.has_os  # $(uname -s)
    assert info.has_go  # go${GO_VERSION} from the workflow env
    assert all(info.covers(f) for f in ("go.mod", "go.sum", "x.go"))
    restore = analysis.jobs["use"].restores[0]
    restored = analysis.key(restore)
    assert restored is not None
    assert restored.canonical == info.canonical  # format('{0}', …) is the same key
    assert analysis.builders == ["build"]
    assert analysis.consumers == ["use"]


def test_missing_parts_are_reported_not_guessed() -> None:
    wf = _wf(PLAN_AND_USE.replace("$(uname -s)-", "").replace("go${GO_VERSION}-", ""))
    info = analyse(wf).key(analyse(wf).jobs["build"].saves[0])
    assert info is not None
    assert not info.has_os
    assert not info.has_go


def test_local_reusable_workflow_is_followed(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "build.yml").write_text(
        "on: workflow_call\njobs:\n  inner:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: go build -o bin/app .\n",
        encoding="utf-8",
    )
    caller = workflows / "ci.yml"
    caller.write_text(
        "on: push\njobs:\n  call:\n    uses: ./.github/workflows/build.yml\n"
        "    strategy:\n      matrix:\n        leg: [a, b, c]\n",
        encoding="utf-8",
    )
    loader = Loader()
    wf = loader.load(caller)
    assert isinstance(wf, Workflow)
    job = wf.jobs["call"]
    assert job.called is not None
    assert [s.builds for s in job.steps] == ["bin/app"]
    assert loader.all_dependencies(caller) == {workflows / "build.yml"}
    from buildonce.lint import Linter

    (finding,) = Linter().lint_paths([caller]).findings
    assert finding.rule == "single-source-build"  # each of the 3 legs runs the build
    assert (finding.location.path, finding.location.line) == (str(caller), 3)
    assert finding.related is not None
    assert finding.related.path == str(workflows / "build.yml")
