"""Deleting a backup: its file, its manifest and its catalog row, confirmed by its filename."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.files import BackupFolder
from server.backup.history import get_backup
from server.db.enums import JobStatus
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
        if backup.status is JobStatus.IN_PROGRESS:
            raise Conflict(f"Backup #{backup.id} is still running; wait for it to finish.")
        removed = await asyncio.to_thread(folder.remove, backup.filename)
        await session.delete(backup)
        await session.commit()
    return DeletedBackup(backup.id, backup.filename, removed)
