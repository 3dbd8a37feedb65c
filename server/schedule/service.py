"""Managing schedules: create, update, delete, run now, and preview their rotation. What a
schedule runs is checked by the same code as the mutation it stands for (plan.py for a backup,
cache/request.py for a clear), so a schedule never saves what the mutation would refuse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.adapters.base import DatabaseAdapter
from server.backup.job import StartedJob
from server.backup.plan import plan_dump
from server.db.enums import RunStatus, RunTrigger
from server.db.models import Schedule, ScheduleRun
from server.errors import BadUserInput
from server.rotation.policy import Retention
from server.rotation.service import Preview, Rotation
from server.schedule.actions import ScheduledAction, stored_action
from server.schedule.drills import OFF, DrillPolicy, checked_drill_policy, drill_policy_of
from server.schedule.run import ScheduledRuns
from server.schedule.timing import Timing
from server.schedule.views import get_schedule
from server.settings import Settings

MAX_NAME = 191
MAX_KEEP = 10_000


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    timing: Timing
    action: ScheduledAction
    enabled: bool = True
    rotation_enabled: bool = True
    retention: Retention | None = None
    drill: DrillPolicy = OFF


@dataclass(frozen=True)
class ScheduleChanges:
    """What updateSchedule replaces; None leaves a part as it is."""

    name: str | None = None
    enabled: bool | None = None
    timing: Timing | None = None
    action: ScheduledAction | None = None
    rotation_enabled: bool | None = None
    retention: Retention | None = None
    drill: DrillPolicy | None = None


def checked_name(name: str) -> str:
    text = name.strip()
    if not text or len(text) > MAX_NAME:
        raise BadUserInput(f"A schedule's name must be 1 to {MAX_NAME} characters.")
    return text


def checked_retention(retention: Retention) -> Retention:
    counts = {
        "keepLast": retention.keep_last,
        "keepDaily": retention.keep_daily,
        "keepWeekly": retention.keep_weekly,
        "keepMonthly": retention.keep_monthly,
        "keepYearly": retention.keep_yearly,
    }
    for name, value in counts.items():
        if not 0 <= value <= MAX_KEEP:
            raise BadUserInput(f"{name} must be 0 to {MAX_KEEP} (got {value}).")
    if retention.keep_last < 1:
        raise BadUserInput("keepLast must be at least 1: rotation always keeps the newest.")
    if retention.max_total_size is not None and retention.max_total_size < 1:
        raise BadUserInput("maxTotalSize must be a positive number of bytes (or null).")
    return retention


class ScheduleService:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        adapter: DatabaseAdapter,
        runs: ScheduledRuns,
        rotation: Rotation,
        clock: Callable[[], datetime],
        default_retention: Retention,
        worker: str,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._adapter = adapter
        self._runs = runs
        self._rotation = rotation
        self._clock = clock
        self._default_retention = default_retention
        self._worker = worker

    async def _check_action(self, action: ScheduledAction) -> None:
        if action.backup is not None:
            await plan_dump(action.backup, self._adapter, self._settings.core_tables)

    async def create(self, spec: ScheduleSpec, actor: int) -> Schedule:
        name = checked_name(spec.name)
        await self._check_action(spec.action)
        drill = checked_drill_policy(spec.drill, spec.action)
        retention = checked_retention(spec.retention or self._default_retention)
        now = self._clock()
        schedule = Schedule(
            name=name,
            enabled=spec.enabled,
            rotation_enabled=spec.rotation_enabled,
            active_from=now,
            created_at=now,
            updated_at=now,
            created_by=actor,
        )
        self._apply_timing(schedule, spec.timing)
        self._apply_action(schedule, spec.action)
        self._apply_retention(schedule, retention)
        self._apply_drill(schedule, drill)
        async with self._sessions() as session:
            session.add(schedule)
            await self._commit(session, name)
        return schedule

    async def update(self, schedule_id: int, changes: ScheduleChanges) -> Schedule:
        if changes.action is not None:
            await self._check_action(changes.action)
        if changes.retention is not None:
            checked_retention(changes.retention)
        now = self._clock()
        async with self._sessions() as session:
            schedule = await get_schedule(session, schedule_id)
            name = checked_name(changes.name) if changes.name is not None else schedule.name
            schedule.name = name
            # Slots from before a new timing, or from while it was off, are never caught up.
            if changes.timing is not None or (changes.enabled and not schedule.enabled):
                schedule.active_from = now
            if changes.enabled is not None:
                schedule.enabled = changes.enabled
            if changes.timing is not None:
                self._apply_timing(schedule, changes.timing)
            if changes.action is not None:
                self._apply_action(schedule, changes.action)
            if changes.rotation_enabled is not None:
                schedule.rotation_enabled = changes.rotation_enabled
            if changes.retention is not None:
                self._apply_retention(schedule, changes.retention)
            if changes.drill is not None or changes.action is not None:
                # Checked against what the schedule will run: a drill needs backups with
                # their table definitions.
                action = changes.action or stored_action(schedule.action, schedule.options)
                drill = changes.drill or drill_policy_of(schedule)
                self._apply_drill(schedule, checked_drill_policy(drill, action))
            schedule.updated_at = now
            await self._commit(session, name)
        return schedule

    async def delete(self, schedule_id: int) -> Schedule:
        """Delete a schedule and its run history; the backups it made stay (their
        `scheduleId` then names no schedule)."""
        async with self._sessions() as session:
            schedule = await get_schedule(session, schedule_id)
            await session.delete(schedule)
            await session.commit()
        return schedule

    async def run_now(self, schedule_id: int) -> StartedJob[ScheduleRun]:
        """Start a run now, in this process, outside the timing (it claims no slot)."""
        async with self._sessions() as session:
            schedule = await get_schedule(session, schedule_id)
            now = self._clock()
            run = ScheduleRun(
                schedule_id=schedule.id,
                slot_at=None,
                trigger=RunTrigger.MANUAL,
                status=RunStatus.WAITING,
                claimed_by=self._worker,
                created_at=now,
                updated_at=now,
            )
            session.add(run)
            await session.commit()
        return StartedJob(run, self._runs.start(schedule, run))

    async def preview(self, schedule_id: int) -> tuple[Schedule, Preview]:
        """What rotation would delete now, and why each backup is kept (also while rotation is
        off: the admin may be about to turn it on); then the same for the copies on each
        enabled offsite target."""
        async with self._sessions() as session:
            schedule = await get_schedule(session, schedule_id)
        return schedule, await self._rotation.preview(schedule)

    # --- rows -------------------------------------------------------------------------------
    @staticmethod
    def _apply_timing(schedule: Schedule, timing: Timing) -> None:
        schedule.frequency = timing.frequency
        schedule.cron_expression = timing.expression
        schedule.time_zone = timing.time_zone
        schedule.time_of_day = timing.time_of_day
        schedule.minute = timing.minute
        schedule.day_of_week = None if timing.day_of_week is None else timing.day_of_week.value
        schedule.day_of_month = timing.day_of_month

    @staticmethod
    def _apply_action(schedule: Schedule, action: ScheduledAction) -> None:
        schedule.action = action.kind
        schedule.options = action.options()

    @staticmethod
    def _apply_retention(schedule: Schedule, retention: Retention) -> None:
        schedule.keep_last = retention.keep_last
        schedule.keep_daily = retention.keep_daily
        schedule.keep_weekly = retention.keep_weekly
        schedule.keep_monthly = retention.keep_monthly
        schedule.keep_yearly = retention.keep_yearly
        schedule.max_total_size = retention.max_total_size

    @staticmethod
    def _apply_drill(schedule: Schedule, drill: DrillPolicy) -> None:
        schedule.drill_mode = drill.mode
        schedule.drill_every = drill.every

    @staticmethod
    async def _commit(session: AsyncSession, name: str) -> None:
        try:
            await session.commit()
        except IntegrityError:
            raise BadUserInput(
                f"A schedule named {name!r} exists already: choose another name."
            ) from None
