"""Deleting a backup: its offsite copies, its file, its manifest and its catalog row. The one
path every deletion takes: `deleteBackup` (confirmed by the filename) and rotation (decided by
its policy) both go through `remove_backup`.

The copies go first: when a target holding a complete copy cannot be reached, nothing local
is deleted (the copies already deleted are marked so), and the error names the target, so
that a retry finishes the job instead of leaving a copy nobody knows about. A copy that never
completed (pending, or failed) is deleted as far as the target allows: a target that refuses
forever must not make its backups undeletable.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.files import BackupFolder
from server.backup.history import get_backup
from server.db.enums import CopyStatus, DrillStatus, JobStatus
from server.db.models import Backup, BackupCopy, RestoreDrill, RestoreLog
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
        if backup.pinned:
            raise Conflict(f"Backup #{backup.id} is pinned; unpinBackup it first to delete it.")
        return await remove_backup(session, folder, copies, backup)


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
    session: AsyncSession, folder: BackupFolder, copies: OffsiteCopies, backup: Backup
) -> DeletedBackup:
    """Remove a backup's offsite copies, then its files, then its row, refusing one that is
    running or that a running restore or drill uses. What to remove was the caller's decision
    (a confirmation, a policy)."""
    if backup.status is JobStatus.IN_PROGRESS:
        raise Conflict(f"Backup #{backup.id} is still running; wait for it to finish.")
    user = (await jobs_using(session, [backup.id])).get(backup.id)
    if user is not None:
        raise Conflict(f"Backup #{backup.id} is in use by {user}; wait for it to finish.")
    removed_copies, forgotten = await _remove_copies(session, copies, backup)
    removed = await asyncio.to_thread(folder.remove, backup.filename)
    await session.delete(backup)
    await session.commit()
    return DeletedBackup(backup.id, backup.filename, removed, removed_copies, forgotten)


async def _remove_copies(
    session: AsyncSession, copies: OffsiteCopies, backup: Backup
) -> tuple[list[str], list[str]]:
    """Delete the backup's copies on every configured target; BackendUnavailable, with
    nothing local touched, when a target holding a whole copy cannot be reached. Returns the
    targets whose copy went, and the unconfigured ones whose copy was left."""
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
    return removed, sorted(set(remote) - configured)
