"""A MariaDB/MySQL restore over several connections at once, in four steps:

1. structure   on one connection, in file order: each table's structure, its secondary and
               full-text indexes left out (mysql_keys.py), and the stand-ins of views
2. rows        over N connections: every table's rows and every chunk of a large table's
               rows, largest first, each connection taking the next as it finishes one
3. indexes     over N connections: one ALTER TABLE per table adds the indexes left out
4. the rest    on one connection, in file order: the tables' triggers, then the views,
               events and routines (and the dump's closing lines)

Steps 1 and 4 run through a `mariadb` client fed on its stdin, as a restore through one
connection does (its options from the memfd, never in argv): they hold what only the client
understands (DELIMITER, for triggers and routines). Steps 2 and 3 send their statements over
connections of our own (PyMySQL): the `mariadb` client reads every byte of its input to find
where statements end, which costs it about 10 CPU seconds per GB, more than all the rest of
our side together, on a machine where the database needs every core. A statement of rows
ends where a line ends with `;` (a value never holds a raw newline): the statements that end
in a piece of the file go as queries of several statements (at most 4 MiB each, under the
server's max_allowed_packet), and each connection commits once per section it loads. Every
connection starts with the dump's own header: `FOREIGN_KEY_CHECKS=0`, `UNIQUE_CHECKS=0`, the
character set, the time zone and the SQL mode of the dump. A table lock is left out
(mysql_parts.py), or the connections loading one table's chunks would wait for each other.

A failure anywhere (a statement refused, a client or a connection killed, a damaged frame)
stops every connection at once (a client is killed, a connection's statement with KILL), and
the restore fails with the first one's message; the caller then rolls back as after a failed
restore through one connection. Progress counts the SQL read
from the file by all connections together, under one lock, so it never goes back.
"""

from __future__ import annotations

import contextlib
import re
import struct
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any, Protocol

import pymysql

from server.backup.adapters.base import Progress, RestoreScript, SectionReader
from server.backup.adapters.credentials import ServerAddress, child_environment
from server.backup.adapters.mysql_evidence import connect
from server.backup.adapters.mysql_keys import Deferred, defer_keys, foreign_key_columns
from server.backup.adapters.mysql_parts import (
    AFTER,
    ROWS,
    STRUCTURE,
    Span,
    structure_of,
    table_parts,
)
from server.backup.adapters.mysql_tools import dies_with_us, exit_reason, stderr_tail, widen_pipe
from server.backup.manifest import Section
from server.errors import ToolFailed


class _Client:
    """One client process, fed on its stdin."""

    def __init__(self, arguments: list[str], pass_fds: tuple[int, ...], preamble: bytes) -> None:
        self.name = Path(arguments[0]).name
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.process = subprocess.Popen(  # noqa: S603 - no shell, no user input in argv
            dies_with_us(arguments),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=child_environment(),
            pass_fds=pass_fds,
        )
        assert self.process.stdin is not None
        self._stdin: IO[bytes] = self.process.stdin
        widen_pipe(self._stdin.fileno())
        self.write(preamble)

    def write(self, data: bytes | memoryview) -> None:
        self._stdin.write(data)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()

    def close(self) -> tuple[int, str]:
        """Let the client run what it was given and exit: (exit status, its stderr)."""
        with contextlib.suppress(OSError):
            self._stdin.close()
        returncode = self.process.wait()
        errors = stderr_tail(self._stderr)
        self._stderr.close()
        return returncode, errors


# The header's statements: one a line, between comment lines.
_COMMENT_LINES = re.compile(rb"^(?:--[^\n]*)?\n", re.M)
_STATEMENT_END = b";\n"
# The largest query of row statements: the server refuses one over its max_allowed_packet
# (16 MiB by default), and a piece of a well-compressed file can hold 64 MiB of SQL.
_QUERY_CAP = 4 << 20


def query_cap(server_packet_limit: int) -> int:
    """The bytes of row statements one query may hold, under the server's packet limit."""
    return max(1, min(_QUERY_CAP, server_packet_limit - 1024))


# The protocol's largest packet, and the command that runs a statement (PyMySQL's values).
_MAX_PACKET = 2**24 - 1
_COM_QUERY = 3


def header_statements(header: bytes) -> list[bytes]:
    """The dump header's statements (`/*!40101 SET NAMES utf8mb4 */`, ...), one by one."""
    text = _COMMENT_LINES.sub(b"", header)
    return [s.strip() for s in text.split(_STATEMENT_END) if s.strip()]


_CHARSETS = re.compile(rb"(?:CHARACTER SET |CHARSET=)(\w+)")


def utf8mb4_only(structure: bytes) -> bool:
    """Whether every text column of the table is utf8mb4 (the dump's own character set): then
    its rows may be sent as bytes (`SET NAMES binary`, as myloader does), which the server
    stores as they are without checking each string against the character set: a third less
    time per row here. Any other character set keeps `utf8mb4`, so that the server converts."""
    found = _CHARSETS.findall(structure.split(b"CREATE TABLE ", 1)[-1])
    return bool(found) and all(name == b"utf8mb4" for name in found)


class _Direct:
    """A connection of ours that runs the SQL written into it statement by statement."""

    name = "MariaDB"

    def __init__(self, address: ServerAddress, database: str, header: list[bytes]) -> None:
        self.connection = connect(address, database, multi_statements=True)
        self.connection.max_allowed_packet = 1 << 30  # the client's own check (a big row)
        self.id = int(self.connection.thread_id())  # type: ignore[no-untyped-call]
        for statement in header:
            self.connection.query(statement)
        self.query_cap = query_cap(self._server_packet_limit())
        self.connection.autocommit(False)
        self._pending: list[memoryview] = []  # the start of a statement that a later span ends
        self._unanswered = False  # a statement was sent and its answer not read yet
        self._names = b"utf8mb4"

    def _server_packet_limit(self) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT @@max_allowed_packet")
            row = cursor.fetchone()
        return int(row[0]) if row else _QUERY_CAP

    def names(self, charset: bytes) -> None:
        if charset != self._names:
            self._answer()
            self.connection.query(b"SET NAMES " + charset)
            self._names = charset

    def write(self, data: bytes | memoryview) -> None:
        """Run every statement that ends in `data` (any SQL); keep the start of one that
        does not."""
        text = bytes(data)
        view = memoryview(text)
        start = 0
        while (stop := text.find(_STATEMENT_END, start)) >= 0:
            self._send([*self._pending, view[start:stop]])
            self._pending = []
            start = stop + len(_STATEMENT_END)
        if start < len(text):
            self._pending.append(view[start:])

    def write_rows(self, span: Span) -> None:
        """Like write(), for a table's rows: INSERT statements and nothing else (see
        mysql_parts.py), whose rows may each take a line of their own. A statement ends
        where a line ends with `;` (a value never holds a raw newline), so the statements
        that end in the span go as queries of several statements (the connection allows
        them), each query up to `query_cap` bytes and cut by one search backwards from
        there; the rest waits for the span that ends it. A statement longer than the cap
        goes alone (the server takes it if mariadb-dump's client could send it). A search
        forwards for each statement's end (for `;\nINSERT INTO `) cost ~0.27 CPU seconds
        per GB, a sixth of our side's work."""
        data, start, end = span.data, span.start, span.end
        view = memoryview(data)
        while start < end:
            limit = start + self.query_cap - sum(len(part) for part in self._pending)
            if limit >= end:
                stop = data.rfind(_STATEMENT_END, start, end)
            else:
                stop = data.rfind(_STATEMENT_END, start, max(limit, start))
                if stop < 0:  # one statement longer than the cap: up to its end
                    stop = data.find(_STATEMENT_END, max(limit, start), end)
            if stop < 0:
                self._pending.append(view[start:end])
                return
            stop += len(_STATEMENT_END)
            self._send([*self._pending, view[start:stop]])
            self._pending = []
            start = stop

    def _send_pending(self) -> None:
        """Send the statement held back (whole lines, its last ending with `;`), if any,
        without joining its parts."""
        parts, self._pending = self._pending, []
        if parts and parts[-1][-2:] == _STATEMENT_END:
            parts[-1] = parts[-1][:-2]
            if sum(len(part) for part in parts):
                self._send(parts)
            return
        statement = b"".join(parts).strip().rstrip(b";")
        if statement:
            self._send([memoryview(statement)])

    def _send(self, parts: list[memoryview]) -> None:
        """One COM_QUERY of `parts`, handed to the socket as they are: a 1 MB statement is
        not copied three times on its way (each copy of a fresh 1 MB buffer costs its page
        faults: 2 CPU seconds per GB, measured). PyMySQL's own query() for what needs more
        than one packet.

        The query is sent before the answer to the one before it is read: the server finds
        it waiting when it finishes that one, instead of idling while this thread reads the
        answer, decompresses and cuts the next query (a tenth of the time per connection,
        measured). An INSERT's answer is a small OK packet, which the server writes without
        waiting for us, so neither side can block the other. Should that query fail, the
        one sent after it runs too: the load fails either way."""
        size = sum(len(part) for part in parts) + 1
        connection: Any = self.connection  # its packet layer: PyMySQL has no public one
        if size >= _MAX_PACKET:
            self._answer()
            connection.query(b"".join(parts))
            self._rest_of_answer()
            return
        connection._write_bytes(struct.pack("<iB", size, _COM_QUERY))
        for part in parts:
            connection._write_bytes(part)
        self._answer()
        self._unanswered = True

    def _answer(self) -> None:
        """Read the answer to the query last sent, if it is still unread (raises the first
        error of its statements)."""
        if self._unanswered:
            self._unanswered = False
            connection: Any = self.connection
            connection._next_seq_id = 1  # an answer's first packet
            connection._read_query_result()
            self._rest_of_answer()

    def _rest_of_answer(self) -> None:
        """The answers to the rest of a query's statements: one each (the server stops at
        the first that fails, and that answer raises)."""
        connection: Any = self.connection
        while connection._result is not None and connection._result.has_next:
            connection.next_result()

    def commit(self) -> None:
        self._send_pending()
        self._answer()
        self.connection.commit()

    def close(self) -> None:
        with contextlib.suppress(pymysql.Error, OSError):
            self.connection.close()


class _Writer(Protocol):
    def write(self, data: bytes | memoryview) -> None: ...


Task = Callable[[_Writer, SectionReader], None]


class ParallelLoad:
    def __init__(
        self,
        address: ServerAddress,
        arguments: list[str],
        pass_fds: tuple[int, ...],
        database: str,
        script: RestoreScript,
        progress: Progress,
        cancel: threading.Event,
        *,
        connections: int,
        empty_table: Callable[[str], bytes],
    ) -> None:
        assert script.reader is not None
        self._address = address
        self._database = database
        self._directs: list[_Direct] = []
        self._binary: set[str | None] = set()
        self._header: list[bytes] = []
        self._arguments = arguments
        self._pass_fds = pass_fds
        self._use = f"USE `{database.replace('`', '``')}`;\n".encode()
        self._script = script
        self._reader: Callable[[], AbstractContextManager[SectionReader]] = script.reader
        self._progress = progress
        self._cancel = cancel
        self._connections = connections
        self._empty_table = empty_table
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._clients: list[_Client] = []
        self._error: BaseException | None = None
        self._done = 0
        self._preamble = b""
        self._trailers: dict[int, list[bytes]] = {}

    # --- the four steps --------------------------------------------------------------------
    def run(self) -> None:
        sections = self._script.sections
        firsts = {s.table: s for s in sections if s.kind == "table" and s.table is not None}
        data_end = max((s.offset for s in sections if s.kind in ("table", "rows")), default=0)
        others = [s for s in sections if s.kind not in ("header", "table", "rows")]
        with self._reader() as read:
            self._preamble = self._use + b"".join(
                b"".join(read(s)) for s in sections if s.kind == "header"
            )
            structures = (
                {}
                if self._script.data_only
                else {table: structure_of(read(first)) for table, first in firsts.items()}
            )
        self._header = header_statements(self._preamble[len(self._use) :])
        self._count(sum(s.sql_bytes for s in sections if s.kind == "header"), None)
        foreign = foreign_key_columns(structures)
        deferred = {table: defer_keys(ddl, foreign) for table, ddl in structures.items()}
        self._binary = {table for table, ddl in structures.items() if utf8mb4_only(ddl)}
        threading.Thread(
            target=self._watch_cancel, name="lumbung-cancel-watch", daemon=True
        ).start()
        try:
            before = sorted(
                [*firsts.values(), *(s for s in others if s.offset < data_end)],
                key=lambda s: s.offset,
            )
            self._step([self._structure_task(before, deferred)], 1)
            self._step(self._rows_tasks(sections), self._connections, direct=True)
            self._step(self._index_tasks(sections, deferred), self._connections, direct=True)
            after = [s for s in others if s.offset > data_end]
            self._step([self._rest_task(after)], 1)
        finally:
            # The watcher sees this within 0.2 s and ends; a cancel from now on stops
            # nothing. Waiting for it cost every restore up to 0.2 s (the restore's times
            # fell on a 0.2 s grid in bench/RESULTS.md).
            with self._lock:
                self._stop.set()

    def _structure_task(self, before: Sequence[Section], deferred: dict[str, Deferred]) -> Task:
        def task(client: _Writer, read: SectionReader) -> None:
            for section in before:
                if section.kind != "table":
                    for piece in read(section):
                        client.write(piece)
                        self._count(len(piece), None)
                elif section.table in deferred:
                    client.write(deferred[section.table].ddl)
                elif section.table is not None:  # a data-only backup replaces the rows
                    client.write(self._empty_table(section.table))

        return task

    def _rows_tasks(self, sections: Sequence[Section]) -> list[Task]:
        tables = [s for s in sections if s.kind in ("table", "rows")]
        last: dict[str | None, int] = {}  # each table's last section
        for section in tables:
            last[section.table] = max(last.get(section.table, -1), section.offset)

        def load(section: Section) -> Task:
            def task(client: _Writer, read: SectionReader) -> None:
                if isinstance(client, _Direct):
                    client.names(b"binary" if section.table in self._binary else b"utf8mb4")
                start = STRUCTURE if section.kind == "table" else ROWS
                is_last = last[section.table] == section.offset
                for part, sql in table_parts(read(section), start, last=is_last):
                    if part == ROWS:
                        if isinstance(client, _Direct):
                            client.write_rows(sql)
                        else:
                            client.write(sql.view())
                    elif part == AFTER:
                        with self._lock:
                            self._trailers.setdefault(section.offset, []).append(bytes(sql))
                    self._count(sql.size, section.table)

            return task

        return [load(s) for s in sorted(tables, key=lambda s: s.sql_bytes, reverse=True)]

    def _index_tasks(
        self, sections: Sequence[Section], deferred: dict[str, Deferred]
    ) -> list[Task]:
        size: dict[str, int] = {}
        for section in sections:
            if section.table is not None and section.kind in ("table", "rows"):
                size[section.table] = size.get(section.table, 0) + section.sql_bytes

        def build(alter: bytes) -> Task:
            return lambda client, read: client.write(alter)

        alters = sorted(
            ((t, d.alter) for t, d in deferred.items() if d.alter), key=lambda i: -size.get(i[0], 0)
        )
        return [build(alter) for _, alter in alters]

    def _rest_task(self, after: Sequence[Section]) -> Task:
        def task(client: _Writer, read: SectionReader) -> None:
            for offset in sorted(self._trailers):
                client.write(b"".join(self._trailers[offset]))
            for section in after:
                for piece in read(section):
                    client.write(piece)
                    self._count(len(piece), None)

        return task

    # --- connections -----------------------------------------------------------------------
    def _step(self, tasks: list[Task], connections: int, *, direct: bool = False) -> None:
        """Run `tasks` over up to `connections` clients (or, `direct`, connections of ours),
        each taking the next task in turn."""
        if not tasks:
            return
        queue = deque(tasks)
        target = self._direct_worker if direct else self._worker
        workers = [
            threading.Thread(target=target, args=(queue,), name="lumbung-restore-load")
            for _ in range(min(connections, len(tasks)))
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if self._error is not None:
            raise self._error
        if self._cancel.is_set():
            raise ToolFailed("The restore was stopped: the job was cancelled.")

    def _next(self, queue: deque[Task]) -> Task | None:
        with self._lock:
            return None if self._stop.is_set() or not queue else queue.popleft()

    def _worker(self, queue: deque[Task]) -> None:
        client: _Client | None = None
        try:
            with self._reader() as read:
                with self._lock:
                    if self._stop.is_set():
                        return
                    client = _Client(self._arguments, self._pass_fds, self._preamble)
                    self._clients.append(client)
                while (task := self._next(queue)) is not None:
                    task(client, read)
        except BrokenPipeError:
            pass  # the client stopped reading: its exit status and stderr say why
        except BaseException as exc:
            self._fail(exc)
        finally:
            if client is not None:
                returncode, errors = client.close()
                if returncode != 0:
                    self._fail(
                        ToolFailed(
                            f"{client.name} failed ({exit_reason(returncode)}): "
                            f"{errors or 'no message'}"
                        )
                    )

    def _direct_worker(self, queue: deque[Task]) -> None:
        direct: _Direct | None = None
        try:
            with self._reader() as read:
                direct = _Direct(self._address, self._database, self._header)
                with self._lock:
                    self._directs.append(direct)
                if self._stop.is_set():
                    return
                while (task := self._next(queue)) is not None:
                    task(direct, read)
                    direct.commit()
        except pymysql.Error as exc:
            code, _, message = str(exc).strip("()").partition(", ")
            self._fail(ToolFailed(f"Loading the rows failed: ERROR {code}: {message}"))
        except BaseException as exc:
            self._fail(exc)
        finally:
            if direct is not None:
                direct.close()

    def _fail(self, error: BaseException) -> None:
        """The first failure stops every connection; the ones it stops are not failures."""
        with self._lock:
            if self._stop.is_set():
                return
            self._error = error
        self._halt()

    def _halt(self, *, unless_stopped: bool = False) -> None:
        """Stop every client and every connection's running statement, at once
        (`unless_stopped`: not if the load has stopped already, failed or done)."""
        with self._lock:
            if unless_stopped and self._stop.is_set():
                return
            self._stop.set()
            clients, ids = list(self._clients), [d.id for d in self._directs]
        for client in clients:
            client.kill()
        if ids:
            with contextlib.suppress(pymysql.Error, OSError):
                side = connect(self._address)
                try:
                    for thread in ids:
                        with contextlib.suppress(pymysql.Error):
                            side.query(f"KILL {int(thread)}")
                finally:
                    side.close()

    def _watch_cancel(self) -> None:
        while not self._stop.is_set():
            if self._cancel.wait(0.2):
                self._halt(unless_stopped=True)
                return

    def _count(self, size: int, table: str | None) -> None:
        with self._lock:
            self._done += size
            self._progress(sql_bytes=self._done, table=table)
