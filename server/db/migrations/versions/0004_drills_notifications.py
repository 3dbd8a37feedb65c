"""Restore drills and notifications: Backup.evidence, RestoreDrill, NotificationChannel,
NotificationDelivery, NotificationAlert; a schedule's drills (LumbungSchedule.drillMode and
drillEvery, LumbungScheduleRun.drillId).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EMPTY_LIST = sa.text("('[]')")


def _datetime() -> sa.types.TypeEngine[object]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql")  # type: ignore[return-value]


def _now() -> sa.TextClause:
    if op.get_bind().dialect.name == "mysql":
        return sa.text("CURRENT_TIMESTAMP(3)")
    return sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("Backup")}
    if "evidence" not in columns:
        with op.batch_alter_table("Backup") as batch:
            batch.add_column(sa.Column("evidence", sa.JSON, nullable=True))

    # The schedule tables are Lumbung's own (0003): no application made them before.
    with op.batch_alter_table("LumbungSchedule") as batch:
        batch.add_column(
            sa.Column("drillMode", sa.String(16), nullable=False, server_default=sa.text("'off'"))
        )
        batch.add_column(sa.Column("drillEvery", sa.Integer, nullable=True))
    with op.batch_alter_table("LumbungScheduleRun") as batch:
        batch.add_column(sa.Column("drillId", sa.Integer, nullable=True))

    op.create_table(
        "RestoreDrill",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "backupId",
            sa.Integer,
            sa.ForeignKey(
                "Backup.id",
                name="RestoreDrill_backupId_fkey",
                ondelete="CASCADE",
                onupdate="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'in_progress'")),
        sa.Column("problems", sa.JSON, nullable=False, server_default=EMPTY_LIST),
        sa.Column("unproven", sa.JSON, nullable=False, server_default=EMPTY_LIST),
        sa.Column("tables", sa.JSON, nullable=False, server_default=EMPTY_LIST),
        sa.Column("createdAt", _datetime(), nullable=False, server_default=_now()),
        sa.Column("completedAt", _datetime(), nullable=True),
        sa.Column("restoreMs", sa.Integer, nullable=True),
        sa.Column("durationMs", sa.Integer, nullable=True),
        sa.Column("requestedBy", sa.Integer, nullable=False),
        sa.Column("scheduleId", sa.Integer, nullable=True),
    )
    op.create_index("RestoreDrill_backupId_idx", "RestoreDrill", ["backupId"])

    op.create_table(
        "NotificationChannel",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(191), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("1")),
        sa.Column("events", sa.JSON, nullable=False, server_default=EMPTY_LIST),
        sa.Column("recipients", sa.JSON, nullable=False, server_default=EMPTY_LIST),
        sa.Column("targetHint", sa.String(191), nullable=True),
        sa.Column("slack", sa.Boolean, nullable=False, server_default=sa.text("0")),
        sa.Column("secret", sa.Text, nullable=True),
        sa.Column("createdAt", _datetime(), nullable=False, server_default=_now()),
        sa.Column("updatedAt", _datetime(), nullable=False, server_default=_now()),
        sa.Column("lastError", sa.Text, nullable=True),
        sa.Column("lastErrorAt", _datetime(), nullable=True),
        sa.Column("lastDeliveredAt", _datetime(), nullable=True),
    )

    op.create_table(
        "NotificationDelivery",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "channelId",
            sa.Integer,
            sa.ForeignKey(
                "NotificationChannel.id",
                name="NotificationDelivery_channelId_fkey",
                ondelete="CASCADE",
                onupdate="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(191), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("createdAt", _datetime(), nullable=False, server_default=_now()),
        sa.Column("completedAt", _datetime(), nullable=True),
    )
    op.create_index(
        "NotificationDelivery_channelId_idx", "NotificationDelivery", ["channelId", "createdAt"]
    )

    op.create_table(
        "NotificationAlert",
        sa.Column("key", sa.String(191), primary_key=True),
        sa.Column("createdAt", _datetime(), nullable=False, server_default=_now()),
    )


def downgrade() -> None:
    for table in ("NotificationAlert", "NotificationDelivery", "NotificationChannel"):
        op.drop_table(table)
    op.drop_table("RestoreDrill")
    with op.batch_alter_table("LumbungScheduleRun") as batch:
        batch.drop_column("drillId")
    with op.batch_alter_table("LumbungSchedule") as batch:
        batch.drop_column("drillEvery")
        batch.drop_column("drillMode")
    with op.batch_alter_table("Backup") as batch:
        batch.drop_column("evidence")
