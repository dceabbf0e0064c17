"""Fixtures for the keys tests: the @actions/glob oracle (a long-lived node process)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from keys_oracle import ORACLE_DIR, Oracle


@pytest.fixture(scope="session")
def oracle() -> Iterator[Oracle]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the @actions/glob oracle needs Node.js >= 18")
    if not (ORACLE_DIR / "node_modules" / "@actions" / "glob").is_dir():
        pytest.skip(
            "tests/oracle/node_modules is missing: run `npm ci --prefix tests/oracle` "
            "to install the @actions/glob oracle"
        )
    client = Oracle(node)
    yield client
    client.close()
