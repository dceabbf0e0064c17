from __future__ import annotations

from pathlib import Path

import pytest

from buildonce.errors import InputError
from buildonce.workflow.analysis import analyse
from buildonce.workflow.files import discover
from buildonce.workflow.loader import Loader, SyntaxProblem, matrix_legs
from buildonce.workflow.model import Workflow, find_go_build
from buildonce.workflow.yamltree import parse_yaml


def _load(path: Path, **kwargs: object) -> Workflow:
    loaded = Loader(**kwargs).load(path)  # type: ignore[arg-type]
    assert isinstance(loaded, Workflow)
    return loaded


def test_composite_action_steps_join_the_calling_job(ksail_after: Path) -> None:
    wf = _load(ksail_after / "workflows" / "ci.yaml")
    job = wf.jobs["system-test"]
    inner = [s for s in job.steps if s.caller is not None]
    assert [s.id for s in inner] == [
        "ksail-cache-key",
        "ksail-cache",
        "prepare",
        None,
        None,
    ]
    caller = inner[0].caller
    assert caller is not None
    assert caller.uses == "./.github/actions/prepare-ksail-binary"
    assert inner[0].inputs["output-path"].text == "bin/ksail"
    assert inner[0].inputs["run-smoke-test"].text == "false"
    assert inner[0].action_path is not None
    assert inner[0].action_path.endswith("action.yaml")
    assert inner[1].anchor is caller


def test_flattened_corpus_layout_resolves_the_same_action(shared_dir: Path) -> None:
    wf = _load(shared_dir / "corpus" / "ksail" / "ci.after.yaml")
    assert sum(1 for s in wf.jobs["build-artifact"].steps if s.caller is not None) == 5


def test_explicit_mapping_resolves_actions(shared_dir: Path, tmp_path: Path) -> None:
    source = shared_dir / "corpus" / "ksail" / "ci.after.yaml"
    action = shared_dir / "corpus" / "ksail" / "ci.after.actions__prepare-ksail-binary__action.yaml"
    copy = tmp_path / "elsewhere.yaml"
    copy.write_bytes(source.read_bytes())
    without = _load(copy)
    assert not any(s.caller for s in without.jobs["system-test"].steps)
    with_map = _load(copy, actions={"./.github/actions/prepare-ksail-binary": str(action)})
    assert any(s.caller for s in with_map.jobs["system-test"].steps)


def test_job_graph_facts_for_ksail(ksail_before: Path, ksail_after: Path) -> None:
    before = _load(ksail_before / "workflows" / "ci.yaml")
    job = before.jobs["system-test"]
    assert job.matrix_legs == 11
    assert job.need_ids == ("ci",)
    build = [s for s in job.steps if s.builds is not None]
    assert [s.builds for s in build] == ["ksail"]

    after = _load(ksail_after / "workflows" / "ci.yaml")
    analysis = analyse(after)
    assert analysis.builders == ["build-artifact"]
    assert analysis.consumers == ["system-test"]
    facts = analysis.jobs["system-test"]
    assert [s.id for s in facts.restores] == ["ksail-cache"]
    assert len(facts.saves) == 1
    assert [s.id for s in facts.guarded_builds] == ["prepare"]
    assert facts.builds == []
    assert facts.smoke == []  # the composite's smoke step is switched off by the caller
    assert [s.id for s in analysis.jobs["build-artifact"].smoke] == [None]
    assert after.jobs["system-test-status"].need_ids == ("system-test", "build-artifact")


def test_key_written_to_github_output_is_followed(ksail_after: Path) -> None:
    wf = _load(ksail_after / "workflows" / "ci.yaml")
    analysis = analyse(wf)
    restore = analysis.jobs["system-test"].restores[0]
    info = analysis.key(restore)
    assert info is not None
    assert info.canonical == "{runner.os}-ksail-bin-{go-version}-{hash(go.mod,go.sum,**/*.go)}"
    assert info.has_os
    assert info.has_go
    assert all(info.covers(f) for f in ("go.mod", "go.sum", "main.go"))
    assert not info.unresolved


@pytest.mark.parametrize(
    ("matrix", "legs"),
    [
        ("{os: [a, b], go: [1, 2, 3]}", 6),
        ("{include: [{x: 1}, {x: 2}]}", 2),
        ("{os: [a, b], include: [{os: a, extra: 1}, {os: c}]}", 3),
        ("{os: [a, b], go: [1, 2], exclude: [{os: a, go: 1}]}", 3),
        ("${{ fromJSON(needs.plan.outputs.matrix) }}", None),
    ],
)
def test_matrix_legs(matrix: str, legs: int | None) -> None:
    node = parse_yaml(f"m: {matrix}\n")
    assert node is not None
    value = node.get("m")
    assert value is not None
    assert matrix_legs(value)[0] == legs


@pytest.mark.parametrize(
    ("script", "found"),
    [
        ("go build -o bin/app .", "bin/app"),
        ("go build -o=dist/x ./cmd/x", "dist/x"),
        ("go build", ""),
        ("go build ./...", None),
        ("go install golang.org/x/tools/cmd/goimports@latest", None),
        ("# go build -o x .", None),
        ("go test ./...", None),
        ('CGO_ENABLED=0 go build -trimpath -o "$OUT/app" .', "$OUT/app"),
    ],
)
def test_find_go_build(script: str, found: str | None) -> None:
    result = find_go_build(script)
    assert (result[0] if result else None) == found


def test_syntax_error_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a: [\n", encoding="utf-8")
    loaded = Loader().load(bad)
    assert isinstance(loaded, SyntaxProblem)
    assert loaded.line >= 3


def test_discover(tmp_path: Path, ksail_after: Path) -> None:
    found = discover([ksail_after.parent])
    names = sorted(p.name for p in found)
    assert names == ["action.yaml", "ci.yaml"]
    with pytest.raises(InputError, match="no such file"):
        discover([tmp_path / "missing"])
