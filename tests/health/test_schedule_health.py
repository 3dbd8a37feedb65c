"""backupHealth's rows per schedule, from the schedules domain: the last success, overdue or
not, the last drill and the next run, as the days pass under a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.schedule.helpers import FakeClock, create_schedule, runs_of, tick
from tests.support.app import Api, make_settings, open_api
from tests.support.waiting import wait_until

START = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)  # a Monday
SLOT = timedelta(hours=2, minutes=30)

HEALTH = """
{
  backupHealth {
    status problems
    schedules {
      scheduleId name enabled lastSuccessAt overdue nextRunAt
      lastDrill { status backupId scheduleId }
    }
  }
}
"""
NIGHTLY = {
    "name": "nightly",
    "timing": {"frequency": "DAILY", "timeOfDay": "02:30"},
    "backup": {"backupType": "PARTIAL"},
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def api(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Api]:
    settings = make_settings(database_url, tmp_path, scheduler=False)
    async with open_api(settings, clock=clock) as value:
        yield value


async def health(api: Api) -> dict[str, Any]:
    data: dict[str, Any] = (await api.query(HEALTH))["backupHealth"]
    return data


async def rows(api: Api) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in (await health(api))["schedules"]}


async def test_each_schedule_shows_its_last_success_drill_and_next_run_and_when_it_is_late(
    api: Api, clock: FakeClock
) -> None:
    nightly = await create_schedule(api, **NIGHTLY, drill={"mode": "EVERY_NTH", "every": 1})
    await create_schedule(
        api, name="hourly clear", timing={"frequency": "HOURLY"}, clearCache={"cacheType": "MEMORY"}
    )
    await create_schedule(api, **{**NIGHTLY, "name": "off", "enabled": False})

    before = await rows(api)
    assert before["nightly"] == {
        "scheduleId": nightly["id"],
        "name": "nightly",
        "enabled": True,
        "lastSuccessAt": None,
        "overdue": False,
        "nextRunAt": "2025-01-06T02:30:00+00:00",
        "lastDrill": None,
    }

    clock.set(START + SLOT + timedelta(seconds=5))
    assert await tick(api.resources.scheduler) == 2  # the nightly backup, the hourly clear
    (run,) = await runs_of(api, nightly["id"])
    after = await rows(api)
    assert after["nightly"]["overdue"] is False
    assert after["nightly"]["lastSuccessAt"] == "2025-01-06T02:30:05+00:00"
    assert after["nightly"]["nextRunAt"] == "2025-01-07T02:30:00+00:00"
    assert after["nightly"]["lastDrill"] == {
        "status": "PASSED",
        "backupId": run["backupId"],
        "scheduleId": nightly["id"],
    }
    assert after["hourly clear"]["lastSuccessAt"] == "2025-01-06T02:30:05+00:00"
    assert after["hourly clear"]["overdue"] is False
    assert (await health(api))["status"] == "OK", (await health(api))["problems"]

    # The next night nothing runs (no server ran the scheduler): late once the grace is over.
    clock.set(START + timedelta(days=1) + SLOT + timedelta(minutes=59))
    assert (await rows(api))["nightly"]["overdue"] is False
    clock.set(START + timedelta(days=1) + SLOT + timedelta(minutes=61))
    late = await health(api)
    by_name = {row["name"]: row for row in late["schedules"]}
    assert by_name["nightly"]["overdue"] is True
    assert by_name["nightly"]["nextRunAt"] == "2025-01-07T02:30:00+00:00"  # in the past
    assert by_name["hourly clear"]["overdue"] is True
    assert by_name["off"]["overdue"] is False  # a disabled schedule is never late
    assert late["status"] == "CRITICAL"
    assert "Schedule 'nightly' is overdue." in late["problems"]
    assert "Schedule 'off' is overdue." not in late["problems"]


async def test_a_run_going_for_its_slot_is_not_late_and_one_that_failed_is_at_once(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url, tmp_path, scheduler=False, schedule_lock_wait_minutes=0.05
    )
    async with open_api(settings, clock=clock) as api:
        nightly = await create_schedule(api, **NIGHTLY)
        clock.set(START + SLOT + timedelta(seconds=5))
        assert await tick(api.resources.scheduler) == 1

        # The next night another job holds the lock: the run waits for it.
        held = await api.resources.lock.acquire()
        try:
            clock.set(START + timedelta(days=1) + SLOT + timedelta(seconds=5))
            (started,) = await api.resources.scheduler.tick()

            async def waiting() -> bool | None:
                runs = await runs_of(api, nightly["id"])
                return True if runs[0]["status"] == "WAITING" else None

            await wait_until(waiting, what="the run to wait for the lock")
            clock.set(START + timedelta(days=1) + SLOT + timedelta(hours=2))
            assert (await rows(api))["nightly"]["overdue"] is False  # its run is going
            clock.set(START + timedelta(days=1) + SLOT + timedelta(seconds=10))
            await started
        finally:
            await held.aclose()
        (failed, _completed) = await runs_of(api, nightly["id"])
        assert failed["status"] == "FAILED"
        # Within the grace, but its run has ended without a backup.
        assert (await rows(api))["nightly"]["overdue"] is True

        # A run for a later slot going while an earlier one failed: still late.
        held = await api.resources.lock.acquire()
        try:
            clock.set(START + timedelta(days=2) + SLOT + timedelta(seconds=5))
            (started,) = await api.resources.scheduler.tick()
            assert (await rows(api))["nightly"]["overdue"] is True
        finally:
            await held.aclose()
        await asyncio.wait_for(started, timeout=120)
        assert (await rows(api))["nightly"]["overdue"] is False  # caught up by its backup
