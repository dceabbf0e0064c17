"""Fixtures for workflow tests: the ksail before/after files laid out as a real checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def layout_checkout(root: Path, workflows: dict[str, Path], actions: dict[str, Path]) -> Path:
    """Copy flattened files into ``root/.github/{workflows,actions/<name>}`` and return the
    ``.github`` folder."""
    github = root / ".github"
    (github / "workflows").mkdir(parents=True)
    for name, source in workflows.items():
        shutil.copyfile(source, github / "workflows" / name)
    for name, source in actions.items():
        target = github / "actions" / name
        target.mkdir(parents=True)
        shutil.copyfile(source, target / ("action" + source.suffix))
    return github


@pytest.fixture
def ksail_after(shared_dir: Path, tmp_path: Path) -> Path:
    ksail = shared_dir / "corpus" / "ksail"
    return layout_checkout(
        tmp_path / "after",
        {"ci.yaml": ksail / "ci.after.yaml"},
        {"prepare-ksail-binary": ksail / "ci.after.actions__prepare-ksail-binary__action.yaml"},
    )


@pytest.fixture
def ksail_before(shared_dir: Path, tmp_path: Path) -> Path:
    ksail = shared_dir / "corpus" / "ksail"
    return layout_checkout(tmp_path / "before", {"ci.yaml": ksail / "ci.before.yaml"}, {})
