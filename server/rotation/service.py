"""Rotation done: gather a schedule's backups and what protects them, let the policy decide
(policy.py), then delete through the one delete path (server/backup/delete.py), under the job
lock so that no restore can start on a backup being deleted. Then the same policy on each
enabled offsite target, over the copies it holds (copies.py). `preview` is the same decision
without the deleting.

In scope: the schedule's own COMPLETED backups, and every COMPLETED safety backup (those go
once older than LUMBUNG_SAFETY_BACKUP_MIN_AGE_DAYS). Manual backups and other schedules'
backups are never touched. A FAILED backup has no file; its row stays as the record of the
failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.delete import DeletedBackup, jobs_using, remove_backup
from server.backup.files import BackupFolder
from server.backup.verify import verify_file
from server.db.enums import BackupOrigin, JobStatus
from server.db.models import Backup, Schedule
from server.errors import LumbungError
from server.jobs.lock import JobLock
from server.offsite.job import OffsiteCopies
from server.rotation.copies import (
    CopyFacts,
    RemovedCopy,
    copy_facts,
    remove_copies,
    target_candidates,
)
from server.rotation.policy import Candidate, Retention, Verdict, decide, newest_first
from server.schedule.timing import zone

log = logging.getLogger("lumbung.audit")


@dataclass(frozen=True)
class Judged:
    backup: Backup
    verdict: Verdict


@dataclass(frozen=True)
class Preview:
    """What rotation does: to the backups here, then to the copies on each enabled target
    (the copies of backups that stay here)."""

    local: list[Judged]
    targets: dict[str, list[Judged]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rotated:
    """What one rotation deleted, and what it could not (left for the next one)."""

    backups: list[DeletedBackup]
    copies: list[RemovedCopy]
    problems: list[str]


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

    async def preview(self, schedule: Schedule) -> Preview:
        """Every backup in the schedule's scope, newest first, with what rotation would do;
        then, per enabled target, every copy of those that stay."""
        local = await self._judge_local(schedule)
        kept = [item.backup for item in local if item.verdict.keep]
        return Preview(local, await self._judge_targets(schedule, kept))

    async def _scope(self, schedule: Schedule) -> tuple[list[Backup], dict[int, str]]:
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
            using = await jobs_using(session, [row.id for row in rows]) if rows else {}
        return list(rows), using

    async def _judge_local(self, schedule: Schedule) -> list[Judged]:
        rows, using = await self._scope(schedule)
        series = [row for row in rows if row.schedule_id == schedule.id]
        async with self._sessions() as session:
            facts = await copy_facts(session, self._copies, series)
        by_id = {row.id: row for row in rows}
        candidates = [
            Candidate(
                id=row.id,
                created_at=row.created_at,
                size=row.file_size,
                safety=row.origin is BackupOrigin.SAFETY,
                pinned=row.pinned,
                in_use_by=using.get(row.id),
                newest_copy_on=facts.newest_on(row.id),
            )
            for row in rows
        ]
        return self._judged(
            schedule, candidates, by_id, newest_verified=await self._newest_verified(series)
        )

    async def _judge_targets(
        self, schedule: Schedule, kept: Sequence[Backup]
    ) -> dict[str, list[Judged]]:
        """Per enabled target, the copies of the schedule's backups that stay here, judged
        by the same policy (the newest good copy there protected)."""
        series = [row for row in kept if row.schedule_id == schedule.id]
        async with self._sessions() as session:
            facts: CopyFacts = await copy_facts(session, self._copies, series)
            using = await jobs_using(session, [row.id for row in series]) if series else {}
        by_id = {row.id: row for row in series}
        return {
            target: self._judged(
                schedule,
                target_candidates(facts, target, series, using),
                by_id,
                newest_verified=None,
            )
            for target in facts.held
        }

    def _judged(
        self,
        schedule: Schedule,
        candidates: list[Candidate],
        by_id: dict[int, Backup],
        *,
        newest_verified: int | None,
    ) -> list[Judged]:
        verdicts = decide(
            candidates,
            retention_of(schedule),
            zone=zone(schedule.time_zone),
            now=self._clock(),
            safety_min_age=self._safety_min_age,
            newest_verified=newest_verified,
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

    async def rotate(self, schedule: Schedule, *, lock_wait: float) -> Rotated:
        """Delete what the policy lets go, decided afresh under the job lock: backups here
        (with all their copies), then copies on each enabled target."""
        lock = await self._lock.acquire_within(lock_wait)
        problems: list[str] = []
        async with lock:
            judged = await self._judge_local(schedule)
            deleted = await self._remove_backups(schedule, judged, problems)
            gone = {backup.id for backup in deleted}
            kept = [item.backup for item in judged if item.backup.id not in gone]
            removed: list[RemovedCopy] = []
            for target, items in (await self._judge_targets(schedule, kept)).items():
                going = [(item.backup, item.verdict) for item in items if not item.verdict.keep]
                removed += await remove_copies(self._copies, schedule.id, target, going, problems)
        return Rotated(deleted, removed, problems)

    async def _remove_backups(
        self, schedule: Schedule, judged: list[Judged], problems: list[str]
    ) -> list[DeletedBackup]:
        deleted: list[DeletedBackup] = []
        async with self._sessions() as session:
            for item in judged:
                if item.verdict.keep:
                    continue
                row = await session.get(Backup, item.backup.id)
                if row is None:
                    continue  # deleted by an admin meanwhile
                backup_id = row.id  # a rollback expires the row
                try:
                    gone = await remove_backup(session, self._folder, self._copies, row)
                except LumbungError as refused:
                    # In use, or a target holding its copy is down: the next rotation tries
                    # again. Nothing of it was deleted here.
                    await session.rollback()
                    problems.append(f"backup #{backup_id} was kept: {refused.message}")
                    log.warning(
                        "rotation left a backup it could not delete",
                        extra={
                            "event": "audit.rotation_refused",
                            "schedule": schedule.id,
                            "backup": backup_id,
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
                        "copies": gone.removed_copies,
                        "reason": item.verdict.reasons[0].value,
                        "detail": item.verdict.details[0],
                    },
                )
        return deleted
