"""Each schedule's row in `backupHealth`: its last success, overdue or not, the newest drill of
one of its backups, and its next run (the health service's ScheduleHealthSource).

Overdue means a slot has passed without the schedule succeeding since: the first slot after
its last success (or after `activeFrom`) fell due more than LUMBUNG_SCHEDULE_CATCH_UP_GRACE_
MINUTES ago (by then a run would have started, even one caught up at a start), or the run
since has ended without success (FAILED, MISSED). While the run for that very slot is still
going, the schedule is not overdue: a long backup is not a late one.

A backup schedule's success is a completed backup it made, even when the drill or rotation
after it failed (its run is FAILED, but the backup is there); a cache schedule's is a
COMPLETED run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.enums import JobStatus, RunStatus, ScheduleAction
from server.db.models import Backup, RestoreDrill, Schedule, ScheduleRun
from server.health.service import ScheduleHealth
from server.schedule.views import last_runs, list_schedules, newest_slots, next_run_at, timing_of
from server.settings import Settings


class ScheduleHealthReader:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._grace = timedelta(minutes=settings.schedule_catch_up_grace_minutes)
        self._sessions = sessions

    async def schedule_health(self, now: datetime) -> list[ScheduleHealth]:
        async with self._sessions() as session:
            schedules = await list_schedules(session)
            ids = [schedule.id for schedule in schedules]
            if not ids:
                return []
            slots = await newest_slots(session, ids)
            runs = await last_runs(session, ids)
            backed_up = await _last_backups(session, ids)
            completed = await _last_completed_runs(session, ids)
            drills = await _last_drills(session, ids)
        rows = []
        for schedule in schedules:
            success = (
                backed_up.get(schedule.id)
                if schedule.action is ScheduleAction.BACKUP
                else completed.get(schedule.id)
            )
            rows.append(
                ScheduleHealth(
                    schedule_id=schedule.id,
                    name=schedule.name,
                    enabled=schedule.enabled,
                    last_success_at=success,
                    overdue=self._overdue(schedule, success, runs.get(schedule.id), now),
                    next_run_at=next_run_at(schedule, slots.get(schedule.id)),
                    last_drill=drills.get(schedule.id),
                )
            )
        return rows

    def _overdue(
        self,
        schedule: Schedule,
        success: datetime | None,
        last_run: ScheduleRun | None,
        now: datetime,
    ) -> bool:
        if not schedule.enabled:
            return False
        since = max(schedule.active_from, success) if success else schedule.active_from
        expected = timing_of(schedule).next_after(since)
        if expected is None or expected > now:
            return False
        if last_run is not None:
            ran_from = last_run.slot_at or last_run.created_at
            if not last_run.status.final:
                # The run for that slot is still going: a long backup is not a late one. A
                # run for a later slot means that one went by without success.
                return ran_from > expected
            if ran_from >= expected and last_run.status is not RunStatus.COMPLETED:
                return True  # the run since that slot has ended without success
        return expected <= now - self._grace


async def _last_backups(session: AsyncSession, ids: Sequence[int]) -> dict[int, datetime]:
    rows = await session.execute(
        select(Backup.schedule_id, func.max(Backup.completed_at))
        .where(Backup.schedule_id.in_(set(ids)), Backup.status == JobStatus.COMPLETED)
        .group_by(Backup.schedule_id)
    )
    return {schedule_id: at for schedule_id, at in rows if schedule_id is not None and at}


async def _last_completed_runs(session: AsyncSession, ids: Sequence[int]) -> dict[int, datetime]:
    rows = await session.execute(
        select(ScheduleRun.schedule_id, func.max(ScheduleRun.completed_at))
        .where(ScheduleRun.schedule_id.in_(set(ids)), ScheduleRun.status == RunStatus.COMPLETED)
        .group_by(ScheduleRun.schedule_id)
    )
    return {schedule_id: at for schedule_id, at in rows if at is not None}


async def _last_drills(session: AsyncSession, ids: Sequence[int]) -> dict[int, RestoreDrill]:
    """The newest drill of one of each schedule's backups, whoever started it."""
    newest = (
        select(func.max(RestoreDrill.id))
        .join(Backup, Backup.id == RestoreDrill.backup_id)
        .where(Backup.schedule_id.in_(set(ids)))
        .group_by(Backup.schedule_id)
    )
    rows = await session.execute(
        select(Backup.schedule_id, RestoreDrill)
        .join(Backup, Backup.id == RestoreDrill.backup_id)
        .where(RestoreDrill.id.in_(newest))
    )
    return {schedule_id: drill for schedule_id, drill in rows if schedule_id is not None}
