"""A restore over several connections: tables and chunks of a large table loaded at once, the
secondary and full-text indexes built after the rows; the tables come back exactly as they
were dumped, and every promise of a restore through one connection holds."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from server.events.event import ProgressEvent
from tests.backup.conftest import checksums, fill_bulk
from tests.backup.faults import reseal, wait_for_phase
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
from tests.support.mariadb import MariaDBServer
from tests.support.tokens import JWT_SECRET
from tests.support.waiting import wait_until

# Every kind of key and table option that a deferred index could lose or reorder; a latin1
# column (its rows are sent as utf8mb4, converted by the server) and 4-byte text (sent as bytes).
SCHEMA = [
    """CREATE TABLE `Author` (
        id INT NOT NULL AUTO_INCREMENT,
        email VARCHAR(120) NOT NULL,
        name VARCHAR(80) NOT NULL COMMENT 'shown name',
        country CHAR(2) NOT NULL,
        city VARCHAR(40) CHARACTER SET latin1 NOT NULL DEFAULT 'Köln',
        PRIMARY KEY (id),
        UNIQUE KEY Author_email (email),
        KEY Author_name (name(20)) COMMENT 'prefix',
        KEY Author_country_name (country, name DESC)
    ) ENGINE=InnoDB AUTO_INCREMENT=9000 COMMENT='who writes'""",
    """CREATE TABLE `Post` (
        id BIGINT NOT NULL AUTO_INCREMENT,
        authorId INT NULL,
        editorId INT NULL,
        title VARCHAR(200) NOT NULL,
        body MEDIUMTEXT NOT NULL,
        score DECIMAL(8,2) NOT NULL DEFAULT 0,
        createdAt DATETIME(3) NOT NULL,
        PRIMARY KEY (id),
        KEY Post_created_score (createdAt, score),
        KEY Post_editor (editorId),
        FULLTEXT KEY Post_text (title, body),
        CONSTRAINT Post_author FOREIGN KEY (authorId) REFERENCES `Author` (id)
            ON DELETE SET NULL,
        CONSTRAINT Post_editor FOREIGN KEY (editorId) REFERENCES `Author` (id)
    ) ENGINE=InnoDB AUTO_INCREMENT=123456 DEFAULT CHARSET=utf8mb4 COMMENT='posts'""",
    "INSERT INTO `Author` (email, name, country) SELECT CONCAT('a', seq, '@x.id'), "
    "CONCAT('Author ', seq), IF(seq % 2, 'ID', 'NL') FROM seq_1_to_300",
    "INSERT INTO `Post` (authorId, editorId, title, body, score, createdAt) "
    "SELECT 9000 + seq % 300, IF(seq % 3, NULL, 9000 + seq % 7), CONCAT('Judul ', seq, ' 😀é'), "
    "REPEAT(CONCAT(MD5(seq), ' kata '), 30), seq % 1000 / 7, "
    "TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq MINUTE FROM seq_1_to_6000",
    "CREATE TRIGGER `Post_score` BEFORE INSERT ON `Post` FOR EACH ROW "
    "SET NEW.score = NEW.score + 1",
    "CREATE VIEW `PostTitles` AS SELECT p.id, p.title, a.name FROM `Post` p "
    "JOIN `Author` a ON a.id = p.authorId",
]


async def _run(engine: AsyncEngine, statements: list[str]) -> None:
    async with engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


def _manifest(api: Api, backup: dict[str, Any]) -> dict[str, Any]:
    path = api.settings.backup_dir / (backup["filename"] + ".manifest.json")
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def _settings(database: str, tmp_path: Path, **overrides: Any) -> Any:
    return make_settings(database, tmp_path, backup_chunk_mib=1, restore_connections=3, **overrides)


async def test_a_parallel_restore_gives_back_every_table_exactly_as_it_was(
    database: str, tmp_path: Path
) -> None:
    async with open_api(_settings(database, tmp_path)) as api:
        engine = api.resources.engine
        await _run(engine, SCHEMA)
        before, rows = await schema_state(engine), await checksums(engine)
        backup = await backup_and_wait(api, backupType="FULL")
        assert backup["status"] == "COMPLETED", backup["errorMessage"]
        chunks = [s for s in _manifest(api, backup)["sections"] if s["kind"] == "rows"]
        assert {s["table"] for s in chunks} == {"Post"}, "Post's ~2 MB of rows come in chunks"
        await _run(
            engine,
            [
                "DELETE FROM `Post` WHERE id % 2 = 0",
                "ALTER TABLE `Post` DROP INDEX Post_created_score",
                "ALTER TABLE `Author` ADD KEY Author_extra (country)",
            ],
        )
        events: list[ProgressEvent] = []
        api.resources.progress.add_listener(events.append)

        log = await restore_and_wait(api, backup)
        assert log["status"] == "COMPLETED", log["errorMessage"]
        # SHOW CREATE of every object, exactly: keys in their order, AUTO_INCREMENT, comments.
        assert await schema_state(engine) == before
        assert await checksums(engine) == rows
        async with engine.connect() as connection:  # the deferred full-text index works
            found = await connection.scalar(
                text("SELECT COUNT(*) FROM `Post` WHERE MATCH(title, body) AGAINST('Judul')")
            )
        assert found == 6000

        restoring = [
            e.bytes_done
            for e in events
            if e.job_id == f"restore:{log['id']}" and e.phase == "restoring"
        ]
        assert restoring == sorted(restoring), "progress went back"
        manifest = _manifest(api, backup)
        total = sum(s["sqlBytes"] for s in manifest["sections"])
        # Every connection's bytes count: the chunks' too (each is over 1 MiB).
        assert max(restoring) > total - 4096


async def test_a_subset_of_tables_restores_those_tables_only(database: str, tmp_path: Path) -> None:
    async with open_api(_settings(database, tmp_path)) as api:
        engine = api.resources.engine
        await _run(engine, SCHEMA)
        backup = await backup_and_wait(api, backupType="FULL")
        await _run(
            engine,
            [
                "SET FOREIGN_KEY_CHECKS = 0",
                "DELETE FROM `Post` WHERE id % 2 = 0",
                "DELETE FROM `Author`",
            ],
        )
        live_posts = (await checksums(engine))["Post"]
        await _run(engine, ["INSERT INTO `Author` (email, name, country) VALUES ('n', 'n', 'ID')"])

        log = await restore_and_wait(api, backup, tables=["Post"])
        assert log["status"] == "COMPLETED", log["errorMessage"]
        async with engine.connect() as connection:
            posts = await connection.scalar(text("SELECT COUNT(*) FROM `Post`"))
            authors = await connection.scalar(text("SELECT COUNT(*) FROM `Author`"))
        assert (posts, authors) == (6000, 1)
        assert (await checksums(engine))["Post"] != live_posts


async def _big_backup(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A backup of `Bulk` in some 40 chunks and a live database changed since: the backup,
    and the live schema and checksums a rollback must give back."""
    engine = api.resources.engine
    await _run(engine, SCHEMA)
    await fill_bulk(engine, 40_000)
    backup = await backup_and_wait(api, backupType="FULL")
    assert backup["status"] == "COMPLETED", backup["errorMessage"]
    await _run(
        engine,
        [
            "UPDATE `Bulk` SET payload = 'live' WHERE id <= 99",
            "ALTER TABLE `Post` DROP INDEX Post_created_score",
            "CREATE TABLE `LiveOnly` (y INT)",
            "DROP VIEW `PostTitles`",
        ],
    )
    return backup, await schema_state(engine), await checksums(engine)


async def _wait_for_end(api: Api, backup: dict[str, Any], log_id: int) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        items = (await api.query(RESTORE_LOGS, {"id": backup["id"]}))["restoreLogs"]["items"]
        log: dict[str, Any] = next(item for item in items if item["id"] == log_id)
        return None if log["status"] == "IN_PROGRESS" else log

    return await wait_until(done, timeout=120)


def _refuse_the_table(sql: bytes) -> bytes:
    return sql.replace(
        b"DROP TABLE IF EXISTS `Post`;\n", b"DROP TABLE IF EXISTS `Post`;\nCREATE TABLE (;\n"
    )


@pytest.mark.parametrize(
    ("table", "change", "chunk", "message"),
    [
        (  # in a chunk's rows, loaded by a connection of Lumbung's own
            "Bulk",
            lambda sql: sql + b"INSERT INTO `no_such_table` VALUES (1);\n",
            7,
            "Restore failed: Loading the rows failed: ERROR 1146",
        ),
        (  # in a table's structure, run by the `mariadb` client
            "Post",
            _refuse_the_table,
            None,
            "Restore failed: mariadb failed (exit status 1)",
        ),
    ],
    ids=["chunk", "structure"],
)
async def test_a_statement_the_database_refuses_fails_the_restore_and_it_is_rolled_back(
    table: str,
    change: Callable[[bytes], bytes],
    chunk: int | None,
    message: str,
    database: str,
    tmp_path: Path,
) -> None:
    async with open_api(_settings(database, tmp_path)) as api:
        backup, before, rows = await _big_backup(api)
        await reseal(api, backup, table, change, chunk=chunk)
        log = await restore_and_wait(api, backup)
        assert log["status"] == "FAILED"
        assert log["errorMessage"].startswith(message), log["errorMessage"]
        assert ("no_such_table" if chunk else "ERROR 1064") in log["errorMessage"]
        assert "rolled back from safety backup" in log["errorMessage"]
        assert await schema_state(api.resources.engine) == before
        assert await checksums(api.resources.engine) == rows


@contextlib.contextmanager
def _server_packet_limit(mariadb: MariaDBServer, limit: int) -> Iterator[None]:
    """The server's max_allowed_packet for connections opened meanwhile (the test server's
    is 1 GiB)."""
    before = mariadb.root_sql("SELECT @@GLOBAL.max_allowed_packet").strip()
    mariadb.root_sql(f"SET GLOBAL max_allowed_packet = {limit}")
    try:
        yield
    finally:
        mariadb.root_sql(f"SET GLOBAL max_allowed_packet = {int(before)}")


async def test_a_well_compressed_table_restores_under_the_default_packet_limit(
    database: str, mariadb: MariaDBServer, tmp_path: Path
) -> None:
    """One read of a well-compressed file gives tens of MB of SQL at once: the queries its
    rows go in stay under the server's max_allowed_packet (16 MiB, MariaDB's default)."""
    settings = make_settings(database, tmp_path, restore_connections=2)
    async with open_api(settings) as api:
        engine = api.resources.engine
        await _run(
            engine,
            [
                "CREATE TABLE `Plain` (id INT PRIMARY KEY, v VARCHAR(2000) NOT NULL)",
                "INSERT INTO `Plain` SELECT seq, REPEAT('x', 1900) FROM seq_1_to_20000",
            ],
        )
        dumped = await checksums(engine)
        backup = await backup_and_wait(api, backupType="FULL")
        assert backup["status"] == "COMPLETED", backup["errorMessage"]
        plain = [s for s in _manifest(api, backup)["sections"] if s["table"] == "Plain"]
        assert sum(s["sqlBytes"] for s in plain) > 32 << 20  # two packets' worth of SQL
        assert sum(s["length"] for s in plain) < 1 << 20  # read at once
        await _run(engine, ["DELETE FROM `Plain` WHERE id % 2 = 0"])

        with _server_packet_limit(mariadb, 16 << 20):
            log = await restore_and_wait(api, backup, safety=False)
        assert log["status"] == "COMPLETED", log["errorMessage"]
        assert await checksums(engine) == dumped


async def _loading(api: Api, table: str) -> list[int]:
    """The connections running an INSERT into `table` now."""
    async with api.resources.engine.connect() as connection:
        rows = (await connection.execute(text("SHOW FULL PROCESSLIST"))).all()
    return [int(row[0]) for row in rows if str(row[7]).startswith(f"INSERT INTO `{table}`")]


async def test_a_connection_killed_mid_load_fails_the_restore_and_it_is_rolled_back(
    database: str, tmp_path: Path
) -> None:
    async with open_api(_settings(database, tmp_path)) as api:
        backup, before, rows = await _big_backup(api)
        data = await api.query(RESTORE, {"id": backup["id"], "confirm": backup["filename"]})
        log_id = data["restoreBackup"]["restoreLog"]["id"]
        await wait_for_phase(api, f"restore:{log_id}", "restoring", min_bytes=4 << 20)

        async def loading() -> list[int] | None:
            return await _loading(api, "Bulk") or None

        victim = (await wait_until(loading, timeout=60, interval=0.01))[0]
        async with api.resources.engine.connect() as connection:
            await connection.execute(text(f"KILL {victim}"))
        log = await _wait_for_end(api, backup, log_id)
        assert log["status"] == "FAILED"
        assert log["errorMessage"].startswith("Restore failed: Loading the rows failed: ERROR")
        assert "rolled back from safety backup" in log["errorMessage"]
        assert await schema_state(api.resources.engine) == before
        assert await checksums(api.resources.engine) == rows
        assert await _loading(api, "Bulk") == [], "a connection of the failed load runs on"


async def test_a_cancelled_parallel_restore_stops_every_connection_and_rolls_back(
    database: str, tmp_path: Path
) -> None:
    async with open_api(_settings(database, tmp_path)) as api:
        backup, before, rows = await _big_backup(api)
        data = await api.query(RESTORE, {"id": backup["id"], "confirm": backup["filename"]})
        log_id = data["restoreBackup"]["restoreLog"]["id"]
        await wait_for_phase(api, f"restore:{log_id}", "restoring", min_bytes=4 << 20)
        api.resources.jobs.cancel(f"restore:{log_id}")
        log = await _wait_for_end(api, backup, log_id)
        assert log["status"] == "FAILED"
        assert "the job was cancelled" in log["errorMessage"]
        assert "rolled back from safety backup" in log["errorMessage"]
        assert await schema_state(api.resources.engine) == before
        assert await checksums(api.resources.engine) == rows


async def test_a_server_killed_mid_parallel_load_is_rolled_back_at_its_next_start(
    database: str, tmp_path: Path
) -> None:
    """`lumbung serve` SIGKILLed while its connections load rows: they die with it, none
    goes on writing, and the next start puts everything back from the safety backup."""
    env = {
        "LUMBUNG_DATABASE_URL": database,
        "LUMBUNG_JWT_SECRET": JWT_SECRET,
        "LUMBUNG_DATA_DIR": str(tmp_path / "data"),
        "LUMBUNG_BACKUP_DIR": str(tmp_path / "backups"),
        "LUMBUNG_LOG_FORMAT": "text",
        "LUMBUNG_BACKUP_CHUNK_MIB": "1",
        "LUMBUNG_RESTORE_CONNECTIONS": "3",
    }
    engine = create_async_engine(database)
    first = start_server(tmp_path, env)
    try:
        await _run(engine, SCHEMA)
        await fill_bulk(engine, 40_000)
        created = await post(first, CREATE, {"input": {"backupType": "FULL"}})
        backup_id = created["createBackup"]["backup"]["id"]

        async def backup_done() -> dict[str, Any] | None:
            item: dict[str, Any] = (await post(first, BACKUP, {"id": backup_id}))["backup"]
            return None if item["status"] == "IN_PROGRESS" else item

        backup = await wait_until(backup_done)
        assert backup["status"] == "COMPLETED", backup["errorMessage"]
        await _run(engine, ["UPDATE `Bulk` SET payload = 'live' WHERE id <= 99"])
        before, rows = await schema_state(engine), await checksums(engine)
        await post(first, RESTORE, {"id": backup_id, "confirm": backup["filename"]})

        async def loading() -> list[int] | None:
            async with engine.connect() as connection:
                found = (await connection.execute(text("SHOW FULL PROCESSLIST"))).all()
            ids = [int(r[0]) for r in found if str(r[7]).startswith("INSERT INTO `Bulk`")]
            return ids or None

        await wait_until(loading, timeout=60, interval=0.01)
        first.process.kill()
        first.process.wait()

        async def quiet() -> bool | None:
            return True if await loading() is None else None

        await wait_until(quiet, timeout=30, what="the dead server's connections to end")
        second = start_server(tmp_path, env)
        try:

            async def rolled_back() -> dict[str, Any] | None:
                logs = (await post(second, RESTORE_LOGS, {"id": backup_id}))["restoreLogs"]
                safety_id = logs["items"][0]["safetyBackupId"]
                items = (await post(second, RESTORE_LOGS, {"id": safety_id}))["restoreLogs"][
                    "items"
                ]
                return items[0] if items and items[0]["status"] != "IN_PROGRESS" else None

            rollback = await wait_until(rolled_back)
            assert rollback["status"] == "COMPLETED", rollback["errorMessage"]
            assert await schema_state(engine) == before
            assert await checksums(engine) == rows
        finally:
            second.stop()
    finally:
        first.stop()
        await engine.dispose()
