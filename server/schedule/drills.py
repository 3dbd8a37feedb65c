"""A backup schedule's restore drills: which of its runs drill the backup they just made.

    EVERY_NTH   the run that completes the Nth backup since the schedule's last drill (1: every
                run); a drill that could not start leaves the count where it was, so the next
                completed run tries again
    DAILY       the first completed run of each day, in the schedule's time zone: the newest
                backup, drilled once a day

Counting reads the schedule's own history (its runs and the drills they started), never the
backups themselves: rotation deletes backups, and a drill goes with its backup, but a run's
row stays as long as the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.enums import DrillMode, RunStatus
from server.db.models import Schedule, ScheduleRun
from server.errors import BadUserInput
from server.schedule.actions import ScheduledAction
from server.schedule.timing import zone

MAX_EVERY = 1000


@dataclass(frozen=True)
class DrillPolicy:
    mode: DrillMode = DrillMode.OFF
    every: int | None = None  # EVERY_NTH: N


OFF = DrillPolicy()


def checked_drill_policy(policy: DrillPolicy, action: ScheduledAction) -> DrillPolicy:
    """The policy, or BadUserInput naming what is wrong with it for this schedule's action."""
    if policy.mode is DrillMode.EVERY_NTH:
        if policy.every is None or not 1 <= policy.every <= MAX_EVERY:
            raise BadUserInput(
                f"drill.every must be 1 to {MAX_EVERY} with EVERY_NTH (1 drills every backup)."
            )
    elif policy.every is not None:
        raise BadUserInput("drill.every is for EVERY_NTH only; leave it out.")
    if policy.mode is DrillMode.OFF:
        return policy
    if action.backup is None:
        raise BadUserInput(
            "Only a backup schedule can drill: a cache clear makes no backup (give drill with "
            "mode OFF)."
        )
    if not action.backup.include_schema:
        raise BadUserInput(
            "This schedule's backups are data-only (includeSchema: false): they hold no table "
            "definitions to restore into an empty scratch database, so they cannot be drilled "
            "(give drill with mode OFF)."
        )
    return policy


def drill_policy_of(schedule: Schedule) -> DrillPolicy:
    return DrillPolicy(schedule.drill_mode, schedule.drill_every)


async def drill_due(session: AsyncSession, schedule: Schedule, run: ScheduleRun) -> bool:
    """Whether `run`, whose backup has just completed, should drill it."""
    policy = drill_policy_of(schedule)
    if policy.mode is DrillMode.OFF:
        return False
    last_drilled = (
        await session.scalars(
            select(ScheduleRun)
            .where(
                ScheduleRun.schedule_id == schedule.id,
                ScheduleRun.drill_id.is_not(None),
                ScheduleRun.id != run.id,
            )
            .order_by(ScheduleRun.id.desc())
            .limit(1)
        )
    ).first()
    if policy.mode is DrillMode.DAILY:
        if last_drilled is None:
            return True
        local = zone(schedule.time_zone)
        last_day = last_drilled.created_at.astimezone(local).date()
        return last_day < run.created_at.astimezone(local).date()
    completed_since = await session.scalar(
        select(func.count())
        .select_from(ScheduleRun)
        .where(
            ScheduleRun.schedule_id == schedule.id,
            ScheduleRun.status == RunStatus.COMPLETED,
            ScheduleRun.backup_id.is_not(None),
            ScheduleRun.id > (last_drilled.id if last_drilled is not None else 0),
            ScheduleRun.id != run.id,
        )
    )
    assert policy.every is not None
    return int(completed_since or 0) + 1 >= policy.every
