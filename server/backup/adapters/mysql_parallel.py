"""A MariaDB/MySQL restore over several connections at once, in four steps:

1. structure   on one connection, in file order: each table's structure, its secondary and
               full-text indexes left out (mysql_keys.py), and the stand-ins of views
2. rows        over N connections: every table's rows and every chunk of a large table's
               rows, largest first, each connection taking the next as it finishes one
3. indexes     over N connections: one ALTER TABLE per table adds the indexes left out
4. the rest    on one connection, in file order: the tables' triggers, then the views,
               events and routines (and the dump's closing lines)

Each connection is a `mariadb` client fed on its stdin by a thread of ours, as a restore
through one connection is (its options from the same memfd, never in argv), and each starts
with the dump's own header: `FOREIGN_KEY_CHECKS=0`, `UNIQUE_CHECKS=0`, the character set, the
time zone and the SQL mode of the dump. A table lock is left out (mysql_parts.py), or the
connections loading one table's chunks would wait for each other.

A failure anywhere (a statement refused, a client killed, a damaged frame) stops every
connection at once, and the restore fails with the first one's message; the caller then
rolls back as after a failed restore through one connection. Progress counts the SQL read
from the file by all connections together, under one lock, so it never goes back.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

from server.backup.adapters.base import Progress, RestoreScript, SectionReader
from server.backup.adapters.credentials import child_environment
from server.backup.adapters.mysql_keys import Deferred, defer_keys, foreign_key_columns
from server.backup.adapters.mysql_parts import AFTER, ROWS, STRUCTURE, structure_of, table_parts
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

    def write(self, data: bytes) -> None:
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


Task = Callable[[_Client, SectionReader], None]


class ParallelLoad:
    def __init__(
        self,
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
        self._count(sum(s.sql_bytes for s in sections if s.kind == "header"), None)
        foreign = foreign_key_columns(structures)
        deferred = {table: defer_keys(ddl, foreign) for table, ddl in structures.items()}
        watcher = threading.Thread(target=self._watch_cancel, daemon=True)
        watcher.start()
        try:
            before = sorted(
                [*firsts.values(), *(s for s in others if s.offset < data_end)],
                key=lambda s: s.offset,
            )
            self._step([self._structure_task(before, deferred)], 1)
            self._step(self._rows_tasks(sections), self._connections)
            self._step(self._index_tasks(sections, deferred), self._connections)
            after = [s for s in others if s.offset > data_end]
            self._step([self._rest_task(after)], 1)
        finally:
            self._stop.set()
            watcher.join()

    def _structure_task(self, before: Sequence[Section], deferred: dict[str, Deferred]) -> Task:
        def task(client: _Client, read: SectionReader) -> None:
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
        def load(section: Section) -> Task:
            def task(client: _Client, read: SectionReader) -> None:
                start = STRUCTURE if section.kind == "table" else ROWS
                for part, sql in table_parts(read(section), start):
                    if part == ROWS:
                        client.write(sql)
                    elif part == AFTER:
                        with self._lock:
                            self._trailers.setdefault(section.offset, []).append(sql)
                    self._count(len(sql), section.table)

            return task

        tables = [s for s in sections if s.kind in ("table", "rows")]
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
        def task(client: _Client, read: SectionReader) -> None:
            for offset in sorted(self._trailers):
                client.write(b"".join(self._trailers[offset]))
            for section in after:
                for piece in read(section):
                    client.write(piece)
                    self._count(len(piece), None)

        return task

    # --- connections -----------------------------------------------------------------------
    def _step(self, tasks: list[Task], connections: int) -> None:
        """Run `tasks` over up to `connections` clients, each taking the next task in turn."""
        if not tasks:
            return
        queue = deque(tasks)
        workers = [
            threading.Thread(target=self._worker, args=(queue,), name="lumbung-restore-load")
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

    def _worker(self, queue: deque[Task]) -> None:
        client: _Client | None = None
        try:
            with self._reader() as read:
                with self._lock:
                    if self._stop.is_set():
                        return
                    client = _Client(self._arguments, self._pass_fds, self._preamble)
                    self._clients.append(client)
                while not self._stop.is_set():
                    with self._lock:
                        task = queue.popleft() if queue else None
                    if task is None:
                        break
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

    def _fail(self, error: BaseException) -> None:
        """The first failure stops every connection; the ones it stops are not failures."""
        with self._lock:
            if self._stop.is_set():
                return
            self._error = error
            self._stop.set()
            for client in self._clients:
                client.kill()

    def _watch_cancel(self) -> None:
        while not self._stop.is_set():
            if self._cancel.wait(0.2):
                with self._lock:
                    self._stop.set()
                    for client in self._clients:
                        client.kill()
                return

    def _count(self, size: int, table: str | None) -> None:
        with self._lock:
            self._done += size
            self._progress(sql_bytes=self._done, table=table)
