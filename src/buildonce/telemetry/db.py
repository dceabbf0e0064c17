"""The telemetry database: one helper for SQLite (default) and PostgreSQL (``--db postgresql://``).

The SQL is written once, with ``?`` placeholders and ``INSERT ... ON CONFLICT DO UPDATE``
upserts, which both engines accept; the helper swaps placeholders for psycopg.  Timestamps
are stored as UTC epoch seconds (``DOUBLE PRECISION``) so the mixed offsets GitHub sends
never reach a query.

Migrations are an ordered list; SQLite records the applied count in ``PRAGMA user_version``,
PostgreSQL in a one-row ``buildonce_schema`` table.  A database written by a newer buildonce
is refused instead of being silently misread.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from buildonce.errors import ConfigError, InputError, StoreError

#: Environment variable that overrides the default database location.
DB_ENV = "BUILDONCE_TELEMETRY_DB"

#: Each entry is one schema version; never edit a released entry, append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            repo TEXT NOT NULL, run_id BIGINT NOT NULL, attempt INTEGER NOT NULL,
            workflow_id BIGINT, workflow_name TEXT, path TEXT, event TEXT,
            head_branch TEXT, head_sha TEXT, pr_numbers TEXT, run_number INTEGER,
            status TEXT, conclusion TEXT,
            created_at DOUBLE PRECISION, run_started_at DOUBLE PRECISION,
            updated_at DOUBLE PRECISION, latest INTEGER NOT NULL DEFAULT 1,
            raw TEXT,
            PRIMARY KEY (repo, run_id, attempt))""",
        "CREATE INDEX runs_started ON runs (repo, run_started_at)",
        """CREATE TABLE run_sync (
            repo TEXT NOT NULL, run_id BIGINT NOT NULL,
            updated_at DOUBLE PRECISION, jobs_synced INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (repo, run_id))""",
        """CREATE TABLE jobs (
            repo TEXT NOT NULL, job_id BIGINT NOT NULL, run_id BIGINT NOT NULL,
            attempt INTEGER NOT NULL, name TEXT NOT NULL, base_name TEXT NOT NULL,
            status TEXT, conclusion TEXT, ci_status TEXT NOT NULL,
            created_at DOUBLE PRECISION, started_at DOUBLE PRECISION,
            completed_at DOUBLE PRECISION, duration_s DOUBLE PRECISION,
            queue_s DOUBLE PRECISION, cache_hit INTEGER, cache_evidence TEXT,
            rebuilt INTEGER NOT NULL, compile_steps INTEGER NOT NULL,
            smoke_ran INTEGER NOT NULL, uses_binary INTEGER NOT NULL,
            runner_name TEXT, labels TEXT,
            PRIMARY KEY (repo, job_id))""",
        # Steps live apart from jobs: they are most of the bytes, and reports that scan every
        # job's duration must not read them (a 10x difference at 200,000 jobs).
        """CREATE TABLE job_steps (
            repo TEXT NOT NULL, job_id BIGINT NOT NULL, steps TEXT NOT NULL,
            PRIMARY KEY (repo, job_id))""",
        "CREATE INDEX jobs_run ON jobs (repo, run_id, attempt)",
        "CREATE INDEX jobs_started ON jobs (repo, started_at)",
        """CREATE TABLE cache_snapshots (
            repo TEXT NOT NULL, snapshot_at DOUBLE PRECISION NOT NULL,
            active_bytes BIGINT, active_count INTEGER, limit_gb DOUBLE PRECISION,
            limit_source TEXT, listed_bytes BIGINT, listed_count INTEGER,
            PRIMARY KEY (repo, snapshot_at))""",
        """CREATE TABLE cache_entries (
            repo TEXT NOT NULL, cache_id BIGINT NOT NULL, ref TEXT, key TEXT,
            version TEXT, size_bytes BIGINT, created_at DOUBLE PRECISION,
            last_accessed_at DOUBLE PRECISION, last_seen DOUBLE PRECISION,
            PRIMARY KEY (repo, cache_id))""",
        """CREATE TABLE job_cache_links (
            repo TEXT NOT NULL, job_id BIGINT NOT NULL, cache_id BIGINT NOT NULL,
            relation TEXT NOT NULL, evidence TEXT NOT NULL,
            PRIMARY KEY (repo, job_id, cache_id, relation))""",
        """CREATE TABLE http_etags (
            credential TEXT NOT NULL, url TEXT NOT NULL, etag TEXT, last_modified TEXT,
            PRIMARY KEY (credential, url))""",
        """CREATE TABLE sync_state (
            repo TEXT NOT NULL, scope TEXT NOT NULL, high_water DOUBLE PRECISION, value TEXT,
            PRIMARY KEY (repo, scope))""",
        """CREATE TABLE workflow_files (
            repo TEXT NOT NULL, path TEXT NOT NULL, sha TEXT NOT NULL, content TEXT,
            PRIMARY KEY (repo, path, sha))""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def default_location(env: Mapping[str, str] | None = None) -> str:
    """``$BUILDONCE_TELEMETRY_DB``, else ``$XDG_DATA_HOME/buildonce/telemetry.db``.

    A per-user data path rather than a file in the checkout: one database serves every
    repository a maintainer ingests, and it is never committed by accident.
    """
    environ = os.environ if env is None else env
    if environ.get(DB_ENV):
        return environ[DB_ENV]
    data_home = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(data_home) / "buildonce" / "telemetry.db")


class Database:
    """A connection plus the dialect it speaks.  Use as a context manager; it closes."""

    def __init__(self, conn: Any, dialect: str, where: str) -> None:
        self._conn = conn
        self.dialect = dialect
        self.where = where
        self._in_tx = False

    # -- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- statements -------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._errors():
            cur = self._conn.cursor()
            try:
                cur.execute(self._sql(sql), tuple(params))
            finally:
                cur.close()
            if not self._in_tx and self.dialect == "postgresql":
                self._conn.commit()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self._errors():
            cur = self._conn.cursor()
            try:
                cur.executemany(self._sql(sql), [tuple(r) for r in rows])
            finally:
                cur.close()
            if not self._in_tx and self.dialect == "postgresql":
                self._conn.commit()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._errors():
            cur = self._conn.cursor()
            try:
                cur.execute(self._sql(sql), tuple(params))
                rows: list[tuple[Any, ...]] = cur.fetchall()  # both drivers return tuples
            finally:
                cur.close()
            if not self._in_tx and self.dialect == "postgresql":
                self._conn.commit()  # end the implicit read transaction
            return rows

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """All or nothing: an exception (or a kill) leaves the database as before."""
        if self._in_tx:
            yield self
            return
        with self._errors():
            if self.dialect == "sqlite":
                # IMMEDIATE takes the write lock up front, so two writers queue on
                # busy_timeout instead of failing half-way with "database is locked".
                self._conn.execute("BEGIN IMMEDIATE")
        self._in_tx = True
        try:
            yield self
        except BaseException:
            self._in_tx = False
            self._conn.rollback()
            raise
        self._in_tx = False
        with self._errors():
            self._conn.commit()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"database error: {exc}",
                where=self.where,
                hint="another process may hold the write lock; retry, or check the path",
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"database error: {exc}",
                where=self.where,
                hint="the file is not a buildonce telemetry database",
            ) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                raise StoreError(f"database error: {exc}", where=self.where) from exc
            raise

    # -- schema -----------------------------------------------------------------------
    def schema_version(self) -> int:
        if self.dialect == "sqlite":
            return int(self.query("PRAGMA user_version")[0][0])
        self.execute("CREATE TABLE IF NOT EXISTS buildonce_schema (version INTEGER NOT NULL)")
        rows = self.query("SELECT version FROM buildonce_schema")
        return int(rows[0][0]) if rows else 0

    def migrate(self) -> int:
        """Apply pending migrations, each in its own transaction; return the version."""
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise ConfigError(
                f"database schema version {current} is newer than this buildonce "
                f"understands ({SCHEMA_VERSION})",
                where=self.where,
                hint="upgrade buildonce, or point --db at another database",
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in MIGRATIONS[version - 1]:
                    self.execute(statement)
                if self.dialect == "sqlite":
                    self.execute(f"PRAGMA user_version = {version}")
                else:
                    self.execute("DELETE FROM buildonce_schema")
                    self.execute("INSERT INTO buildonce_schema (version) VALUES (?)", (version,))
        return SCHEMA_VERSION

    def check(self) -> list[str]:
        """Problems found by the engine's own integrity check (SQLite) — empty when healthy."""
        if self.dialect != "sqlite":
            return []
        rows = self.query("PRAGMA integrity_check")
        return [str(r[0]) for r in rows if r[0] != "ok"]


def connect(
    location: str | None = None, *, env: Mapping[str, str] | None = None, create: bool = True
) -> Database:
    """Open (creating and migrating) the database at ``location``.

    ``location`` is a file path, ``sqlite:///path``, or ``postgresql://...``; ``None`` means
    :func:`default_location`.  With ``create=False`` a missing SQLite file is an error
    instead of a new empty database: read-only commands must not leave files behind.
    """
    target = location or default_location(env)
    if target.startswith(("postgresql://", "postgres://")):
        db = _connect_postgresql(target)
    else:
        path = target.removeprefix("sqlite://") if target.startswith("sqlite://") else target
        if not create and path != ":memory:" and not Path(path).exists():
            raise InputError(
                "no telemetry database here",
                where=path,
                hint="run `buildonce ingest github --repo OWNER/NAME` first, or pass --db",
            )
        db = _connect_sqlite(path)
    try:
        db.migrate()
    except BaseException:
        db.close()
        raise
    return db


def _connect_sqlite(path: str) -> Database:
    file = Path(path)
    if str(path) != ":memory:":
        if file.is_dir():
            raise _path_error(f"{path} is a directory", path)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _path_error(f"cannot create the folder for the database: {exc}", path) from exc
    try:
        # isolation_level=None: transactions are explicit (transaction()), never implicit.
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise _path_error(f"cannot open the database: {exc}", path) from exc
    db = Database(conn, "sqlite", path)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return db


def _connect_postgresql(url: str) -> Database:
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            "PostgreSQL support is not installed",
            where="--db",
            hint="pip install 'buildonce[postgres]'",
        ) from None
    where = _redact_dsn(url)
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot connect: {' '.join(str(exc).split())}",
            where=where,
            hint="check host, port, database name and credentials",
        ) from None
    return Database(conn, "postgresql", where)


def _redact_dsn(url: str) -> str:
    """The DSN without its password, for messages."""
    head, sep, tail = url.partition("://")
    if "@" in tail:
        creds, _, host = tail.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{head}{sep}{user}:***@{host}" if ":" in creds else f"{head}{sep}{user}@{host}"
    return url


def _path_error(message: str, path: str) -> ConfigError:
    return ConfigError(message, where=path, hint="pass --db PATH or set " + DB_ENV)
