"""Helpers for schedule tests: a clock the test moves by hand, and the GraphQL they send."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.schedule.scheduler import Scheduler
from tests.support.app import Api

SCHEDULE_FIELDS = """
  id name enabled action frequency cron timeZone nextRunAt cronDescription
  backup { backupType tables } clearCache { cacheType }
  retention { enabled keepLast keepDaily keepWeekly keepMonthly keepYearly maxTotalSize }
  lastRun { id status trigger slotAt backupId cacheLogId errorMessage rotated missedSlots }
"""
CREATE = (
    "mutation ($input: CreateScheduleInput!) { createSchedule(input: $input) { message "
    "schedule {" + SCHEDULE_FIELDS + "} } }"
)
UPDATE = (
    "mutation ($id: Int!, $input: UpdateScheduleInput!) { updateSchedule(id: $id, input: $input) "
    "{ message schedule {" + SCHEDULE_FIELDS + "} } }"
)
SCHEDULE = "query ($id: Int!) { schedule(id: $id) {" + SCHEDULE_FIELDS + "} }"
RUNS = """
query ($id: Int!, $limit: Int!) { schedule(id: $id) { runs(limit: $limit) { total items {
  id status trigger slotAt missedSlots missedFrom backupId cacheLogId errorMessage rotated
  backup { id origin scheduleId status } } } } }
"""
SCHEDULED_BACKUPS = """
{ backups(limit: 100) { total items { id origin scheduleId status createdAt pinned
  schedule { id name } } } }
"""


@dataclass
class FakeClock:
    """The time as the scheduler and new backups see it; the test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def set(self, when: datetime) -> None:
        self.now = when


async def create_schedule(api: Api, **input_: Any) -> dict[str, Any]:
    data = await api.query(CREATE, {"input": input_})
    schedule: dict[str, Any] = data["createSchedule"]["schedule"]
    return schedule


async def tick(scheduler: Scheduler) -> int:
    """One scheduler pass, and every run it started, to their end; how many it started."""
    started = await scheduler.tick()
    await asyncio.gather(*started)
    return len(started)


async def runs_of(api: Api, schedule_id: int, limit: int = 100) -> list[dict[str, Any]]:
    data = await api.query(RUNS, {"id": schedule_id, "limit": limit})
    items: list[dict[str, Any]] = data["schedule"]["runs"]["items"]
    return items
