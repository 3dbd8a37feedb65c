"""A MariaDB database holding every kind of value a backup tool gets wrong."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.migrate import LUMBUNG_TABLES
from tests.support.app import Api, make_settings, open_api
from tests.support.mariadb import MariaDBServer

BIG_ROW_BYTES = 17 * 2**20  # over 16 MiB: past the default max_allowed_packet of old clients

RICH_SCHEMA = [
    """CREATE TABLE `Everything` (
        id INT AUTO_INCREMENT PRIMARY KEY,
        txt TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
        bin BLOB,
        nothing VARCHAR(20) NULL,
        big LONGBLOB,
        doc JSON,
        doubled VARCHAR(40) AS (UPPER(nothing)) STORED,
        at DATETIME(6)
    )""",
    "INSERT INTO `Everything` (txt, bin, nothing, big, doc, at) VALUES "
    "('emoji 😀🙏 and quotes \\' \" \\\\ and a newline\\n', X'00FF00FF7F80', NULL, NULL, "
    "'{\"a\": [1, 2, {\"b\": null}]}', '2024-01-15 10:30:00.123456')",
    "INSERT INTO `Everything` (txt, bin, nothing, big, doc, at) VALUES "
    "('),( looks like a row break', X'', 'x', NULL, NULL, NULL)",
    "INSERT INTO `Everything` (txt) VALUES (NULL)",
    "CREATE VIEW `EverythingView` AS SELECT id, txt FROM `Everything`",
    "CREATE TRIGGER `Everything_fill` BEFORE INSERT ON `Everything` FOR EACH ROW "
    "SET NEW.nothing = COALESCE(NEW.nothing, 'from trigger')",
    "CREATE PROCEDURE `count_everything`() SELECT COUNT(*) AS n FROM `Everything`",
    "CREATE TABLE `a``b` (x INT)",
    "INSERT INTO `a``b` VALUES (1), (2)",
]


async def build_rich_database(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for statement in RICH_SCHEMA:
            await connection.execute(text(statement))
        # One row over 16 MiB, with every byte value in it. (Sent as hex: aiomysql 0.3 fails
        # to escape a bytes parameter.)
        await connection.execute(
            text("INSERT INTO `Everything` (txt, big) VALUES ('big', UNHEX(:big))"),
            {"big": (bytes(range(256)) * (BIG_ROW_BYTES // 256)).hex()},
        )


async def checksums(engine: AsyncEngine) -> dict[str, int | None]:
    async with engine.connect() as connection:
        tables = [
            row[0]
            for row in await connection.execute(
                text(
                    "SELECT TABLE_NAME FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
                )
            )
            if row[0] not in LUMBUNG_TABLES
        ]
        result: dict[str, int | None] = {}
        for table in sorted(tables):
            quoted = "`" + table.replace("`", "``") + "`"
            row = (await connection.execute(text(f"CHECKSUM TABLE {quoted} EXTENDED"))).one()
            result[table] = row[1]
        return result


@pytest.fixture
async def rich(mariadb: MariaDBServer, tmp_path: Path) -> AsyncIterator[Api]:
    """The API on a MariaDB database with the demo tables plus `Everything`, a view, a trigger,
    a routine and a table whose name holds a backtick."""
    name = f"rich_{os.getpid()}_{tmp_path.name[-12:]}".replace("-", "_")[:60]
    url = mariadb.create_database(name)
    try:
        async with open_api(make_settings(url, tmp_path)) as api:
            await build_rich_database(api.resources.engine)
            yield api
    finally:
        mariadb.drop_database(name)


async def fill_bulk(
    engine: AsyncEngine, rows: int, row_bytes: int = 1024, *, random: bool = False
) -> None:
    """A `Bulk` table of `rows` rows, generated inside the server (MariaDB's sequence engine)."""
    value = f"RANDOM_BYTES({row_bytes})" if random else f"REPEAT(MD5(seq), {row_bytes // 32})"
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE `Bulk` (id INT PRIMARY KEY, payload LONGBLOB)"))
        await connection.execute(
            text(f"INSERT INTO `Bulk` SELECT seq, {value} FROM seq_1_to_{rows}")
        )


@pytest.fixture
def database(mariadb: MariaDBServer, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on the shared MariaDB; its URL."""
    name = f"db_{os.getpid()}_{tmp_path.name[-12:]}".replace("-", "_")[:60]
    url = mariadb.create_database(name)
    yield url
    mariadb.drop_database(name)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """A folder on a tmpfs of the given size (the tests run as root), unmounted after."""
    mount = tmp_path / "tiny"
    mount.mkdir()

    def mounted(size: str) -> Path:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True
        )
        return mount

    yield mounted
    subprocess.run(["umount", str(mount)], check=False)
