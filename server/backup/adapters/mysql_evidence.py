"""Evidence for MariaDB/MySQL (see server/backup/evidence.py): `CHECKSUM TABLE ... EXTENDED`
computed inside the very snapshot that `mariadb-dump --single-transaction` dumps from.

The dump tool opens its snapshot on its own connection; Lumbung cannot hand it one. So
Lumbung makes every snapshot opened during a short window the same one, as mydumper does for
its threads: writes to the dumped tables are held back (`LOCK TABLES ... READ` on a side
connection; reads go on), Lumbung's own reader opens its snapshot, the dump starts and opens
its snapshot, and only then are writes let go. The dump's snapshot is known to be open once
its output reaches its first table: mariadb-dump writes nothing of a table before
`START TRANSACTION WITH CONSISTENT SNAPSHOT` (it lists the tables after it), and the stdio
buffer of its header is not flushed before that either. If the output were ever seen early,
the two snapshots could differ by the writes of that moment and the drill would fail: a false
alarm, never a false proof.

The lock waits at most LOCK_WAIT_SECONDS for transactions that hold the tables; when it cannot
be had (a long transaction, or an account without LOCK TABLES), the backup goes on without
checksums and says why (`Evidence.missing`). The reader then checksums the tables in its
snapshot (see `measure`), after the dump has finished or alongside it (`alongside`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import pymysql
import pymysql.cursors
from pymysql.constants import CLIENT

from server.backup.adapters.credentials import ServerAddress
from server.backup.evidence import Evidence, fingerprint, object_key

log = logging.getLogger("lumbung.backup")

METHOD = "mysql-checksum-table-extended"
LOCK_WAIT_SECONDS = 1


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def connect(
    address: ServerAddress, database: str | None = None, *, multi_statements: bool = False
) -> pymysql.Connection:
    """A plain blocking connection (for worker threads), with the adapter's credentials;
    `multi_statements`: one query may hold several statements."""
    return pymysql.connect(
        client_flag=CLIENT.MULTI_STATEMENTS if multi_statements else 0,
        host=address.host,
        port=address.port,
        unix_socket=address.socket,
        user=address.user,
        password=address.password,
        database=database,
        charset="utf8mb4",
        autocommit=True,
        connect_timeout=10,
    )


def checksums(
    cursor: pymysql.cursors.Cursor, database: str, tables: list[str]
) -> dict[str, str | None]:
    """Each table's content checksum, as the server computes it (None for a missing table)."""
    found: dict[str, str | None] = {}
    for table in tables:
        cursor.execute(f"CHECKSUM TABLE {quote(database)}.{quote(table)} EXTENDED")
        row = cursor.fetchone()
        found[table] = None if row is None or row[1] is None else str(row[1])
    return found


def definitions(
    cursor: pymysql.cursors.Cursor, database: str, tables: list[str], *, objects: bool
) -> dict[str, str]:
    """Fingerprints of the tables' definitions and their triggers' and, with `objects`, of
    the database's views and routines (events are left out: a drill never creates them)."""
    db = quote(database)
    found: dict[str, str] = {}
    for table in tables:
        cursor.execute(f"SHOW CREATE TABLE {db}.{quote(table)}")
        row = cursor.fetchone()
        if row is not None:
            found[object_key("table", table)] = fingerprint(str(row[1]), database)
    cursor.execute(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = %s",
        (database,),
    )
    wanted = set(tables)
    for name, table in cursor.fetchall():
        if table in wanted:
            cursor.execute(f"SHOW CREATE TRIGGER {db}.{quote(name)}")
            row = cursor.fetchone()
            if row is not None and row[2] is not None:
                found[object_key("trigger", str(name))] = fingerprint(str(row[2]), database)
    if not objects:
        return found
    cursor.execute(
        "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s", (database,)
    )
    for (name,) in cursor.fetchall():
        cursor.execute(f"SHOW CREATE VIEW {db}.{quote(name)}")
        row = cursor.fetchone()
        if row is not None:
            found[object_key("view", str(name))] = fingerprint(str(row[1]), database)
    cursor.execute(
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = %s",
        (database,),
    )
    for name, kind in cursor.fetchall():
        cursor.execute(f"SHOW CREATE {kind} {db}.{quote(name)}")
        row = cursor.fetchone()
        if row is not None and row[2] is not None:  # NULL: the account may not read it
            found[object_key(str(kind).lower(), str(name))] = fingerprint(str(row[2]), database)
    return found


def measure(
    address: ServerAddress, database: str, tables: list[str], *, data: bool, objects: bool
) -> Evidence:
    """The evidence of a database as it is now (a drill's scratch database), with its row
    counts when `data` (only definitions otherwise)."""
    connection = connect(address)
    try:
        with connection.cursor() as cursor:
            found = definitions(cursor, database, tables, objects=objects)
            rows: dict[str, int] = {}
            for table in tables if data else []:
                if object_key("table", table) in found:
                    cursor.execute(f"SELECT COUNT(*) FROM {quote(database)}.{quote(table)}")  # noqa: S608 - quoted names
                    rows[table] = int(cursor.fetchone()[0])  # type: ignore[index]
            return Evidence(
                method=METHOD,
                tables=checksums(cursor, database, list(rows)) if data else dict.fromkeys(tables),
                definitions=found,
                rows=rows,
            )
    finally:
        connection.close()


class SnapshotEvidence:
    """Evidence of the dump's own snapshot (see the module's docstring).

    open()               before the dump starts: hold writes back, open the snapshot
    dump_has_snapshot()  once the dump's output reaches its first table: let writes go
    finish()             after the dump: the checksums, measured in the snapshot
    abandon()            the dump failed: stop measuring, close everything
    """

    def __init__(
        self, address: ServerAddress, tables: list[str], *, objects: bool, alongside: bool
    ) -> None:
        self._address = address
        self._tables = tables
        self._objects = objects
        self._alongside = alongside
        self._lock: pymysql.Connection | None = None
        self._reader: pymysql.Connection | None = None
        self._locked_at = 0.0
        self._thread: threading.Thread | None = None
        self._evidence = Evidence(METHOD, dict.fromkeys(tables))

    def open(self) -> None:
        try:
            self._lock = connect(self._address)
            with self._lock.cursor() as cursor:
                cursor.execute(f"SET SESSION lock_wait_timeout = {LOCK_WAIT_SECONDS}")
                cursor.execute(
                    "LOCK TABLES "
                    + ", ".join(
                        f"{quote(self._address.database)}.{quote(t)} READ" for t in self._tables
                    )
                )
            self._locked_at = time.monotonic()
            self._reader = connect(self._address)
            with self._reader.cursor() as cursor:
                cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        except pymysql.Error as exc:
            self._give_up(exc)

    def _give_up(self, exc: pymysql.Error) -> None:
        code = exc.args[0] if exc.args else 0
        if code == 1205:
            reason = (
                f"the dumped tables could not be held still for a moment (a transaction kept "
                f"them for over {LOCK_WAIT_SECONDS} s)"
            )
        elif code in (1044, 1142, 1227):
            reason = (
                "the database account may not LOCK TABLES (GRANT LOCK TABLES ON the database to it)"
            )
        else:
            reason = f"the server refused to join the dump's snapshot (error {code})"
        self._evidence.missing = f"No checksums were recorded: {reason}."
        log.warning(
            "backup evidence not recorded",
            extra={"event": "backup.evidence_missing", "code": code},
        )
        self._close()

    def dump_has_snapshot(self) -> None:
        """Let writes go; with `alongside`, start checksumming now."""
        if self._lock is None:
            return
        lock, self._lock = self._lock, None
        try:
            with lock.cursor() as cursor:
                cursor.execute("UNLOCK TABLES")
        finally:
            lock.close()
        self._evidence.lock_ms = int((time.monotonic() - self._locked_at) * 1000)
        if self._alongside and self._reader is not None:
            self._thread = threading.Thread(target=self._measure, name="lumbung-evidence")
            self._thread.start()

    def _measure(self) -> None:
        assert self._reader is not None
        try:
            with self._reader.cursor() as cursor:
                database = self._address.database
                self._evidence.tables = checksums(cursor, database, self._tables)
                self._evidence.definitions = definitions(
                    cursor, database, self._tables, objects=self._objects
                )
        except pymysql.Error as exc:
            self._evidence.tables = dict.fromkeys(self._tables)
            self._evidence.missing = (
                f"No checksums were recorded: measuring them failed (error "
                f"{exc.args[0] if exc.args else '?'})."
            )

    def finish(self) -> Evidence:
        try:
            if self._lock is not None:
                self.dump_has_snapshot()  # the dump ended without a table
            if self._reader is not None:
                if self._thread is None:
                    self._measure()
                else:
                    self._thread.join()
            else:
                # No snapshot to share: the definitions still say what the tables were.
                with contextlib.suppress(pymysql.Error):
                    measured = measure(
                        self._address,
                        self._address.database,
                        self._tables,
                        data=False,
                        objects=self._objects,
                    )
                    self._evidence.definitions = measured.definitions
            return self._evidence
        finally:
            self._close()

    def abandon(self) -> None:
        """Stop a measurement under way (the dump failed or was cancelled) and close."""
        if self._thread is not None and self._reader is not None:
            with contextlib.suppress(pymysql.Error):
                killer = connect(self._address)
                try:
                    with killer.cursor() as cursor:
                        cursor.execute(f"KILL QUERY {int(self._reader.thread_id())}")  # type: ignore[no-untyped-call]
                finally:
                    killer.close()
            self._thread.join()
        self._close()

    def _close(self) -> None:
        for connection in (self._lock, self._reader):
            if connection is not None:
                with contextlib.suppress(pymysql.Error, OSError):
                    connection.close()
        self._lock = self._reader = None
