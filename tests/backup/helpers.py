"""Helpers for backup tests: start jobs through the API and wait for them as a client would."""

from __future__ import annotations

from typing import Any

from tests.support.app import Api
from tests.support.waiting import wait_until

CREATE = """
mutation ($input: CreateBackupInput!) {
  createBackup(input: $input) { message backup { id filename status backupType tables } }
}
"""
RESTORE = """
mutation ($id: Int!, $confirm: String!, $tables: [String!], $safety: Boolean) {
  restoreBackup(id: $id, confirm: $confirm, tables: $tables, safetyBackup: $safety) {
    message restoreLog { id status }
  }
}
"""
BACKUP = """
query ($id: Int!) {
  backup(id: $id) {
    id filename status errorMessage fileSize checksum tables backupType origin compression
  }
}
"""
RESTORE_LOGS = """
query ($id: Int!) {
  restoreLogs(backupId: $id) { items { id status errorMessage safetyBackupId tables } }
}
"""


async def backup_and_wait(api: Api, **input_: Any) -> dict[str, Any]:
    data = await api.query(CREATE, {"input": input_})
    started = data["createBackup"]["backup"]
    assert started["status"] == "IN_PROGRESS"
    return await wait_for_backup(api, started["id"])


async def wait_for_backup(api: Api, backup_id: int) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        backup: dict[str, Any] = (await api.query(BACKUP, {"id": backup_id}))["backup"]
        return None if backup["status"] == "IN_PROGRESS" else backup

    return await wait_until(done, what=f"backup #{backup_id} to end")


async def restore_and_wait(
    api: Api, backup: dict[str, Any], tables: list[str] | None = None, safety: bool | None = None
) -> dict[str, Any]:
    data = await api.query(
        RESTORE,
        {"id": backup["id"], "confirm": backup["filename"], "tables": tables, "safety": safety},
    )
    log_id = data["restoreBackup"]["restoreLog"]["id"]

    async def done() -> dict[str, Any] | None:
        items = (await api.query(RESTORE_LOGS, {"id": backup["id"]}))["restoreLogs"]["items"]
        log: dict[str, Any] = next(item for item in items if item["id"] == log_id)
        return None if log["status"] == "IN_PROGRESS" else log

    return await wait_until(done, what=f"restore #{log_id} to end")
