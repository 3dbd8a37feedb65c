"""Start drills through the API and wait for them as a client would."""

from __future__ import annotations

from typing import Any

from tests.support.app import Api
from tests.support.waiting import wait_until

TEST_RESTORE = """
mutation ($id: Int!) { testRestore(backupId: $id) { message drill { id status backupId } } }
"""
DRILLS = """
query ($id: Int!) {
  restoreDrills(backupId: $id) {
    items {
      id status at completedAt durationSeconds restoresIn totalSeconds problems unproven tables
    }
  }
}
"""


async def drill_and_wait(api: Api, backup_id: int) -> dict[str, Any]:
    data = await api.query(TEST_RESTORE, {"id": backup_id})
    drill_id = data["testRestore"]["drill"]["id"]
    assert data["testRestore"]["drill"]["status"] == "IN_PROGRESS"

    async def done() -> dict[str, Any] | None:
        items = (await api.query(DRILLS, {"id": backup_id}))["restoreDrills"]["items"]
        drill: dict[str, Any] = next(item for item in items if item["id"] == drill_id)
        return None if drill["status"] == "IN_PROGRESS" else drill

    result: dict[str, Any] = await wait_until(done)
    return result
