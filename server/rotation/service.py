"""Rotation done: gather a schedule's backups and what protects them, let the policy decide
(policy.py), then delete through the one delete path (server/backup/delete.py), under the job
lock so that no restore can start on a backup being deleted. `preview` is the same decision
without the deleting.

In scope: the schedule's own COMPLETED backups, and every COMPLETED safety backup (those go
once older than LUMBUNG_SAFETY_BACKUP_MIN_AGE_DAYS). Manual backups and other schedules'
backups are never touched. A FAILED backup has no file; its row stays as the record of the
failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.delete import DeletedBackup, remove_backup, restore_using
from server.backup.files import BackupFolder
from server.backup.verify import verify_file
from server.db.enums import BackupOrigin, JobStatus
from server.db.models import Backup, Schedule
from server.errors import Conflict
from server.jobs.lock import JobLock
from server.offsite.job import OffsiteCopies
from server.rotation.policy import Candidate, Retention, Verdict, decide, newest_first
from server.schedule.timing import zone

log = logging.getLogger("lumbung.audit")


@dataclass(frozen=True)
class Judged:
    backup: Backup
    verdict: Verdict


def retention_of(schedule: Schedule) -> Retention:
    return Retention(
        keep_last=schedule.keep_last,
        keep_daily=schedule.keep_daily,
        keep_weekly=schedule.keep_weekly,
        keep_monthly=schedule.keep_monthly,
        keep_yearly=schedule.keep_yearly,
        max_total_size=schedule.max_total_size,
    )


class Rotation:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        folder: BackupFolder,
        lock: JobLock,
        copies: OffsiteCopies,
        *,
        safety_min_age: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._folder = folder
        self._lock = lock
        self._copies = copies
        self._safety_min_age = safety_min_age
        self._clock = clock

    async def preview(self, schedule: Schedule) -> list[Judged]:
        """Every backup in the schedule's scope, newest first, with what rotation would do."""
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(Backup).where(
                        Backup.status == JobStatus.COMPLETED,
                        or_(
                            Backup.schedule_id == schedule.id,
                            Backup.origin == BackupOrigin.SAFETY,
                        ),
                    )
                )
            ).all()
            using = await restore_using(session, [row.id for row in rows]) if rows else {}
        by_id = {row.id: row for row in rows}
        candidates = [
            Candidate(
                id=row.id,
                created_at=row.created_at,
                size=row.file_size,
                safety=row.origin is BackupOrigin.SAFETY,
                pinned=row.pinned,
                in_use_by=using.get(row.id),
            )
            for row in rows
        ]
        series = [c for c in candidates if by_id[c.id].schedule_id == schedule.id]
        verdicts = decide(
            candidates,
            retention_of(schedule),
            zone=zone(schedule.time_zone),
            now=self._clock(),
            safety_min_age=self._safety_min_age,
            newest_verified=await self._newest_verified([by_id[c.id] for c in series]),
        )
        return [Judged(by_id[v.candidate.id], v) for v in verdicts]

    async def _newest_verified(self, series: list[Backup]) -> int | None:
        """The newest of the schedule's backups whose file verifies against its manifest
        (reading files newest first, until one does). An encrypted file is checked as the
        bytes it was written as: rotation holds no identity, only public keys."""
        ordered = newest_first([Candidate(b.id, b.created_at, b.file_size) for b in series])
        by_id = {b.id: b for b in series}
        for candidate in ordered:
            backup = by_id[candidate.id]
            result = await asyncio.to_thread(
                verify_file, self._folder, backup.filename, backup.checksum, sealed=True
            )
            if result.status == "ok":
                return backup.id
        return None

    async def rotate(self, schedule: Schedule, *, lock_wait: float) -> list[DeletedBackup]:
        """Delete what the policy lets go, decided afresh under the job lock."""
        lock = await self._lock.acquire_within(lock_wait)
        deleted: list[DeletedBackup] = []
        async with lock:
            judged = await self.preview(schedule)
            async with self._sessions() as session:
                for item in judged:
                    if item.verdict.keep:
                        continue
                    row = await session.get(Backup, item.backup.id)
                    if row is None:
                        continue  # deleted by an admin meanwhile
                    try:
                        gone = await remove_backup(session, self._folder, self._copies, row)
                    except Conflict as refused:
                        log.warning(
                            "rotation left a backup it could not delete",
                            extra={
                                "event": "audit.rotation_refused",
                                "schedule": schedule.id,
                                "backup": row.id,
                                "why": refused.message,
                            },
                        )
                        continue
                    deleted.append(gone)
                    log.info(
                        "rotation deleted backup #%s",
                        gone.id,
                        extra={
                            "event": "audit.rotation",
                            "schedule": schedule.id,
                            "backup": gone.id,
                            "file": gone.filename,
                            "reason": item.verdict.reasons[0].value,
                            "detail": item.verdict.details[0],
                        },
                    )
        return deleted
