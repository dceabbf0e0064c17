"""The Go version as setup-go reports it, go.mod parsing, and runner.os."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildonce.errors import InputError
from buildonce.keys.toolchain import (
    GoVersion,
    parse_go_mod,
    read_go_mod,
    resolve_go_version,
    runner_os,
)

GO_MOD = Path("go.mod")


def no_go_env() -> dict[str, str]:
    """An environment whose PATH has no Go toolchain."""
    return {"PATH": "/nonexistent-bin"}


@pytest.mark.parametrize(
    ("text", "module", "go", "toolchain"),
    [
        ("module example.com/hello\n\ngo 1.22\n", "example.com/hello", "1.22", None),
        ("module x\ngo 1.25.4\ntoolchain go1.25.5\n", "x", "1.25.4", "go1.25.5"),
        ('module "quoted/path" // comment\n', "quoted/path", None, None),
        (
            "// leading comment\nmodule m\n\ngo 1.21rc1\n\nrequire (\n\ta v1.0.0\n"
            "\tb v2.0.0 // indirect\n)\n\nreplace a => ../a\nexclude c v1.0.0\n"
            "retract [v1.0.0, v1.0.1]\ntool golang.org/x/tools/cmd/stringer\n"
            "godebug default=go1.21\n",
            "m",
            "1.21rc1",
            None,
        ),
        ("module m\ntoolchain default\n", "m", None, "default"),
    ],
)
def test_parse_valid_go_mod(text: str, module: str, go: str | None, toolchain: str | None) -> None:
    parsed = parse_go_mod(text, GO_MOD)
    assert (parsed.module, parsed.go, parsed.toolchain) == (module, go, toolchain)


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("module m\nfoo bar\n", "unknown directive: foo", 2),
        ("module m\ngo 1.x\n", "invalid go version", 2),
        ("module m\ngo 1.22\ngo 1.23\n", "repeated go statement", 3),
        ("module m\ntoolchain 1.25\n", "invalid toolchain version", 2),
        ("module m\nrequire (\n\ta v1\n", "never closed", 2),
        ("module m\ngo (\n", "does not take", 2),
        ('module "unterminated\n', "unterminated", 1),
        ("go 1.22\n", "missing module declaration", None),
        ("module a b\n", "exactly one argument", 1),
        ("<<<<<<< HEAD\nmodule m\n", "unknown directive", 1),
    ],
)
def test_parse_garbled_go_mod(text: str, message: str, line: int | None) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_go_mod(text, GO_MOD)
    assert info.value.where == (f"go.mod:{line}" if line else "go.mod")
    assert info.value.hint


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('module go() \t\n"`/=>1.2x')), max_size=60))
def test_parser_never_fails_any_other_way(text: str) -> None:
    try:
        parsed = parse_go_mod(text, GO_MOD)
    except InputError:
        return
    assert parsed.module


@given(
    major=st.integers(1, 1),
    minor=st.integers(0, 40),
    patch=st.one_of(st.none(), st.integers(0, 30)),
)
def test_go_directive_versions_round_trip(major: int, minor: int, patch: int | None) -> None:
    version = f"{major}.{minor}" + ("" if patch is None else f".{patch}")
    assert parse_go_mod(f"module m\ngo {version}\n", GO_MOD).go == version


@pytest.mark.parametrize(
    ("module", "short"),
    [("example.com/hello", "hello"), ("github.com/a/tool/v2", "tool"), ("single", "single")],
)
def test_short_name(module: str, short: str) -> None:
    assert parse_go_mod(f"module {module}\n", GO_MOD).short_name == short


def test_missing_go_mod(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no go\.mod") as info:
        read_go_mod(tmp_path)
    assert info.value.where == str(tmp_path / "go.mod")


def test_non_utf8_go_mod(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_bytes(b"module m\n\xff\n")
    with pytest.raises(InputError, match="UTF-8") as info:
        read_go_mod(tmp_path)
    assert info.value.where == f"{tmp_path / 'go.mod'}:2"


def test_version_from_the_go_on_path(example_project: Path, go_exe: str) -> None:
    version = resolve_go_version(example_project)
    assert version.source == "go env GOVERSION"
    assert version.version.startswith("1.")
    assert not version.version.startswith("go")
    assert go_exe in version.detail


def test_go_on_path_is_not_allowed_to_switch_toolchains(tmp_path: Path, go_exe: str) -> None:
    # go.mod asks for a Go that does not exist; GOTOOLCHAIN=local reports the local one.
    (tmp_path / "go.mod").write_text("module m\n\ngo 1.99\n\ntoolchain go1.99.1\n")
    env = {k: v for k, v in os.environ.items() if k != "GOTOOLCHAIN"}
    env["GOPROXY"] = "off"
    version = resolve_go_version(tmp_path, env=env)
    assert version.source == "go env GOVERSION"
    assert version.version != "1.99.1"


def test_toolchain_line_without_go_on_path(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module m\n\ngo 1.24\n\ntoolchain go1.25.4\n")
    version = resolve_go_version(tmp_path, env=no_go_env())
    assert version == GoVersion("1.25.4", "go.mod toolchain", version.detail)
    assert "no Go toolchain on PATH" in version.detail


def test_go_line_without_go_on_path(example_project: Path) -> None:
    version = resolve_go_version(example_project, env=no_go_env())
    assert (version.version, version.source) == ("1.22", "go.mod go")


def test_toolchain_default_falls_back_to_the_go_line(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module m\ngo 1.23.1\ntoolchain default\n")
    assert resolve_go_version(tmp_path, env=no_go_env()).source == "go.mod go"


def test_failing_go_falls_back_to_go_mod(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "go"
    fake.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    fake.chmod(0o755)
    (tmp_path / "go.mod").write_text("module m\ngo 1.22\n")
    version = resolve_go_version(tmp_path, env={"PATH": str(bin_dir)})
    assert version.source == "go.mod go"
    assert "exit 3" in version.detail


def test_no_version_anywhere(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module m\n")
    with pytest.raises(InputError, match="cannot tell the Go version"):
        resolve_go_version(tmp_path, env=no_go_env())


def test_garbled_go_mod_fails_even_with_go_on_path(tmp_path: Path, go_exe: str) -> None:
    (tmp_path / "go.mod").write_text("module m\nnonsense\n")
    with pytest.raises(InputError, match="unknown directive"):
        resolve_go_version(tmp_path)


def test_runner_os_prefers_runner_os() -> None:
    assert runner_os({"RUNNER_OS": "Windows"}) == "Windows"


@pytest.mark.parametrize(
    ("system", "name"), [("Linux", "Linux"), ("Darwin", "macOS"), ("Windows", "Windows")]
)
def test_runner_os_from_the_host(monkeypatch: pytest.MonkeyPatch, system: str, name: str) -> None:
    monkeypatch.setattr(platform, "system", lambda: system)
    assert runner_os({}) == name
