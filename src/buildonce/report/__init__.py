"""Lint output formatters, by name.  Each takes the findings and the linted files and returns
the full text to print."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from buildonce.report import github, json, sarif, text
from buildonce.rules.base import Finding

Formatter = Callable[[Sequence[Finding], Sequence[str]], str]

#: ``--format`` name -> formatter
FORMATTERS: dict[str, Formatter] = {
    "text": text.render,
    "json": json.render,
    "sarif": sarif.render,
    "github": github.render,
}

__all__ = ["FORMATTERS", "Formatter"]
