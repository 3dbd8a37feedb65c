"""After a rolled-back restore, every table, view, trigger, routine and event is as it was
before the restore began: what the restore created is gone, what it replaced is back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import psutil
import pytest
import zstandard
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.backup.conftest import checksums, fill_bulk
from tests.backup.faults import wait_for_loading_client, wait_for_phase
from tests.backup.helpers import (
    BACKUP,
    CREATE,
    RESTORE,
    RESTORE_LOGS,
    backup_and_wait,
    restore_and_wait,
)
from tests.backup.schema_state import schema_state
from tests.support.app import Api, make_settings, open_api
from tests.support.lumbung import post, start_server
from tests.support.tokens import JWT_SECRET
from tests.support.waiting import wait_until

BASE = [
    "CREATE TABLE `Keep` (id INT PRIMARY KEY, v VARCHAR(20))",
    "INSERT INTO `Keep` VALUES (1, 'a'), (2, 'b')",
]
# Per kind of object: what the backup holds, then what changes in the live database before
# the restore (one object dropped, one changed, one added).
SCENARIOS: dict[str, tuple[list[str], list[str]]] = {
    "TABLE": (
        ["CREATE TABLE `Gone` (x INT)", "INSERT INTO `Gone` VALUES (7)"],
        [
            "DROP TABLE `Gone`",
            "ALTER TABLE `Keep` ADD COLUMN extra INT",
            "CREATE TABLE `LiveOnly` (y INT)",
        ],
    ),
    "VIEW": (
        [
            "CREATE VIEW `v_gone` AS SELECT id FROM `Keep`",
            "CREATE VIEW `v_changed` AS SELECT id FROM `Keep`",
        ],
        [
            "DROP VIEW `v_gone`",
            "CREATE OR REPLACE VIEW `v_changed` AS SELECT v FROM `Keep`",
            "CREATE VIEW `v_live` AS SELECT 1 AS one",
        ],
    ),
    "TRIGGER": (
        [
            "CREATE TRIGGER `t_gone` BEFORE INSERT ON `Keep` FOR EACH ROW SET NEW.v = 'x'",
            "CREATE TRIGGER `t_changed` BEFORE UPDATE ON `Keep` FOR EACH ROW SET NEW.v = 'y'",
        ],
        [
            "DROP TRIGGER `t_gone`",
            "DROP TRIGGER `t_changed`",
            "CREATE TRIGGER `t_changed` BEFORE UPDATE ON `Keep` FOR EACH ROW SET NEW.v = 'z'",
            "CREATE TRIGGER `t_live` AFTER DELETE ON `Keep` FOR EACH ROW SET @gone = OLD.id",
        ],
    ),
    "PROCEDURE": (
        [
            "CREATE PROCEDURE `p_gone`() SELECT 1",
            "CREATE PROCEDURE `p_changed`() SELECT 2",
        ],
        [
            "DROP PROCEDURE `p_gone`",
            "DROP PROCEDURE `p_changed`",
            "CREATE PROCEDURE `p_changed`() SELECT 3",
            "CREATE PROCEDURE `p_live`() SELECT 4",
        ],
    ),
    "FUNCTION": (
        [
            "CREATE FUNCTION `f_gone`() RETURNS INT DETERMINISTIC RETURN 1",
            "CREATE FUNCTION `f_changed`() RETURNS INT DETERMINISTIC RETURN 2",
        ],
        [
            "DROP FUNCTION `f_gone`",
            "DROP FUNCTION `f_changed`",
            "CREATE FUNCTION `f_changed`() RETURNS INT DETERMINISTIC RETURN 3",
            "CREATE FUNCTION `f_live`() RETURNS INT DETERMINISTIC RETURN 4",
        ],
    ),
    "EVENT": (
        [
            "CREATE EVENT `e_gone` ON SCHEDULE EVERY 1 DAY DO DELETE FROM `Keep` WHERE id < 0",
            "CREATE EVENT `e_changed` ON SCHEDULE EVERY 1 DAY DO DELETE FROM `Keep` WHERE id < 0",
        ],
        [
            "DROP EVENT `e_gone`",
            "ALTER EVENT `e_changed` ON SCHEDULE EVERY 2 DAY",
            "CREATE EVENT `e_live` ON SCHEDULE EVERY 3 DAY DO DELETE FROM `Keep` WHERE id < 0",
        ],
    ),
}


async def _run(engine: AsyncEngine, statements: list[str]) -> None:
    async with engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


async def _fail_at_the_end(api: Api, backup: dict[str, Any]) -> None:
    """Append a statement the server refuses to the file's last section, and re-seal the file
    as if the dump had produced it: the restore runs every statement, then fails."""
    folder = api.settings.backup_dir
    path = folder / backup["filename"]
    manifest_path = folder / (backup["filename"] + ".manifest.json")
    manifest = json.loads(manifest_path.read_text())
    last = max(manifest["sections"], key=lambda s: s["offset"])
    data = path.read_bytes()
    frame = data[last["offset"] :]
    sql = zstandard.ZstdDecompressor().decompressobj().decompress(frame)
    frame = zstandard.ZstdCompressor().compress(sql + b"INSERT INTO `no_such_table` VALUES (1);\n")
    out = data[: last["offset"]] + frame
    last["length"], last["sha256"] = len(frame), hashlib.sha256(frame).hexdigest()
    manifest["size"], manifest["sha256"] = len(out), hashlib.sha256(out).hexdigest()
    path.write_bytes(out)
    manifest_path.write_text(json.dumps(manifest))
    async with api.resources.engine.begin() as connection:
        await connection.execute(
            text("UPDATE `Backup` SET checksum = :sha, fileSize = :size WHERE id = :id"),
            {"sha": manifest["sha256"], "size": len(out), "id": backup["id"]},
        )


@pytest.mark.parametrize("kind", list(SCENARIOS))
async def test_a_failed_full_restore_leaves_each_kind_of_object_as_it_was(
    kind: str, database: str, tmp_path: Path
) -> None:
    in_backup, live_changes = SCENARIOS[kind]
    async with open_api(make_settings(database, tmp_path)) as api:
        engine = api.resources.engine
        await _run(engine, BASE + in_backup)
        backup = await backup_and_wait(api, backupType="FULL")
        assert backup["status"] == "COMPLETED", backup["errorMessage"]
        await _fail_at_the_end(api, backup)
        await _run(engine, live_changes)
        before, rows = await schema_state(engine), await checksums(engine)
        assert any(name.startswith(kind) for name in before)

        log = await restore_and_wait(api, backup)
        assert log["status"] == "FAILED"
        assert "no_such_table" in log["errorMessage"]
        assert "rolled back from safety backup" in log["errorMessage"]
        assert await schema_state(engine) == before
        assert await checksums(engine) == rows


# The view sorts before `Bulk`: mariadb-dump writes its stand-in (a view of the same name)
# with the tables, so a restore cut off in `Bulk` has created it already.
PLACEHOLDER_VIEW = ["CREATE VIEW `A_view` AS SELECT id FROM `Bulk`"]
LIVE_TRIGGER = ["CREATE TRIGGER `A_trg` BEFORE INSERT ON `Bulk` FOR EACH ROW SET NEW.id = NEW.id"]


async def test_a_restore_whose_client_is_killed_leaves_no_view_it_created(
    database: str, tmp_path: Path
) -> None:
    async with open_api(make_settings(database, tmp_path, restore_connections=1)) as api:
        engine = api.resources.engine
        await fill_bulk(engine, 80_000)
        await _run(engine, PLACEHOLDER_VIEW)
        backup = await backup_and_wait(api, backupType="FULL")
        await _run(engine, ["DROP VIEW `A_view`", *LIVE_TRIGGER])
        before, rows = await schema_state(engine), await checksums(engine)
        data = await api.query(RESTORE, {"id": backup["id"], "confirm": backup["filename"]})
        log_id = data["restoreBackup"]["restoreLog"]["id"]
        await wait_for_phase(api, f"restore:{log_id}", "restoring", min_bytes=1 << 20)
        (await wait_for_loading_client()).kill()

        async def done() -> dict[str, Any] | None:
            items = (await api.query(RESTORE_LOGS, {"id": backup["id"]}))["restoreLogs"]["items"]
            item: dict[str, Any] = next(i for i in items if i["id"] == log_id)
            return None if item["status"] == "IN_PROGRESS" else item

        log = await wait_until(done)
        assert log["status"] == "FAILED"
        assert "rolled back from safety backup" in log["errorMessage"]
        assert await schema_state(engine) == before
        assert await checksums(engine) == rows


async def test_a_restore_cut_off_by_the_servers_death_leaves_no_view_it_created(
    database: str, tmp_path: Path
) -> None:
    env = {
        "LUMBUNG_DATABASE_URL": database,
        "LUMBUNG_JWT_SECRET": JWT_SECRET,
        "LUMBUNG_DATA_DIR": str(tmp_path / "data"),
        "LUMBUNG_BACKUP_DIR": str(tmp_path / "backups"),
        "LUMBUNG_LOG_FORMAT": "text",
        "LUMBUNG_RESTORE_CONNECTIONS": "1",  # the `mariadb` client loads `Bulk`: see below
    }
    engine = create_async_engine(database)
    server = start_server(tmp_path, env)
    try:
        await fill_bulk(engine, 120_000)
        await _run(engine, PLACEHOLDER_VIEW)
        created = await post(server, CREATE, {"input": {"backupType": "FULL"}})
        backup_id = created["createBackup"]["backup"]["id"]

        async def backup_done() -> dict[str, Any] | None:
            item: dict[str, Any] = (await post(server, BACKUP, {"id": backup_id}))["backup"]
            return None if item["status"] == "IN_PROGRESS" else item

        backup = await wait_until(backup_done)
        await _run(engine, ["DROP VIEW `A_view`", *LIVE_TRIGGER])
        before, rows = await schema_state(engine), await checksums(engine)
        await post(server, RESTORE, {"id": backup_id, "confirm": backup["filename"]})
        client = await wait_for_loading_client()

        async def loading_bulk() -> bool | None:
            # The client is inside `Bulk`'s rows (so the view's stand-in exists already).
            async with engine.connect() as connection:
                queries = await connection.execute(text("SHOW FULL PROCESSLIST"))
                return (
                    True
                    if any(str(row[7]).startswith("INSERT INTO `Bulk`") for row in queries)
                    else None
                )

        await wait_until(loading_bulk, timeout=60)
        server.process.kill()
        server.process.wait()
        psutil.wait_procs([client], timeout=5)
        assert "VIEW A_view" in await schema_state(engine)
        server = start_server(tmp_path, env)

        async def rolled_back() -> dict[str, Any] | None:
            logs = (await post(server, RESTORE_LOGS, {"id": backup_id}))["restoreLogs"]["items"]
            safety_id = logs[0]["safetyBackupId"]
            items = (await post(server, RESTORE_LOGS, {"id": safety_id}))["restoreLogs"]["items"]
            return items[0] if items and items[0]["status"] != "IN_PROGRESS" else None

        rollback = await wait_until(rolled_back)
        assert rollback["status"] == "COMPLETED", rollback["errorMessage"]
        [interrupted] = (await post(server, RESTORE_LOGS, {"id": backup_id}))["restoreLogs"][
            "items"
        ]
        assert "VIEW A_view, which it had created, were dropped" in interrupted["errorMessage"]
        assert await schema_state(engine) == before
        assert await checksums(engine) == rows
    finally:
        server.stop()
        await engine.dispose()
