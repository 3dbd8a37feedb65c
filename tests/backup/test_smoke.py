from __future__ import annotations

from tests.backup.helpers import backup_and_wait, restore_and_wait
from tests.support.app import Api


async def test_a_full_backup_completes_and_restores(api: Api) -> None:
    backup = await backup_and_wait(api, backupType="FULL")
    assert backup["status"] == "COMPLETED", backup
    assert backup["fileSize"] > 0
    log = await restore_and_wait(api, backup)
    assert log["status"] == "COMPLETED", log
