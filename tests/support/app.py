"""The app under test through its ASGI interface, lifespan and all, and the settings tests give
it (nothing read from the machine or a `.env`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from server.app import create_app
from server.resources import Resources
from server.settings import Settings
from tests.support.graphql import GraphQLClient
from tests.support.tokens import JWT_SECRET, issue


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


class Api(GraphQLClient):
    """The app, its GraphQL client (as admin by default) and its settings."""

    def __init__(self, app: Starlette, client: httpx.AsyncClient, settings: Settings) -> None:
        super().__init__(client, self.token)
        self.app = app
        self.settings = settings

    @property
    def resources(self) -> Resources:
        resources: Resources = self.app.state.resources
        return resources

    def token(
        self, sub: str = "1", roles: list[str] | None = None, ttl: timedelta = timedelta(hours=1)
    ) -> str:
        return issue(self.settings, subject=sub, roles=roles, ttl=ttl)


@asynccontextmanager
async def open_api(
    settings: Settings, *, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[Api]:
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(app, client, settings)
