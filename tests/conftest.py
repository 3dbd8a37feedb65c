"""Fixtures: real MariaDB and Redis servers (private, started here) and an app per test on
SQLite or MariaDB. The helpers they use live in tests/support."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from server.settings import Settings
from tests.support.app import Api, make_settings, open_api
from tests.support.binaries import ensure_binaries
from tests.support.mariadb import MariaDBServer
from tests.support.redis import RedisServer

_databases = itertools.count()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests build their settings explicitly: nothing leaks in from the machine or a `.env`."""
    for name in list(os.environ):
        if name.startswith(("LUMBUNG_", "DATABASE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    ensure_binaries()
    server = MariaDBServer().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    ensure_binaries()
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture(params=["sqlite", "mariadb"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the private MariaDB."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
        return
    server: MariaDBServer = request.getfixturevalue("mariadb")
    name = f"t{next(_databases)}_{os.getpid()}"
    yield server.create_database(name)
    server.drop_database(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with open_api(settings) as value:
        yield value
