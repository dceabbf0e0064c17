"""Binary and Go module cache keys, key validation, manifests and diffs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildonce.errors import CacheKeyError, InputError
from buildonce.keys import (
    DEFAULT_INPUTS,
    KeyComponents,
    compute_keys,
    diff_keys,
    hash_files,
    read_manifest,
    render_key,
    validate_key,
    write_manifest,
)

NO_GO = {"PATH": "/nonexistent-bin", "RUNNER_OS": "Linux"}
HEX64 = "[0-9a-f]{64}"


def keys(root: Path, **kwargs: object) -> KeyComponents:
    return compute_keys(root, env=NO_GO, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- validation


@given(
    st.text(
        alphabet=st.characters(
            blacklist_characters=",",
            blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"),
        ),
        min_size=1,
        max_size=512,
    )
)
def test_printable_comma_free_keys_up_to_512_are_valid(key: str) -> None:
    if not key.isprintable():
        return  # other separators (e.g. U+00A0) are not printable for Python
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "empty"),
        ("x" * 513, "513 characters"),
        ("a,b", "comma at position 1"),
        ("a\nb", "U\\+000A at position 1"),
        ("a\tb", "U\\+0009"),
        ("a\u00a0b", "U\\+00A0"),
    ],
)
def test_invalid_keys(key: str, message: str) -> None:
    with pytest.raises(CacheKeyError, match=message) as info:
        validate_key(key)
    assert info.value.hint
    assert "\n" not in str(info.value)


def test_512_characters_is_the_limit() -> None:
    assert validate_key("x" * 512)


FIELDS = {"os": "Linux", "name": "n", "go": "1.25.4", "hash": "h", "gosum_hash": "g", "module": "m"}


def test_render_key() -> None:
    assert render_key("{os}-{name}-{{lit}}-{go}", FIELDS) == "Linux-n-{lit}-1.25.4"


@pytest.mark.parametrize("template", ["{unknown}", "{os!r}", "{os:>9}", "{", "}"])
def test_bad_templates(template: str) -> None:
    with pytest.raises(CacheKeyError):
        render_key(template, FIELDS)


def test_render_validates_the_result() -> None:
    with pytest.raises(CacheKeyError, match="comma"):
        render_key("{os},{name}", FIELDS)


# --------------------------------------------------------------------------- compute_keys


def test_keys_of_the_bundled_example(example_project: Path) -> None:
    k = keys(example_project)
    assert re.fullmatch(f"Linux-hello-bin-1\\.22-{HEX64}", k.binary_key)
    assert k.binary_key == f"Linux-hello-bin-1.22-{k.hash}"
    assert k.hash == hash_files(list(DEFAULT_INPUTS), root=example_project)
    # No go.sum in a dependency-free module: the module key hashes go.mod (setup-go >= 6.3).
    assert k.gosum_input == "go.mod"
    assert k.gosum_hash == hash_files(["go.mod"], root=example_project)
    assert k.gomod_key == f"Linux-go-1.22-{k.gosum_hash}"
    assert [f.path for f in k.files] == [
        "go.mod",
        "internal/greet/greet.go",
        "internal/greet/greet_test.go",
        "main.go",
    ]


def test_go_sum_is_hashed_when_present(example_project: Path) -> None:
    (example_project / "go.sum").write_text("example.com/dep v1.0.0 h1:AAAA=\n")
    k = keys(example_project)
    assert k.gosum_input == "go.sum"
    assert k.gosum_hash == hash_files(["go.sum"], root=example_project)
    assert "go.sum" in [f.path for f in k.files]


def test_subdirectory_module_hash_equals_the_workflow_expression(
    example_project: Path, tmp_path: Path
) -> None:
    # hashFiles('src/go.mod', 'src/go.sum', 'src/**/*.go') from the repository root.
    repo = tmp_path / "repo"
    repo.mkdir()
    example_project.rename(repo / "src")
    (repo / "README.md").write_text("x")
    expected = hash_files(["src/go.mod", "src/go.sum", "src/**/*.go"], root=repo)
    assert keys(repo / "src").hash == expected


def test_name_template_and_inputs(example_project: Path) -> None:
    k = keys(example_project, name="ksail", template="{os}/{name}/{go}/{hash}", inputs=["*.go"])
    assert k.binary_key == f"Linux/ksail/1.22/{k.hash}"
    assert [f.path for f in k.files] == ["main.go"]


def test_os_comes_from_runner_os(example_project: Path) -> None:
    k = compute_keys(example_project, env={"PATH": "/x", "RUNNER_OS": "macOS"})
    assert k.binary_key.startswith("macOS-hello-bin-")
    assert k.gomod_key.startswith("macOS-go-")


def test_toolchain_from_go_on_path(example_project: Path, go_exe: str) -> None:
    k = compute_keys(example_project)
    assert k.go.source == "go env GOVERSION"
    assert f"-bin-{k.go.version}-" in k.binary_key


def test_inputs_matching_nothing(example_project: Path) -> None:
    with pytest.raises(InputError, match="no file matches"):
        keys(example_project, inputs=["*.rs"])


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        keys(tmp_path / "nope")


def test_missing_go_mod(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no go\.mod"):
        keys(tmp_path)


def test_long_name_is_refused(example_project: Path) -> None:
    with pytest.raises(CacheKeyError, match="characters"):
        keys(example_project, name="n" * 500)


# --------------------------------------------------------------------------- manifests, diff


def test_manifest_round_trip(example_project: Path, tmp_path: Path) -> None:
    k = keys(example_project)
    path = tmp_path / "m.json"
    write_manifest(k, path)
    data = json.loads(path.read_text())
    assert data["format"] == "buildonce-key-manifest"
    assert data["version"] == 1
    assert len(data["files"]) == data["file_count"] == 4
    assert read_manifest(path) == k
    assert not list(tmp_path.glob(".m.json.*"))  # no temporary file left behind


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "not JSON"),
        ('{"format": "other"}', "not a buildonce key manifest"),
        ('{"format": "buildonce-key-manifest", "version": 9}', "version 9"),
        ('{"format": "buildonce-key-manifest", "version": 1, "os": 3}', "malformed"),
    ],
)
def test_bad_manifests(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "m.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_manifest(path)
    assert info.value.where == str(path)


def test_diff_of_identical_keys(example_project: Path) -> None:
    k = keys(example_project)
    diff = diff_keys(k, k)
    assert diff.identical
    assert diff.components == ()
    assert diff.explain()[0].startswith("binary key unchanged")


def test_diff_names_the_changed_files(example_project: Path) -> None:
    old = keys(example_project)
    (example_project / "main.go").write_text("package main\n\nfunc main() {}\n")
    (example_project / "internal" / "greet" / "greet_test.go").unlink()
    (example_project / "extra.go").write_text("package main\n")
    new = keys(example_project)
    diff = diff_keys(old, new)
    assert diff.binary_key_changed
    assert not diff.gomod_key_changed
    assert diff.added == ("extra.go",)
    assert diff.removed == ("internal/greet/greet_test.go",)
    assert diff.modified == ("main.go",)
    assert [c.component for c in diff.components] == ["source hash"]
    text = "\n".join(diff.explain())
    assert "1 added, 1 removed, 1 modified" in text
    assert "modified main.go" in text


def test_diff_names_the_changed_components(example_project: Path) -> None:
    old = keys(example_project)
    (example_project / "go.mod").write_text("module example.com/hello\n\ngo 1.23\n")
    new = compute_keys(example_project, name="other", env={"PATH": "/x", "RUNNER_OS": "macOS"})
    diff = diff_keys(old, new)
    changed = {c.component: (c.old, c.new) for c in diff.components}
    assert changed["os"] == ("Linux", "macOS")
    assert changed["toolchain"] == ("1.22", "1.23")
    assert changed["name"] == ("hello", "other")
    assert diff.modified == ("go.mod",)
    assert diff.gomod_key_changed
    assert diff.to_json()["binary_key"]["changed"] is True


def test_diff_of_reordered_inputs(example_project: Path) -> None:
    (example_project / "z").mkdir()
    (example_project / "z" / "z.go").write_text("package z\n")
    # Disjoint literal search roots are walked in argument order (a '*.go' root would
    # contain z/ and make the order irrelevant).
    old = keys(example_project, inputs=["main.go", "z/z.go"])
    new = keys(example_project, inputs=["z/z.go", "main.go"])
    diff = diff_keys(old, new)
    assert diff.reordered
    assert [c.component for c in diff.components] == ["inputs", "source hash"]
    assert "different order" in "\n".join(diff.explain())
