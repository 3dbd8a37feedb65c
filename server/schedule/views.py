"""Reading schedules: their timing, when they run next, their last run and their history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Schedule, ScheduleRun
from server.db.pagination import Page, PageRequest, paginate
from server.errors import NotFound
from server.schedule.timing import Timing, stored_timing


def timing_of(schedule: Schedule) -> Timing:
    return stored_timing(
        schedule.frequency,
        schedule.cron_expression,
        schedule.time_zone,
        time_of_day=schedule.time_of_day,
        minute=schedule.minute,
        day_of_week=schedule.day_of_week,
        day_of_month=schedule.day_of_month,
    )


async def list_schedules(session: AsyncSession) -> Sequence[Schedule]:
    return (await session.scalars(select(Schedule).order_by(Schedule.id))).all()


async def get_schedule(session: AsyncSession, schedule_id: int) -> Schedule:
    schedule = await session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(f"No schedule has id {schedule_id}; list them with the `schedules` query.")
    return schedule


async def newest_slots(session: AsyncSession, schedule_ids: Sequence[int]) -> dict[int, datetime]:
    """The newest slot claimed by each schedule (run, caught up or missed)."""
    rows = await session.execute(
        select(ScheduleRun.schedule_id, func.max(ScheduleRun.slot_at))
        .where(ScheduleRun.schedule_id.in_(set(schedule_ids)))
        .group_by(ScheduleRun.schedule_id)
    )
    return {schedule_id: slot for schedule_id, slot in rows if slot is not None}


def next_run_at(schedule: Schedule, newest_slot: datetime | None) -> datetime | None:
    """The first slot not yet claimed (in the past while no server runs the scheduler);
    None for a disabled schedule."""
    if not schedule.enabled:
        return None
    after = max(schedule.active_from, newest_slot or schedule.active_from)
    return timing_of(schedule).next_after(after)


async def last_runs(session: AsyncSession, schedule_ids: Sequence[int]) -> dict[int, ScheduleRun]:
    """The newest run of each schedule, whatever its status."""
    newest = (
        select(func.max(ScheduleRun.id))
        .where(ScheduleRun.schedule_id.in_(set(schedule_ids)))
        .group_by(ScheduleRun.schedule_id)
    )
    rows = (await session.scalars(select(ScheduleRun).where(ScheduleRun.id.in_(newest)))).all()
    return {row.schedule_id: row for row in rows}


async def run_history(
    session: AsyncSession, schedule_id: int, request: PageRequest
) -> Page[ScheduleRun]:
    query = (
        select(ScheduleRun)
        .where(ScheduleRun.schedule_id == schedule_id)
        .order_by(ScheduleRun.id.desc())
    )
    return await paginate(session, query, request)
