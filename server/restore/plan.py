"""What a restore will do, decided before anything is touched: which sections of the verified
backup go in, whether the database account may create what they hold, and the SQL they make."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from server.backup.adapters.base import (
    DatabaseAdapter,
    RestoreScript,
    SchemaObject,
    SectionReader,
)
from server.backup.files import BackupFolder
from server.backup.manifest import Manifest, Section
from server.backup.plan import CATALOG_TABLES, shown_names
from server.backup.sections import read_section
from server.db.enums import BackupType
from server.db.models import Backup
from server.encryption.keyring import Keyring
from server.errors import BadUserInput


@dataclass(frozen=True)
class RestorePlan:
    backup: Backup
    manifest: Manifest
    tables: list[str]  # the table sections to restore
    everything: bool  # also views, events and routines (a whole FULL backup)
    safety_backup: bool
    keyring: Keyring | None = None  # what opens an encrypted backup


def plan_restore(
    backup: Backup, manifest: Manifest, tables: list[str] | None, *, safety_backup: bool
) -> RestorePlan:
    """The tables of the backup to restore (all but Lumbung's catalog when none are named),
    or BadUserInput naming those it does not hold or may not overwrite."""
    catalog = set(CATALOG_TABLES)
    held = manifest.table_sections()
    available = [t for t in held if t not in catalog]
    if tables:
        wanted = list(dict.fromkeys(tables))
        unknown = [t for t in wanted if t not in held]
        if unknown:
            raise BadUserInput(
                f"Not in this backup: {shown_names(unknown)}. It holds {shown_names(available)}."
            )
        refused = [t for t in wanted if t in catalog]
        if refused:
            raise BadUserInput(
                f"{shown_names(refused)}: Lumbung's own catalog is never overwritten."
            )
    else:
        wanted = available
    return RestorePlan(
        backup=backup,
        manifest=manifest,
        tables=wanted,
        everything=not tables and manifest.backup_type == BackupType.FULL.value,
        safety_backup=safety_backup,
    )


def restore_bytes(plan: RestorePlan) -> int:
    """The SQL bytes a restore feeds to the database (its progress total)."""
    return sum(
        s.sql_bytes
        for s in plan.manifest.sections
        if s.kind not in ("table", "rows") or s.table in plan.tables
    )


def restore_sections(
    manifest: Manifest, tables: list[str], everything: bool, *, events: bool = True
) -> list[Section]:
    """The sections a restore of `tables` feeds to the database, in file order (with views,
    events and routines when it restores `everything`; without events if not `events`)."""
    wanted = set(tables)
    objects = ("view", "events", "routines") if events else ("view", "routines")
    return [
        s
        for s in sorted(manifest.sections, key=lambda s: s.offset)
        if s.kind in ("header", "footer")
        or (s.kind in ("table", "rows") and s.table in wanted)
        or (everything and s.kind in objects)
    ]


async def require_definers_allowed(
    adapter: DatabaseAdapter,
    manifest: Manifest,
    tables: list[str],
    *,
    everything: bool,
    rollback: bool,
) -> None:
    """Refuse, before anything is touched, a restore that would have to create a view,
    trigger, routine or event for an account that this database account may not act for. It
    would fail halfway otherwise, after dropping what it replaces. With `rollback` (a safety
    backup is taken), what the safety backup would put back counts too: a rollback that fails
    the same way would leave the database half restored."""
    sections = restore_sections(manifest, tables, everything)
    if any(s.definers is None for s in sections):
        return  # written before Lumbung recorded definers: the restore itself will say
    definers = {d for s in sections for d in s.definers or []}
    if rollback or not manifest.include_schema:
        # A data-only restore suspends the live triggers and creates them again afterwards.
        definers.update(await adapter.live_definers(tables, everything=everything and rollback))
    refused = await adapter.definers_refused(sorted(definers))
    if refused:
        raise BadUserInput(
            "This restore would create views, triggers, routines or events defined by "
            f"{', '.join(refused)}, and Lumbung's database account may create them only for "
            "itself. Nothing was changed. Grant the account SET USER (MariaDB 10.5.2+; SUPER "
            "before) or SET_USER_ID (MySQL 8), or restore as that account."
        )


def restore_script(
    folder: BackupFolder,
    adapter: DatabaseAdapter,
    filename: str,
    manifest: Manifest,
    tables: list[str],
    everything: bool,
    keyring: Keyring | None = None,
    *,
    events: bool = True,
) -> RestoreScript:
    """The SQL of the chosen sections, read from the file as the restore consumes it. From an
    encrypted file, only the 64 KiB chunks that hold the chosen sections are decrypted: a
    one-table restore reads that table's part of the file, not all of it."""
    sections = restore_sections(manifest, tables, everything, events=events)

    @contextmanager
    def reader() -> Iterator[SectionReader]:
        with folder.open_backup(filename) as raw:
            handle = raw
            if manifest.encryption is not None:
                assert keyring is not None, "an encrypted backup is opened with its keyring"
                handle = keyring.open(
                    raw,
                    size=os.fstat(raw.fileno()).st_size,
                    what=f"backup {filename}",
                    recipients=manifest.encryption.recipients,
                ).reader
            yield lambda section: read_section(handle, section, manifest.compression)

    def chunks() -> Iterator[tuple[str | None, bytes]]:
        with reader() as read:
            for section in sections:
                if section.kind == "table" and section.table and not manifest.include_schema:
                    # A data-only backup replaces the rows: empty the table first.
                    yield section.table, adapter.empty_table_statement(section.table)
                for chunk in read(section):
                    yield section.table, chunk

    return RestoreScript(
        chunks=chunks,
        tables=tables,
        full=everything,
        data_only=not manifest.include_schema,
        sections=sections,
        reader=reader,
        include_data=manifest.include_data,
    )


def created_by_restore(
    before: list[SchemaObject], now: list[SchemaObject], tables: list[str], everything: bool
) -> list[SchemaObject]:
    """What exists now but did not when the restore began, and that the restore could have
    created: its tables and their triggers, and when it restored everything, views, routines
    and events. A rollback drops these (the safety backup puts back the rest); anything else
    that appeared meanwhile is not the restore's and stays."""
    existed = set(before)
    restored = set(tables) - set(CATALOG_TABLES)

    def could_have_created(item: SchemaObject) -> bool:
        if item.kind == "TABLE":
            return item.name in restored
        if item.kind == "TRIGGER":
            return item.table in restored
        return everything  # views, procedures, functions, events

    return [item for item in now if item not in existed and could_have_created(item)]
