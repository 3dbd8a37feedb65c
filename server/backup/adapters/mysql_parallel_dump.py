"""A parallel dump that stays one consistent snapshot (LUMBUNG_BACKUP_CONNECTIONS above 1).

The largest dumped table with a one-column integer primary key (the table that decides how long
a backup takes) is dumped in N key ranges, each by a mariadb-dump of its own, beside the one
mariadb-dump of everything else. Every dump opens its own snapshot, so Lumbung makes them the
same one, as mydumper and MySQL Shell do: writes are held back for the moment the dumps take to
open their snapshots, by a global read lock (`FLUSH TABLES WITH READ LOCK`, when the account
has RELOAD) or else by `LOCK TABLES ... READ` on the dumped tables, held on a side connection.
A dump's snapshot is open once its output reaches its first table, or once it has ended (see
mysql_evidence.py for why). When neither lock can be had within LOCK_WAIT_SECONDS, the backup
is dumped by one connection, as without the setting: consistency is never traded for speed.
The manifest records which way the dump was made (`dump`).

The file keeps its shape: the ranges' output is spooled beside the backup (in the backup
folder, removed however the dump ends) and written into the stream where the table belongs, as
if one mariadb-dump had written it: the table's structure and first range (from the first
range's dump, which also carries the table's triggers), the rows of the other ranges, then the
table's end and its triggers. The table is placed after the other tables and before the
events, routines and views (a view must find the tables it reads), so `zstd -dc FILE | mariadb
db` restores the file as before. The splitter then cuts the table's rows into chunk sections as
usual.
"""

from __future__ import annotations

import contextlib
import errno
import io
import itertools
import logging
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

import pymysql

from server.backup.adapters.credentials import ServerAddress, child_environment
from server.backup.adapters.mysql_evidence import LOCK_WAIT_SECONDS, connect, quote
from server.backup.adapters.mysql_tools import (
    READ_SIZE,
    block_buffered,
    dies_with_us,
    exit_reason,
    kill_on_cancel,
    stderr_tail,
    widen_pipe,
)
from server.errors import InsufficientStorage, ToolFailed

log = logging.getLogger("lumbung.backup")

SINGLE = "single"
GLOBAL_READ_LOCK = "global-read-lock"
LOCK_TABLES = "lock-tables"

_INTEGER_TYPES = ("tinyint", "smallint", "mediumint", "int", "bigint")
# Where the split table goes in the main dump's stream: before the first of these lines.
AFTER_TABLES = (
    b"\n--\n-- Dumping events for database ",
    b"\n--\n-- Dumping routines for database ",
    b"\n--\n-- Final view structure for view ",
    b"\n/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n",
)
# The first line of a table in a dump: its structure's comment, or its rows' (data only).
_TABLE_START = (b"\n--\n-- Table structure for table ", b"\n--\n-- Dumping data for table ")
_FOOTER = b"\n/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n"
DISK_FULL = (
    "The backup folder's disk filled up while the parallel dump held the largest table's "
    "ranges there; free space, or set LUMBUNG_BACKUP_CONNECTIONS=1, and retry."
)


def backup_connections(configured: int | None) -> int:
    """How many connections dump the largest table: the setting, else one below 4 cores (the
    dump tool and zstd already keep two cores busy) and half the cores from 4 on, at most 4."""
    if configured is not None:
        return configured
    cores = os.cpu_count() or 1
    return 1 if cores < 4 else min(4, cores // 2)


@dataclass(frozen=True)
class SplitTable:
    """The table dumped in ranges: its name, its key column and one WHERE per range."""

    name: str
    column: str
    ranges: list[str]
    data_bytes: int = 0  # the server's estimate of its data (what its spooled SQL is near)


@dataclass
class DumpMode:
    """How a dump was made, as the manifest records it."""

    mode: str = SINGLE
    connections: int = 1
    table: str | None = None
    reason: str | None = None  # why a parallel dump was not made, when it was asked for

    def to_json(self) -> dict[str, object]:
        found: dict[str, object] = {"mode": self.mode, "connections": self.connections}
        if self.table is not None:
            found["table"] = self.table
        if self.reason is not None:
            found["reason"] = self.reason
        return found


def choose_table(
    address: ServerAddress, tables: list[str], connections: int, min_bytes: int
) -> SplitTable | None:
    """The largest of `tables` (by the server's estimate) with a one-column integer primary
    key, cut into `connections` ranges of its keys; None when no table is worth it."""
    connection = connect(address)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT t.TABLE_NAME, t.DATA_LENGTH, MIN(k.COLUMN_NAME), MIN(c.DATA_TYPE), "
                "COUNT(*) FROM information_schema.TABLES t "
                "JOIN information_schema.KEY_COLUMN_USAGE k ON k.TABLE_SCHEMA = t.TABLE_SCHEMA "
                "AND k.TABLE_NAME = t.TABLE_NAME AND k.CONSTRAINT_NAME = 'PRIMARY' "
                "JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = t.TABLE_SCHEMA "
                "AND c.TABLE_NAME = t.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME "
                "WHERE t.TABLE_SCHEMA = %s AND t.TABLE_TYPE = 'BASE TABLE' "
                "GROUP BY t.TABLE_NAME, t.DATA_LENGTH ORDER BY t.DATA_LENGTH DESC",
                (address.database,),
            )
            wanted = set(tables)
            found = next(
                (
                    (str(name), str(column), int(size or 0))
                    for name, size, column, kind, columns in cursor.fetchall()
                    if name in wanted
                    and int(columns) == 1
                    and str(kind).lower() in _INTEGER_TYPES
                    and int(size or 0) >= min_bytes
                ),
                None,
            )
            if found is None:
                return None
            name, column, size = found
            table = f"{quote(address.database)}.{quote(name)}"
            cursor.execute(f"SELECT MIN({quote(column)}), MAX({quote(column)}) FROM {table}")  # noqa: S608 - quoted names
            low, high = cursor.fetchone()  # type: ignore[misc]
    finally:
        connection.close()
    if low is None:
        return None
    ranges = key_ranges(quote(column), int(low), int(high), connections)
    return SplitTable(name, column, ranges, size)


def key_ranges(column: str, low: int, high: int, count: int) -> list[str]:
    """WHERE conditions that cut [low, high] into up to `count` ranges; the first and last are
    open-ended, so together they take every row, whatever was written since low and high were
    read."""
    count = max(1, min(count, high - low + 1))
    bounds = [low + (high - low + 1) * i // count for i in range(1, count)]
    if not bounds:
        return ["1=1"]
    ranges = [f"{column} < {bounds[0]}"]
    ranges += [f"{column} >= {a} AND {column} < {b}" for a, b in itertools.pairwise(bounds)]
    ranges.append(f"{column} >= {bounds[-1]}")
    return ranges


def release_when_open(lock: ConsistencyLock, snapshots: list[threading.Event]) -> threading.Thread:
    """A thread that lets writes go as soon as every dump has its snapshot open."""

    def release() -> None:
        for snapshot in snapshots:
            snapshot.wait()
        lock.release()

    thread = threading.Thread(target=release, name="lumbung-dump-lock", daemon=True)
    thread.start()
    return thread


class ConsistencyLock:
    """Holds writes back while the dumps open their snapshots: a global read lock with RELOAD,
    else `LOCK TABLES ... READ` on the dumped tables; `mode` is None when neither was had
    (`reason` says why)."""

    def __init__(self, address: ServerAddress, tables: list[str]) -> None:
        self._address = address
        self._tables = tables
        self._connection: pymysql.Connection | None = None
        self._releasing = threading.Lock()
        self.mode: str | None = None
        self.reason: str | None = None

    def acquire(self) -> str | None:
        try:
            self._connection = connect(self._address)
            with self._connection.cursor() as cursor:
                cursor.execute(f"SET SESSION lock_wait_timeout = {LOCK_WAIT_SECONDS}")
        except pymysql.Error as exc:
            self.reason = f"the lock's connection failed (error {_code(exc)})"
            self.release()
            return None
        for mode, statement in (
            (GLOBAL_READ_LOCK, "FLUSH TABLES WITH READ LOCK"),
            (
                LOCK_TABLES,
                "LOCK TABLES "
                + ", ".join(
                    f"{quote(self._address.database)}.{quote(t)} READ" for t in self._tables
                ),
            ),
        ):
            try:
                with self._connection.cursor() as cursor:
                    cursor.execute(statement)
            except pymysql.Error as exc:
                code = _code(exc)
                if code == 1205:
                    self.reason = (
                        f"the tables could not be held still for a moment (a transaction or "
                        f"statement kept them for over {LOCK_WAIT_SECONDS} s)"
                    )
                    break
                if code in (1044, 1142, 1227):
                    self.reason = (
                        "the database account may neither FLUSH TABLES WITH READ LOCK (RELOAD) "
                        "nor LOCK TABLES on the database"
                    )
                    continue
                self.reason = f"the server refused the lock (error {code})"
                break
            self.mode, self.reason = mode, None
            return mode
        self.release()
        return None

    def release(self) -> None:
        with self._releasing:
            connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute("UNLOCK TABLES")
        except pymysql.Error:
            pass  # closing the connection below lets go of the lock as well
        finally:
            with contextlib.suppress(pymysql.Error, OSError):
                connection.close()


def _code(exc: pymysql.Error) -> int:
    return int(exc.args[0]) if exc.args and isinstance(exc.args[0], int) else 0


@dataclass
class _Marks:
    """Offsets in a spooled range's output, noted as it streams in."""

    start: int = -1  # the table's first line (its structure, or its rows' comment)
    where: tuple[int, int] = (-1, -1)  # the `-- WHERE:` comment line
    rows: int = -1  # where its rows start: the line after DISABLE KEYS
    enable: int = -1  # the ENABLE KEYS line that ends them
    footer: int = -1  # the footer's first line


# What each search keeps of one piece for the next: longer than any line searched for.
_CARRY = 1024


class RangeDump:
    """One range's mariadb-dump, its output spooled to an unnamed file by a thread."""

    def __init__(
        self,
        arguments: list[str],
        pass_fds: tuple[int, ...],
        folder: Path,
        table: str,
        cancel: threading.Event,
    ) -> None:
        self._table = quote(table).encode()
        self.spool: BinaryIO = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - closed by close()
        self._stderr: BinaryIO = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.process = subprocess.Popen(  # noqa: S603 - no shell; names after `--`
            dies_with_us(block_buffered(arguments)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=child_environment(),
            pass_fds=pass_fds,
        )
        self.name = Path(arguments[0]).name
        self.snapshot = threading.Event()  # set once its snapshot is known to be open
        self.size = 0
        self.marks = _Marks()
        self._disable = b"\n/*!40000 ALTER TABLE " + self._table + b" DISABLE KEYS */;\n"
        self._enable = b"\n/*!40000 ALTER TABLE " + self._table + b" ENABLE KEYS */;\n"
        self.error: BaseException | None = None
        self._cancel = cancel
        self._watcher = kill_on_cancel(self.process, cancel)
        self._thread = threading.Thread(target=self._drain, name="lumbung-range-dump")
        self._thread.start()

    def _drain(self) -> None:
        stdout = cast(io.BufferedReader, self.process.stdout)
        widen_pipe(stdout.fileno())
        carry = b""
        try:
            while piece := stdout.read(READ_SIZE):
                data = carry + piece
                self._note(data, self.size - len(carry))
                self.spool.write(piece)
                self.size += len(piece)
                carry = data[-_CARRY:]
        except OSError as exc:
            self.process.kill()
            self.error = InsufficientStorage(DISK_FULL) if exc.errno == errno.ENOSPC else exc
        except BaseException as exc:  # handed to the dump's thread
            self.process.kill()
            self.error = exc
        finally:
            self.snapshot.set()
            with contextlib.suppress(OSError):
                stdout.close()

    def _note(self, data: bytes, base: int) -> None:
        """Note the marks in `data`, which starts at offset `base` of the output: the first
        of each (the rows hold no raw newline, so no row can look like one), and the last
        footer line."""
        marks = self.marks
        if marks.rows < 0:  # the head: the table's start, the WHERE comment, DISABLE KEYS
            hits = [at for n in _TABLE_START if (at := data.find(n)) >= 0]
            if marks.start < 0 and hits:
                marks.start = base + min(hits) + 1
                self.snapshot.set()  # its output reached the table: its snapshot is open
            at = data.find(b"\n-- WHERE:  ")
            if marks.where[0] < 0 and at >= 0 and (end := data.find(b"\n", at + 1)) >= 0:
                marks.where = (base + at + 1, base + end + 1)
            if (at := data.find(self._disable)) >= 0:
                marks.rows = base + at + len(self._disable)
        at = (
            -1
            if marks.rows < 0 or marks.enable >= 0
            else data.find(self._enable, max(marks.rows - 1 - base, 0))
        )
        if at >= 0:
            marks.enable = base + at + 1
        at = -1 if marks.enable < 0 else data.rfind(_FOOTER, max(marks.enable - base, 0))
        if at >= 0:
            marks.footer = base + at + 1

    def wait(self) -> None:
        """Wait for the dump to end; raises when it failed."""
        self._thread.join()
        returncode = self.process.wait()
        self._watcher.set()
        if self._cancel.is_set():
            raise ToolFailed(f"{self.name} was stopped: the job was cancelled.")
        if self.error is not None:
            raise self.error
        if returncode != 0:
            errors = stderr_tail(self._stderr)
            raise ToolFailed(
                f"{self.name} (a range of the largest table) failed "
                f"({exit_reason(returncode)}): {errors or 'no message'}"
            )
        self.spool.flush()

    def checked_marks(self) -> _Marks:
        """Its marks, once it has ended; raises when one is missing."""
        marks = self.marks
        if min(marks.start, marks.rows, marks.enable, marks.footer) < 0:
            raise ToolFailed(
                f"{self.name} wrote a range of the largest table in a form Lumbung does not "
                "know; set LUMBUNG_BACKUP_CONNECTIONS=1."
            )
        return marks

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """The spool's bytes [start, end) in pieces."""
        self.spool.seek(start)
        while start < end and (piece := self.spool.read(min(READ_SIZE, end - start))):
            start += len(piece)
            yield piece

    def stop(self) -> None:
        """Kill the dump (when the backup failed) and wait for its thread."""
        with contextlib.suppress(OSError):
            self.process.kill()
        self._thread.join()
        self.process.wait()
        self._watcher.set()

    def close(self) -> None:
        for handle in (self.spool, self._stderr):
            with contextlib.suppress(OSError):
                handle.close()


@dataclass
class SplitDump:
    """The ranges of the split table, in key order; `stream()` gives the table as one
    mariadb-dump would have written it."""

    table: SplitTable
    ranges: list[RangeDump] = field(default_factory=list)

    def stream(self) -> Iterator[bytes]:
        for dump in self.ranges:
            dump.wait()
        first, marks = self.ranges[0], self.ranges[0].checked_marks()
        where_start, where_end = marks.where
        if where_start >= 0:
            yield from first.read(marks.start, where_start)
            yield from first.read(where_end, marks.enable)
        else:
            yield from first.read(marks.start, marks.enable)
        for dump in self.ranges[1:]:
            other = dump.checked_marks()
            yield from dump.read(other.rows, other.enable)
        yield from first.read(marks.enable, marks.footer)

    def stop(self) -> None:
        for dump in self.ranges:
            dump.stop()

    def close(self) -> None:
        for dump in self.ranges:
            dump.close()


class StreamCut:
    """Finds the first of `needles` (each starting with a newline) in a stream fed in pieces:
    `feed()` returns what comes before it and, once found, what follows it (from the line it
    starts)."""

    def __init__(self, needles: tuple[bytes, ...]) -> None:
        self._needles = needles
        self._keep = max(len(n) for n in needles)
        self._held = b""
        self.found = False

    def feed(self, piece: bytes) -> tuple[bytes, bytes | None]:
        if self.found:
            return piece, None
        data = self._held + piece
        hits = [at for n in self._needles if (at := data.find(n)) >= 0]
        if hits:
            at = min(hits) + 1
            self.found, self._held = True, b""
            return data[:at], data[at:]
        cut = max(len(data) - self._keep, 0)
        self._held = data[cut:]
        return data[:cut], None

    def rest(self) -> bytes:
        held, self._held = self._held, b""
        return held
