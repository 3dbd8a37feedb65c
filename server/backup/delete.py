"""Deleting a backup: its file, its manifest and its catalog row. The one path every deletion
takes: `deleteBackup` (confirmed by the filename) and rotation (decided by its policy)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.files import BackupFolder
from server.backup.history import get_backup
from server.db.enums import DrillStatus, JobStatus
from server.db.models import Backup, RestoreDrill, RestoreLog
from server.errors import BadUserInput, Conflict


@dataclass(frozen=True)
class DeletedBackup:
    id: int
    filename: str
    removed_files: list[str]


async def delete_backup(
    sessions: async_sessionmaker[AsyncSession], folder: BackupFolder, backup_id: int, confirm: str
) -> DeletedBackup:
    async with sessions() as session:
        backup = await get_backup(session, backup_id)
        if confirm != backup.filename:
            raise BadUserInput(
                f"To delete, `confirm` must repeat the backup's filename exactly: {backup.filename}"
            )
        if backup.pinned:
            raise Conflict(f"Backup #{backup.id} is pinned; unpinBackup it first to delete it.")
        return await remove_backup(session, folder, backup)


async def jobs_using(session: AsyncSession, backup_ids: list[int]) -> dict[int, str]:
    """The running restore that uses each of these backups, as its source or as the safety
    backup it may roll back from, or the running restore drill that restores it."""
    running = (
        await session.scalars(
            select(RestoreLog).where(
                RestoreLog.status == JobStatus.IN_PROGRESS,
                or_(
                    RestoreLog.backup_id.in_(backup_ids),
                    RestoreLog.safety_backup_id.in_(backup_ids),
                ),
            )
        )
    ).all()
    using: dict[int, str] = {}
    for log in running:
        for backup_id in (log.backup_id, log.safety_backup_id):
            if backup_id in backup_ids:
                using[backup_id] = f"restore #{log.id}"
    drills = (
        await session.scalars(
            select(RestoreDrill).where(
                RestoreDrill.status == DrillStatus.IN_PROGRESS,
                RestoreDrill.backup_id.in_(backup_ids),
            )
        )
    ).all()
    for drill in drills:
        using.setdefault(drill.backup_id, f"restore drill #{drill.id}")
    return using


async def remove_backup(
    session: AsyncSession, folder: BackupFolder, backup: Backup
) -> DeletedBackup:
    """Remove a backup's files, then its row, refusing one that is running or that a running
    restore or drill uses. What to remove was the caller's decision (a confirmation, a policy)."""
    if backup.status is JobStatus.IN_PROGRESS:
        raise Conflict(f"Backup #{backup.id} is still running; wait for it to finish.")
    user = (await jobs_using(session, [backup.id])).get(backup.id)
    if user is not None:
        raise Conflict(f"Backup #{backup.id} is in use by {user}; wait for it to finish.")
    removed = await asyncio.to_thread(folder.remove, backup.filename)
    await session.delete(backup)
    await session.commit()
    return DeletedBackup(backup.id, backup.filename, removed)
