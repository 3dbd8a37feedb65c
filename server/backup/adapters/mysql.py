"""The MariaDB/MySQL adapter: dumps by the server's own dump tool, restores by its client
(both run by mysql_tools.py), under a GET_LOCK that dies with the connection that holds it."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, cast

import pymysql
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from server.backup.adapters import mysql_evidence, mysql_scratch
from server.backup.adapters.base import (
    DumpPlan,
    DumpResult,
    Progress,
    RestoreScript,
    SchemaObject,
    Tool,
)
from server.backup.adapters.credentials import ServerAddress, child_environment, client_options
from server.backup.adapters.mysql_parallel import ParallelLoad
from server.backup.adapters.mysql_parallel_dump import (
    AFTER_TABLES,
    ConsistencyLock,
    DumpMode,
    RangeDump,
    SplitDump,
    SplitTable,
    StreamCut,
    backup_connections,
    choose_table,
    release_when_open,
)
from server.backup.adapters.mysql_tools import (
    block_buffered,
    chunks,
    client_arguments,
    dies_with_us,
    dump_arguments,
    exit_reason,
    kill_on_cancel,
    stderr_tail,
    version_of,
    widen_pipe,
)
from server.backup.evidence import Evidence
from server.backup.splitter import DumpSplitter
from server.backup.stages import SectionSink
from server.errors import Conflict, ToolFailed
from server.settings import Settings
from server.units import format_bytes

log = logging.getLogger("lumbung.backup")

# Room left over on the backup folder's disk beyond the spooled ranges, for the file itself.
SPOOL_HEADROOM_BYTES = 16 << 20


def restore_connections(settings: Settings) -> int:
    """How many connections a restore loads over: the setting, else one per core, at least two
    (the database's own threads work while ours feed it) and at most four."""
    if settings.restore_connections is not None:
        return settings.restore_connections
    return min(4, max(2, os.cpu_count() or 2))


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# Privileges that let an account create views, triggers, routines and events for another
# account (MariaDB: SET USER from 10.5.2, SUPER before; MySQL 8: SET_USER_ID, SET_ANY_DEFINER).
_ANY_DEFINER = ("ALL PRIVILEGES", "SUPER", "SET USER", "SET_USER_ID", "SET_ANY_DEFINER")
_GLOBAL_GRANT = re.compile(r"GRANT (.+?) ON \*\.\* TO ")
_QUOTED = re.compile(r"`((?:[^`]|``)*)`")


_UNREADABLE_ADVICE = (
    "Let the account read routines (MariaDB: GRANT SELECT ON mysql.proc, or SHOW CREATE ROUTINE "
    "from 11.3; MySQL 8: GRANT SHOW_ROUTINE ON *.*), or back up as the routine's definer."
)


def _account(definer: str) -> tuple[str, str]:
    """`u`@`h` (a dump's DEFINER) or u@h (CURRENT_USER(), information_schema) -> (u, h); hosts
    compare without case, as the server compares them."""
    names = [n.replace("``", "`") for n in _QUOTED.findall(definer)]
    if definer.startswith("`") and names:
        user, host = names[0], names[1] if len(names) > 1 else ""
    else:
        user, _, host = definer.rpartition("@")
    return user, host.lower()


def _shown_account(account: tuple[str, str]) -> str:
    user, host = account
    return f"{_quote(user)}@{_quote(host)}" if host else _quote(user)


class MySQLAdapter:
    dialect = "mysql"

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self._settings = settings
        self._engine = engine
        self._address = ServerAddress.from_url(make_url(settings.resolved_database_url()))

    @property
    def database(self) -> str:
        return self._address.database

    # --- what the server says ------------------------------------------------------------
    async def server_version(self) -> tuple[str, str]:
        async with self._engine.connect() as connection:
            version = str(await connection.scalar(text("SELECT VERSION()")))
        return ("MariaDB" if "mariadb" in version.lower() else "MySQL", version)

    async def table_names(self) -> list[str]:
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT TABLE_NAME FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
                )
            )
            return sorted(str(row[0]) for row in rows)

    async def estimate_bytes(self, tables: list[str]) -> int:
        if not tables:
            return 0
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT TABLE_NAME, DATA_LENGTH FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = DATABASE()"
                )
            )
            sizes = {str(name): int(size or 0) for name, size in rows}
        return sum(sizes.get(name, 0) for name in tables)

    async def suspend_triggers(self, tables: list[str]) -> list[tuple[str, str]]:
        if not tables:
            return []
        saved: list[tuple[str, str]] = []
        async with self._engine.begin() as connection:
            names = await connection.execute(
                text(
                    "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS "
                    "WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY ACTION_ORDER"
                )
            )
            for name, table in names.all():
                if table not in tables:
                    continue
                row = (await connection.execute(text(f"SHOW CREATE TRIGGER {_quote(name)}"))).one()
                saved.append((str(row[1]), str(row[2])))  # sql_mode, SQL Original Statement
                await connection.execute(text(f"DROP TRIGGER {_quote(name)}"))
        return saved

    async def resume_triggers(self, saved: list[tuple[str, str]]) -> None:
        if not saved:
            return
        async with self._engine.begin() as connection:
            for sql_mode, statement in saved:
                await connection.execute(text("SET SESSION sql_mode = :mode"), {"mode": sql_mode})
                await connection.exec_driver_sql(statement.replace("%", "%%"))

    async def definers_refused(self, definers: list[str]) -> list[str]:
        """Those of `definers` this account may not create objects for: any account but its
        own, unless it holds a privilege that allows any definer."""
        if not definers:
            return []
        async with self._engine.connect() as connection:
            me = _account(str(await connection.scalar(text("SELECT CURRENT_USER()"))))
            others = sorted({_account(d) for d in definers} - {me})
            if not others:
                return []
            # MariaDB lists the active role's grants here too (a test holds it to that).
            grants = [str(row[0]) for row in await connection.execute(text("SHOW GRANTS"))]
        for grant in grants:
            found = _GLOBAL_GRANT.match(grant)
            if found and any(p in found.group(1).upper() for p in _ANY_DEFINER):
                return []
        return [_shown_account(account) for account in others]

    async def live_definers(self, tables: list[str], *, everything: bool) -> list[str]:
        found: set[str] = set()
        async with self._engine.connect() as connection:
            triggers = await connection.execute(
                text(
                    "SELECT DEFINER, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS "
                    "WHERE TRIGGER_SCHEMA = DATABASE()"
                )
            )
            found.update(str(definer) for definer, table in triggers if table in tables)
            if everything:
                others = await connection.execute(
                    text(
                        "SELECT DEFINER FROM information_schema.VIEWS "
                        "WHERE TABLE_SCHEMA = DATABASE() "
                        "UNION SELECT DEFINER FROM information_schema.ROUTINES "
                        "WHERE ROUTINE_SCHEMA = DATABASE() "
                        "UNION SELECT DEFINER FROM information_schema.EVENTS "
                        "WHERE EVENT_SCHEMA = DATABASE()"
                    )
                )
                found.update(str(row[0]) for row in others)
        return sorted(found)

    def empty_table_statement(self, table: str) -> bytes:
        return f"DELETE FROM {_quote(table)};\n".encode()  # noqa: S608 - a quoted identifier

    async def schema_objects(self) -> list[SchemaObject]:
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT IF(TABLE_TYPE = 'VIEW', 'VIEW', 'TABLE'), TABLE_NAME, NULL "
                    "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                    "UNION ALL SELECT 'TRIGGER', TRIGGER_NAME, EVENT_OBJECT_TABLE "
                    "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
                    "UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME, NULL "
                    "FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() "
                    "UNION ALL SELECT 'EVENT', EVENT_NAME, NULL "
                    "FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()"
                )
            )
            return sorted(SchemaObject(str(kind), str(name), table) for kind, name, table in rows)

    async def drop_objects(self, objects: list[SchemaObject]) -> None:
        if not objects:
            return
        async with self._engine.begin() as connection:
            await connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            # Views before the tables they may read; the rest in any order.
            for item in sorted(objects, key=lambda o: o.kind != "VIEW"):
                await connection.execute(text(f"DROP {item.kind} IF EXISTS {_quote(item.name)}"))

    async def drop_tables(self, tables: list[str]) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            for name in tables:
                await connection.execute(text(f"DROP TABLE IF EXISTS {_quote(name)}"))

    # --- one job at a time, across processes and machines ----------------------------------
    @asynccontextmanager
    async def job_lock(self) -> AsyncIterator[None]:
        name = f"lumbung:{self.database}"
        if len(name) > 64:  # GET_LOCK names are at most 64 characters
            name = "lumbung:" + hashlib.sha256(self.database.encode()).hexdigest()[:40]
        # A dedicated connection: the lock lives exactly as long as it does, so a killed
        # process (or a lost connection) frees it.
        async with self._engine.connect() as connection:
            got = await connection.scalar(text("SELECT GET_LOCK(:name, 0)"), {"name": name})
            if got != 1:
                raise Conflict("Another backup or restore is running on this database.")
            try:
                yield
            finally:
                await connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})

    # --- dump --------------------------------------------------------------------------------
    def _dump_arguments(self, plan: DumpPlan, options: str) -> list[str]:
        return dump_arguments(self._settings.dump_command, self.database, plan, options)

    def dump(
        self,
        plan: DumpPlan,
        sections: SectionSink,
        progress: Progress,
        cancel: threading.Event,
        *,
        evidence: bool = False,
    ) -> DumpResult:
        snapshot = None
        if evidence and plan.include_data and plan.tables:
            # Opened before the dump starts: see mysql_evidence.py for why and how.
            snapshot = mysql_evidence.SnapshotEvidence(
                self._address, plan.tables, objects=plan.full, alongside=True
            )
            snapshot.open()
        try:
            result = self._dump(plan, sections, progress, cancel, snapshot)
        except BaseException:
            if snapshot is not None:
                snapshot.abandon()
            raise
        if snapshot is not None:
            return replace(result, evidence=snapshot.finish())
        if evidence:
            # Nothing to checksum (schema only): the definitions still count.
            return replace(
                result,
                evidence=self.measure(self.database, plan.tables, data=False, objects=plan.full),
            )
        return result

    def _split_table(self, plan: DumpPlan) -> tuple[SplitTable | None, DumpMode]:
        """The table to dump in ranges over several connections, if any (see
        mysql_parallel_dump.py)."""
        connections = backup_connections(self._settings.backup_connections)
        if connections < 2 or not plan.include_data or not plan.tables:
            return None, DumpMode()
        minimum = 2 * (self._settings.backup_chunk_mib << 20)
        try:
            table = choose_table(self._address, plan.tables, connections, minimum)
        except pymysql.Error as exc:
            return None, DumpMode(reason=f"the tables could not be sized (error {exc.args[0]})")
        if table is None:
            return None, DumpMode(
                reason=f"no table with a one-column integer primary key holds "
                f"{minimum >> 20} MiB or more"
            )
        if not plan.full and plan.tables == [table.name]:
            return None, DumpMode(reason="a backup of one table is dumped by one connection")
        # The ranges wait in the backup folder until the table's turn: about its data's size.
        needed = table.data_bytes + SPOOL_HEADROOM_BYTES
        free = shutil.disk_usage(self._settings.backup_dir).free
        if free < needed:
            return None, DumpMode(
                reason=f"the backup folder's disk has {format_bytes(free)} free, and the "
                f"ranges of {table.name} need about {format_bytes(needed)} there"
            )
        return table, DumpMode()

    def _range_arguments(
        self, plan: DumpPlan, table: str, where: str, options: str, *, first: bool
    ) -> list[str]:
        """A range's mariadb-dump: the first one writes the table's structure and triggers
        too (when the plan takes the schema), the others only rows."""
        one = DumpPlan(
            full=False,
            tables=[table],
            exclude=[],
            include_schema=plan.include_schema and first,
            include_data=True,
        )
        arguments = self._dump_arguments(one, options)
        end = arguments.index("--")
        return [*arguments[:end], f"--where={where}", *arguments[end:]]

    def _dump(
        self,
        plan: DumpPlan,
        sections: SectionSink,
        progress: Progress,
        cancel: threading.Event,
        snapshot: mysql_evidence.SnapshotEvidence | None,
    ) -> DumpResult:
        split_table, mode = self._split_table(plan)
        lock: ConsistencyLock | None = None
        if split_table is not None:
            lock = ConsistencyLock(self._address, plan.tables)
            if lock.acquire() is None:
                log.warning(
                    "backup dumped by one connection",
                    extra={"event": "backup.single_connection", "reason": lock.reason},
                )
                split_table, mode, lock = None, DumpMode(reason=lock.reason), None
            else:
                tables = [t for t in plan.tables if t != split_table.name]
                mode = DumpMode(str(lock.mode), len(split_table.ranges) + 1, split_table.name)
                plan = replace(plan, tables=tables, exclude=[*plan.exclude, split_table.name])
        try:
            return self._dump_with(
                plan, sections, progress, cancel, snapshot, split_table, lock, mode
            )
        finally:
            if lock is not None:
                lock.release()  # however the dump ended (the tool missing, say): never held on

    def _dump_with(
        self,
        plan: DumpPlan,
        sections: SectionSink,
        progress: Progress,
        cancel: threading.Event,
        snapshot: mysql_evidence.SnapshotEvidence | None,
        split_table: SplitTable | None,
        lock: ConsistencyLock | None,
        mode: DumpMode,
    ) -> DumpResult:
        split: SplitDump | None = None
        dump_open = threading.Event()  # the main dump's snapshot is open
        # The tool's stderr goes to a file without a name (O_TMPFILE): nothing to leave behind.
        with client_options(self._address) as options, tempfile.TemporaryFile() as stderr:
            arguments = self._dump_arguments(plan, options.path)
            process = subprocess.Popen(  # noqa: S603 - no shell; names after `--`
                dies_with_us(block_buffered(arguments)),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=child_environment(),
                pass_fds=options.pass_fds,
            )
            current: list[str | None] = [None]

            def on_section(kind: str, table: str | None) -> None:
                current[0] = table if kind == "table" else None
                # The dump lists its tables only after opening its snapshot.
                dump_open.set()
                if snapshot is not None:
                    snapshot.dump_has_snapshot()

            splitter = DumpSplitter(
                sections, on_section, chunk_bytes=self._settings.backup_chunk_mib << 20
            )
            watcher = kill_on_cancel(process, cancel)
            cut = StreamCut(AFTER_TABLES) if split_table is not None else None
            try:
                if split_table is not None and lock is not None:
                    split = SplitDump(split_table)
                    for index, where in enumerate(split_table.ranges):
                        range_arguments = self._range_arguments(
                            plan, split_table.name, where, options.path, first=index == 0
                        )
                        split.ranges.append(
                            RangeDump(
                                range_arguments,
                                options.pass_fds,
                                self._settings.backup_dir,
                                split_table.name,
                                cancel,
                            )
                        )
                    release_when_open(lock, [dump_open, *(r.snapshot for r in split.ranges)])
                stdout = cast(io.BufferedReader, process.stdout)
                widen_pipe(stdout.fileno())
                for chunk in chunks(stdout):
                    before, after = (chunk, None) if cut is None else cut.feed(chunk)
                    splitter.feed(before)
                    if after is not None and split is not None:
                        # The other tables are done: the split table goes here, whole. (The
                        # dump's output is past its header: its snapshot is open.)
                        dump_open.set()
                        current[0] = split.table.name
                        for piece in split.stream():
                            splitter.feed(piece)
                            progress(sql_bytes=splitter.bytes_in, table=current[0])
                        splitter.feed(after)
                    progress(sql_bytes=splitter.bytes_in, table=current[0])
                dump_open.set()
                if cut is not None:
                    splitter.feed(cut.rest())
                returncode = process.wait()
            except BaseException:
                process.kill()
                process.wait()
                raise
            finally:
                dump_open.set()
                watcher.set()
                if process.stdout is not None:
                    process.stdout.close()
                if split is not None:
                    split.stop()
                    split.close()
            completed = splitter.finish()
            errors = stderr_tail(stderr)
            if cut is not None and not cut.found and returncode == 0:
                completed = False
        tool_name = Path(arguments[0]).name
        # A routine the account may not read: MariaDB 10.11's tool stops with an error; others
        # write a comment instead of it and exit 0, and the backup would silently lack it.
        unreadable = bool(splitter.unreadable) or "insufficient privileges" in errors.lower()
        advice = f" {_UNREADABLE_ADVICE}" if unreadable else ""
        if cancel.is_set():
            raise ToolFailed(f"{tool_name} was stopped: the job was cancelled.")
        if returncode != 0:
            raise ToolFailed(
                f"{tool_name} failed ({exit_reason(returncode)}): {errors or 'no message'}{advice}"
            )
        if not completed:
            raise ToolFailed(
                f"{tool_name} ended without its completion line: the dump is truncated."
            )
        if unreadable:
            missing = ", ".join(splitter.unreadable) or errors
            raise ToolFailed(
                f"{tool_name} left out {missing}: this database account may not read its "
                f"definition, and the backup would lack it.{advice}"
            )
        if errors and "error" in errors.lower():
            raise ToolFailed(f"{tool_name} reported: {errors}")
        return DumpResult(Tool(tool_name, version_of(arguments[0])), splitter.rows, None, mode)

    # --- restore -----------------------------------------------------------------------------
    def restore(
        self,
        script: RestoreScript,
        progress: Progress,
        cancel: threading.Event,
        *,
        into: str | None = None,
    ) -> None:
        connections = restore_connections(self._settings)
        if connections > 1 and script.reader is not None and script.include_data:
            with client_options(self._address) as options:
                ParallelLoad(
                    self._address,
                    client_arguments(self._settings.client_command, options.path),
                    options.pass_fds,
                    into or self.database,
                    script,
                    progress,
                    cancel,
                    connections=connections,
                    empty_table=self.empty_table_statement,
                ).run()
            return
        with client_options(self._address) as options, tempfile.TemporaryFile() as stderr:
            arguments = client_arguments(self._settings.client_command, options.path)
            process = subprocess.Popen(  # noqa: S603 - no shell, no user input in argv
                dies_with_us(arguments),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=child_environment(),
                pass_fds=options.pass_fds,
            )
            watcher = kill_on_cancel(process, cancel)
            assert process.stdin is not None
            stdin: IO[bytes] = process.stdin
            widen_pipe(stdin.fileno())
            written = 0
            try:
                # The database is named on stdin, never in argv.
                stdin.write(f"USE {_quote(into or self.database)};\n".encode())
                for table, chunk in script.chunks():
                    stdin.write(chunk)
                    written += len(chunk)
                    progress(sql_bytes=written, table=table)
                stdin.close()
            except BrokenPipeError:
                pass  # the client stopped reading: its exit status and stderr say why
            except BaseException:
                process.kill()
                process.wait()
                raise
            finally:
                # The client may have died already: then there is nothing left to flush into.
                with contextlib.suppress(OSError):
                    stdin.close()
                returncode = process.wait()
                watcher.set()
            errors = stderr_tail(stderr)
        if cancel.is_set():
            raise ToolFailed("The restore was stopped: the job was cancelled.")
        if returncode != 0:
            raise ToolFailed(
                f"{Path(arguments[0]).name} failed ({exit_reason(returncode)}): "
                f"{errors or 'no message'}"
            )

    # --- restore drills ------------------------------------------------------------------------
    def scratch(self, name: str | None) -> AbstractAsyncContextManager[str]:
        return mysql_scratch.scratch_database(self._engine, self.database, name)

    async def drop_leftover_scratch(self, name: str | None) -> None:
        await mysql_scratch.drop_leftover(
            self._engine, mysql_scratch.scratch_name(self.database, name)
        )

    def measure(self, target: str, tables: list[str], *, data: bool, objects: bool) -> Evidence:
        return mysql_evidence.measure(self._address, target, tables, data=data, objects=objects)
