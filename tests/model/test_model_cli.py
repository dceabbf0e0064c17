"""``buildonce schema`` and ``buildonce model validate`` through cli.main, in-process."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from buildonce.cli import main
from buildonce.model import BinaryCacheEntry, CIJob, CIRun, JobEvent, RunSnapshot

T0 = datetime(2025, 11, 16, 10, 0, tzinfo=UTC)
KEY = "Linux-ksail-bin-1.25.4-a1b2c3d4e5"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_schema_prints_a_valid_2020_12_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "schema")
    assert (code, err) == (0, "")
    schema = json.loads(out)
    Draft202012Validator.check_schema(schema)
    assert list(schema)[:2] == ["$schema", "$id"]
    assert set(schema["$defs"]) >= {"BinaryCacheEntry", "GoModuleCache", "CIJob", "CIRun"}
    entry = schema["$defs"]["BinaryCacheEntry"]
    assert set(entry["properties"]) >= {"key", "paths", "sizeBytes", "createdAt", "originJob"}
    assert entry["properties"]["state"]["enum"] == ["Missing", "Seeded", "Restored", "Updated"]
    job = schema["$defs"]["CIJob"]["properties"]
    assert job["status"]["enum"] == ["pending", "running", "success", "failure", "skipped"]


@pytest.mark.parametrize("name", ["BinaryCacheEntry", "gomodulecache", "CIJob", "cirun"])
def test_schema_of_one_entity(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, _ = run_cli(capsys, "schema", "--entity", name)
    assert code == 0
    schema = json.loads(out)
    Draft202012Validator.check_schema(schema)
    assert schema["title"].lower() == name.lower()
    assert schema["$ref"] == f"#/$defs/{schema['title']}"


def test_schema_of_one_entity_validates_documents(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(capsys, "schema", "--entity", "CIJob")
    validator = Draft202012Validator(json.loads(out))
    assert validator.is_valid(CIJob(id="lint").to_json())
    assert not validator.is_valid({"id": "lint", "status": "done"})
    assert not validator.is_valid({"id": "lint", "status": "skipped"})  # needs a reason
    assert set(validator.schema["$defs"]) == {"CIJob", "JobId"}


def test_schema_unknown_entity_is_a_one_line_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "schema", "--entity", "Cache")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("buildonce: error: --entity: unknown entity 'Cache'")
    assert "BinaryCacheEntry" in err


def _write(tmp_path: Path, data: Any, name: str = "doc.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def _seeded() -> BinaryCacheEntry:
    return BinaryCacheEntry(key=KEY, paths=(".cache/ksail",)).seed(
        at=T0, job="build-artifact", size_bytes=216_000_000
    )


def test_validate_a_valid_entity(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _write(tmp_path, _seeded().to_json())
    code, out, err = run_cli(capsys, "model", "validate", path)
    assert (code, err) == (0, "")
    assert out == f"{path}: valid BinaryCacheEntry\n"


def test_validate_json_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = _seeded().to_json() | {"key": "ksail-bin-1.25.4-a1b2c3"}
    code, out, _ = run_cli(capsys, "model", "validate", "--json", _write(tmp_path, bad))
    assert code == 1
    result = json.loads(out)
    assert result["valid"] is False
    assert (result["entity"], result["field"], result["rule"]) == (
        "BinaryCacheEntry",
        "key",
        "key-encodes-os",
    )


def test_validate_invalid_entity_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = _seeded().to_json() | {"sizeBytes": -5}
    path = _write(tmp_path, bad)
    code, out, err = run_cli(capsys, "model", "validate", path)
    assert (code, out) == (1, "")
    assert err == (
        f"buildonce: invalid: {path}: BinaryCacheEntry.sizeBytes: sizeBytes must be at least 0 "
        "[rule: minimum-0]\n"
    )


def test_validate_snapshot_checks_relationships(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = CIRun.of(
        [
            CIJob(id="build-artifact"),
            CIJob(id="system-test", needs=("build-artifact",), artifact_required=True),
        ]
    )
    good = RunSnapshot(run=run, binary_cache_entry=_seeded()).to_json()
    code, out, _ = run_cli(capsys, "model", "validate", _write(tmp_path, good))
    assert code == 0
    assert "valid RunSnapshot" in out
    stolen = BinaryCacheEntry(key=KEY, paths=("a",)).seed(at=T0, job="system-test", size_bytes=1)
    bad = {"run": run.to_json(), "binaryCacheEntry": stolen.to_json()}
    code, _, err = run_cli(capsys, "model", "validate", _write(tmp_path, bad))
    assert code == 1
    assert "only 'build-artifact' may seed it" in err
    assert "[rule: single-source-build]" in err


def test_validate_forced_entity(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _write(tmp_path, {"id": "lint"})
    code, _, err = run_cli(capsys, "model", "validate", "--entity", "CIRun", path)
    assert code == 1
    assert "[rule: unknown-field]" in err
    code, _, err = run_cli(capsys, "model", "validate", "--entity", "Pipeline", path)
    assert code == 2
    assert "unknown entity 'Pipeline'" in err


def test_validate_unrecognised_document(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "model", "validate", _write(tmp_path, {"name": "x"}))
    assert code == 1
    assert "cannot tell which entity" in err
    assert "--entity" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{", "invalid JSON at line 1 column 2"),
        ('{"id": NaN}', "NaN is not valid JSON"),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
)
def test_validate_unreadable_input_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "doc.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = run_cli(capsys, "model", "validate", str(path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith(f"buildonce: error: {path}: ")
    assert message in err


def test_validate_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "model", "validate", str(tmp_path))
    assert code == 2
    assert "is a directory" in err


def test_validate_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = CIJob(id="lint").apply(JobEvent.START, at=T0)
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(job.to_json())))
    code, out, _ = run_cli(capsys, "model", "validate", "-")
    assert code == 0
    assert out == "-: valid CIJob\n"
