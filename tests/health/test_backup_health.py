"""`backupHealth`: what an operator needs to know at a glance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from server.health.service import ScheduleHealth
from tests.backup.helpers import backup_and_wait
from tests.drill.helpers import drill_and_wait
from tests.support.app import Api, make_settings, open_api

HEALTH = """
{
  backupHealth {
    status problems overdue
    lastSuccess { id } lastDrill { id status }
    schedules { scheduleId name overdue nextRunAt lastSuccessAt }
    storage {
      freeBytes totalBytes usedByBackupsBytes growthBytesPerDay daysLeft nextBackupBytes
      enoughForNextBackup
    }
  }
}
"""


async def test_a_database_never_backed_up_is_critical(api: Api) -> None:
    health = (await api.query(HEALTH))["backupHealth"]
    assert health["status"] == "CRITICAL"
    assert health["overdue"] is True
    assert health["problems"] == [
        "No backup has ever completed.",
        "No backup has been drilled yet: run testRestore on the newest one.",
    ]
    assert health["lastSuccess"] is None


async def test_a_fresh_drilled_backup_is_healthy_and_the_disk_lasts_at_its_growth(
    api: Api,
) -> None:
    backup = await backup_and_wait(api, backupType="FULL")
    drill = await drill_and_wait(api, backup["id"])
    health = (await api.query(HEALTH))["backupHealth"]
    assert health["status"] == "OK", health["problems"]
    assert health["lastSuccess"] == {"id": backup["id"]}
    assert health["lastDrill"] == {"id": drill["id"], "status": "PASSED"}
    storage = health["storage"]
    assert storage["usedByBackupsBytes"] == backup["fileSize"]
    assert storage["growthBytesPerDay"] == backup["fileSize"] // 7
    assert storage["daysLeft"] == round(storage["freeBytes"] / storage["growthBytesPerDay"], 1)
    assert storage["enoughForNextBackup"] is True
    assert 0 < storage["nextBackupBytes"] < storage["freeBytes"] <= storage["totalBytes"]


class SchedulesOfAnotherBranch:
    """Stands in for the schedules domain (issue 16), which is not on this branch: it hands
    backupHealth its rows through `Resources.schedule_health`."""

    async def schedule_health(self, now: datetime) -> list[ScheduleHealth]:
        return [
            ScheduleHealth(
                schedule_id=3,
                name="nightly",
                enabled=True,
                last_success_at=now - timedelta(days=2),
                overdue=True,
                next_run_at=now + timedelta(hours=1),
            )
        ]


async def test_an_overdue_schedule_makes_the_health_critical(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", tmp_path)
    async with open_api(settings) as api:
        backup = await backup_and_wait(api, backupType="FULL")
        await drill_and_wait(api, backup["id"])
        api.resources.schedule_health = SchedulesOfAnotherBranch()
        health = (await api.query(HEALTH))["backupHealth"]
    assert health["status"] == "CRITICAL"
    assert health["problems"] == ["Schedule 'nightly' is overdue."]
    [row] = health["schedules"]
    assert row["scheduleId"] == 3 and row["overdue"] is True
    assert datetime.fromisoformat(row["nextRunAt"]) > datetime.now(UTC)
