"""A parallel dump (LUMBUNG_BACKUP_CONNECTIONS > 1): the largest table is dumped in key ranges
over several connections, all in one snapshot, and the file is the same readable SQL stream."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from server.backup.adapters.base import DumpPlan
from server.backup.adapters.mysql import MySQLAdapter
from server.backup.adapters.mysql_parallel_dump import StreamCut, key_ranges
from server.errors import BackendUnavailable
from server.settings import Settings
from tests.backup.conftest import build_rich_database, checksums, fill_bulk
from tests.backup.faults import wait_for_child, wait_for_no_child, wait_for_phase
from tests.backup.helpers import CREATE, backup_and_wait, restore_and_wait, wait_for_backup
from tests.backup.test_mariadb_secrets_and_tools import _restore_with_standard_tools
from tests.support.app import Api, make_settings, open_api
from tests.support.mariadb import MariaDBServer

ROWS = 6000  # ~6 MB of SQL: with 1 MiB chunks, a table worth splitting


def _manifest(api: Api, backup: dict[str, Any]) -> dict[str, Any]:
    path = api.settings.backup_dir / f"{backup['filename']}.manifest.json"
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


async def _prepare(engine: AsyncEngine) -> None:
    """The rich database (a view, a trigger, a routine), a large `Bulk` with a trigger of its
    own and a view on it, and fresh statistics (a table is chosen by its size)."""
    await build_rich_database(engine)
    await fill_bulk(engine, ROWS)
    async with engine.begin() as connection:
        await connection.execute(text("ALTER TABLE `Bulk` ADD COLUMN n INT NOT NULL DEFAULT 0"))
        await connection.execute(text("CREATE TABLE `Ledger` (id INT PRIMARY KEY, n INT)"))
        await connection.execute(text("INSERT INTO `Ledger` VALUES (1, 0)"))
        await connection.execute(
            text(
                "CREATE TRIGGER `Bulk_mark` BEFORE INSERT ON `Bulk` FOR EACH ROW "
                "SET NEW.n = NEW.n + 1000000"
            )
        )
        await connection.execute(text("CREATE VIEW `BulkView` AS SELECT id, n FROM `Bulk`"))
        await connection.execute(text("ANALYZE TABLE `Bulk`"))


async def _copy_checksums(mariadb: MariaDBServer, tmp_path: Path, file: Path) -> dict[str, Any]:
    """The file restored by `zstd -dc | mariadb` into a new database: its checksums, and the
    triggers and views it got."""
    copy = f"pdump_{os.getpid()}_{tmp_path.name[-8:]}".replace("-", "_")
    url = mariadb.create_database(copy)
    try:
        _restore_with_standard_tools(mariadb, tmp_path, file, copy)
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                triggers = sorted(row[0] for row in await connection.execute(text("SHOW TRIGGERS")))
                views = sorted(
                    row[0]
                    for row in await connection.execute(
                        text("SHOW FULL TABLES WHERE Table_type = 'VIEW'")
                    )
                )
            return {"checksums": await checksums(engine), "triggers": triggers, "views": views}
        finally:
            await engine.dispose()
    finally:
        mariadb.drop_database(copy)


async def test_the_largest_table_is_dumped_in_ranges_and_the_file_restores_with_standard_tools(
    database: str, mariadb: MariaDBServer, tmp_path: Path
) -> None:
    settings = make_settings(database, tmp_path, backup_connections=3, backup_chunk_mib=1)
    async with open_api(settings) as api:
        await _prepare(api.resources.engine)
        before = await checksums(api.resources.engine)
        backup = await backup_and_wait(api, backupType="FULL")
        assert backup["status"] == "COMPLETED", backup["errorMessage"]
        manifest = _manifest(api, backup)
        # root holds RELOAD: a brief global read lock made the four snapshots one.
        assert manifest["dump"] == {"mode": "global-read-lock", "connections": 4, "table": "Bulk"}
        [bulk] = [s for s in manifest["sections"] if s["kind"] == "table" and s["table"] == "Bulk"]
        assert bulk["rows"] == ROWS
        chunks = [s for s in manifest["sections"] if s["kind"] == "rows"]
        assert len(chunks) >= 3 and {s["table"] for s in chunks} == {"Bulk"}
        path = api.settings.backup_dir / backup["filename"]
        copy = await _copy_checksums(mariadb, tmp_path, path)
        # The rows went in before the trigger existed (it would have added 1,000,000 to n).
        assert copy["checksums"] == before
        assert copy["triggers"] == ["Bulk_mark", "Everything_fill"]
        assert copy["views"] == ["BulkView", "EverythingView"]
        text_ = (await asyncio.to_thread(_decompressed, path)).decode("utf-8", "replace")
        assert "-- WHERE:" not in text_  # the file names no one range
        assert text_.count("-- Table structure for table `Bulk`") == 1
        assert text_.rstrip().splitlines()[-1].startswith("-- Dump completed")

        # Lumbung's own restore of it (over several connections) gives the same tables.
        async with api.resources.engine.begin() as connection:
            await connection.execute(text("UPDATE `Bulk` SET n = 7 WHERE id < 100"))
        restored = await restore_and_wait(api, backup, safety=False)
        assert restored["status"] == "COMPLETED", restored["errorMessage"]
        assert await checksums(api.resources.engine) == before


def _decompressed(path: Path) -> bytes:
    import zstandard

    with path.open("rb") as handle:
        return zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True).read()


async def test_writes_during_a_parallel_dump_never_split_its_snapshot(
    database: str, mariadb: MariaDBServer, tmp_path: Path
) -> None:
    """Transfers that keep a sum constant run without pause between the first and the last
    row of `Bulk` (in different ranges, dumped by different connections) and `Ledger` (dumped
    by the main dump). If any two snapshots differed, the restored sum would be off. (Without
    evidence: its own lock would hold writes back too, and hide a fault of this one.)"""
    settings = make_settings(
        database, tmp_path, backup_connections=3, backup_chunk_mib=1, backup_evidence=False
    )
    async with open_api(settings) as api:
        await _prepare(api.resources.engine)
        writer = create_async_engine(database, pool_size=1)
        stop = asyncio.Event()
        transfers = 0

        async def transfer() -> None:
            nonlocal transfers
            async with writer.connect() as connection:
                while not stop.is_set():
                    async with connection.begin():
                        for statement in (
                            "UPDATE `Bulk` SET n = n - 1 WHERE id = 1",
                            f"UPDATE `Bulk` SET n = n + 2 WHERE id = {ROWS}",
                            "UPDATE `Ledger` SET n = n - 1 WHERE id = 1",
                        ):
                            await connection.execute(text(statement))
                    transfers += 1

        task = asyncio.create_task(transfer())
        try:
            await asyncio.sleep(0.3)
            backups = [await backup_and_wait(api, backupType="FULL") for _ in range(3)]
        finally:
            stop.set()
            await task
            await writer.dispose()
        assert transfers > 10
        for backup in backups:
            assert backup["status"] == "COMPLETED", backup["errorMessage"]
            assert _manifest(api, backup)["dump"]["mode"] == "global-read-lock"
            copy = f"pdumpw_{os.getpid()}"
            url = mariadb.create_database(copy)
            try:
                path = api.settings.backup_dir / backup["filename"]
                _restore_with_standard_tools(mariadb, tmp_path, path, copy)
                engine = create_async_engine(url)
                try:
                    async with engine.connect() as connection:
                        total = await connection.scalar(
                            text(
                                "SELECT (SELECT SUM(n) FROM `Bulk` WHERE id IN (1, :last)) "
                                "+ (SELECT n FROM `Ledger`)"
                            ),
                            {"last": ROWS},
                        )
                finally:
                    await engine.dispose()
            finally:
                mariadb.drop_database(copy)
            assert total == 0


async def _limited_account(
    mariadb: MariaDBServer, tmp_path: Path, database: str, grants: str
) -> str:
    user = f"pd_{os.urandom(4).hex()}"
    password = os.urandom(12).hex()
    name = database.rsplit("/", 1)[-1].split("?")[0]
    mariadb.root_sql(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}';\n"
        f"GRANT {grants} ON `{name}`.* TO '{user}'@'%';\n"
        # root's routine: the dump may read it (tests/backup/test_mariadb_accounts.py).
        f"GRANT SELECT ON mysql.proc TO '{user}'@'%';\n"
    )
    return (
        f"mysql+aiomysql://{user}:{quote_plus(password)}@{mariadb.host}:{mariadb.port}/"
        f"{name}?charset=utf8mb4"
    )


async def test_without_reload_the_snapshots_are_joined_by_lock_tables_and_without_that_by_none(
    database: str, mariadb: MariaDBServer, tmp_path: Path
) -> None:
    async with open_api(make_settings(database, tmp_path)) as api:
        await _prepare(api.resources.engine)
        before = await checksums(api.resources.engine)
    cases = {
        # The database's privileges, LOCK TABLES among them, and nothing global.
        "ALL PRIVILEGES": {"mode": "lock-tables", "connections": 4, "table": "Bulk"},
        # No LOCK TABLES and no RELOAD: one connection, and the manifest says why.
        "SELECT, SHOW VIEW, TRIGGER, EVENT, CREATE, INSERT, UPDATE, DELETE, DROP, ALTER, INDEX, "
        "CREATE VIEW, CREATE ROUTINE, ALTER ROUTINE, EXECUTE": {
            "mode": "single",
            "connections": 1,
            "reason": "the database account may neither FLUSH TABLES WITH READ LOCK (RELOAD) "
            "nor LOCK TABLES on the database",
        },
    }
    for index, (grants, expected) in enumerate(cases.items()):
        url = await _limited_account(mariadb, tmp_path, database, grants)
        folder = tmp_path / f"account{index}"
        folder.mkdir()
        settings = make_settings(url, folder, backup_connections=3, backup_chunk_mib=1)
        async with open_api(settings) as api:
            backup = await backup_and_wait(api, backupType="FULL")
            assert backup["status"] == "COMPLETED", backup["errorMessage"]
            assert _manifest(api, backup)["dump"] == expected
            path = api.settings.backup_dir / backup["filename"]
            copy = await _copy_checksums(mariadb, folder, path)
            assert copy["checksums"] == before


async def test_a_range_dump_that_fails_fails_the_backup_and_leaves_nothing(
    database: str, mariadb: MariaDBServer, tmp_path: Path
) -> None:
    settings = _with_range_tool(
        database, tmp_path, 'echo "range dump broke on purpose" >&2; exit 3'
    )
    async with open_api(settings) as api:
        await _prepare(api.resources.engine)
        backup = await backup_and_wait(api, backupType="FULL")
        assert backup["status"] == "FAILED"
        assert "a range of the largest table" in backup["errorMessage"]
        assert "range dump broke on purpose" in backup["errorMessage"]
        assert "exit status 3" in backup["errorMessage"]
        assert sorted(p.name for p in api.settings.backup_dir.iterdir()) == []
        await _writes_go_on(api.resources.engine)


async def _writes_go_on(engine: AsyncEngine) -> None:
    """A write is taken at once: no lock of the dump's is left behind (it would wait)."""
    async with engine.begin() as connection:
        await connection.execute(text("SET SESSION lock_wait_timeout = 2"))
        await connection.execute(text("UPDATE `Ledger` SET n = n + 1"))


async def test_a_dump_that_cannot_start_lets_go_of_its_lock(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_tool(self: MySQLAdapter, plan: DumpPlan, options: str) -> list[str]:
        raise BackendUnavailable("None of mariadb-dump, mysqldump is installed (a test).")

    settings = make_settings(database, tmp_path, backup_connections=3, backup_chunk_mib=1)
    async with open_api(settings) as api:
        await _prepare(api.resources.engine)
        monkeypatch.setattr(MySQLAdapter, "_dump_arguments", no_tool)
        backup = await backup_and_wait(api, backupType="FULL")
        assert backup["status"] == "FAILED"
        assert "is installed (a test)" in backup["errorMessage"]
        await _writes_go_on(api.resources.engine)


def _with_range_tool(database: str, tmp_path: Path, action: str) -> Settings:
    """Settings for 3 connections whose dump tool runs `action` (shell) first in the dumps
    of every range but the first, then mariadb-dump (unless `action` exits)."""
    tool = tmp_path / "range-dump-tool"
    tool.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do case "$a" in --where=*\\>=*) {action};; esac; done\n'
        'exec mariadb-dump "$@"\n'
    )
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return make_settings(
        database, tmp_path, backup_connections=3, backup_chunk_mib=1, dump_command=str(tool)
    )


def test_key_ranges_take_every_key_once() -> None:
    assert key_ranges("`id`", 1, 100, 3) == [
        "`id` < 34",
        "`id` >= 34 AND `id` < 67",
        "`id` >= 67",
    ]
    assert key_ranges("`id`", 5, 6, 4) == ["`id` < 6", "`id` >= 6"]
    assert key_ranges("`id`", 7, 7, 4) == ["1=1"]
    assert key_ranges("`id`", -10, 10, 2) == ["`id` < 0", "`id` >= 0"]


def test_the_stream_is_cut_at_the_first_needle_however_the_pieces_fall() -> None:
    stream = b"a\nb\n--\n-- Dumping events for database 'x'\nrest\n/*!40103 SET TIME_ZONE"
    for size in (1, 2, 3, 7, 100):
        cut = StreamCut((b"\n--\n-- Dumping events for database ", b"\n/*!40103 SET TIME"))
        before, after = b"", b""
        for start in range(0, len(stream), size):
            found = cut.found
            head, tail = cut.feed(stream[start : start + size])
            if found:
                after += head
            else:
                before, after = before + head, after + (tail or b"")
        assert cut.found
        assert before == b"a\nb\n"
        assert after == b"--\n-- Dumping events for database 'x'\nrest\n/*!40103 SET TIME_ZONE"


async def test_a_parallel_dump_whose_ranges_fill_the_disk_fails_cleanly(
    database: str, tmp_path: Path, tiny_disk: Callable[[str], Path]
) -> None:
    """The ranges are spooled in the backup folder before they go into the file: a disk that
    fills up there fails the backup with the reason and the way out, and leaves nothing. The
    database holds only `Bulk`, so the main dump has no table of its own to write first."""
    # Room for the table's data as the server counts it (~47 MB: the parallel dump goes
    # ahead), not for its SQL, whose random bytes are written as hex (~83 MB).
    folder = tiny_disk("72m")
    settings = make_settings(
        database, tmp_path, backup_dir=folder, backup_connections=2, backup_chunk_mib=1
    )
    async with open_api(settings) as api:
        await fill_bulk(api.resources.engine, 40_000, random=True)
        async with api.resources.engine.begin() as connection:
            await connection.execute(text("ANALYZE TABLE `Bulk`"))
        backup = await backup_and_wait(api, backupType="FULL")
        assert backup["status"] == "FAILED"
        assert "disk filled up while the parallel dump" in backup["errorMessage"]
        assert "LUMBUNG_BACKUP_CONNECTIONS=1" in backup["errorMessage"]
        assert sorted(p.name for p in folder.iterdir()) == []
        assert shutil.disk_usage(folder).used < 1 << 20  # the unnamed spools are gone too
        await wait_for_no_child("mariadb-dump")


async def test_a_disk_without_room_for_the_ranges_gets_one_dump_and_the_manifest_says_why(
    database: str, tmp_path: Path, tiny_disk: Callable[[str], Path]
) -> None:
    # Room for the backup (its estimate: half the data, plus 16 MiB), not for the ranges of
    # `Bulk` beside it (its data, ~14 MB, plus 16 MiB).
    folder = tiny_disk("26m")
    settings = make_settings(
        database, tmp_path, backup_dir=folder, backup_connections=2, backup_chunk_mib=1
    )
    async with open_api(settings) as api:
        await fill_bulk(api.resources.engine, 12_000)
        async with api.resources.engine.begin() as connection:
            await connection.execute(text("ANALYZE TABLE `Bulk`"))
        before = await checksums(api.resources.engine)
        backup = await backup_and_wait(api, backupType="FULL")
        assert backup["status"] == "COMPLETED", backup["errorMessage"]
        dump = _manifest(api, backup)["dump"]
        assert dump["mode"] == "single"
        assert "the backup folder's disk has" in dump["reason"]
        assert "the ranges of Bulk need about" in dump["reason"]
        restored = await restore_and_wait(api, backup, safety=False)
        assert restored["status"] == "COMPLETED", restored["errorMessage"]
        assert await checksums(api.resources.engine) == before


async def test_a_cancelled_parallel_dump_stops_every_dump_and_leaves_nothing(
    database: str, tmp_path: Path
) -> None:
    settings = _with_range_tool(database, tmp_path, "sleep 2")
    async with open_api(settings) as api:
        await _prepare(api.resources.engine)
        data = await api.query(CREATE, {"input": {"backupType": "FULL"}})
        backup_id = data["createBackup"]["backup"]["id"]
        await wait_for_phase(api, f"backup:{backup_id}", "dumping")
        await wait_for_child("mariadb-dump")
        api.resources.jobs.cancel(f"backup:{backup_id}")
        backup = await wait_for_backup(api, backup_id)
        assert backup["status"] == "FAILED"
        assert "the job was cancelled" in backup["errorMessage"]
        assert sorted(p.name for p in api.settings.backup_dir.iterdir()) == []
        await wait_for_no_child("mariadb-dump")
        await _writes_go_on(api.resources.engine)


async def test_a_selective_data_only_backup_is_dumped_in_parallel_and_restores(
    database: str, tmp_path: Path
) -> None:
    """Tables chosen by name (no views or routines: the split table goes before the dump's
    closing lines) and rows only (no structure, no triggers, in any of the dumps)."""
    settings = make_settings(database, tmp_path, backup_connections=2, backup_chunk_mib=1)
    async with open_api(settings) as api:
        await _prepare(api.resources.engine)
        before = await checksums(api.resources.engine)
        for include_schema in (True, False):
            async with api.resources.engine.begin() as connection:
                # A restore leaves the server's size statistics behind for a while (InnoDB
                # recomputes them in the background); the table is chosen by them.
                await connection.execute(text("ANALYZE TABLE `Bulk`"))
            backup = await backup_and_wait(
                api, backupType="SELECTIVE", tables=["Bulk", "Ledger"], includeSchema=include_schema
            )
            assert backup["status"] == "COMPLETED", backup["errorMessage"]
            manifest = _manifest(api, backup)
            assert manifest["dump"] == {
                "mode": "global-read-lock",
                "connections": 3,
                "table": "Bulk",
            }
            assert [s["table"] for s in manifest["sections"] if s["kind"] == "table"] == [
                "Ledger",
                "Bulk",
            ]
            sql = await asyncio.to_thread(
                _decompressed, api.settings.backup_dir / backup["filename"]
            )
            assert (b"CREATE TABLE `Bulk`" in sql) is include_schema
            assert (b"TRIGGER" in sql) is include_schema
            async with api.resources.engine.begin() as connection:
                await connection.execute(text("UPDATE `Bulk` SET n = 7 WHERE id > 5000"))
                await connection.execute(text("UPDATE `Ledger` SET n = 9"))
            restored = await restore_and_wait(api, backup, safety=False)
            assert restored["status"] == "COMPLETED", restored["errorMessage"]
            assert await checksums(api.resources.engine) == before
