"""Deleting a backup: its offsite copies, its file, its manifest and its catalog row,
confirmed by its filename.

The copies go first: when a target holding a complete copy cannot be reached, nothing local
is deleted (the copies already deleted are marked so), and the error names the target, so
that a retry finishes the job instead of leaving a copy nobody knows about. A copy that never
completed (pending, or failed) is deleted as far as the target allows: a target that refuses
forever must not make its backups undeletable.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.files import BackupFolder
from server.backup.history import get_backup
from server.db.enums import CopyStatus, JobStatus
from server.db.models import BackupCopy
from server.errors import BackendUnavailable, BadUserInput, Conflict, LumbungError
from server.offsite.job import OffsiteCopies

# Only a completed copy is whole on its target (a running one, once stopped, never is): a
# delete that cannot reach one waits.
WHOLE = (CopyStatus.COMPLETED,)


@dataclass(frozen=True)
class DeletedBackup:
    id: int
    filename: str
    removed_files: list[str]
    removed_copies: list[str]  # targets whose copy was deleted
    forgotten_copies: list[str]  # targets no longer configured: their copy was left there


async def delete_backup(
    sessions: async_sessionmaker[AsyncSession],
    folder: BackupFolder,
    copies: OffsiteCopies,
    backup_id: int,
    confirm: str,
) -> DeletedBackup:
    async with sessions() as session:
        backup = await get_backup(session, backup_id)
        if confirm != backup.filename:
            raise BadUserInput(
                f"To delete, `confirm` must repeat the backup's filename exactly: {backup.filename}"
            )
        if backup.status is JobStatus.IN_PROGRESS:
            raise Conflict(f"Backup #{backup.id} is still running; wait for it to finish.")
        rows = (
            await session.scalars(
                select(BackupCopy).where(
                    BackupCopy.backup_id == backup.id, BackupCopy.status != CopyStatus.DELETED
                )
            )
        ).all()
    remote = [row.target for row in rows]
    whole = {row.target for row in rows if row.status in WHOLE}
    configured = {target.name for target in copies.targets.all}
    removed, failed = [], []
    for target in remote:
        if target not in configured:
            continue
        try:
            if await copies.delete_copy(backup.id, target):
                removed.append(target)
        except Conflict:
            raise
        except LumbungError as exc:
            if target in whole:
                failed.append(exc.message)
    if failed:
        done = f" The copies on {', '.join(removed)} were deleted." if removed else ""
        raise BackendUnavailable(
            f"Backup {backup.filename} was not deleted: {' '.join(failed)}{done} Nothing else "
            "was changed; delete it again once the target is reachable."
        )
    async with sessions() as session:
        backup = await get_backup(session, backup_id)
        removed_files = await asyncio.to_thread(folder.remove, backup.filename)
        await session.delete(backup)
        await session.commit()
    return DeletedBackup(
        backup.id,
        backup.filename,
        removed_files,
        removed,
        sorted(set(remote) - configured),
    )
