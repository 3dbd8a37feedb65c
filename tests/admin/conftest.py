"""The admin page's fixtures: a real `lumbung serve` on the private MariaDB and Redis (one
per test module, its dump tool held at a gate when a test asks), and Debian's chromium."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, expect

from tests.admin.page import TIMEOUT_MS, HeldDump
from tests.support.browser import chromium
from tests.support.lumbung import LumbungServer, start_server
from tests.support.mariadb import MariaDBServer
from tests.support.redis import RedisServer
from tests.support.tokens import JWT_SECRET


@pytest.fixture(scope="module")
def held_dump(tmp_path_factory: pytest.TempPathFactory) -> HeldDump:
    return HeldDump(tmp_path_factory.mktemp("tools"))


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    mariadb: MariaDBServer,
    redis_server: RedisServer,
    held_dump: HeldDump,
) -> Iterator[LumbungServer]:
    name = f"admin_page_{os.getpid()}"
    url = mariadb.create_database(name)
    workdir = tmp_path_factory.mktemp("admin")
    process = start_server(
        workdir,
        {
            "LUMBUNG_DATABASE_URL": url,
            "LUMBUNG_DEMO_DATA": "true",
            "LUMBUNG_REDIS_URL": redis_server.url,
            "LUMBUNG_JWT_SECRET": JWT_SECRET,
            "LUMBUNG_JWT_LEEWAY_SECONDS": "0",
            "LUMBUNG_BACKUP_DIR": str(workdir / "backups"),
            "LUMBUNG_DUMP_COMMAND": str(held_dump.tool),
            "LUMBUNG_SCHEDULER": "false",
            "LUMBUNG_LOG_FORMAT": "text",
        },
    )
    yield process
    process.stop()
    mariadb.drop_database(name)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    expect.set_options(timeout=TIMEOUT_MS)
    async with chromium() as launched:
        yield launched
