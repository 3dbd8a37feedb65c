"""What a database adapter does for backups and restores: the contract that MariaDB/MySQL
(mysql.py) and SQLite (sqlite.py) each fulfil with their own means.

("Engine", in Lumbung, is only ever SQLAlchemy's engine; what knows how to dump, restore and
lock one kind of database is its adapter.)"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from server.backup.evidence import Evidence
from server.backup.manifest import Section
from server.backup.stages import SectionSink


@dataclass(frozen=True)
class DumpPlan:
    full: bool  # views, routines, triggers and events come along
    tables: list[str]  # the tables to dump, by their real names
    exclude: list[str]  # tables never dumped (Lumbung's catalog), for a FULL dump
    include_schema: bool
    include_data: bool


@dataclass(frozen=True)
class Tool:
    name: str
    version: str


class DumpModeInfo(Protocol):
    def to_json(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class DumpResult:
    tool: Tool
    rows: dict[str, int]  # the exact row count of every dumped table
    evidence: Evidence | None  # None when the adapter was not asked for it
    # How the dump was made (connections, the lock that made their snapshots one), as the
    # manifest records it; None for an adapter with one way only.
    mode: DumpModeInfo | None = None


class Progress(Protocol):
    def __call__(self, *, sql_bytes: int, table: str | None) -> None: ...


@dataclass(frozen=True, order=True)
class SchemaObject:
    """One named object of the database: a TABLE, VIEW, TRIGGER (on `table`), PROCEDURE,
    FUNCTION or EVENT."""

    kind: str
    name: str
    table: str | None = None

    def to_json(self) -> list[str | None]:
        return [self.kind, self.name, self.table]

    @classmethod
    def from_json(cls, value: list[str | None]) -> SchemaObject:
        kind, name, *rest = value
        return cls(str(kind), str(name), rest[0] if rest else None)


# Reads one section's SQL, decompressed, in pieces.
SectionReader = Callable[[Section], Iterator[bytes]]


@dataclass(frozen=True)
class RestoreScript:
    """What a restore feeds to the database: SQL in chunks, with the table each chunk is for.
    An adapter that loads over several connections reads the same `sections` itself, each
    connection through a `reader()` of its own."""

    chunks: Callable[[], Iterator[tuple[str | None, bytes]]]
    tables: list[str]
    full: bool
    data_only: bool = False
    sections: list[Section] = field(default_factory=list)  # the chosen ones, in file order
    reader: Callable[[], AbstractContextManager[SectionReader]] | None = None
    include_data: bool = True


class DatabaseAdapter(Protocol):
    dialect: str

    async def server_version(self) -> tuple[str, str]:
        """(engine, version), e.g. ("MariaDB", "10.11.6-MariaDB")."""
        ...

    async def table_names(self) -> list[str]: ...

    async def estimate_bytes(self, tables: list[str]) -> int:
        """Roughly how much SQL dumping these tables produces."""
        ...

    def job_lock(self) -> AbstractAsyncContextManager[None]:
        """Held while a backup or restore runs; raises Conflict when another one holds it.
        The lock dies with its holder (a killed process never leaves it taken)."""
        ...

    def dump(
        self,
        plan: DumpPlan,
        sections: SectionSink,
        progress: Progress,
        cancel: threading.Event,
        *,
        evidence: bool = False,
    ) -> DumpResult:
        """Write the dump into `sections` (blocking: runs in a worker thread); returns the tool,
        the exact row count of every dumped table and, with `evidence`, the evidence of the
        dump's snapshot (server/backup/evidence.py)."""
        ...

    def restore(
        self,
        script: RestoreScript,
        progress: Progress,
        cancel: threading.Event,
        *,
        into: str | None = None,
    ) -> None:
        """Apply a restore script (blocking: runs in a worker thread), to the live database or,
        with `into`, to a scratch target that `scratch()` made."""
        ...

    def scratch(self, name: str | None) -> AbstractAsyncContextManager[str]:
        """A scratch target for a restore drill (a database, or a SQLite file), made empty
        and dropped on exit; yields what `restore(into=)` and `measure()` take. `name` is the
        configured scratch database (None: the adapter's default). Never the live database."""
        ...

    async def drop_leftover_scratch(self, name: str | None) -> None:
        """Drop a scratch target that a dead process left behind (at start, under the lock)."""
        ...

    def measure(self, target: str, tables: list[str], *, data: bool, objects: bool) -> Evidence:
        """The evidence of a scratch target as it is now, measured like a dump's (blocking)."""
        ...

    async def drop_tables(self, tables: list[str]) -> None: ...

    async def schema_objects(self) -> list[SchemaObject]:
        """Every table, view, trigger, routine and event of the database, as they are now."""
        ...

    async def drop_objects(self, objects: list[SchemaObject]) -> None:
        """Drop these objects (those that still exist)."""
        ...

    async def suspend_triggers(self, tables: list[str]) -> list[tuple[str, str]]:
        """Drop the triggers of `tables` and return what recreates them: a data-only restore
        writes the backup's rows, and live triggers must not rewrite them on the way in."""
        ...

    async def resume_triggers(self, saved: list[tuple[str, str]]) -> None: ...

    def empty_table_statement(self, table: str) -> bytes:
        """SQL that empties a table before a data-only section is restored into it."""
        ...

    async def definers_refused(self, definers: list[str]) -> list[str]:
        """Of these definers (accounts that views, triggers, routines and events run as), the
        ones this database account may not create objects for."""
        ...

    async def live_definers(self, tables: list[str], *, everything: bool) -> list[str]:
        """The definers of the live triggers on `tables`, and with `everything` of the live
        views, routines and events too."""
        ...
