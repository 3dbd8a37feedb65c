"""`backupHealth`: what an operator needs to know at a glance."""

from __future__ import annotations

from tests.backup.helpers import backup_and_wait
from tests.drill.helpers import drill_and_wait
from tests.support.app import Api

HEALTH = """
{
  backupHealth {
    status problems overdue
    lastSuccess { id } lastDrill { id status }
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
