"""Apply the catalog's Alembic migrations over the application's own async engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.models import CATALOG_TABLES

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The application that owns the database may run Alembic too: keep our history apart.
VERSION_TABLE = "lumbung_alembic_version"
# Lumbung's own tables: never overwritten by a restore, left out of a FULL dump, marked
# `isCatalog` by the `tables` query.
LUMBUNG_TABLES = frozenset((*CATALOG_TABLES, VERSION_TABLE))


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
    """Bring the catalog to the newest revision (idempotent)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


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
