"""Fixtures: real MariaDB and Redis servers (private, started here), an app per test on SQLite
or MariaDB, tokens, and row factories."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from server.app import create_app
from server.auth.keys import resolve_token_keys
from server.auth.tokens import issue_token
from server.resources import Resources
from server.settings import Settings
from tests.servers import MariaDBServer, RedisServer, ensure_binaries

JWT_SECRET = "test-secret-long-enough-for-hs512-0123456789abcdef0123456789abcdef"
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


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": tmp_path / "data",
        "backup_dir": tmp_path / "backups",
        "jwt_secret": JWT_SECRET,
        "demo_data": True,
        "log_format": "text",
        # Tests tick the scheduler themselves; its loop would run SQL behind their backs.
        "scheduler": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


class Api:
    """The app under test, reached through its ASGI interface, lifespan and all."""

    def __init__(self, app: Starlette, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app = app
        self.client = client
        self.settings = settings

    @property
    def resources(self) -> Resources:
        resources: Resources = self.app.state.resources
        return resources

    def token(
        self, sub: str = "1", roles: list[str] | None = None, ttl: timedelta = timedelta(hours=1)
    ) -> str:
        keys = resolve_token_keys(self.settings)
        return issue_token(self.settings, keys, subject=sub, roles=roles or ["admin"], ttl=ttl)

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = "admin",  # noqa: S107 - "admin" asks for a fresh admin token
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token == "admin":
            token = self.token()
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )

    async def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a query as admin and return `data`, failing the test on any error."""
        response = await self.post(query, variables)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a query as admin that must fail, and return its single error."""
        response = await self.post(query, variables)
        body = response.json()
        assert len(body.get("errors", [])) == 1, body
        error: dict[str, Any] = body["errors"][0]
        return error


@asynccontextmanager
async def open_api(
    settings: Settings, *, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[Api]:
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(app, client, settings)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with open_api(settings) as value:
        yield value
