"""Lint output formatters, by name.  Each takes the findings and the linted files and returns
the full text to print."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from buildonce.rules.base import Finding

Formatter = Callable[[Sequence["Finding"], Sequence[str]], str]


def _lazy(module: str) -> Formatter:
    """A formatter that imports its module on first use: a run imports only the one it
    prints with (SARIF pulls in hashlib and every rule's docs)."""

    def render(findings: Sequence[Finding], files: Sequence[str]) -> str:
        real: Formatter = importlib.import_module(f"buildonce.report.{module}").render
        return real(findings, files)

    render.__name__ = render.__qualname__ = f"{module}_render"
    return render


#: ``--format`` name -> formatter
FORMATTERS: dict[str, Formatter] = {
    name: _lazy(name) for name in ("text", "json", "sarif", "github")
}

__all__ = ["FORMATTERS", "Formatter"]
