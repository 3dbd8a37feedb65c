"""Apply the catalog's Alembic migrations over the application's own async engine."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.models import CATALOG_TABLES
from server.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The application that owns the database may run Alembic too: keep our history apart.
VERSION_TABLE = "lumbung_alembic_version"
# Lumbung's own tables: never overwritten by a restore, left out of a FULL dump, marked
# `isCatalog` by the `tables` query.
LUMBUNG_TABLES = frozenset((*CATALOG_TABLES, VERSION_TABLE))
# One process sets the database up (migrates, seeds the demo tables) at a time; the others
# wait this long for it.
MIGRATION_LOCK = "lumbung:migrate"
MIGRATION_LOCK_SECONDS = 120


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(_config(connection), "head")


def _current(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def migrate(engine: AsyncEngine) -> None:
    """Bring the catalog to the newest revision (idempotent). Several processes may start at
    once (`--workers 2` on an empty database): one migrates while the others wait for it, then
    find nothing left to do."""
    async with setup_lock(engine), engine.begin() as connection:
        await connection.run_sync(_upgrade)


@asynccontextmanager
async def setup_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Held while a process sets the database up (migrating, seeding the demo tables), across
    processes: MariaDB's GET_LOCK on a connection of its own (it dies with the holder), or an
    flock beside a SQLite file."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        fd = await asyncio.to_thread(_flock, Path(database + ".lumbung-migrate-lock"))
        try:
            yield
        finally:
            os.close(fd)  # closing lets go of the flock
        return
    async with engine.connect() as holder:
        got = await holder.scalar(
            text("SELECT GET_LOCK(:name, :seconds)"),
            {"name": MIGRATION_LOCK, "seconds": MIGRATION_LOCK_SECONDS},
        )
        if got != 1:
            raise ConfigurationError(
                f"another process has been setting the database up for over "
                f"{MIGRATION_LOCK_SECONDS} s; let it finish, then start again"
            )
        try:
            yield
        finally:
            await holder.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": MIGRATION_LOCK})


def _flock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


async def pending_revisions(engine: AsyncEngine) -> list[str]:
    """Revisions not yet applied, oldest first (empty when the catalog is current)."""
    async with engine.connect() as connection:
        current = await connection.run_sync(_current)
    script = ScriptDirectory.from_config(_config())
    revisions = [rev.revision for rev in script.walk_revisions(base="base", head="heads")]
    revisions.reverse()
    if current is None:
        return revisions
    return revisions[revisions.index(current) + 1 :]
