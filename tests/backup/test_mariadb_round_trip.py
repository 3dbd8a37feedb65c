"""Backups restore exactly: CHECKSUM TABLE is equal before and after, on a real MariaDB."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from tests.backup.conftest import checksums
from tests.backup.helpers import backup_and_wait, restore_and_wait
from tests.support.app import Api


async def _sql(api: Api, *statements: str) -> list[Any]:
    results = []
    async with api.resources.engine.begin() as connection:
        for statement in statements:
            result = await connection.execute(text(statement))
            results.append(result.all() if result.returns_rows else None)
    return results


async def _damage(api: Api) -> None:
    await _sql(
        api,
        "DROP VIEW `EverythingView`",
        "DROP PROCEDURE `count_everything`",
        "DELETE FROM `Everything` WHERE txt = 'big'",
        "UPDATE `Everything` SET txt = 'changed'",
        "UPDATE `User` SET name = 'changed'",
        "DROP TABLE `a``b`",
    )


async def test_a_full_backup_restores_every_table_view_trigger_and_routine(rich: Api) -> None:
    before = await checksums(rich.resources.engine)
    backup = await backup_and_wait(rich, backupType="FULL")
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    assert set(backup["tables"]) == {"User", "Role", "Permission", "Message", "Everything", "a`b"}

    await _damage(rich)
    assert await checksums(rich.resources.engine) != before
    log = await restore_and_wait(rich, backup)
    assert log["status"] == "COMPLETED", log["errorMessage"]

    assert await checksums(rich.resources.engine) == before
    [[(count,)], _, [(filled,)]] = await _sql(
        rich,
        "SELECT COUNT(*) FROM `EverythingView`",
        "INSERT INTO `Everything` (txt) VALUES ('after restore')",
        "SELECT nothing FROM `Everything` WHERE txt = 'after restore'",
    )
    assert count == 4
    assert filled == "from trigger"  # the trigger came back
    async with rich.resources.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        cursor = await raw.driver_connection.cursor()  # type: ignore[union-attr]
        await cursor.callproc("count_everything")
        assert (await cursor.fetchone()) == (5,)
        await cursor.close()


async def test_the_manifest_counts_every_tables_rows_exactly(rich: Api) -> None:
    backup = await backup_and_wait(rich, backupType="FULL")
    manifest = json.loads(
        (rich.settings.backup_dir / (backup["filename"] + ".manifest.json")).read_text()
    )
    rows = {s["table"]: s["rows"] for s in manifest["sections"] if s["kind"] == "table"}
    assert rows == {"Everything": 4, "Message": 42, "Permission": 8, "Role": 3, "User": 6, "a`b": 2}
    assert manifest["database"]["engine"] == "MariaDB"
    assert manifest["tool"]["name"] in ("mariadb-dump", "mysqldump")
    assert manifest["options"]["backupType"] == "full"


async def test_a_partial_backup_restores_only_the_core_tables(rich: Api) -> None:
    before = await checksums(rich.resources.engine)
    backup = await backup_and_wait(rich, backupType="PARTIAL")
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    assert sorted(backup["tables"]) == ["Permission", "Role", "User"]
    await _sql(rich, "UPDATE `User` SET name = 'changed'", "UPDATE `Everything` SET txt = 'kept'")
    log = await restore_and_wait(rich, backup)
    assert log["status"] == "COMPLETED", log["errorMessage"]
    after = await checksums(rich.resources.engine)
    assert {t: after[t] for t in ("User", "Role", "Permission")} == {
        t: before[t] for t in ("User", "Role", "Permission")
    }
    [[(kept,)]] = await _sql(rich, "SELECT COUNT(*) FROM `Everything` WHERE txt = 'kept'")
    assert kept == 4  # not in the backup: untouched


async def test_a_selective_backup_of_odd_names_restores(rich: Api) -> None:
    before = await checksums(rich.resources.engine)
    backup = await backup_and_wait(rich, backupType="SELECTIVE", tables=["Everything", "a`b"])
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    await _damage(rich)
    log = await restore_and_wait(rich, backup)
    assert log["status"] == "COMPLETED", log["errorMessage"]
    after = await checksums(rich.resources.engine)
    assert after["Everything"] == before["Everything"]
    assert after["a`b"] == before["a`b"]


async def test_a_schema_only_backup_restores_empty_tables(rich: Api) -> None:
    backup = await backup_and_wait(
        rich, backupType="SELECTIVE", tables=["Everything"], includeData=False
    )
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    await _sql(rich, "DROP TABLE `Everything`")
    log = await restore_and_wait(rich, backup)
    assert log["status"] == "COMPLETED", log["errorMessage"]
    [[(count,)], [columns]] = await _sql(
        rich,
        "SELECT COUNT(*) FROM `Everything`",
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'Everything'",
    )
    assert (count, columns[0]) == (0, 8)


async def test_a_data_only_backup_replaces_the_rows(rich: Api) -> None:
    before = await checksums(rich.resources.engine)
    backup = await backup_and_wait(
        rich, backupType="SELECTIVE", tables=["Everything", "User"], includeSchema=False
    )
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    await _sql(rich, "UPDATE `User` SET name = 'changed'", "DELETE FROM `Everything` WHERE id = 1")
    log = await restore_and_wait(rich, backup)
    assert log["status"] == "COMPLETED", log["errorMessage"]
    after = await checksums(rich.resources.engine)
    assert (after["User"], after["Everything"]) == (before["User"], before["Everything"])
