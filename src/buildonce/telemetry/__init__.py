"""CI telemetry: ingest GitHub Actions runs, derive per-job records, report the criteria.

Modules: :mod:`.github` (REST client), :mod:`.db` (SQLite/PostgreSQL), :mod:`.records`
(derived job records), :mod:`.ingest`, :mod:`.dag` (critical path), :mod:`.reports`,
:mod:`.render`, :mod:`.plot`.  Nothing is imported eagerly: ``import buildonce.telemetry``
costs nothing until a submodule is used.
"""

from __future__ import annotations
