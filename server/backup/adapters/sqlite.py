"""The SQLite adapter, for the embedded default: the same backup contract as MariaDB's, by
SQLite's own means.

The dump reads in one read transaction (a consistent snapshot while the application keeps
writing, thanks to WAL); the restore runs in one transaction, so a failure at any point
leaves the database exactly as it was.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from server.backup.adapters.base import DumpPlan, Progress, RestoreScript, SchemaObject, Tool
from server.backup.stages import SectionSink
from server.errors import ConfigurationError, Conflict, JobCancelled, StatementRefused
from server.settings import Settings

BATCH_BYTES = 1 << 20


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteAdapter:
    dialect = "sqlite"

    def __init__(self, settings: Settings) -> None:
        database = make_url(settings.resolved_database_url()).database
        if not database or database == ":memory:":
            raise ConfigurationError(
                "backups need a SQLite database file, not an in-memory database"
            )
        self.path = Path(database)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        connection.execute("PRAGMA busy_timeout = 30000")
        return connection

    async def server_version(self) -> tuple[str, str]:
        return ("SQLite", sqlite3.sqlite_version)

    async def table_names(self) -> list[str]:
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        finally:
            connection.close()
        return sorted(str(row[0]) for row in rows)

    async def estimate_bytes(self, tables: list[str]) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    async def drop_tables(self, tables: list[str]) -> None:
        connection = self._connect()
        try:
            for name in tables:
                connection.execute(f"DROP TABLE IF EXISTS {quote(name)}")
        finally:
            connection.close()

    async def schema_objects(self) -> list[SchemaObject]:
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT upper(type), name, tbl_name FROM sqlite_master "
                "WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        finally:
            connection.close()
        return sorted(
            SchemaObject(kind, name, table if kind == "TRIGGER" else None)
            for kind, name, table in rows
        )

    async def drop_objects(self, objects: list[SchemaObject]) -> None:
        connection = self._connect()
        try:
            for item in sorted(objects, key=lambda o: o.kind != "VIEW"):
                connection.execute(f"DROP {item.kind} IF EXISTS {quote(item.name)}")
        finally:
            connection.close()

    async def suspend_triggers(self, tables: list[str]) -> list[tuple[str, str]]:
        return []  # done inside the restore's own transaction instead (see restore)

    async def resume_triggers(self, saved: list[tuple[str, str]]) -> None:
        return None

    def empty_table_statement(self, table: str) -> bytes:
        return f"DELETE FROM {quote(table)};\n".encode()  # noqa: S608 - a quoted identifier

    async def definers_refused(self, definers: list[str]) -> list[str]:
        return []  # SQLite has no accounts

    async def live_definers(self, tables: list[str], *, everything: bool) -> list[str]:
        return []

    @asynccontextmanager
    async def job_lock(self) -> AsyncIterator[None]:
        # flock dies with the process that holds it, like MariaDB's GET_LOCK.
        lock_path = self.path.with_name(self.path.name + ".lumbung-lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict("Another backup or restore is running on this database.") from None
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # --- dump --------------------------------------------------------------------------------
    def dump(
        self, plan: DumpPlan, sections: SectionSink, progress: Progress, cancel: threading.Event
    ) -> tuple[Tool, dict[str, int]]:
        connection = self._connect()
        rows: dict[str, int] = {}
        done = 0

        current: str | None = None

        def emit(data: str) -> None:
            # Rows come in batches of BATCH_BYTES: progress moves inside a large table too.
            nonlocal done
            encoded = data.encode("utf-8", "surrogatepass")
            sections.write(encoded)
            done += len(encoded)
            progress(sql_bytes=done, table=current)

        try:
            connection.execute("BEGIN")
            # The first read fixes the snapshot that every later read of this dump sees.
            master = connection.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL"
            ).fetchall()
            sections.begin("header", None)
            emit("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")
            names = set(plan.tables)
            sequences = self._sequences(connection)
            for table in plan.tables:
                if cancel.is_set():
                    raise JobCancelled("The backup was stopped: the job was cancelled.")
                sections.begin("table", table)
                current = table
                create = next(
                    sql for kind, name, _, sql in master if kind == "table" and name == table
                )
                if plan.include_schema:
                    emit(f"DROP TABLE IF EXISTS {quote(table)};\n{create};\n")
                if plan.include_data:
                    rows[table] = self._dump_rows(connection, table, emit, cancel)
                    if table in sequences:
                        literal, seq = _literal(table), sequences[table]
                        emit(
                            f"DELETE FROM sqlite_sequence WHERE name = {literal};\n"  # noqa: S608
                            f"INSERT INTO sqlite_sequence VALUES({literal}, {seq});\n"
                        )
                if plan.include_schema:
                    for kind, _, owner, sql in master:
                        if kind in ("index", "trigger") and owner == table:
                            emit(f"{sql};\n")
            current = None
            if plan.full and plan.include_schema:
                for kind, name, _, sql in master:
                    if kind == "view" and name not in names:
                        sections.begin("view", name)
                        emit(f"DROP VIEW IF EXISTS {quote(name)};\n{sql};\n")
            sections.begin("footer", None)
            emit("COMMIT;\n")
        finally:
            connection.close()
        sections.end()
        return Tool("sqlite3", sqlite3.sqlite_version), rows

    @staticmethod
    def _sequences(connection: sqlite3.Connection) -> dict[str, int]:
        try:
            return {
                str(n): int(s)
                for n, s in connection.execute("SELECT name, seq FROM sqlite_sequence")
            }
        except sqlite3.OperationalError:  # no AUTOINCREMENT table, no sqlite_sequence
            return {}

    @staticmethod
    def _dump_rows(
        connection: sqlite3.Connection,
        table: str,
        emit: Callable[[str], None],
        cancel: threading.Event,
    ) -> int:
        # table_info leaves out generated columns, which cannot be inserted into.
        columns = [str(row[1]) for row in connection.execute(f"PRAGMA table_info({quote(table)})")]
        if not columns:
            return 0
        # SQLite's own quote() writes each value as a literal (blobs as X'..', text escaped).
        values = " || ',' || ".join(f"quote({quote(c)})" for c in columns)
        prefix = f"INSERT INTO {quote(table)}({','.join(quote(c) for c in columns)}) VALUES("
        count = 0
        batch: list[str] = []
        size = 0
        for (literal,) in connection.execute(f"SELECT {values} FROM {quote(table)}"):  # noqa: S608 - quoted identifiers from sqlite_master
            line = f"{prefix}{literal});\n"
            batch.append(line)
            size += len(line)
            count += 1
            if size >= BATCH_BYTES:
                if cancel.is_set():
                    raise JobCancelled("The backup was stopped: the job was cancelled.")
                emit("".join(batch))
                batch, size = [], 0
        if batch:
            emit("".join(batch))
        return count

    # --- restore -----------------------------------------------------------------------------
    def restore(self, script: RestoreScript, progress: Progress, cancel: threading.Event) -> None:
        connection = self._connect()
        # foreign_keys cannot change inside a transaction: switch it off first.
        connection.execute("PRAGMA foreign_keys = OFF")
        statements = _StatementReader(connection, script.tables if script.data_only else [])
        done = 0
        try:
            for table, chunk in script.chunks():
                if cancel.is_set():
                    raise JobCancelled("The restore was stopped: the job was cancelled.")
                done += len(chunk)
                statements.feed(chunk)
                progress(sql_bytes=done, table=table)
            statements.finish()
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.execute("PRAGMA foreign_keys = ON")
            connection.close()


class _StatementReader:
    """Executes a dump statement by statement as its bytes arrive.

    For a data-only restore, the live triggers of the restored tables are dropped as the
    transaction opens and recreated just before it commits: the backup's rows go in as they
    were, and a failure rolls the triggers back along with everything else.
    """

    def __init__(self, connection: sqlite3.Connection, suspend_triggers_of: list[str]) -> None:
        self._connection = connection
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
        self._statement = ""
        self._suspend = set(suspend_triggers_of)
        self._triggers: list[str] | None = None

    def feed(self, chunk: bytes) -> None:
        for line in self._decoder.decode(chunk).splitlines(keepends=True):
            self._statement += line
            if line.rstrip().endswith(";") and sqlite3.complete_statement(self._statement):
                self._execute(self._statement)
                self._statement = ""

    def _execute(self, statement: str) -> None:
        if self._triggers and statement.strip().rstrip(";").upper() == "COMMIT":
            for sql in self._triggers:
                self._run(sql + ";")
            self._triggers = []
        self._run(statement)
        if self._suspend and self._triggers is None and self._connection.in_transaction:
            rows = self._connection.execute(
                "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
            ).fetchall()
            self._triggers = [sql for _, table, sql in rows if table in self._suspend]
            for name, table, _ in rows:
                if table in self._suspend:
                    self._run(f"DROP TRIGGER {quote(name)};")

    def _run(self, statement: str) -> None:
        try:
            self._connection.execute(statement)
        except sqlite3.Error as exc:
            raise StatementRefused(
                f"SQLite refused a statement of the backup ({exc}); the restore was rolled back."
            ) from None

    def finish(self) -> None:
        if self._statement.strip():
            raise StatementRefused("The backup ends inside a statement: it is truncated.")
        if self._connection.in_transaction:
            raise StatementRefused("The backup never committed: it is truncated.")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
