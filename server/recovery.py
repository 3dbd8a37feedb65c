"""The life of recovery, decided here: at each start, the jobs that a dead process left
IN_PROGRESS are closed, and a restore it cut off is rolled back.

    recover()     under the job lock (so no job can be running anywhere): backups left
                  IN_PROGRESS become FAILED and their partial files go; restores left
                  IN_PROGRESS become FAILED, the tables they created are dropped, and those
                  with a completed safety backup are returned to be rolled back
    roll_back()   a restore of each one's safety backup starts at once (after the progress bus
                  is up, before the server takes requests); the interrupted restore's log names
                  it, or says why none could start
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.adapters.base import DatabaseAdapter, SchemaObject
from server.backup.files import BackupFolder
from server.db.enums import BackupOrigin, BackupType, JobStatus
from server.db.models import Backup, RestoreLog
from server.errors import Conflict, LumbungError
from server.jobs.lock import JobLock
from server.restore.job import RestoreJobs
from server.restore.plan import created_by_restore

log = logging.getLogger("lumbung.jobs")

INTERRUPTED = "Interrupted: the process running this job stopped before it finished."
# The description of the restore that puts an interrupted restore's tables back (at a start).
ROLLBACK_DESCRIPTION = "Automatic rollback of interrupted restore #{id}"


@dataclass(frozen=True)
class InterruptedRestore:
    """A restore that a dead process left IN_PROGRESS, and the safety backup it had taken."""

    log_id: int
    safety: Backup


class Recovery:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        adapter: DatabaseAdapter,
        folder: BackupFolder,
        lock: JobLock,
        restores: RestoreJobs,
    ) -> None:
        self._sessions = sessions
        self._adapter = adapter
        self._folder = folder
        self._lock = lock
        self._restores = restores

    async def recover(self) -> list[InterruptedRestore]:
        """Jobs left IN_PROGRESS by a process that died become FAILED, and their partial files
        go. Only done while holding the job lock: then no job can be running anywhere.

        A restore may have been cut off halfway. Tables it created go now (they did not exist
        before it); the restores returned are those to roll back from their safety backup."""
        try:
            lock = await self._lock.acquire()
        except Conflict:
            return []  # a job is running in another process: its rows are alive
        rollbacks: list[InterruptedRestore] = []
        async with lock, self._sessions() as session:
            stale = (
                await session.scalars(select(Backup).where(Backup.status == JobStatus.IN_PROGRESS))
            ).all()
            now = datetime.now(UTC)
            for backup in stale:
                self._folder.remove(backup.filename)
                backup.status = JobStatus.FAILED
                backup.error_message = INTERRUPTED
                backup.completed_at = now
                backup.file_size = 0
            restores = (
                await session.scalars(
                    select(RestoreLog).where(RestoreLog.status == JobStatus.IN_PROGRESS)
                )
            ).all()
            for restore in restores:
                restore.status = JobStatus.FAILED
                restore.completed_at = now
                rollback_of = await self._rolled_back_from(session, restore)
                safety = rollback_of or (
                    await session.get(Backup, restore.safety_backup_id)
                    if restore.safety_backup_id is not None
                    else None
                )
                if safety is not None and safety.status is not JobStatus.COMPLETED:
                    safety = None  # it never finished: there is nothing to roll back from
                restore.error_message = await self._after_interruption(
                    restore, safety, again=rollback_of is not None
                )
                if self._adapter.dialect != "sqlite" and safety is not None:
                    rollbacks.append(InterruptedRestore(restore.id, safety))
            await session.commit()
            for partial in self._folder.root.glob("backup_*.partial"):
                partial.unlink(missing_ok=True)
        count = len(stale) + len(restores)
        if count:
            log.warning(
                "marked interrupted jobs as failed",
                extra={"event": "jobs.recovered", "count": count},
            )
        return rollbacks

    async def roll_back(self, interrupted: list[InterruptedRestore]) -> None:
        """Start restoring each interrupted restore's safety backup, and say in the interrupted
        restore's log which restore does it, or why none could."""
        for item in interrupted:
            try:
                rollback = await self._restores.start(
                    item.safety.id,
                    confirm=item.safety.filename,
                    tables=None,
                    safety_backup=False,
                    description=ROLLBACK_DESCRIPTION.format(id=item.log_id),
                    actor=0,
                )
                note = f" Restore #{rollback.row.id} does that."
            except LumbungError as failure:
                note = (
                    f" That could not start: {failure.message} Restore safety backup "
                    f"#{item.safety.id} by hand before using the database."
                )
            async with self._sessions() as session:
                interrupted_log = await session.get(RestoreLog, item.log_id)
                if interrupted_log is not None:
                    interrupted_log.error_message = (interrupted_log.error_message or "") + note
                    await session.commit()

    @staticmethod
    async def _rolled_back_from(session: AsyncSession, restore: RestoreLog) -> Backup | None:
        """When `restore` is an automatic rollback (started at a start, by nobody, from a
        safety backup), the safety backup it was putting back."""
        if restore.restored_by != 0 or not (restore.description or "").startswith(
            ROLLBACK_DESCRIPTION.format(id="")
        ):
            return None
        source = await session.get(Backup, restore.backup_id)
        return source if source is not None and source.origin is BackupOrigin.SAFETY else None

    async def _after_interruption(
        self, restore: RestoreLog, safety: Backup | None, *, again: bool
    ) -> str:
        """What an interrupted restore's log says, having dropped the tables it created.
        `safety` is the completed safety backup to roll back from, if any."""
        if self._adapter.dialect == "sqlite":
            return f"{INTERRUPTED} It ran in one transaction: nothing was changed."
        if again and safety is not None:
            return (
                f"{INTERRUPTED} It was putting tables back from safety backup #{safety.id} "
                f"({safety.filename}): that starts again."
            )
        tables = list(restore.tables or [])
        if restore.objects_before is None:
            # Recorded before Lumbung kept the objects that existed: judge by the tables.
            if safety is None:
                return (
                    f"{INTERRUPTED} No safety backup of it was completed: if it had begun "
                    "writing, these tables may be partly restored: "
                    f"{', '.join(tables) or 'none'}."
                )
            created_tables = [t for t in tables if t not in (safety.tables or [])]
            await self._adapter.drop_tables(created_tables)
            created = [SchemaObject("TABLE", t) for t in created_tables]
        else:
            before = [SchemaObject.from_json(item) for item in restore.objects_before]
            everything = safety is not None and safety.backup_type is BackupType.FULL
            created = created_by_restore(
                before, await self._adapter.schema_objects(), tables, everything
            )
            await self._adapter.drop_objects(created)
        dropped = (
            f", and {', '.join(_shown(item) for item in created)}, which it had created, "
            "were dropped."
            if created
            else "."
        )
        if safety is None:
            return (
                f"{INTERRUPTED} None of its tables existed before, so nothing had to be put "
                f"back{dropped}"
            )
        return (
            f"{INTERRUPTED} Its tables may have been partly restored: they are put back from "
            f"safety backup #{safety.id} ({safety.filename}){dropped}"
        )


def _shown(item: SchemaObject) -> str:
    """`Orders` for a table (as the log always said), `VIEW v` for anything else."""
    return item.name if item.kind == "TABLE" else f"{item.kind} {item.name}"
