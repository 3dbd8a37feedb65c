"""A backup schedule drills its own backups: every Nth, or the first of each day, waiting for the
job lock within the schedule's bound, and recorded in its history either way. Real backups
and real drills on SQLite and MariaDB, under a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Backup, RestoreDrill, Schedule, ScheduleRun
from server.schedule import run as run_module
from server.schedule.drills import drill_due
from tests.backup.faults import reseal
from tests.schedule.helpers import FakeClock, create_schedule, tick
from tests.support.app import Api, make_settings, open_api

START = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)  # a Monday

DRILL_RUNS = """
query ($id: Int!) { schedule(id: $id) {
  drill { mode every }
  runs(limit: 100) { items {
    id status slotAt backupId drillId errorMessage
    drill { id status backupId scheduleId requestedBy problems }
  } }
} }
"""
UPDATE_DRILL = """
mutation ($id: Int!, $input: UpdateScheduleInput!) {
  updateSchedule(id: $id, input: $input) { schedule { drill { mode every } } }
}
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def api(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Api]:
    settings = make_settings(database_url, tmp_path, scheduler=False)
    async with open_api(settings, clock=clock) as value:
        yield value


def nightly(**drill: Any) -> dict[str, Any]:
    return {
        "name": "nightly",
        "timing": {"frequency": "DAILY", "timeOfDay": "02:30"},
        "backup": {"backupType": "PARTIAL"},
        "drill": drill,
    }


async def history(api: Api, schedule_id: int) -> list[dict[str, Any]]:
    """The schedule's runs, oldest first."""
    data = await api.query(DRILL_RUNS, {"id": schedule_id})
    runs: list[dict[str, Any]] = data["schedule"]["runs"]["items"]
    return sorted(runs, key=lambda run: run["id"])


async def run_days(api: Api, clock: FakeClock, days: int, first: int = 0) -> None:
    for day in range(first, first + days):
        clock.set(START + timedelta(days=day, hours=2, minutes=30, seconds=5))
        assert await tick(api.resources.scheduler) == 1


async def test_a_schedule_drills_every_third_backup_and_its_history_says_which(
    api: Api, clock: FakeClock
) -> None:
    schedule = await create_schedule(api, **nightly(mode="EVERY_NTH", every=3))
    await run_days(api, clock, 7)
    runs = await history(api, schedule["id"])
    assert [run["status"] for run in runs] == ["COMPLETED"] * 7
    drilled = [run for run in runs if run["drillId"] is not None]
    assert [runs.index(run) + 1 for run in drilled] == [3, 6]
    for run in drilled:
        assert run["drill"] == {
            "id": run["drillId"],
            "status": "PASSED",
            "backupId": run["backupId"],
            "scheduleId": schedule["id"],
            "requestedBy": 0,
            "problems": [],
        }
    assert all(run["drill"] is None for run in runs if run not in drilled)


async def test_a_daily_drill_takes_the_first_backup_of_each_day_in_the_schedules_time_zone(
    api: Api, clock: FakeClock
) -> None:
    # 23:30 and 00:30 in Jakarta (UTC+7) are 16:30 and 17:30 UTC: one UTC day, two local days.
    schedule = await create_schedule(
        api,
        name="twice a night",
        timing={"frequency": "CRON", "cron": "30 0,23 * * *", "timeZone": "Asia/Jakarta"},
        backup={"backupType": "PARTIAL"},
        drill={"mode": "DAILY"},
    )
    for slot in ("2025-01-06T16:30", "2025-01-06T17:30", "2025-01-07T16:30", "2025-01-07T17:30"):
        clock.set(datetime.fromisoformat(slot).replace(tzinfo=UTC) + timedelta(seconds=5))
        assert await tick(api.resources.scheduler) == 1
    runs = await history(api, schedule["id"])
    assert [run["slotAt"][:16] for run in runs] == [
        "2025-01-06T16:30",
        "2025-01-06T17:30",
        "2025-01-07T16:30",
        "2025-01-07T17:30",
    ]
    assert [run["drill"]["status"] if run["drill"] else None for run in runs] == [
        "PASSED",  # 6 January, 23:30 local: the first ever
        "PASSED",  # 7 January, 00:30 local: a new day there, though not in UTC
        None,  # 7 January, 23:30 local: that day has its drill
        "PASSED",  # 8 January, 00:30 local
    ]


@dataclass
class OtherJob:
    """Another job that takes the job lock in the moment between a scheduled backup's end and
    its drill's start, and keeps it `hold` seconds (None: until `release()`)."""

    api: Api
    hold: float | None
    held: AsyncExitStack | None = None
    released_at: datetime | None = None
    releaser: asyncio.Task[None] | None = None

    async def due(self, session: AsyncSession, schedule: Schedule, run: ScheduleRun) -> bool:
        """drill_due, as the run calls it, once the other job holds the lock."""
        self.held = await self.api.resources.lock.acquire()
        if self.hold is not None:
            self.releaser = asyncio.get_running_loop().create_task(self._release_later(self.hold))
        return await drill_due(session, schedule, run)

    async def _release_later(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.release()

    async def release(self) -> None:
        if self.held is not None:
            self.released_at = datetime.now(UTC)
            await self.held.aclose()
            self.held = None


async def test_a_due_drill_waits_for_the_job_lock_and_then_runs(
    api: Api, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule = await create_schedule(api, **nightly(mode="EVERY_NTH", every=1))
    other = OtherJob(api, hold=1.5)
    monkeypatch.setattr(run_module, "drill_due", other.due)
    await run_days(api, clock, 1)
    (run,) = await history(api, schedule["id"])
    assert run["status"] == "COMPLETED", run["errorMessage"]
    assert run["drill"]["status"] == "PASSED"
    assert other.released_at is not None
    async with api.resources.sessions() as session:
        drill = await session.get(RestoreDrill, run["drillId"])
    assert drill is not None and drill.created_at >= other.released_at


async def test_a_drill_that_cannot_get_the_lock_within_the_bound_is_recorded_and_tried_again(
    database_url: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(
        database_url, tmp_path, scheduler=False, schedule_lock_wait_minutes=0.05
    )
    async with open_api(settings, clock=clock) as api:
        schedule = await create_schedule(api, **nightly(mode="EVERY_NTH", every=2))
        await run_days(api, clock, 1)  # the first backup: no drill due
        other = OtherJob(api, hold=None)
        monkeypatch.setattr(run_module, "drill_due", other.due)
        try:
            await run_days(api, clock, 1, first=1)
        finally:
            await other.release()
        monkeypatch.undo()
        await run_days(api, clock, 1, first=2)
        runs = await history(api, schedule["id"])
        async with api.resources.sessions() as session:
            backups = (await session.scalars(select(Backup).order_by(Backup.id))).all()
    assert [run["drillId"] is not None for run in runs] == [False, False, True]
    refused = runs[1]
    assert refused["status"] == "FAILED"
    assert refused["errorMessage"].startswith(
        f"Backup #{refused['backupId']} completed, but its restore drill did not start after "
        "waiting 0.05 minute(s) for the job lock: Not started:"
    )
    assert [backup.status.value for backup in backups] == ["completed"] * 3
    # The count was not reset by the drill that never ran: the next backup is drilled.
    assert runs[2]["status"] == "COMPLETED"
    assert runs[2]["drill"]["status"] == "PASSED"


async def test_a_scheduled_drill_that_fails_fails_its_run_naming_the_table(
    api: Api, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule = await create_schedule(api, **nightly(mode="EVERY_NTH", every=1))

    async def rewritten(session: AsyncSession, row: Schedule, run: ScheduleRun) -> bool:
        # What a buggy dump tool would have written: one row changed, every checksum agreeing.
        # (Before the run's session reads: SQLite lets no one write under a reader.)
        async with api.resources.sessions() as own:
            backup = (await own.scalars(select(Backup).order_by(Backup.id.desc()).limit(1))).one()
        await reseal(
            api,
            {"id": backup.id, "filename": backup.filename},
            "User",
            lambda sql: sql.replace(b"Dewi Lestari", b"Dewi Lestary"),
        )
        return await drill_due(session, row, run)

    monkeypatch.setattr(run_module, "drill_due", rewritten)
    await run_days(api, clock, 1)
    (run,) = await history(api, schedule["id"])
    assert run["status"] == "FAILED"
    assert run["drill"]["status"] == "FAILED"
    assert run["errorMessage"] == (
        f"Backup #{run['backupId']} completed, but restore drill #{run['drillId']} failed: "
        + run["drill"]["problems"][0]
    )
    assert run["drill"]["problems"][0].startswith("Table `User`: its rows differ")


async def test_drill_options_are_checked_against_what_the_schedule_runs(api: Api) -> None:
    async def refused(**input_: Any) -> str:
        error = await api.error(
            "mutation ($input: CreateScheduleInput!) { createSchedule(input: $input) { message } }",
            {"input": input_},
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        message: str = error["message"]
        return message

    assert "drill.every must be 1 to 1000" in await refused(**nightly(mode="EVERY_NTH"))
    assert "drill.every must be 1 to 1000" in await refused(**nightly(mode="EVERY_NTH", every=0))
    assert "for EVERY_NTH only" in await refused(**nightly(mode="DAILY", every=2))
    assert "Only a backup schedule can drill" in await refused(
        name="clear",
        timing={"frequency": "HOURLY"},
        clearCache={"cacheType": "MEMORY"},
        drill={"mode": "DAILY"},
    )
    data_only = nightly(mode="DAILY")
    data_only["backup"] = {"backupType": "PARTIAL", "includeSchema": False}
    assert "data-only" in await refused(**data_only)

    schedule = await create_schedule(api, **nightly(mode="DAILY"))
    assert (await api.query(DRILL_RUNS, {"id": schedule["id"]}))["schedule"]["drill"] == {
        "mode": "DAILY",
        "every": None,
    }
    # Turning it into a cache clear while it drills is refused; with the drill off, it is not.
    to_clear = {"clearCache": {"cacheType": "MEMORY"}}
    error = await api.error(UPDATE_DRILL, {"id": schedule["id"], "input": to_clear})
    assert "Only a backup schedule can drill" in error["message"]
    changed = await api.query(
        UPDATE_DRILL, {"id": schedule["id"], "input": {**to_clear, "drill": {"mode": "OFF"}}}
    )
    assert changed["updateSchedule"]["schedule"]["drill"] == {"mode": "OFF", "every": None}
