"""The scheduler under a clock the test moves: days and years pass in seconds, with real
backups, real cache clears and a real catalog (SQLite and MariaDB)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from server.db.models import Backup, CacheLog, ScheduleRun
from server.schedule import run as run_module
from tests.schedule.helpers import (
    SCHEDULE,
    SCHEDULED_BACKUPS,
    FakeClock,
    create_schedule,
    runs_of,
    tick,
)
from tests.support.app import Api, make_settings, open_api
from tests.support.mariadb import MariaDBServer
from tests.support.waiting import wait_until

START = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def api(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Api]:
    # The loop is off: the test ticks the scheduler itself, after moving the clock.
    settings = make_settings(database_url, tmp_path, scheduler=False)
    async with open_api(settings, clock=clock) as value:
        yield value


DAILY_BACKUP = {
    "name": "nightly",
    "timing": {"frequency": "DAILY", "timeOfDay": "02:30"},
    "backup": {"backupType": "PARTIAL"},
}


async def test_a_daily_schedule_backs_up_once_a_day_as_the_days_pass(
    api: Api, clock: FakeClock
) -> None:
    schedule = await create_schedule(api, **DAILY_BACKUP)
    assert schedule["nextRunAt"] == "2025-01-06T02:30:00+00:00"
    scheduler = api.resources.scheduler
    assert await tick(scheduler) == 0  # midnight: nothing due yet
    for day in range(3):
        clock.set(START + timedelta(days=day, hours=2, minutes=30, seconds=5))
        assert await tick(scheduler) == 1
        assert await tick(scheduler) == 0  # the same slot never runs twice
        clock.advance(hours=12)
        assert await tick(scheduler) == 0
    runs = await runs_of(api, schedule["id"])
    assert [run["status"] for run in runs] == ["COMPLETED"] * 3
    assert [run["trigger"] for run in runs] == ["SLOT"] * 3
    assert [run["slotAt"] for run in runs] == [
        f"2025-01-0{day}T02:30:00+00:00" for day in (8, 7, 6)
    ]
    backups = (await api.query(SCHEDULED_BACKUPS))["backups"]["items"]
    assert len(backups) == 3
    assert {(b["origin"], b["scheduleId"], b["status"]) for b in backups} == {
        ("SCHEDULED", schedule["id"], "COMPLETED")
    }
    assert backups[0]["schedule"] == {"id": schedule["id"], "name": "nightly"}
    assert {run["backupId"] for run in runs} == {b["id"] for b in backups}
    shown = (await api.query(SCHEDULE, {"id": schedule["id"]}))["schedule"]
    assert shown["nextRunAt"] == "2025-01-09T02:30:00+00:00"
    assert shown["lastRun"]["status"] == "COMPLETED"


async def test_a_weekly_cache_clear_walks_a_whole_year_one_clear_per_slot(
    api: Api, clock: FakeClock
) -> None:
    schedule = await create_schedule(
        api,
        name="weekly clear",
        timing={"frequency": "WEEKLY", "dayOfWeek": "SUNDAY", "timeOfDay": "04:00"},
        clearCache={"cacheType": "MEMORY"},
    )
    ran = 0
    clock.advance(hours=4, seconds=30)  # each day, just after the slot's time
    for _day in range(366):
        clock.advance(days=1)
        ran += await tick(api.resources.scheduler)
    # From Monday 2025-01-06 to 2026-01-07: the 51 Sundays left in 2025, and 2026-01-04.
    assert ran == 52
    runs = await runs_of(api, schedule["id"], limit=100)
    assert {(run["status"], run["trigger"]) for run in runs} == {("COMPLETED", "SLOT")}
    assert all(run["cacheLogId"] is not None for run in runs)
    assert all(run["missedSlots"] == 0 for run in runs)
    async with api.resources.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CacheLog)) == 52


async def test_slots_missed_while_down_run_once_as_one_catch_up_and_are_recorded(
    api: Api, clock: FakeClock
) -> None:
    schedule = await create_schedule(api, **DAILY_BACKUP)
    # Every server was down for five days; the latest slot is 30 minutes old.
    clock.set(START + timedelta(days=4, hours=3))
    assert await tick(api.resources.scheduler) == 1
    assert await tick(api.resources.scheduler) == 0
    missed, caught_up = sorted(await runs_of(api, schedule["id"]), key=lambda r: r["id"])
    assert caught_up["status"] == "COMPLETED"
    assert caught_up["trigger"] == "CATCH_UP"
    assert caught_up["slotAt"] == "2025-01-10T02:30:00+00:00"
    assert missed["status"] == "MISSED"
    assert missed["missedSlots"] == 4
    assert missed["missedFrom"] == "2025-01-06T02:30:00+00:00"
    assert missed["slotAt"] == "2025-01-09T02:30:00+00:00"
    assert "only the latest due slot runs" in missed["errorMessage"]
    assert (await api.query(SCHEDULED_BACKUPS))["backups"]["total"] == 1


async def test_a_slot_older_than_the_grace_is_recorded_missed_and_not_run(
    api: Api, clock: FakeClock
) -> None:
    schedule = await create_schedule(api, **DAILY_BACKUP)
    # The default grace is 60 minutes: 02:30 is 3.5 hours old at 06:00.
    clock.set(START + timedelta(days=1, hours=6))
    assert await tick(api.resources.scheduler) == 0
    (missed,) = await runs_of(api, schedule["id"])
    assert missed["status"] == "MISSED"
    assert missed["missedSlots"] == 2
    assert missed["slotAt"] == "2025-01-07T02:30:00+00:00"
    assert "older than the catch-up grace of 60 minute(s)" in missed["errorMessage"]
    assert (await api.query(SCHEDULED_BACKUPS))["backups"]["total"] == 0
    # ... and the schedule goes on with the next slot.
    clock.set(START + timedelta(days=2, hours=2, minutes=31))
    assert await tick(api.resources.scheduler) == 1


async def test_a_due_run_waits_for_the_job_lock_and_then_runs(api: Api, clock: FakeClock) -> None:
    schedule = await create_schedule(api, **DAILY_BACKUP)
    held = await api.resources.lock.acquire()  # another job, past its end
    clock.set(START + timedelta(hours=2, minutes=31))
    (started,) = await api.resources.scheduler.tick()
    await asyncio.sleep(1.5)
    (run,) = await runs_of(api, schedule["id"])
    assert run["status"] == "WAITING"
    await held.aclose()
    await started
    (run,) = await runs_of(api, schedule["id"])
    assert run["status"] == "COMPLETED"
    assert run["backup"]["origin"] == "SCHEDULED"


async def test_a_run_whose_lock_stays_held_past_the_bound_is_recorded_failed(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url, tmp_path, scheduler=False, schedule_lock_wait_minutes=0.05
    )
    async with open_api(settings, clock=clock) as api:
        schedule = await create_schedule(api, **DAILY_BACKUP)
        held = await api.resources.lock.acquire()
        try:
            clock.set(START + timedelta(hours=2, minutes=31))
            assert await tick(api.resources.scheduler) == 1
        finally:
            await held.aclose()
        (run,) = await runs_of(api, schedule["id"])
    assert run["status"] == "FAILED"
    assert run["errorMessage"].startswith("Not run: waited 0.05 minute(s) for the job lock.")
    assert run["backupId"] is None


async def test_a_run_whose_process_died_is_closed_as_interrupted(
    api: Api, clock: FakeClock
) -> None:
    schedule = await create_schedule(api, **DAILY_BACKUP)
    clock.set(START + timedelta(hours=2, minutes=31))
    assert await tick(api.resources.scheduler) == 1
    # As a dead process leaves it: RUNNING, its heartbeat stopped.
    async with api.resources.sessions() as session:
        await session.execute(
            update(ScheduleRun).values(status="running", updated_at=clock.now, completed_at=None)
        )
        await session.commit()
    clock.advance(minutes=4)
    await tick(api.resources.scheduler)
    assert (await runs_of(api, schedule["id"]))[0]["status"] == "RUNNING"
    clock.advance(minutes=2)  # past run.STALE_AFTER
    await tick(api.resources.scheduler)
    (run,) = await runs_of(api, schedule["id"])
    assert run["status"] == "FAILED"
    assert run["errorMessage"] == run_module.INTERRUPTED_RUN


async def test_two_schedulers_on_one_catalog_claim_each_slot_once(
    mariadb: MariaDBServer, clock: FakeClock, tmp_path: Path
) -> None:
    name = f"claims_{os.getpid()}_{tmp_path.name[-12:]}".replace("-", "_")[:60]
    url = mariadb.create_database(name)
    try:
        await _two_schedulers(url, clock, tmp_path)
    finally:
        mariadb.drop_database(name)


async def _two_schedulers(url: str, clock: FakeClock, tmp_path: Path) -> None:
    one = make_settings(url, tmp_path / "one", scheduler=False)
    other_settings = make_settings(url, tmp_path / "other", scheduler=False, demo_data=False)
    async with (
        open_api(one, clock=clock) as api,
        open_api(other_settings, clock=clock) as other,
    ):
        schedule = await create_schedule(api, **DAILY_BACKUP)
        for day in range(3):
            clock.set(START + timedelta(days=day, hours=2, minutes=30, seconds=1))
            first, second = await asyncio.gather(
                api.resources.scheduler.tick(), other.resources.scheduler.tick()
            )
            assert len(first) + len(second) == 1
            await asyncio.gather(*first, *second)
        async with api.resources.sessions() as session:
            slots = (await session.scalars(select(ScheduleRun.slot_at))).all()
            made = await session.scalar(
                select(func.count()).select_from(Backup).where(Backup.schedule_id == schedule["id"])
            )
    assert len(slots) == len(set(slots)) == 3
    assert made == 3


async def test_running_a_schedule_now_takes_no_slot(api: Api, clock: FakeClock) -> None:
    schedule = await create_schedule(api, **DAILY_BACKUP)
    clock.set(START + timedelta(hours=2, minutes=29, seconds=59))
    started = await api.resources.schedules.run_now(schedule["id"])
    await started.task
    clock.set(START + timedelta(hours=2, minutes=30, seconds=1))
    assert await tick(api.resources.scheduler) == 1  # the 02:30 slot still runs
    runs = await runs_of(api, schedule["id"])
    assert [(run["trigger"], run["status"]) for run in runs] == [
        ("SLOT", "COMPLETED"),
        ("MANUAL", "COMPLETED"),
    ]
    assert runs[1]["slotAt"] is None


async def test_the_servers_own_loop_runs_a_due_slot_and_stops_with_the_server(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url, tmp_path, scheduler=True, scheduler_interval_seconds=0.2)
    async with open_api(settings, clock=clock) as api:
        schedule = await create_schedule(api, **DAILY_BACKUP)
        clock.set(START + timedelta(hours=2, minutes=30, seconds=2))

        async def done() -> list[dict[str, object]] | None:
            runs = await runs_of(api, schedule["id"])
            return runs if runs and runs[0]["status"] == "COMPLETED" else None

        (run,) = await wait_until(done, timeout=60)
        assert run["trigger"] == "SLOT"
        scheduler = api.resources.scheduler
        assert scheduler.running
    assert not scheduler.running  # the lifespan stopped it
