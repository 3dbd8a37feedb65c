"""SCHEDULE_MISSED: slots no server ran in time reach the channels once, from the one process
whose claim on them won, with what was missed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.notify.conftest import CREATE, SIGNING_KEY, notify_settings
from tests.notify.receivers import WebhookReceiver
from tests.schedule.helpers import FakeClock, create_schedule
from tests.support.app import make_settings, open_api
from tests.support.waiting import wait_until

START = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)  # a Monday


async def test_missed_slots_are_announced_once_by_the_process_that_claimed_them(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    clock = FakeClock(START)
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        tmp_path,
        scheduler=False,
        **notify_settings(tmp_path, None),
    )
    async with open_api(settings, clock=clock) as first, open_api(settings, clock=clock) as second:
        await first.query(
            CREATE,
            {
                "input": {
                    "name": "hook",
                    "kind": "WEBHOOK",
                    "events": ["SCHEDULE_MISSED"],
                    "url": receiver.url(),
                    "signingSecret": SIGNING_KEY,
                }
            },
        )
        schedule = await create_schedule(
            first,
            name="nightly",
            timing={"frequency": "DAILY", "timeOfDay": "02:30"},
            backup={"backupType": "PARTIAL"},
        )
        # Every server was down for three nights; the latest slot is beyond the 60-minute grace.
        clock.set(START + timedelta(days=2, hours=6))
        started = await asyncio.gather(
            first.resources.scheduler.tick(), second.resources.scheduler.tick()
        )
        assert [len(runs) for runs in started] == [0, 0]  # nothing is run: all three are missed

        async def delivered() -> bool | None:
            return True if receiver.deliveries else None

        await wait_until(delivered, timeout=30, what="the SCHEDULE_MISSED webhook")
        await first.resources.notifier.idle()
        await second.resources.notifier.idle()
    assert len(receiver.deliveries) == 1
    body = json.loads(receiver.deliveries[0].body)
    assert body["event"] == "schedule_missed"
    assert body["subject"] == (
        "Schedule 'nightly' missed 3 runs, 2025-01-06 02:30 to 2025-01-08 02:30 UTC"
    )
    assert body["details"] == {
        "scheduleId": schedule["id"],
        "missedSlots": 3,
        "missedFrom": "2025-01-06T02:30:00+00:00",
        "missedTo": "2025-01-08T02:30:00+00:00",
        "reason": body["details"]["reason"],
    }
    assert "older than the catch-up grace of 60 minute(s)" in body["details"]["reason"]


async def test_one_missed_slot_before_a_catch_up_is_announced_as_that_run(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    clock = FakeClock(START)
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        tmp_path,
        scheduler=False,
        **notify_settings(tmp_path, None),
    )
    async with open_api(settings, clock=clock) as api:
        await api.query(
            CREATE,
            {
                "input": {
                    "name": "hook",
                    "kind": "WEBHOOK",
                    "events": ["SCHEDULE_MISSED"],
                    "url": receiver.url(),
                    "signingSecret": SIGNING_KEY,
                }
            },
        )
        await create_schedule(
            api,
            name="nightly",
            timing={"frequency": "DAILY", "timeOfDay": "02:30"},
            backup={"backupType": "PARTIAL"},
        )
        # Down across two slots; the latest is 30 minutes old: it runs, the one before is missed.
        clock.set(START + timedelta(days=1, hours=3))
        (run,) = await api.resources.scheduler.tick()
        await run
        await api.resources.notifier.idle()
    (delivery,) = receiver.deliveries
    body = json.loads(delivery.body)
    assert body["subject"] == "Schedule 'nightly' missed its run of 2025-01-06 02:30 UTC"
    assert body["details"]["missedSlots"] == 1
    assert "only the latest due slot runs (a catch-up)" in body["details"]["reason"]
