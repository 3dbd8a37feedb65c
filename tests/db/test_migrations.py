"""The catalog's migrations: idempotent, kept apart from the application's own Alembic history,
and adopting tables the application already created from the seed's Prisma schema."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from server.db.migrate import MIGRATIONS_DIR, VERSION_TABLE, migrate, pending_revisions
from server.db.models import Base


async def _columns(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: {c["name"] for c in sa.inspect(sync).get_columns(table)}
        )


async def test_migrating_twice_is_harmless(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        every = sorted(f.name[:4] for f in MIGRATIONS_DIR.glob("versions/[0-9]*.py"))
        assert every[0] == "0001" and len(every) >= 3
        assert await pending_revisions(engine) == every
        await migrate(engine)
        await migrate(engine)
        assert await pending_revisions(engine) == []
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
        assert {
            "Backup",
            "RestoreLog",
            "CacheLog",
            "BackupCopy",
            "LumbungSchedule",
            "LumbungScheduleRun",
            "RestoreDrill",
            "NotificationChannel",
            "NotificationDelivery",
            "NotificationAlert",
            VERSION_TABLE,
        } <= names
        assert "alembic_version" not in names  # the application's own Alembic is left alone
    finally:
        await engine.dispose()


PRISMA_BACKUP_MYSQL = """
CREATE TABLE `Backup` (
  `id` INT NOT NULL AUTO_INCREMENT, `filename` VARCHAR(191) NOT NULL,
  `backupType` VARCHAR(191) NOT NULL, `tables` JSON NOT NULL,
  `includeData` BOOLEAN NOT NULL DEFAULT true, `includeSchema` BOOLEAN NOT NULL DEFAULT true,
  `description` VARCHAR(191) NULL, `fileSize` INT NOT NULL,
  `status` VARCHAR(191) NOT NULL DEFAULT 'completed',
  `createdAt` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), `updatedAt` DATETIME(3) NOT NULL,
  `createdBy` INT NOT NULL, PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
"""
PRISMA_BACKUP_SQLITE = """
CREATE TABLE "Backup" (
  "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "filename" TEXT NOT NULL,
  "backupType" TEXT NOT NULL, "tables" JSONB NOT NULL DEFAULT '[]',
  "includeData" BOOLEAN NOT NULL DEFAULT true, "includeSchema" BOOLEAN NOT NULL DEFAULT true,
  "description" TEXT, "fileSize" INTEGER NOT NULL, "status" TEXT NOT NULL DEFAULT 'completed',
  "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" DATETIME NOT NULL,
  "createdBy" INTEGER NOT NULL
)
"""


async def test_tables_created_by_the_applications_prisma_are_adopted(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            ddl = (
                PRISMA_BACKUP_SQLITE if connection.dialect.name == "sqlite" else PRISMA_BACKUP_MYSQL
            )
            await connection.execute(sa.text(ddl))
            await connection.execute(
                sa.text(
                    "INSERT INTO Backup (filename, backupType, tables, fileSize, updatedAt, "
                    "createdBy) VALUES ('backup_full_2024-01-15T10-30-00.sql', 'full', '[]', "
                    "2048576, '2024-01-15 10:30:00', 1)"
                )
            )
        await migrate(engine)
        columns = await _columns(engine, "Backup")
        assert {"checksum", "compression", "errorMessage", "origin", "completedAt"} <= columns
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    sa.text("SELECT filename, compression, origin FROM Backup")
                )
            ).one()
        # The application's row survives, with the defaults of the new columns.
        assert tuple(row) == ("backup_full_2024-01-15T10-30-00.sql", "zstd", "manual")
        # ... and its 32-bit fileSize is widened, so a 5 GiB backup fits.
        async with engine.begin() as connection:
            await connection.execute(sa.text(f"UPDATE Backup SET fileSize = {5 * 2**30}"))
            size = (await connection.execute(sa.text("SELECT fileSize FROM Backup"))).scalar()
        assert size == 5 * 2**30
    finally:
        await engine.dispose()


async def test_processes_that_start_at_once_migrate_one_after_the_other(database_url: str) -> None:
    """`lumbung serve --workers 2` on an empty database: every worker migrates at start. One
    does; the others wait for it and find nothing left to do."""
    engines = [create_async_engine(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate(engine) for engine in engines))
        assert await pending_revisions(engines[0]) == []
    finally:
        for engine in engines:
            await engine.dispose()


async def test_the_migrations_build_what_the_models_describe(database_url: str) -> None:
    """A column added to a model and forgotten in a migration (or the reverse) shows here, as
    Alembic's autogenerate would write it, and not on the first deployment."""
    engine = create_async_engine(database_url)
    try:
        await migrate(engine)
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()
    ours = [
        difference
        for difference in differences
        if not (difference[0] == "remove_table" and difference[1].name == VERSION_TABLE)
    ]
    assert ours == []
