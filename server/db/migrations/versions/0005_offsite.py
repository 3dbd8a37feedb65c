"""Encryption and offsite copies: the Backup row says whether it is encrypted and to whom;
BackupCopy holds each backup's copy on each offsite target; a schedule run records the copies
its rotation deleted on the targets (`rotatedCopies`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _datetime() -> sa.types.TypeEngine[object]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql")  # type: ignore[return-value]


def _now() -> sa.TextClause:
    if op.get_bind().dialect.name == "mysql":
        return sa.text("CURRENT_TIMESTAMP(3)")
    return sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    with op.batch_alter_table("Backup") as batch:
        batch.add_column(
            sa.Column("encrypted", sa.Boolean, nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(
            sa.Column("recipients", sa.JSON, nullable=False, server_default=sa.text("('[]')"))
        )
    op.create_table(
        "BackupCopy",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "backupId",
            sa.Integer,
            sa.ForeignKey(
                "Backup.id", name="BackupCopy_backupId_fkey", ondelete="CASCADE", onupdate="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("bytes", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("errorMessage", sa.Text, nullable=True),
        sa.Column("nextAttemptAt", _datetime(), nullable=True),
        sa.Column("leaseUntil", _datetime(), nullable=True),
        sa.Column("verifiedAt", _datetime(), nullable=True),
        sa.Column("createdAt", _datetime(), nullable=False, server_default=_now()),
        sa.Column("updatedAt", _datetime(), nullable=False, server_default=_now()),
    )
    op.create_index(
        "BackupCopy_backupId_target_key", "BackupCopy", ["backupId", "target"], unique=True
    )
    op.create_index(
        "BackupCopy_status_nextAttemptAt_idx", "BackupCopy", ["status", "nextAttemptAt"]
    )
    with op.batch_alter_table("LumbungScheduleRun") as batch:
        batch.add_column(
            sa.Column("rotatedCopies", sa.JSON, nullable=False, server_default=sa.text("('[]')"))
        )


def downgrade() -> None:
    with op.batch_alter_table("LumbungScheduleRun") as batch:
        batch.drop_column("rotatedCopies")
    op.drop_table("BackupCopy")
    with op.batch_alter_table("Backup") as batch:
        batch.drop_column("recipients")
        batch.drop_column("encrypted")
