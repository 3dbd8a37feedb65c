"""The scheduler: one loop per server process that claims due slots and starts their runs.

Every `LUMBUNG_SCHEDULER_INTERVAL_SECONDS`, each process looks at every enabled schedule:
its slots after `max(activeFrom, the newest slot already claimed)` that are due by now.

- None: nothing to do.
- Due: the latest one is claimed by inserting its run row; the catalog's unique key
  (scheduleId, slotAt) lets exactly one process in the deployment succeed, whichever machine
  it is on. The winner starts the run; the others move on.
- Several due (every server was down across them): only the latest runs, once, as a catch-up,
  if it is at most LUMBUNG_SCHEDULE_CATCH_UP_GRACE_MINUTES old; the ones before it are recorded
  together as one MISSED run, claimed in the same transaction. A latest slot beyond the grace is
  MISSED too, with nothing run: never a burst of old runs at start.

Claiming by slot, never by the claimer's clock, is what keeps clocks a little apart from
running a slot twice: both processes name the same slot, and one insert wins. A process whose
clock is ahead claims a slot a moment early; one behind, a moment late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.enums import RunStatus, RunTrigger
from server.db.models import Schedule, ScheduleRun
from server.schedule.run import INTERRUPTED_RUN, STALE_AFTER, ScheduledRuns
from server.schedule.timing import Timing
from server.schedule.views import newest_slots, timing_of
from server.settings import Settings

log = logging.getLogger("lumbung.schedule")

# Counting missed slots stops here (a minute schedule down for a year has half a million).
MAX_COUNTED = 1000
# A slot claimed later than this after its time is a catch-up, not an ordinary run.
LATE_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class Due:
    latest: datetime
    # The due slots before the latest: how many (at least, unless `counted_all`), the first,
    # and the one just before the latest.
    earlier: int
    first: datetime
    previous: datetime | None
    counted_all: bool = True


def due_slots(timing: Timing, after: datetime, now: datetime) -> Due | None:
    """The slots in (after, now], summed up: the latest, and those that came before it."""
    count, first, previous, latest = 0, None, None, None
    for slot in timing.slots_after(after):
        if slot > now:
            break
        count += 1
        first = first or slot
        previous, latest = latest, slot
        if count >= MAX_COUNTED:
            break
    if latest is None or first is None:
        return None
    if count < MAX_COUNTED:
        return Due(latest, count - 1, first, previous)
    # Too many to walk: look for the latest due slot in windows growing back from now.
    span = timedelta(hours=1)
    while True:
        start = max(latest, now - span)
        found, before = None, latest
        for slot in timing.slots_after(start):
            if slot > now:
                break
            before, found = found or before, slot
        if found is not None:
            return Due(found, count, first, before, counted_all=False)
        if start == latest:
            return Due(latest, count - 1, first, previous, counted_all=False)
        span *= 2


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        runs: ScheduledRuns,
        clock: Callable[[], datetime],
        worker: str,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._runs = runs
        self._clock = clock
        self._worker = worker
        self._grace = timedelta(minutes=settings.schedule_catch_up_grace_minutes)
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="lumbung-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                # The database may be away; the next tick tries again, and a slot missed
                # meanwhile is caught up or recorded then.
                log.warning(
                    "scheduler tick failed", exc_info=True, extra={"event": "schedule.tick_failed"}
                )
            await asyncio.sleep(self._settings.scheduler_interval_seconds)

    async def tick(self) -> list[asyncio.Task[None]]:
        """Claim what is due now and start it; returns the runs started here."""
        now = self._clock()
        await self._close_stale(now)
        async with self._sessions() as session:
            schedules = (await session.scalars(select(Schedule).where(Schedule.enabled))).all()
            newest = await newest_slots(session, [schedule.id for schedule in schedules])
        started = []
        for schedule in schedules:
            after = max(schedule.active_from, newest.get(schedule.id, schedule.active_from))
            due = due_slots(timing_of(schedule), after, now)
            if due is None:
                continue
            run = await self._claim(schedule, due, now)
            if run is not None:
                started.append(self._runs.start(schedule, run))
        return started

    async def _claim(self, schedule: Schedule, due: Due, now: datetime) -> ScheduleRun | None:
        """Claim the due slots in one transaction: the MISSED record of those that will not
        run and the run of the latest, if it will. None when another process was first."""
        runs_latest = now - due.latest <= self._grace
        missed = due.earlier + (0 if runs_latest else 1)
        rows: list[ScheduleRun] = []
        if missed:
            last_missed = due.latest if not runs_latest else (due.previous or due.first)
            rows.append(
                self._missed_row(schedule, due, missed, last_missed, now, catching_up=runs_latest)
            )
        run = None
        if runs_latest:
            late = now - due.latest > LATE_AFTER
            run = ScheduleRun(
                schedule_id=schedule.id,
                slot_at=due.latest,
                trigger=RunTrigger.CATCH_UP if late else RunTrigger.SLOT,
                status=RunStatus.WAITING,
                claimed_by=self._worker,
                created_at=now,
                updated_at=now,
            )
            rows.append(run)
        try:
            async with self._sessions() as session:
                session.add_all(rows)
                await session.commit()
        except IntegrityError:
            return None  # another process claimed these slots first
        if missed:
            self._missed(schedule, rows[0])
        return run

    def _missed_row(
        self,
        schedule: Schedule,
        due: Due,
        count: int,
        last: datetime,
        now: datetime,
        *,
        catching_up: bool,
    ) -> ScheduleRun:
        grace = self._settings.schedule_catch_up_grace_minutes
        many = f"{count}{'' if due.counted_all else ' or more'} slot(s)"
        span = f"from {due.first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
        why = (
            "only the latest due slot runs (a catch-up), never a burst"
            if catching_up
            else f"the latest is older than the catch-up grace of {grace} minute(s) "
            "(LUMBUNG_SCHEDULE_CATCH_UP_GRACE_MINUTES)"
        )
        return ScheduleRun(
            schedule_id=schedule.id,
            slot_at=last,
            trigger=RunTrigger.SLOT,
            status=RunStatus.MISSED,
            claimed_by=self._worker,
            missed_slots=count,
            missed_from=due.first,
            error_message=f"Missed {many} {span}: no server ran them in time; {why}.",
            created_at=now,
            updated_at=now,
            completed_at=now,
        )

    def _missed(self, schedule: Schedule, run: ScheduleRun) -> None:
        """The one place a MISSED run is announced (a notification hooks in here)."""
        log.warning(
            "schedule %s missed %s slot(s)",
            schedule.name,
            run.missed_slots,
            extra={
                "event": "schedule.missed",
                "schedule": schedule.id,
                "run": run.id,
                "slots": run.missed_slots,
            },
        )

    async def _close_stale(self, now: datetime) -> None:
        """Runs whose process died (their heartbeat stopped) are closed as FAILED."""
        async with self._sessions() as session:
            await session.execute(
                update(ScheduleRun)
                .where(
                    ScheduleRun.status.in_((RunStatus.WAITING, RunStatus.RUNNING)),
                    ScheduleRun.updated_at < now - STALE_AFTER,
                )
                .values(
                    status=RunStatus.FAILED,
                    error_message=INTERRUPTED_RUN,
                    completed_at=now,
                    updated_at=now,
                )
            )
            await session.commit()
