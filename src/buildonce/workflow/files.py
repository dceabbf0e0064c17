"""Finding workflow files (no YAML parsing here, so a cached lint run stays cheap)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from buildonce.errors import InputError

YAML_SUFFIXES = (".yml", ".yaml")


def discover(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The workflow and action files under ``paths``, sorted, without duplicates.

    A file is taken as is; a folder holding ``.github`` or named ``.github`` contributes
    ``workflows/*.y*ml`` and ``actions/**/action.y*ml``; any other folder every YAML file
    below it.  Raises :class:`InputError` for a path that does not exist.
    """
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found[path] = None
            continue
        if not path.is_dir():
            raise InputError(
                "no such file or folder",
                where=str(path),
                hint="give a workflow file or a folder such as .github/",
            )
        github = path if path.name == ".github" else path / ".github"
        if github.is_dir():
            workflows = github / "workflows"
            if workflows.is_dir():
                for f in sorted(workflows.iterdir()):
                    if f.suffix in YAML_SUFFIXES and f.is_file():
                        found[f] = None
            actions = github / "actions"
            if actions.is_dir():
                for f in sorted(actions.rglob("action.y*ml")):
                    if f.suffix in YAML_SUFFIXES:
                        found[f] = None
        else:
            for f in sorted(path.rglob("*")):
                if f.suffix in YAML_SUFFIXES and f.is_file():
                    found[f] = None
    return sorted(found)


__all__ = ["YAML_SUFFIXES", "discover"]
