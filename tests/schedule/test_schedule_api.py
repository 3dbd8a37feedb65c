"""Schedules and rotation through the API: managing them, bad input, pinning, the preview, and
rotation after scheduled backups (real files, real catalog)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.backup.faults import flip_bit
from tests.schedule.helpers import (
    SCHEDULE,
    SCHEDULED_BACKUPS,
    UPDATE,
    FakeClock,
    create_schedule,
    runs_of,
    tick,
)
from tests.support.app import Api, make_settings, open_api
from tests.support.factories import add_backups

START = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)
PREVIEW = """query ($id: Int!) { retentionPreview(scheduleId: $id) { deleteCount bytesFreed
  items { keep reasons details backup { id filename origin pinned } } } }"""
PIN = "mutation ($id: Int!) { pinBackup(id: $id) { id pinned } }"
UNPIN = "mutation ($id: Int!) { unpinBackup(id: $id) { id pinned } }"
DELETE_BACKUP = """mutation ($id: Int!, $confirm: String!) {
  deleteBackup(id: $id, confirm: $confirm) { id } }"""
DELETE_SCHEDULE = "mutation ($id: Int!) { deleteSchedule(id: $id) { message id name } }"
TIGHT = {"keepLast": 2, "keepDaily": 3, "keepWeekly": 0, "keepMonthly": 0, "keepYearly": 0}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def api(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Api]:
    settings = make_settings(database_url, tmp_path, scheduler=False)
    async with open_api(settings, clock=clock) as value:
        yield value


def daily(name: str = "nightly", **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "timing": {"frequency": "DAILY", "timeOfDay": "02:30", "timeZone": "Europe/Berlin"},
        "backup": {"backupType": "PARTIAL"},
        **more,
    }


async def walk_days(api: Api, clock: FakeClock, days: int) -> None:
    """Each day just after 02:30 in Berlin (01:30 UTC in winter), one tick."""
    for day in range(days):
        clock.set(START + timedelta(days=day, hours=1, minutes=30, seconds=10))
        assert await tick(api.resources.scheduler) == 1


async def test_a_schedule_is_created_listed_changed_and_deleted(api: Api) -> None:
    schedule = await create_schedule(api, **daily())
    assert schedule["cron"] == "30 2 * * *"
    assert schedule["cronDescription"] == "At 02:30 every day"
    assert schedule["timeZone"] == "Europe/Berlin"
    assert schedule["nextRunAt"] == "2025-01-06T01:30:00+00:00"
    assert schedule["retention"] == {
        "enabled": True,
        "keepLast": 7,
        "keepDaily": 16,
        "keepWeekly": 8,
        "keepMonthly": 4,
        "keepYearly": 2,
        "maxTotalSize": None,
    }
    assert schedule["lastRun"] is None
    changed = await api.query(
        UPDATE,
        {
            "id": schedule["id"],
            "input": {
                "enabled": False,
                "timing": {"frequency": "CRON", "cron": "0 */6 * * *"},
                "clearCache": {"cacheType": "MEMORY"},
            },
        },
    )
    shown = changed["updateSchedule"]["schedule"]
    assert (shown["enabled"], shown["cron"], shown["action"]) == (
        False,
        "0 */6 * * *",
        "CLEAR_CACHE",
    )
    assert shown["nextRunAt"] is None  # disabled
    assert shown["clearCache"] == {"cacheType": "MEMORY"}
    listed = await api.query("{ schedules { id name } }")
    assert listed["schedules"] == [{"id": schedule["id"], "name": "nightly"}]
    deleted = await api.query(DELETE_SCHEDULE, {"id": schedule["id"]})
    assert deleted["deleteSchedule"]["name"] == "nightly"
    error = await api.error(SCHEDULE, {"id": schedule["id"]})
    assert error["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"timing": {"frequency": "CRON", "cron": "0 25 * * *"}}, "malformed: Bad hour"),
        ({"timing": {"frequency": "CRON", "cron": "0 0 31 4 *"}}, "never fires"),
        ({"timing": {"frequency": "DAILY", "timeZone": "Europe/Atlantis"}}, "Unknown time zone"),
        ({"backup": {"backupType": "SELECTIVE", "tables": ["Nope"]}}, "Unknown table(s): 'Nope'"),
        ({"clearCache": {"cacheType": "MEMORY"}}, "exactly one of them"),
        ({"backup": None}, "exactly one of them"),
        ({"retention": {"keepLast": 0}}, "keepLast must be at least 1"),
        (
            {"clearCache": {"cacheType": "FILE", "specificKeys": ["a"]}, "backup": None},
            "holds no keys",
        ),
    ],
)
async def test_bad_schedules_are_refused_as_bad_user_input_naming_the_problem(
    api: Api, change: dict[str, Any], words: str
) -> None:
    input_ = {**daily(), **change}
    error = await api.error(
        "mutation ($input: CreateScheduleInput!) { createSchedule(input: $input) { message } }",
        {"input": input_},
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert words in error["message"]
    assert (await api.query("{ schedules { id } }"))["schedules"] == []


async def test_two_schedules_cannot_share_a_name(api: Api) -> None:
    await create_schedule(api, **daily())
    error = await api.error(
        "mutation ($input: CreateScheduleInput!) { createSchedule(input: $input) { message } }",
        {"input": daily()},
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "exists already" in error["message"]


async def test_rotation_after_each_backup_keeps_the_policys_set_and_records_what_went(
    api: Api, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    schedule = await create_schedule(api, **daily(retention=TIGHT))
    caplog.set_level(logging.INFO, logger="lumbung.audit")
    await walk_days(api, clock, 6)
    backups = (await api.query(SCHEDULED_BACKUPS))["backups"]["items"]
    # keepLast 2 and keepDaily 3 on nightly backups: the 3 newest days survive.
    assert [b["createdAt"][:10] for b in backups] == ["2025-01-11", "2025-01-10", "2025-01-09"]
    runs = await runs_of(api, schedule["id"])
    assert {run["status"] for run in runs} == {"COMPLETED"}
    assert [len(run["rotated"]) for run in runs] == [1, 1, 1, 0, 0, 0]
    gone = [run["rotated"][0] for run in runs if run["rotated"]]
    files = {p.name for p in api.settings.backup_dir.iterdir()}
    for entry in gone:
        filename = entry.split(" ", 1)[1]
        assert filename not in files and filename + ".manifest.json" not in files
    audited = [r for r in caplog.records if getattr(r, "event", "") == "audit.rotation"]
    assert sorted(r.file for r in audited) == sorted(e.split(" ", 1)[1] for e in gone)  # type: ignore[attr-defined]
    assert {r.reason for r in audited} == {"unselected"}  # type: ignore[attr-defined]


async def test_pinned_backups_survive_rotation_and_refuse_deletion_until_unpinned(
    api: Api, clock: FakeClock
) -> None:
    await create_schedule(api, **daily(retention=TIGHT))
    await walk_days(api, clock, 1)
    (first,) = (await api.query(SCHEDULED_BACKUPS))["backups"]["items"]
    assert (await api.query(PIN, {"id": first["id"]}))["pinBackup"]["pinned"] is True
    clock.advance(days=1)
    for day in range(1, 6):
        clock.set(START + timedelta(days=day, hours=1, minutes=30, seconds=10))
        await tick(api.resources.scheduler)
    ids = [b["id"] for b in (await api.query(SCHEDULED_BACKUPS))["backups"]["items"]]
    assert first["id"] in ids and len(ids) == 4
    row = await api.query("query ($id: Int!) { backup(id: $id) { filename } }", first)
    confirm = row["backup"]["filename"]
    error = await api.error(DELETE_BACKUP, {"id": first["id"], "confirm": confirm})
    assert error["extensions"]["code"] == "CONFLICT"
    assert "unpinBackup" in error["message"]
    await api.query(UNPIN, {"id": first["id"]})
    await api.query(DELETE_BACKUP, {"id": first["id"], "confirm": confirm})


async def test_the_newest_backup_that_verifies_survives_when_newer_ones_are_damaged(
    api: Api, clock: FakeClock
) -> None:
    one_only = {"keepLast": 1, "keepDaily": 0, "keepWeekly": 0, "keepMonthly": 0, "keepYearly": 0}
    schedule = await create_schedule(api, **daily(retention=one_only))
    await walk_days(api, clock, 1)
    (good,) = (await api.query(SCHEDULED_BACKUPS))["backups"]["items"]
    # The next backup is damaged on disk right after it is written: rotation must not
    # delete the one good backup in favour of it.
    clock.set(START + timedelta(days=1, hours=1, minutes=30, seconds=10))
    await api.query(
        UPDATE, {"id": schedule["id"], "input": {"retention": {**one_only, "enabled": False}}}
    )
    assert await tick(api.resources.scheduler) == 1
    newest = (await api.query(SCHEDULED_BACKUPS))["backups"]["items"][0]
    row = await api.query("query ($id: Int!) { backup(id: $id) { filename } }", newest)
    flip_bit(api.settings.backup_dir / row["backup"]["filename"], 40)
    preview = (await api.query(PREVIEW, {"id": schedule["id"]}))["retentionPreview"]
    verdicts = {item["backup"]["id"]: item for item in preview["items"]}
    assert verdicts[newest["id"]]["reasons"] == ["LAST"]
    assert verdicts[good["id"]]["keep"] is True
    assert verdicts[good["id"]]["reasons"] == ["NEWEST_VERIFIED"]
    assert preview["deleteCount"] == 0


async def test_the_preview_says_why_each_backup_is_kept_and_which_safety_backups_go(
    api: Api, clock: FakeClock
) -> None:
    schedule = await create_schedule(api, **daily(retention={**TIGHT, "enabled": False}))
    await walk_days(api, clock, 4)
    old_safety, new_safety = (
        *await add_backups(
            api.resources, 1, origin="safety", created_at=clock.now - timedelta(days=31)
        ),
        *await add_backups(
            api.resources, 1, origin="safety", created_at=clock.now - timedelta(days=29)
        ),
    )
    manual = (await add_backups(api.resources, 1, created_at=clock.now - timedelta(days=90)))[0]
    preview = (await api.query(PREVIEW, {"id": schedule["id"]}))["retentionPreview"]
    reasons = {item["backup"]["id"]: (item["keep"], item["reasons"]) for item in preview["items"]}
    assert manual not in reasons  # manual backups are never in a schedule's scope
    assert reasons[old_safety] == (False, ["OLD_SAFETY"])
    assert reasons[new_safety] == (True, ["RECENT_SAFETY"])
    scheduled = [
        (keep, why)
        for item_id, (keep, why) in reasons.items()
        if item_id not in (old_safety, new_safety)
    ]
    assert scheduled == [
        (True, ["LAST", "DAILY", "NEWEST_VERIFIED"]),
        (True, ["LAST", "DAILY"]),
        (True, ["DAILY"]),
        (False, ["UNSELECTED"]),
    ]
    assert preview["deleteCount"] == 2
