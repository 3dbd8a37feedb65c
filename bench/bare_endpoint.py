"""The baseline for bench/graphql_vs_bare.py: the `backups(limit: 100)` page without GraphQL.

A minimal Starlette app with one POST route that reads the same rows as the GraphQL query

    backups(limit: 100) { total items { id filename backupType status fileSize fileSizeHuman
      createdAt completedAt description creator { id name email }
      restoreLogs { id status createdAt restorer { name } } } }

and answers JSON of the same shape, `{"data": {"backups": {...}}}`, with SQLAlchemy async and
no GraphQL, no DataLoaders and no token check. What it deliberately shares with Lumbung:

* the ORM models (`server.db.models`), so rows are loaded and converted the same way (the
  `UTCDateTime` type turns MariaDB's naive DATETIME(3) into aware UTC datetimes), and the
  comparison measures the GraphQL layer, not the ORM against hand-written tuples;
* the engine options of `server.db.engine.create_engine` (default QueuePool of 5 + 10
  overflow, `pool_pre_ping=True`, `pool_recycle=3600`);
* uvicorn with one worker (uvloop + httptools, as `lumbung serve` gets them), no access log.

Queries per request: COUNT, the 100 newest backups, their restore logs by IN, then the
creators and restorers from `User` (id, name, email) by one IN, all on one session.

The database URL comes from LUMBUNG_DATABASE_URL, in the environment or in `.env` in the
working directory (the benchmark writes a 0600 `.env` there), the way Lumbung reads it.

    python bench/bare_endpoint.py --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import column, func, select, table
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# Run as a script from anywhere: the repo root holds the `server` package (for the models).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.db.enums import BackupType, JobStatus
from server.db.models import Backup, RestoreLog
from server.units import format_bytes

LIMIT = 100
PATH = "/backups"

# The application's User table, read like server.system.users.UserDirectory reads it (but
# with the demo table's known columns instead of reflection).
USER = table("User", column("id"), column("name"), column("email"))


class BareSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: SecretStr = Field(validation_alias="LUMBUNG_DATABASE_URL")


def _iso(value: datetime | None) -> str | None:
    # Strawberry's DateTime scalar serializes with isoformat() too.
    return None if value is None else value.isoformat()


async def backups_page(engine: AsyncEngine) -> dict[str, Any]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        total = await session.scalar(select(func.count()).select_from(Backup))
        backups = (
            await session.scalars(
                select(Backup).order_by(Backup.created_at.desc(), Backup.id.desc()).limit(LIMIT)
            )
        ).all()
        logs_by_backup: dict[int, list[RestoreLog]] = defaultdict(list)
        if backups:
            logs = await session.scalars(
                select(RestoreLog)
                .where(RestoreLog.backup_id.in_({b.id for b in backups}))
                .order_by(RestoreLog.created_at.desc(), RestoreLog.id.desc())
            )
            for log in logs.all():
                logs_by_backup[log.backup_id].append(log)
        user_ids = {b.created_by for b in backups}
        user_ids.update(log.restored_by for logs in logs_by_backup.values() for log in logs)
        users: dict[int, dict[str, Any]] = {}
        if user_ids:
            rows = await session.execute(
                select(USER.c.id, USER.c.name, USER.c.email).where(USER.c.id.in_(user_ids))
            )
            users = {row.id: {"id": row.id, "name": row.name, "email": row.email} for row in rows}

    def restorer(user_id: int) -> dict[str, Any] | None:
        user = users.get(user_id)
        return None if user is None else {"name": user["name"]}

    items = [
        {
            "id": b.id,
            "filename": b.filename,
            "backupType": BackupType(b.backup_type).name,
            "status": JobStatus(b.status).name,
            "fileSize": b.file_size,
            "fileSizeHuman": format_bytes(b.file_size),
            "createdAt": _iso(b.created_at),
            "completedAt": _iso(b.completed_at),
            "description": b.description,
            "creator": users.get(b.created_by),
            "restoreLogs": [
                {
                    "id": log.id,
                    "status": JobStatus(log.status).name,
                    "createdAt": _iso(log.created_at),
                    "restorer": restorer(log.restored_by),
                }
                for log in logs_by_backup.get(b.id, [])
            ],
        }
        for b in backups
    ]
    return {"data": {"backups": {"total": total or 0, "items": items}}}


def create_app(database_url: str | None = None) -> Starlette:
    url = database_url or BareSettings().database_url.get_secret_value()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The options of server.db.engine.create_engine for MariaDB/MySQL.
        engine = create_async_engine(url, pool_pre_ping=True, pool_recycle=3600)
        app.state.engine = engine
        try:
            yield
        finally:
            await engine.dispose()

    async def backups(request: Request) -> JSONResponse:
        # Decode the request body like a GraphQL server must (its content is not needed).
        json.loads(await request.body() or b"{}")
        return JSONResponse(await backups_page(request.app.state.engine))

    return Starlette(routes=[Route(PATH, backups, methods=["POST"])], lifespan=lifespan)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        workers=1,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
