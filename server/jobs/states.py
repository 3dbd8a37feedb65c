"""A backup's, a restore's or a drill's state read back from its catalog row, as a progress
event: what a follower gets when the job ended before it arrived, or when its events were
lost."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.enums import CopyStatus, JobStatus
from server.db.models import Backup, BackupCopy, RestoreDrill, RestoreLog
from server.drill.history import outcome_message
from server.errors import NotFound
from server.events.event import ProgressEvent
from server.jobs.ids import JobKind, job_id

# Above any sequence a live job reaches: the catalog's final word wins over stale events.
CATALOG_SEQUENCE = 2**31 - 1


def _event(
    job: str,
    status: JobStatus,
    started: datetime,
    ended: datetime | None,
    message: str | None,
    tables: int,
    size: int | None,
) -> ProgressEvent:
    final = status.final
    completed = status is JobStatus.COMPLETED
    elapsed = ((ended or datetime.now(UTC)) - started).total_seconds()
    return ProgressEvent(
        job_id=job,
        sequence=CATALOG_SEQUENCE if final else 0,
        status=status,
        phase="done" if final else "running",
        percent=100.0 if completed else 0.0,
        overall_percent=100.0 if completed else 0.0,
        bytes_done=size or 0,
        bytes_total=size,
        tables_done=tables if completed else 0,
        tables_total=tables,
        current_table=None,
        elapsed_seconds=round(max(elapsed, 0.0), 3),
        eta_seconds=0.0 if completed else None,
        message=message,
        emitted_at=time.time(),
    )


async def backup_state(sessions: async_sessionmaker[AsyncSession], backup_id: int) -> ProgressEvent:
    async with sessions() as session:
        row = await session.get(Backup, backup_id)
    if row is None:
        raise NotFound(f"No backup has id {backup_id}; list them with the `backups` query.")
    message = row.error_message or (
        f"Backup {row.filename} completed." if row.status is JobStatus.COMPLETED else None
    )
    size = row.file_size if row.status is JobStatus.COMPLETED else None
    return _event(
        job_id(JobKind.BACKUP, row.id),
        row.status,
        row.created_at,
        row.completed_at,
        message,
        len(row.tables or []),
        size,
    )


async def restore_state(sessions: async_sessionmaker[AsyncSession], log_id: int) -> ProgressEvent:
    async with sessions() as session:
        row = await session.get(RestoreLog, log_id)
    if row is None:
        raise NotFound(f"No restore has id {log_id}; list them with the `restoreLogs` query.")
    message = row.error_message or (
        "Restore completed." if row.status is JobStatus.COMPLETED else None
    )
    return _event(
        job_id(JobKind.RESTORE, row.id),
        row.status,
        row.created_at,
        row.completed_at,
        message,
        len(row.tables or []),
        None,
    )


async def drill_state(sessions: async_sessionmaker[AsyncSession], drill_id: int) -> ProgressEvent:
    async with sessions() as session:
        row = await session.get(RestoreDrill, drill_id)
        backup = await session.get(Backup, row.backup_id) if row is not None else None
    if row is None:
        raise NotFound(f"No restore drill has id {drill_id}; see a backup's `lastDrill`.")
    message = None
    if row.status.final:
        message = outcome_message(row, backup.filename if backup else f"#{row.backup_id}")
    return _event(
        job_id(JobKind.DRILL, row.id),
        row.status.job,
        row.created_at,
        row.completed_at,
        message,
        len(row.tables or []),
        None,
    )


COPY_STATUS = {
    CopyStatus.PENDING: JobStatus.IN_PROGRESS,
    CopyStatus.IN_PROGRESS: JobStatus.IN_PROGRESS,
    CopyStatus.COMPLETED: JobStatus.COMPLETED,
    CopyStatus.FAILED: JobStatus.FAILED,
    CopyStatus.DELETED: JobStatus.FAILED,
}


async def copy_state(sessions: async_sessionmaker[AsyncSession], copy_id: int) -> ProgressEvent:
    """An offsite copy's state (a PENDING one waits for its turn: in progress)."""
    async with sessions() as session:
        row = await session.get(BackupCopy, copy_id)
    if row is None:
        raise NotFound(f"No offsite copy has id {copy_id}; see `copies` on a backup.")
    status = COPY_STATUS[row.status]
    message = row.error_message or (
        f"Copied to {row.target}." if row.status is CopyStatus.COMPLETED else None
    )
    if row.status is CopyStatus.DELETED:
        message = f"The copy on {row.target} was deleted."
    return _event(
        job_id(JobKind.OFFSITE, row.id),
        status,
        row.created_at,
        row.updated_at if status.final else None,
        message,
        0,
        row.size if status is JobStatus.COMPLETED else None,
    )
