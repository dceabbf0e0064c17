"""Pictures: Mermaid and PNG Gantt timelines, trends and cache usage, through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildonce.cli import main
from buildonce.telemetry._replay import ReplayServer, SyntheticGitHub
from buildonce.telemetry.db import connect
from buildonce.telemetry.ingest import IngestOptions, ingest_github
from buildonce.telemetry.plot import MERMAID_MAX_CHARS, Timeline, TimelineJob, gantt_mermaid
from buildonce.telemetry.records import StepRecord

from .conftest import REPO, FakeClock, make_client

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def plot_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, SyntheticGitHub]:
    gh = SyntheticGitHub(runs=8, switch_at=4, rerun_every=0, failure_rate=0.0)
    path = str(tmp_path_factory.mktemp("p") / "p.db")
    with (
        ReplayServer(gh) as server,
        connect(path) as db,
        make_client(server, FakeClock()) as client,
    ):
        ingest_github(db, client, IngestOptions(repo=REPO))
    return path, gh


def test_gantt_mermaid(
    plot_db: tuple[str, SyntheticGitHub], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, gh = plot_db
    out = tmp_path / "run.mmd"
    assert main(["plot", "gantt", str(gh.run_id(1)), "--db", db, "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    text = out.read_text(encoding="utf-8")
    assert text.startswith("gantt\n")
    assert "dateFormat x" in text
    jobs = [j for j in gh.jobs(1)]
    # one section per job, with the outcome the records derived
    assert text.count("    section ") == len(jobs)
    assert "section system-test (--distribution Kind) [rebuilt]" in text
    assert "Waiting for a runner :active" in text
    # no Mermaid syntax characters leak from names
    for line in text.splitlines()[4:]:
        name = line.split(" :", 1)[0]
        assert ";" not in name
        assert "#" not in name


def test_gantt_png_and_other_pictures(plot_db: tuple[str, SyntheticGitHub], tmp_path: Path) -> None:
    db, gh = plot_db
    for argv in (["gantt", str(gh.run_id(6))], ["trends"], ["cache"]):
        out = tmp_path / f"{argv[0]}.png"
        assert main(["plot", *argv, "--db", db, "-o", str(out)]) == 0
        data = out.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 20_000  # a real drawing, not an empty canvas


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gantt", "1", "-o", "x.svg"], "use FILE.png or FILE.mmd"),
        (["trends", "-o", "x.mmd"], "use FILE.png"),
        (["gantt", "12345", "-o", "x.png"], "run 12345 is not in the database"),
        (["cache", "-o", "missing-dir/x.png"], "the folder does not exist"),
    ],
)
def test_plot_bad_input(  # noqa: PLR0917 - parametrize + fixtures
    argv: list[str],
    message: str,
    plot_db: tuple[str, SyntheticGitHub],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["plot", *argv, "--db", plot_db[0]]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_large_timelines_are_split_for_mermaid() -> None:
    steps = tuple(
        StepRecord(f"step {i}", "completed", "success", i, 1000.0 + i, 1001.0 + i)
        for i in range(60)
    )
    jobs = tuple(
        TimelineJob(f"job {n}", "success", 990.0, 1000.0, 1100.0, None, 0, steps) for n in range(40)
    )
    diagrams = gantt_mermaid(Timeline(1, 1, "big: run; #1", 990.0, jobs))
    assert len(diagrams) > 1
    assert all(len(d) <= MERMAID_MAX_CHARS for d in diagrams)
    assert all(d.startswith("gantt\n") for d in diagrams)
    assert sum(d.count("    section ") for d in diagrams) == 40
    assert "title big  run   1" in diagrams[0]
