"""The store commands through ``buildonce.cli.main``: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from buildonce.cli import main


def outputs(path: Path) -> dict[str, str]:
    result = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        result[name] = value
    return result


@pytest.fixture
def gh_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "github_output"
    path.write_text("")
    monkeypatch.setenv("GITHUB_OUTPUT", str(path))
    return path


@pytest.fixture
def binary(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "app"
    path.parent.mkdir()
    path.write_bytes(os.urandom(10_000))
    path.chmod(0o755)
    return path


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("buildonce: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_save_then_restore_writes_github_outputs(
    binary: Path, tmp_path: Path, gh_output: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["save", "--key", "Linux-app-1.25.4-abc123", str(binary)]) == 0
    assert "saved Linux-app-1.25.4-abc123" in capsys.readouterr().out
    dest = tmp_path / "restored"
    gh_output.write_text("")
    assert main(["restore", "--key", "Linux-app-1.25.4-abc123", str(dest)]) == 0
    assert dest.read_bytes() == binary.read_bytes()
    got = outputs(gh_output)
    assert got["cache-hit"] == "true"
    assert got["matched-key"] == "Linux-app-1.25.4-abc123"


def test_restore_via_restore_key_is_not_a_hit(
    binary: Path, tmp_path: Path, gh_output: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["save", "--key", "Linux-app-1.25.4-abc123", str(binary)])
    gh_output.write_text("")
    capsys.readouterr()
    code = main(
        [
            "restore",
            "--key",
            "Linux-app-1.25.4-fff",
            "--restore-key",
            "Linux-app-1.25.4-",
            "--json",
            str(tmp_path / "d"),
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cacheHit"] is False
    assert report["matchedKey"] == "Linux-app-1.25.4-abc123"
    assert outputs(gh_output)["cache-hit"] == "false"
    assert outputs(gh_output)["matched-key"] == "Linux-app-1.25.4-abc123"


def test_miss_exits_zero_unless_fail_on_miss(
    tmp_path: Path, gh_output: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["restore", "--key", "nothing", str(tmp_path / "d")]) == 0
    assert outputs(gh_output)["cache-hit"] == "false"
    assert outputs(gh_output)["matched-key"] == ""
    assert main(["restore", "--key", "nothing", "--fail-on-miss", str(tmp_path / "d")]) == 1
    assert "cache miss" in capsys.readouterr().err


def test_second_save_says_already_exists_and_exits_zero(
    binary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["save", "--key", "k1", str(binary)]) == 0
    capsys.readouterr()
    assert main(["save", "--key", "k1", "--json", str(binary)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["alreadyExists"] is True
    assert main(["save", "--key", "k1", str(binary)]) == 0
    assert "already exists" in capsys.readouterr().out


def test_scope_from_github_environment(
    binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_REF", "refs/pull/3/merge")
    monkeypatch.setenv("GITHUB_BASE_REF", "release")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    assert main(["save", "--key", "k-pr", str(binary)]) == 0
    # The default branch never sees the pull request's entry.
    monkeypatch.setenv("GITHUB_REF", "refs/heads/main")
    monkeypatch.delenv("GITHUB_BASE_REF")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    assert main(["restore", "--key", "k-pr", "--fail-on-miss", str(tmp_path / "x")]) == 1
    # The release branch saves; the pull request (based on it) reads it.
    monkeypatch.setenv("GITHUB_REF", "refs/heads/release")
    assert main(["save", "--key", "k-rel", str(binary)]) == 0
    monkeypatch.setenv("GITHUB_REF", "refs/pull/3/merge")
    monkeypatch.setenv("GITHUB_BASE_REF", "release")
    assert main(["restore", "--key", "k-rel", "--fail-on-miss", str(tmp_path / "y")]) == 0
    # --scope overrides the environment.
    assert main(["restore", "--key", "k-pr", "--scope", "main", str(tmp_path / "z")]) == 0
    assert not (tmp_path / "z").exists()


def test_default_branch_from_event_payload(
    binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "trunk"}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_REF", "refs/heads/trunk")
    assert main(["save", "--key", "k-trunk", str(binary)]) == 0
    monkeypatch.setenv("GITHUB_REF", "refs/heads/topic")
    assert main(["restore", "--key", "k-trunk", "--fail-on-miss", str(tmp_path / "d")]) == 0


def test_untrusted_trigger_save_is_refused(
    binary: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request_target")
    assert main(["save", "--key", "k-prt", str(binary)]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert "pull_request_target" in line
    assert "--allow-untrusted" in line
    assert main(["save", "--key", "k-prt", "--allow-untrusted", str(binary)]) == 0


@pytest.mark.parametrize(
    ("argv", "needle", "code"),
    [
        (["save", "--key", "k", "no/such/file"], "path does not exist", 2),
        (["restore", "--key", "", "x"], "key is empty", 2),
        (["save", "--key", "a,b", "BIN"], "comma", 2),
        (["save", "--key", "x" * 513, "BIN"], "512", 2),
        (["restore", "--key", "k", "--restore-key", "bad,key", "x"], "comma", 2),
        (["restore", "--key", "k", "x", "./x"], "listed twice", 2),
        (["save", "--key", "k", "BIN", "BIN"], "listed twice", 2),
        (["save", "--store", "ftp://host/x", "--key", "k", "BIN"], "unknown store scheme", 2),
        (["save", "--store", "s3://", "--key", "k", "BIN"], "names no bucket", 2),
        (["save", "--store", "s3://b", "--key", "k", "BIN"], "at least 3 characters", 2),
        (["save", "--store", "s3://bucket?colour=red", "--key", "k", "BIN"], "unknown S3 URL", 2),
        (["cache", "show", "no-such-key"], "no cache entry", 1),
        (["prepare", "--binary", "b", "--key", "k", "--needs-result", "bogus"], "needs-result", 2),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    argv: list[str], needle: str, code: int, binary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(binary) if a == "BIN" else a for a in argv]
    assert main(argv) == code
    assert needle in one_line_error(capsys.readouterr().err)


def test_unreachable_s3_endpoint_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("boto3")
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    code = main(["restore", "--store", "s3://bucket/p", "--key", "k", str(tmp_path / "d")])
    assert code == 1
    line = one_line_error(capsys.readouterr().err)
    assert f"127.0.0.1:{port}" in line
    assert "hint:" in line


def test_cache_ls_show_stats_prune(
    binary: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_JOB", "build-artifact")
    main(["save", "--key", "Linux-app-1.25.4-abc123", str(binary)])
    main(
        ["restore", "--key", "Linux-app-1.25.4-abc123", "--job", "system-test", str(tmp_path / "d")]
    )
    capsys.readouterr()
    assert main(["cache", "ls", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["entry"]["key"] for e in listed] == ["Linux-app-1.25.4-abc123"]
    assert listed[0]["state"] == "Restored"
    assert main(["cache", "show", "Linux-app-1.25.4-abc123"]) == 0
    shown = capsys.readouterr().out
    assert "Missing -> Seeded" in shown
    assert "Seeded -> Restored" in shown
    assert "job=build-artifact" in shown
    assert "consumers:  system-test" in shown
    assert main(["cache", "stats", "--quota", "100KB", "--json"]) == 0
    captured = capsys.readouterr()
    stats = json.loads(captured.out)
    assert stats["entries"] == 1
    assert stats["quotaBytes"] == 100_000
    assert stats["largeEntries"] == ["Linux-app-1.25.4-abc123"]
    assert "more than 10%" in captured.err
    assert main(["cache", "prune", "--all"]) == 0
    assert "1 entries evicted" in capsys.readouterr().out
    assert main(["cache", "ls"]) == 0
    assert "no cache entries" in capsys.readouterr().out


def test_cache_ls_columns_stay_aligned_with_long_keys(
    binary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = ["short", "Linux-" + "x" * 200 + "-bin-1.25.4-" + "f" * 64]
    for key in keys:
        assert main(["save", "--key", key, str(binary)]) == 0
    capsys.readouterr()
    assert main(["cache", "ls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    # The key is the last column, so every other column starts at the same offset in
    # each row, whatever the key's length.
    for column in ("STATE", "SCOPE", "KEY"):
        start = lines[0].index(column)
        assert all(line[start - 1] == " " and line[start] != " " for line in lines[1:]), column
    size_end = lines[0].index("SIZE") + len("SIZE")  # right-aligned: the ends line up
    assert all(line[size_end - 2 : size_end] == "MB" for line in lines[1:])
    assert sorted(line[lines[0].index("KEY") :] for line in lines[1:]) == sorted(keys)


def test_help_texts_exist(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["save", "-h"],
        ["restore", "-h"],
        ["prepare", "-h"],
        ["cache", "-h"],
        ["gomod", "restore", "-h"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "first writer wins" in text
    assert "cache-hit is 'true' only for an exact match" in text


def test_progress_bar_on_a_terminal_and_periodic_lines_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from buildonce.cli import store as cli_store

    clock = iter(float(t) for t in range(0, 1000))
    monkeypatch.setattr(cli_store.time, "monotonic", lambda: next(clock))
    tty = io.StringIO()
    bar = cli_store._Progress("restore", 100, tty, tty=True)
    for _ in range(4):
        bar(25)
    text = tty.getvalue()
    assert text.startswith("\rrestore: [")
    assert "100%" in text
    assert text.endswith("\n")  # the finished bar ends its line

    log = io.StringIO()
    line = cli_store._Progress("save", 10**6, log, tty=False)
    for _ in range(30):
        line(10**4)  # one call per (fake) second
    lines = log.getvalue().splitlines()
    assert 2 <= len(lines) <= 4  # every 10 s, not every call
    assert all(ln.startswith("save: ") and "\r" not in ln for ln in lines)


def test_quiet_when_neither_terminal_nor_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from buildonce.cli import store as cli_store

    monkeypatch.delenv("CI", raising=False)
    factory = cli_store.progress_factory()
    assert not isinstance(factory("save", 10), cli_store._Progress)


def test_prepare_smoke_of_a_foreign_binary_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "bin" / "app"
    junk.parent.mkdir()
    junk.write_bytes(b"\x00not an executable\n" * 100)
    assert main(["save", "--key", "Linux-app-1.25.4-abc123", str(junk)]) == 0
    junk.unlink()
    code = main(
        [
            "prepare",
            "--root",
            str(tmp_path),
            "--binary",
            "bin/app",
            "--key",
            "Linux-app-1.25.4-abc123",
        ]
    )
    assert code == 1
    line = one_line_error(capsys.readouterr().err)
    assert "could not start" in line
    assert "Exec format error" in line
