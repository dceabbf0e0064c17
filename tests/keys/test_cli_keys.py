"""``buildonce hash`` and ``buildonce key`` in-process, with exact output and exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from buildonce.cli import main

AB_HASH = "6ec7b73f58839768f5eb006d96b02ebaa7bf3d30c5daaccc832663c8266e0931"


@pytest.fixture
def ab(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_bytes(b"a\n")
    (tmp_path / "b.txt").write_bytes(b"b\n")
    return tmp_path


@pytest.fixture
def no_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent-bin")
    monkeypatch.setenv("RUNNER_OS", "Linux")


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("buildonce: error: ")
    assert "Traceback" not in captured.err
    assert "hint:" in lines[0]
    return lines[0]


# --------------------------------------------------------------------------- hash


def test_hash_prints_the_hash(ab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hash", "--root", str(ab), "*.txt"]) == 0
    assert capsys.readouterr().out == AB_HASH + "\n"


def test_hash_prints_an_empty_line_for_no_match(
    ab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hash", "--root", str(ab), "nomatch"]) == 0
    assert capsys.readouterr().out == "\n"


def test_hash_defaults_to_the_current_directory(
    ab: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ab)
    assert main(["hash", "**", "!b.txt"]) == 0
    assert capsys.readouterr().out == (
        "225f1bbbc4b1a3d97c622a492d91ea8d6858d7e1164bbbb5953f74311d6d222e\n"
    )


def test_hash_list(ab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hash", "--root", str(ab), "--list", "**"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7  a.txt",
        "0263829989b6fd954f72baaf2fc64bc2e2f01d692d4de72986ea808f6e99813f  b.txt",
        AB_HASH,
    ]


def test_hash_follow_symbolic_links(ab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ab / "d").mkdir()
    (ab / "d" / "f").write_bytes(b"f")
    (ab / "link").symlink_to("d")
    assert main(["hash", "--root", str(ab), "link"]) == 0
    assert capsys.readouterr().out == "\n"
    assert main(["hash", "--root", str(ab), "--follow-symbolic-links", "link"]) == 0
    assert len(capsys.readouterr().out.strip()) == 64


def test_hash_missing_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    assert main(["hash", "--root", str(missing), "**"]) == 2
    line = one_line_error(capsys)
    assert str(missing) in line
    assert "does not exist" in line


def test_hash_dotdot_pattern(ab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hash", "--root", str(ab), "src/../x"]) == 2
    assert "'src/../x'" in one_line_error(capsys)


def test_hash_broken_symlink(ab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ab / "dangling").symlink_to("missing")
    assert main(["hash", "--root", str(ab), "**"]) == 2
    line = one_line_error(capsys)
    assert "dangling" in line
    assert "broken" in line


def test_hash_unreadable_file(
    ab: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, which reads anything; fail the open() syscall for one file.
    real_open = os.open
    target = os.path.join(os.path.realpath(ab), "b.txt")

    def fake_open(path: str, flags: int, *args: int) -> int:
        if os.fspath(path) == target:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", fake_open)
    assert main(["hash", "--root", str(ab), "--jobs", "1", "**"]) == 2
    line = one_line_error(capsys)
    assert target in line
    assert "Permission denied" in line
    assert "chmod" in line


def test_hash_requires_a_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["hash"])
    assert info.value.code == 2
    assert "PATTERN" in capsys.readouterr().err


# --------------------------------------------------------------------------- key


@pytest.mark.usefixtures("no_go")
def test_key_prints_both_keys(example_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["key", "--root", str(example_project)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("binary-key=Linux-hello-bin-1.22-")
    assert lines[1].startswith("gomod-key=Linux-go-1.22-")


@pytest.mark.usefixtures("no_go")
def test_key_json(example_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["key", "--root", str(example_project), "--name", "app", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["binary_key"] == f"Linux-app-bin-1.22-{data['hash']}"
    assert data["go"] == {
        "version": "1.22",
        "source": "go.mod go",
        "detail": data["go"]["detail"],
    }
    assert data["inputs"] == ["go.mod", "go.sum", "**/*.go"]
    assert data["file_count"] == 4
    assert "files" not in data


@pytest.mark.usefixtures("no_go")
def test_key_custom_template_and_inputs(
    example_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["key", "--root", str(example_project), "--template", "{name}-{go}-{hash}"]
    assert main([*args, "--input", "main.go", "--input", "go.mod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("binary-key=hello-1.22-")


@pytest.mark.usefixtures("no_go")
def test_key_writes_github_outputs(
    example_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = tmp_path / "out.txt"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    assert main(["key", "--root", str(example_project)]) == 0
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert set(written) == {"binary-key", "gomod-key", "go-version", "hash"}
    assert written["go-version"] == "1.22"


@pytest.mark.usefixtures("no_go")
def test_key_manifest_and_diff(
    example_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    assert main(["key", "--root", str(example_project), "--manifest", str(old)]) == 0
    assert main(["key", "diff", str(old), str(old)]) == 0
    capsys.readouterr()
    (example_project / "main.go").write_text("package main\n\nfunc main() {}\n")
    assert main(["key", "--root", str(example_project), "--manifest", str(new)]) == 0
    capsys.readouterr()
    assert main(["key", "diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "binary key changed" in out
    assert "gomod key unchanged" in out
    assert "modified main.go" in out
    assert main(["key", "diff", "--json", str(old), str(new)]) == 1
    assert json.loads(capsys.readouterr().out)["files"]["modified"] == ["main.go"]


def test_key_missing_go_mod(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["key", "--root", str(tmp_path)]) == 2
    line = one_line_error(capsys)
    assert str(tmp_path / "go.mod") in line
    assert "--root" in line


def test_key_garbled_go_mod(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "go.mod").write_text("module m\n\ngo one.two\n")
    assert main(["key", "--root", str(tmp_path)]) == 2
    line = one_line_error(capsys)
    assert f"{tmp_path / 'go.mod'}:3" in line
    assert "invalid go version" in line


def test_key_missing_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["key", "--root", str(tmp_path / "nope")]) == 2
    assert "does not exist" in one_line_error(capsys)


@pytest.mark.usefixtures("no_go")
def test_key_with_a_comma_in_the_name(
    example_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["key", "--root", str(example_project), "--name", "a,b"]) == 2
    assert "comma" in one_line_error(capsys)


def test_key_diff_missing_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "old.json"
    assert main(["key", "diff", str(missing), str(missing)]) == 2
    assert str(missing) in one_line_error(capsys)
