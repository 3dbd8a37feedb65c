"""The catalog: Backup, RestoreLog, CacheLog.

When the application already has these tables (it created them from the seed's Prisma schema),
they are adopted: only Lumbung's extra columns are added, nothing is dropped or rewritten.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

EMPTY_LIST = sa.text("('[]')")
TRUE = sa.text("1")
FALSE = sa.text("0")


def _datetime() -> sa.types.TypeEngine[object]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql")  # type: ignore[return-value]


def _now() -> sa.TextClause:
    # MySQL wants the default's precision to match the column's DATETIME(3).
    if op.get_bind().dialect.name == "mysql":
        return sa.text("CURRENT_TIMESTAMP(3)")
    return sa.text("CURRENT_TIMESTAMP")


def _backup_extras() -> list[sa.Column[object]]:
    return [
        sa.Column("checksum", sa.String(64), nullable=True),
        sa.Column("compression", sa.String(16), nullable=False, server_default=sa.text("'zstd'")),
        sa.Column("errorMessage", sa.Text, nullable=True),
        sa.Column("durationMs", sa.Integer, nullable=True),
        sa.Column("origin", sa.String(16), nullable=False, server_default=sa.text("'manual'")),
        sa.Column("completedAt", _datetime(), nullable=True),
    ]


def _restore_log_extras() -> list[sa.Column[object]]:
    return [
        sa.Column("tables", sa.JSON, nullable=False, server_default=EMPTY_LIST),
        sa.Column("safetyBackupId", sa.Integer, nullable=True),
        sa.Column("durationMs", sa.Integer, nullable=True),
    ]


def _cache_log_extras() -> list[sa.Column[object]]:
    return [
        sa.Column("failedItems", sa.JSON, nullable=False, server_default=EMPTY_LIST),
        sa.Column("dryRun", sa.Boolean, nullable=False, server_default=FALSE),
        sa.Column("durationMs", sa.Integer, nullable=True),
    ]


def _adopt(table: str, extras: list[sa.Column[object]], widen: tuple[str, ...] = ()) -> None:
    columns = {column["name"]: column for column in sa.inspect(op.get_bind()).get_columns(table)}
    missing = [column for column in extras if column.name not in columns]
    # Prisma's Int is 32-bit: a file size column of that type would overflow at 2 GiB.
    narrow = [
        name
        for name in widen
        if name in columns and not isinstance(columns[name]["type"], sa.BigInteger)
    ]
    if missing or narrow:
        with op.batch_alter_table(table) as batch:
            for column in missing:
                batch.add_column(column)
            for name in narrow:
                batch.alter_column(
                    name, type_=sa.BigInteger(), existing_nullable=columns[name]["nullable"]
                )


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())

    if "Backup" in existing:
        _adopt("Backup", _backup_extras(), widen=("fileSize",))
    else:
        op.create_table(
            "Backup",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("filename", sa.String(191), nullable=False),
            sa.Column("backupType", sa.String(191), nullable=False),
            sa.Column("tables", sa.JSON, nullable=False, server_default=EMPTY_LIST),
            sa.Column("includeData", sa.Boolean, nullable=False, server_default=TRUE),
            sa.Column("includeSchema", sa.Boolean, nullable=False, server_default=TRUE),
            sa.Column("description", sa.String(191), nullable=True),
            sa.Column("fileSize", sa.BigInteger, nullable=False),
            sa.Column(
                "status", sa.String(191), nullable=False, server_default=sa.text("'completed'")
            ),
            sa.Column("createdAt", _datetime(), nullable=False, server_default=_now()),
            sa.Column("updatedAt", _datetime(), nullable=False),
            sa.Column("createdBy", sa.Integer, nullable=False),
            *_backup_extras(),
        )
        op.create_index("Backup_createdAt_idx", "Backup", ["createdAt"])
        op.create_index("Backup_status_idx", "Backup", ["status"])

    if "RestoreLog" in existing:
        _adopt("RestoreLog", _restore_log_extras())
    else:
        op.create_table(
            "RestoreLog",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column(
                "backupId",
                sa.Integer,
                sa.ForeignKey(
                    "Backup.id",
                    name="RestoreLog_backupId_fkey",
                    ondelete="CASCADE",
                    onupdate="CASCADE",
                ),
                nullable=False,
            ),
            sa.Column(
                "status", sa.String(191), nullable=False, server_default=sa.text("'in_progress'")
            ),
            sa.Column("errorMessage", sa.Text, nullable=True),
            sa.Column("description", sa.String(191), nullable=True),
            sa.Column("createdAt", _datetime(), nullable=False, server_default=_now()),
            sa.Column("completedAt", _datetime(), nullable=True),
            sa.Column("restoredBy", sa.Integer, nullable=False),
            *_restore_log_extras(),
        )
        op.create_index("RestoreLog_backupId_idx", "RestoreLog", ["backupId"])

    if "CacheLog" in existing:
        _adopt("CacheLog", _cache_log_extras())
    else:
        op.create_table(
            "CacheLog",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("cacheType", sa.String(191), nullable=False),
            sa.Column("clearedItems", sa.JSON, nullable=False, server_default=EMPTY_LIST),
            sa.Column("totalCleared", sa.Integer, nullable=False, server_default=sa.text("0")),
            sa.Column("description", sa.String(191), nullable=True),
            sa.Column("createdAt", _datetime(), nullable=False, server_default=_now()),
            sa.Column("clearedBy", sa.Integer, nullable=False),
            *_cache_log_extras(),
        )
        op.create_index("CacheLog_createdAt_idx", "CacheLog", ["createdAt"])


def downgrade() -> None:
    # Only what this revision created is dropped; adopted Prisma tables keep their data.
    for table in ("RestoreLog", "CacheLog", "Backup"):
        op.drop_table(table)
