"""``buildonce demo``: both ways of running the matrix, measured on the real example."""

from __future__ import annotations

import json

import pytest

from buildonce.cli import main

pytestmark = pytest.mark.slow


def test_demo_builds_once_and_restores_every_leg(
    go_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A shared, warm GOCACHE keeps the test fast; the default (fresh per job) is the real demo.
    monkeypatch.setenv("GOCACHE", go_env["GOCACHE"])
    assert main(["demo", "--legs", "2", "--gocache", "shared", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["legs"] == 2
    assert [j["built"] for j in report["everyLegBuilds"]] == [True, True]
    once = report["buildOnce"]
    assert [j["job"] for j in once] == ["build-artifact", "system-test-1", "system-test-2"]
    assert [(j["built"], j["cacheHit"]) for j in once] == [
        (True, False),
        (False, True),
        (False, True),
    ]
    seconds = report["runnerSeconds"]
    expected = sum(j["seconds"] for j in report["everyLegBuilds"]) - sum(j["seconds"] for j in once)
    assert seconds["saved"] == pytest.approx(expected, abs=0.01)


def test_demo_text_report(
    go_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOCACHE", go_env["GOCACHE"])
    assert main(["demo", "--legs", "1", "--gocache", "shared"]) == 0
    captured = capsys.readouterr()
    assert "every leg builds" in captured.out
    assert "runner-seconds" in captured.out
    assert "build once: system-test-1 cache hit" in captured.err


def test_demo_rejects_zero_legs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--legs", "0"]) == 2
    assert "--legs must be at least 1" in capsys.readouterr().err
