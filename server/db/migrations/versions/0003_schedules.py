"""Schedules, their runs (each run's row is the claim on its slot), and two Backup columns:
`scheduleId` (the schedule that made a backup) and `pinned` (kept by rotation).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

EMPTY_LIST = sa.text("('[]')")


def _datetime() -> sa.types.TypeEngine[object]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql")  # type: ignore[return-value]


def _now() -> sa.TextClause:
    # MySQL wants the default's precision to match the column's DATETIME(3).
    if op.get_bind().dialect.name == "mysql":
        return sa.text("CURRENT_TIMESTAMP(3)")
    return sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    existing = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("Backup")}
    with op.batch_alter_table("Backup") as batch:
        if "scheduleId" not in existing:
            batch.add_column(sa.Column("scheduleId", sa.Integer, nullable=True))
        if "pinned" not in existing:
            batch.add_column(
                sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.text("0"))
            )
    op.create_index("Backup_scheduleId_idx", "Backup", ["scheduleId"])

    op.create_table(
        "LumbungSchedule",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(191), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("1")),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("frequency", sa.String(16), nullable=False),
        sa.Column("timeOfDay", sa.String(5), nullable=True),
        sa.Column("minute", sa.Integer, nullable=True),
        sa.Column("dayOfWeek", sa.Integer, nullable=True),
        sa.Column("dayOfMonth", sa.Integer, nullable=True),
        sa.Column("cronExpression", sa.String(191), nullable=False),
        sa.Column("timeZone", sa.String(64), nullable=False),
        sa.Column("activeFrom", _datetime(), nullable=False),
        sa.Column("rotationEnabled", sa.Boolean, nullable=False, server_default=sa.text("1")),
        sa.Column("keepLast", sa.Integer, nullable=False),
        sa.Column("keepDaily", sa.Integer, nullable=False),
        sa.Column("keepWeekly", sa.Integer, nullable=False),
        sa.Column("keepMonthly", sa.Integer, nullable=False),
        sa.Column("keepYearly", sa.Integer, nullable=False),
        sa.Column("maxTotalSize", sa.BigInteger, nullable=True),
        sa.Column("createdAt", _datetime(), nullable=False, server_default=_now()),
        sa.Column("updatedAt", _datetime(), nullable=False),
        sa.Column("createdBy", sa.Integer, nullable=False),
        sa.UniqueConstraint("name", name="LumbungSchedule_name_key"),
    )
    op.create_table(
        "LumbungScheduleRun",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "scheduleId",
            sa.Integer,
            sa.ForeignKey(
                "LumbungSchedule.id",
                name="LumbungScheduleRun_scheduleId_fkey",
                ondelete="CASCADE",
                onupdate="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("slotAt", _datetime(), nullable=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimedBy", sa.String(191), nullable=False),
        sa.Column("missedSlots", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("missedFrom", _datetime(), nullable=True),
        sa.Column("backupId", sa.Integer, nullable=True),
        sa.Column("cacheLogId", sa.Integer, nullable=True),
        sa.Column("errorMessage", sa.Text, nullable=True),
        sa.Column("rotated", sa.JSON, nullable=False, server_default=EMPTY_LIST),
        sa.Column("createdAt", _datetime(), nullable=False, server_default=_now()),
        sa.Column("updatedAt", _datetime(), nullable=False),
        sa.Column("completedAt", _datetime(), nullable=True),
        # The claim: one row per schedule and slot, whoever inserts it first.
        sa.UniqueConstraint(
            "scheduleId", "slotAt", name="LumbungScheduleRun_scheduleId_slotAt_key"
        ),
    )
    op.create_index("LumbungScheduleRun_status_idx", "LumbungScheduleRun", ["status"])


def downgrade() -> None:
    op.drop_table("LumbungScheduleRun")
    op.drop_table("LumbungSchedule")
    op.drop_index("Backup_scheduleId_idx", table_name="Backup")
    with op.batch_alter_table("Backup") as batch:
        batch.drop_column("pinned")
        batch.drop_column("scheduleId")
