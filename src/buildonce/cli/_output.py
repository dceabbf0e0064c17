"""Helpers shared by command handlers: JSON output and GitHub's file-based outputs."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Mapping
from typing import Any, TextIO


def print_json(data: Any, stream: TextIO | None = None) -> None:
    """Print ``data`` as stable, indented JSON followed by a newline."""
    out = stream if stream is not None else sys.stdout
    json.dump(data, out, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    out.write("\n")


def write_github_outputs(values: Mapping[str, str], env: Mapping[str, str] | None = None) -> bool:
    """Append ``name=value`` pairs to ``$GITHUB_OUTPUT`` when it is set.

    Multi-line values use GitHub's heredoc syntax with a random delimiter, so a value can
    never terminate its own block.  Returns whether anything was written.
    """
    environ = os.environ if env is None else env
    path = environ.get("GITHUB_OUTPUT")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as fh:
        for name, value in values.items():
            if "\n" in value or "\r" in value:
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
                fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                fh.write(f"{name}={value}\n")
    return True


def append_step_summary(markdown: str, env: Mapping[str, str] | None = None) -> bool:
    """Append markdown to ``$GITHUB_STEP_SUMMARY`` when it is set."""
    environ = os.environ if env is None else env
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return True
