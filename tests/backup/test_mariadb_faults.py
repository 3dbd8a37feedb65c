"""Faults on real processes and real files: nothing is lost, every failure says what happened."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.backup.conftest import checksums, fill_bulk
from tests.backup.faults import (
    flip_bit,
    rewrite_section,
    wait_for_child,
    wait_for_loading_client,
    wait_for_no_child,
    wait_for_phase,
)
from tests.backup.helpers import (
    BACKUP,
    CREATE,
    RESTORE,
    RESTORE_LOGS,
    backup_and_wait,
    restore_and_wait,
    wait_for_backup,
)
from tests.support.app import Api, make_settings, open_api
from tests.support.lumbung import LumbungServer, post, start_server
from tests.support.mariadb import MariaDBServer
from tests.support.tokens import JWT_SECRET
from tests.support.waiting import wait_until


def _files(api: Api) -> list[str]:
    return sorted(p.name for p in api.settings.backup_dir.iterdir())


async def _start(api: Api, **input_: object) -> int:
    data = await api.query(CREATE, {"input": input_})
    backup_id: int = data["createBackup"]["backup"]["id"]
    return backup_id


async def test_a_killed_dump_fails_the_backup_and_leaves_no_file(
    database: str, tmp_path: Path
) -> None:
    # zstd level 19 keeps the dump busy long enough to be caught in the act.
    async with open_api(make_settings(database, tmp_path, zstd_level=19)) as api:
        await fill_bulk(api.resources.engine, 40_000)
        backup_id = await _start(api, backupType="FULL")
        await wait_for_phase(api, f"backup:{backup_id}", "dumping")
        (await wait_for_child("mariadb-dump")).kill()
        backup = await wait_for_backup(api, backup_id)
        assert backup["status"] == "FAILED"
        assert "killed by signal 9" in backup["errorMessage"]
        assert _files(api) == []  # no partial, no file, no manifest
        # The lock went with the job: the next backup runs.
        assert (await backup_and_wait(api, backupType="PARTIAL"))["status"] == "COMPLETED"


async def test_a_server_killed_mid_backup_fails_it_and_backups_work_after_restart(
    tmp_path: Path,
) -> None:
    server = MariaDBServer(tmp_path).start()
    try:
        url = server.create_database("victim")
        async with open_api(make_settings(url, tmp_path, zstd_level=19)) as api:
            await fill_bulk(api.resources.engine, 40_000)
            backup_id = await _start(api, backupType="FULL")
            await wait_for_phase(api, f"backup:{backup_id}", "dumping")
            server.kill()
            await wait_for_no_child("mariadb-dump")  # it died of the lost connection
            server.start()
            backup = await wait_for_backup(api, backup_id)
            assert backup["status"] == "FAILED"
            assert (
                "mariadb-dump failed" in backup["errorMessage"]
                or "mysqldump failed" in backup["errorMessage"]
            )
            assert server.password not in backup["errorMessage"]
            assert _files(api) == []
            assert (await backup_and_wait(api, backupType="PARTIAL"))["status"] == "COMPLETED"
    finally:
        server.cleanup()


async def test_a_backup_that_fills_the_disk_fails_cleanly(
    database: str, tmp_path: Path, tiny_disk: Callable[[str], Path]
) -> None:
    # The estimate (row data) passes the free-space check; the hex dump of random bytes is
    # twice as large and fills the disk midway.
    folder = tiny_disk("72m")
    async with open_api(make_settings(database, tmp_path, backup_dir=folder)) as api:
        await fill_bulk(api.resources.engine, 40_000, random=True)
        backup = await backup_and_wait(
            api, backupType="SELECTIVE", tables=["Bulk"], compression="NONE"
        )
        assert backup["status"] == "FAILED"
        assert "disk filled up" in backup["errorMessage"]
        assert _files(api) == []


async def test_a_backup_larger_than_the_free_space_is_refused_up_front(
    database: str, tmp_path: Path, tiny_disk: Callable[[str], Path]
) -> None:
    folder = tiny_disk("8m")
    async with open_api(make_settings(database, tmp_path, backup_dir=folder)) as api:
        await fill_bulk(api.resources.engine, 20_000, random=True)
        error = await api.error(CREATE, {"input": {"backupType": "FULL", "compression": "NONE"}})
        assert error["extensions"]["code"] == "INSUFFICIENT_STORAGE"
        assert "free" in error["message"]
        assert (await api.query("{ backups { total } }"))["backups"]["total"] == 0


@pytest.mark.parametrize("damage", ["flipped bit", "truncated"])
async def test_a_damaged_backup_is_refused_and_nothing_is_touched(rich: Api, damage: str) -> None:
    backup = await backup_and_wait(rich, backupType="SELECTIVE", tables=["Everything", "User"])
    path = rich.settings.backup_dir / backup["filename"]
    if damage == "flipped bit":
        flip_bit(path, path.stat().st_size // 2)
    else:
        with path.open("r+b") as handle:
            handle.truncate(path.stat().st_size - 100)
    before = await checksums(rich.resources.engine)
    error = await rich.error(RESTORE, {"id": backup["id"], "confirm": backup["filename"]})
    assert error["extensions"]["code"] == "CHECKSUM_MISMATCH"
    assert "Nothing was changed" in error["message"]
    assert await checksums(rich.resources.engine) == before
    logs = await rich.query("{ restoreLogs { total } backups(status: IN_PROGRESS) { total } }")
    assert logs == {"restoreLogs": {"total": 0}, "backups": {"total": 0}}


async def test_a_restore_that_fails_midway_leaves_the_live_data_as_it_was(rich: Api) -> None:
    backup = await backup_and_wait(
        rich, backupType="SELECTIVE", tables=["Everything", "User", "a`b"]
    )
    # `Everything` and `User` restore first; then the server rejects the last table's SQL.
    await rewrite_section(rich, backup, "a`b", b"INSERT INTO `no_such_table` VALUES (1);\n")
    async with rich.resources.engine.begin() as connection:
        from sqlalchemy import text

        await connection.execute(text("UPDATE `User` SET name = 'live'"))
        await connection.execute(text("DELETE FROM `Everything` WHERE txt = 'big'"))
    before = await checksums(rich.resources.engine)
    log = await restore_and_wait(rich, backup)
    assert log["status"] == "FAILED"
    assert "no_such_table" in log["errorMessage"]
    assert "rolled back from safety backup" in log["errorMessage"]
    assert await checksums(rich.resources.engine) == before
    safety = (await rich.query(BACKUP, {"id": log["safetyBackupId"]}))["backup"]
    assert (safety["origin"], safety["status"]) == ("SAFETY", "COMPLETED")


async def test_two_concurrent_backups_conflict_naming_the_running_one(
    database: str, tmp_path: Path
) -> None:
    async with open_api(make_settings(database, tmp_path, zstd_level=19)) as api:
        await fill_bulk(api.resources.engine, 20_000)
        first_id = await _start(api, backupType="FULL")
        error = await api.error(CREATE, {"input": {"backupType": "PARTIAL"}})
        assert error["extensions"]["code"] == "CONFLICT"
        assert f"backup #{first_id}" in error["message"]
        assert (await wait_for_backup(api, first_id))["status"] == "COMPLETED"


async def test_a_server_killed_mid_restore_has_it_rolled_back_at_its_next_start(
    database: str, tmp_path: Path
) -> None:
    """`lumbung serve` SIGKILLed while a restore writes: the mariadb client dies with it (it
    would otherwise go on executing what it had read), and the next start puts the tables back
    from the restore's safety backup."""
    env = {
        "LUMBUNG_DATABASE_URL": database,
        "LUMBUNG_JWT_SECRET": JWT_SECRET,
        "LUMBUNG_DATA_DIR": str(tmp_path / "data"),
        "LUMBUNG_BACKUP_DIR": str(tmp_path / "backups"),
        "LUMBUNG_DEMO_DATA": "true",
        "LUMBUNG_LOG_FORMAT": "text",
        # One `mariadb` client, to kill the server while it loads (test_mariadb_parallel_restore
        # kills one during a parallel load).
        "LUMBUNG_RESTORE_CONNECTIONS": "1",
    }

    async def logs(server: LumbungServer, backup_id: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await post(server, RESTORE_LOGS, {"id": backup_id}))[
            "restoreLogs"
        ]["items"]
        return items

    engine = create_async_engine(database)
    first = start_server(tmp_path, env)
    try:
        await fill_bulk(engine, 80_000)
        created = await post(first, CREATE, {"input": {"backupType": "FULL"}})
        backup_id = created["createBackup"]["backup"]["id"]

        async def backup_done() -> dict[str, Any] | None:
            item: dict[str, Any] = (await post(first, BACKUP, {"id": backup_id}))["backup"]
            return None if item["status"] == "IN_PROGRESS" else item

        backup = await wait_until(backup_done)
        assert backup["status"] == "COMPLETED", backup["errorMessage"]
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE `Bulk` SET payload = 'changed' WHERE id <= 99"))
        before = await checksums(engine)

        await post(first, RESTORE, {"id": backup_id, "confirm": backup["filename"]})
        client = await wait_for_loading_client()  # it is writing the tables now
        assert (await logs(first, backup_id))[0]["status"] == "IN_PROGRESS"
        first.process.kill()
        first.process.wait()
        psutil.wait_procs([client], timeout=5)
        assert not client.is_running(), "the mariadb client outlived the server"
        assert await checksums(engine) != before, "killed after the restore had finished"

        second = start_server(tmp_path, env)
        try:
            [interrupted] = await logs(second, backup_id)
            assert interrupted["status"] == "FAILED"
            safety_id = interrupted["safetyBackupId"]

            async def rollback_done() -> dict[str, Any] | None:
                items = await logs(second, safety_id)
                return items[0] if items and items[0]["status"] != "IN_PROGRESS" else None

            rollback = await wait_until(rollback_done)
            assert rollback["status"] == "COMPLETED", rollback["errorMessage"]
            assert await checksums(engine) == before
            assert interrupted["errorMessage"].endswith(
                f"they are put back from safety backup #{safety_id} "
                f"({(await post(second, BACKUP, {'id': safety_id}))['backup']['filename']}). "
                f"Restore #{rollback['id']} does that."
            )
        finally:
            second.stop()
    finally:
        first.stop()
        await engine.dispose()


async def test_a_killed_restore_client_is_named_as_killed_and_rolled_back(
    database: str, tmp_path: Path
) -> None:
    async with open_api(make_settings(database, tmp_path, restore_connections=1)) as api:
        await fill_bulk(api.resources.engine, 80_000)
        backup = await backup_and_wait(api, backupType="FULL")
        async with api.resources.engine.begin() as connection:
            await connection.execute(text("UPDATE `Bulk` SET payload = 'live' WHERE id <= 99"))
        before = await checksums(api.resources.engine)
        data = await api.query(RESTORE, {"id": backup["id"], "confirm": backup["filename"]})
        log_id = data["restoreBackup"]["restoreLog"]["id"]
        await wait_for_phase(api, f"restore:{log_id}", "restoring")
        (await wait_for_loading_client()).kill()

        async def done() -> dict[str, Any] | None:
            items = (await api.query(RESTORE_LOGS, {"id": backup["id"]}))["restoreLogs"]["items"]
            log: dict[str, Any] = next(item for item in items if item["id"] == log_id)
            return None if log["status"] == "IN_PROGRESS" else log

        log = await wait_until(done)
        assert log["status"] == "FAILED"
        assert log["errorMessage"].startswith("Restore failed: mariadb failed (killed by signal 9)")
        assert "rolled back from safety backup" in log["errorMessage"]
        assert await checksums(api.resources.engine) == before


def _leave_free(folder: Path, free: int) -> None:
    """Fill the disk of `folder` with a ballast file until `free` bytes are left."""
    with (folder / "ballast").open("ab") as ballast:
        ballast.truncate(0)
        missing = shutil.disk_usage(folder).free - free
        block = b"\0" * (1 << 20)
        while missing > 0:
            ballast.write(block[: min(len(block), missing)])
            missing -= len(block)
        ballast.flush()
        os.fsync(ballast.fileno())


async def test_the_space_a_backup_needs_comes_from_what_its_tables_took_last_time(
    database: str, tmp_path: Path, tiny_disk: object
) -> None:
    # 100,000 rows of 1 KiB that compress well: the database's figures say ~100 MB, the
    # compressed file takes a few.
    folder = tiny_disk("256m")  # type: ignore[operator]
    async with open_api(make_settings(database, tmp_path, backup_dir=folder)) as api:
        await fill_bulk(api.resources.engine, 100_000)
        first = await backup_and_wait(api, backupType="SELECTIVE", tables=["Bulk"])
        assert first["status"] == "COMPLETED", first["errorMessage"]
        assert first["fileSize"] < 8 * 2**20

        # 40 MB free: the database's figures alone would ask for more.
        _leave_free(folder, 40 * 2**20)
        second = await backup_and_wait(api, backupType="SELECTIVE", tables=["Bulk"])
        assert second["status"] == "COMPLETED", second["errorMessage"]

        # What truly does not fit is still refused, and the refusal says on what grounds.
        _leave_free(folder, 4 * 2**20)
        error = await api.error(CREATE, {"input": {"backupType": "SELECTIVE", "tables": ["Bulk"]}})
        assert error["extensions"]["code"] == "INSUFFICIENT_STORAGE"
        assert "what the same tables took last time" in error["message"]
