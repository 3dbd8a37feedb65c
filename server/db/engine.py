"""Engine and session factory, built from the settings in the app's lifespan (never at import)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from server.settings import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.resolved_database_url())
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:":
            from pathlib import Path

            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    return create_async_engine(
        url,
        # A pooled connection may have been closed by the server's wait_timeout or a restart.
        pool_pre_ping=True,
        pool_recycle=3600,
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets GraphQL reads go on while a backup or a migration writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_name(engine: AsyncEngine) -> str:
    """`sqlite` or `mysql` (MariaDB speaks through the mysql dialect)."""
    return engine.dialect.name
