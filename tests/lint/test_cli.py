"""``buildonce lint``/``graph``/``simulate`` through :func:`buildonce.cli.main`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildonce.cli import main

from .conftest import BAD, GOOD


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("buildonce: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_default_path_is_dot_github(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo)
    assert main(["lint"]) == 1
    out = capsys.readouterr().out
    assert ".github/workflows/bad.yml:9:9: error[single-source-build]" in out
    assert "    9 |       - run: go build -o bin/app ." in out
    assert "good.yml" not in out.replace("2 files checked", "")
    assert out.rstrip().endswith("2 files checked: 1 error")


def test_clean_workflow_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yml"
    good.write_text(GOOD, encoding="utf-8")
    assert main(["lint", str(good)]) == 0
    assert capsys.readouterr().out == "1 file checked: no findings\n"


def test_no_github_folder_is_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["lint"]) == 2
    assert "no .github/ folder here" in _one_line_error(capsys.readouterr().err)


def test_missing_path_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(tmp_path / "nope.yml")]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "nope.yml" in line
    assert "no such file" in line


def test_empty_folder_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(tmp_path)]) == 2
    assert "no workflow files found" in _one_line_error(capsys.readouterr().err)


def test_yaml_error_is_a_finding_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: [x\n", encoding="utf-8")
    assert main(["lint", str(bad), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    (finding,) = report["findings"]
    assert finding["rule"] == "yaml-syntax"
    assert finding["line"] == 5


def test_binary_garbage_file_is_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "garbage.yml"
    bad.write_bytes(b"\xff\xfe\x00on: push")
    assert main(["lint", str(bad), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [f["rule"] for f in report["findings"]] == ["yaml-syntax"]


def test_json_format(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(repo), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["version"] == 1
    assert report["summary"] == {"error": 1, "warning": 0, "note": 0}
    (finding,) = report["findings"]
    assert (finding["rule"], finding["line"], finding["column"], finding["job"]) == (
        "single-source-build",
        9,
        9,
        "e2e",
    )


def test_github_format_is_chosen_inside_actions(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.chdir(repo)
    assert main(["lint"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(
        "::error file=.github/workflows/bad.yml,line=9,col=9,title=buildonce single-source-build::"
    )
    assert main(["lint", "--format", "text"]) == 1
    assert "error[single-source-build]" in capsys.readouterr().out


def test_inline_ignore_with_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = tmp_path / "wf.yml"
    wf.write_text(
        BAD.replace(
            "      - run: go build -o bin/app .\n",
            "      # buildonce: ignore[single-source-build] each leg patches the source first\n"
            "      - run: go build -o bin/app .\n",
        ),
        encoding="utf-8",
    )
    assert main(["lint", str(wf)]) == 0
    assert capsys.readouterr().out == "1 file checked: no findings\n"
    wf.write_text(
        BAD.replace(
            "go build -o bin/app .\n",
            "go build -o bin/app .  # buildonce: ignore[single-source-build]\n",
        ),
        encoding="utf-8",
    )
    assert main(["lint", str(wf), "--format", "json"]) == 1
    rules = sorted(f["rule"] for f in json.loads(capsys.readouterr().out)["findings"])
    assert rules == ["invalid-ignore", "single-source-build"]


def test_config_disables_and_reclassifies_rules(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".buildonce.toml").write_text(
        '[rules.single-source-build]\nseverity = "note"\n', encoding="utf-8"
    )
    assert main(["lint", str(repo), "--format", "json"]) == 0  # notes do not fail
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["note"] == 1
    (repo / ".buildonce.toml").write_text(
        "[rules.single-source-build]\nenabled = false\n", encoding="utf-8"
    )
    assert main(["lint", str(repo), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []


def test_pyproject_config_declares_reporting_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wf = tmp_path / ".github" / "workflows" / "wf.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{run: echo}]\n"
        "  publish-dashboard:\n    needs: a\n    if: always()\n    runs-on: x\n"
        "    steps: [{run: echo}]\n",
        encoding="utf-8",
    )
    assert main(["lint", str(tmp_path)]) == 1
    assert "failure-propagation" in capsys.readouterr().out
    (tmp_path / "pyproject.toml").write_text(
        '[tool.buildonce]\nreporting-jobs = ["publish-dashboard"]\n', encoding="utf-8"
    )
    assert main(["lint", str(tmp_path)]) == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("builder-jobs = 'build'", "builder-jobs must be a list of non-empty strings"),
        ("colour = 1", "unknown key 'colour'"),
        ("[rules.nope]\nenabled = false", "unknown rule 'nope' in rules.nope"),
        ("[rules.needs-cycle]\nseverity = 'fatal'", "rules.needs-cycle.severity must be one of"),
        ("[rules.needs-cycle]\nenabled = 'no'", "rules.needs-cycle.enabled must be true or false"),
        ("[rules.needs-cycle]\nlevel = 'note'", "unknown key rules.needs-cycle.level"),
        ("smoke-command = ''", "smoke-command must be a non-empty string"),
        ("this is = not toml", "invalid TOML"),
    ],
)
def test_bad_config_is_one_line_usage_error(
    repo: Path, content: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo / "custom.toml"
    config.write_text(content + "\n", encoding="utf-8")
    assert main(["lint", str(repo), "--config", str(config)]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "custom.toml" in line
    assert expected in line


def test_missing_config_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(repo), "--config", str(repo / "none.toml")]) == 2
    assert "config file not found" in _one_line_error(capsys.readouterr().err)


def test_list_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--rules"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("single-source-build")
    assert len(out.splitlines()) == 12


def test_simulate_and_graph(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = str(repo / ".github" / "workflows" / "good.yml")
    assert main(["simulate", good, "--fail", "build"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["build", "failure"]
    assert out[1].split()[:2] == ["e2e", "skipped"]
    assert "prerequisite 'build' ended with failure" in out[1]
    assert main(["simulate", good, "--cancel", "e2e", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(j["id"], j["result"]) for j in data["jobs"]] == [
        ("build", "success"),
        ("e2e", "cancelled"),
    ]
    assert main(["graph", good]) == 0
    assert "j_build --> j_e2e" in capsys.readouterr().out
    assert main(["graph", good, "--format", "dot"]) == 0
    assert "j_build -> j_e2e;" in capsys.readouterr().out


def test_simulate_errors(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = str(repo / ".github" / "workflows" / "good.yml")
    assert main(["simulate", good, "--fail", "biuld"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "no job 'biuld'" in line
    assert "did you mean 'build'" in line
    monkeypatch.chdir(repo)
    assert main(["simulate"]) == 2  # two workflows: which one?
    assert "bad.yml, good.yml" in _one_line_error(capsys.readouterr().err)
    broken = repo / "broken.yml"
    broken.write_text("jobs: [\n", encoding="utf-8")
    assert main(["graph", str(broken)]) == 2
    assert "invalid YAML" in _one_line_error(capsys.readouterr().err)


def test_lint_help_mentions_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["lint", "--help"])
    assert "Exit codes: 0 no findings" in capsys.readouterr().out


def test_good_fixture_has_no_findings_for_any_rule() -> None:
    from buildonce.lint import Linter

    assert Linter().lint_text(GOOD, "good.yml") == []


def test_step_summary_inside_actions(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.chdir(repo)
    assert main(["lint"]) == 1
    capsys.readouterr()
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("### buildonce lint\n\n2 files checked: 1 error.")
    assert "| error | `single-source-build` | `.github/workflows/bad.yml:9` |" in text
