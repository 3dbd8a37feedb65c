"""`lumbung backups` and `lumbung restores`: the history pages the API's `backups` and
`restoreLogs` queries return, read through the same functions (server/backup/history.py), as
plain columns a terminal or a script can read.

Listing opens only the database: no migration, no recovery of interrupted jobs, no job runner.
It reads, so it changes nothing and starts nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from server.backup import history
from server.db.engine import create_engine, create_session_factory
from server.db.enums import BackupType, JobStatus
from server.db.models import Backup, RestoreLog
from server.db.pagination import Page, PageRequest
from server.settings import Settings
from server.startup import check_catalog, check_database
from server.units import format_bytes

T = TypeVar("T")


async def read(settings: Settings, reader: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = create_engine(settings)
    try:
        await check_database(engine, settings)
        await check_catalog(engine)
        async with create_session_factory(engine)() as session:
            return await reader(session)
    finally:
        await engine.dispose()


async def backups_page(
    settings: Settings,
    request: PageRequest,
    backup_type: BackupType | None,
    status: JobStatus | None,
) -> Page[Backup]:
    async def reader(session: AsyncSession) -> Page[Backup]:
        return await history.list_backups(session, request, backup_type=backup_type, status=status)

    return await read(settings, reader)


async def restores_page(
    settings: Settings, request: PageRequest, backup_id: int | None
) -> Page[RestoreLog]:
    async def reader(session: AsyncSession) -> Page[RestoreLog]:
        return await history.list_restore_logs(session, request, backup_id=backup_id)

    return await read(settings, reader)


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def columns(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Left-aligned columns, the last one unpadded (it may be long: a file name, an error)."""
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    return [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in cells
    ]


def backup_lines(page: Page[Backup]) -> list[str]:
    rows = [
        (
            row.id,
            _when(row.created_at),
            row.backup_type.value,
            row.status.value,
            row.origin.value,
            format_bytes(row.file_size) if row.status is JobStatus.COMPLETED else "-",
            row.filename,
        )
        for row in page.items
    ]
    header = ("ID", "CREATED (UTC)", "TYPE", "STATUS", "ORIGIN", "SIZE", "FILE")
    return columns(header, rows)


def restore_lines(page: Page[RestoreLog]) -> list[str]:
    rows = [
        (
            row.id,
            _when(row.created_at),
            row.backup_id,
            row.status.value,
            _when(row.completed_at),
            "-" if row.safety_backup_id is None else row.safety_backup_id,
            ", ".join(row.tables) or "all",
            " ".join((row.error_message or "").split()),
        )
        for row in page.items
    ]
    header = ("ID", "STARTED (UTC)", "BACKUP", "STATUS", "FINISHED", "SAFETY", "TABLES", "ERROR")
    return columns(header, rows)


def page_summary(page: Page[Any], noun: str) -> str:
    """`page 1 of 3, 25 backups; --page 2 for more` (on stderr: stdout stays the rows)."""
    if page.total == 0:
        return f"no {noun}s"
    count = f"{page.total} {noun}" + ("" if page.total == 1 else "s")
    if not page.items:
        return f"page {page.page} is past the last ({page.page_count}); {count}"
    more = f"; --page {page.page + 1} for more" if page.page < page.page_count else ""
    return f"page {page.page} of {page.page_count}, {count}{more}"
