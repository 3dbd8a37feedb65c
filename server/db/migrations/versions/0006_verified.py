"""A backup remembers its last verification: when its file was last re-read against its
manifest (`verifyBackup`, `lumbung verify`) and what that found.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("Backup") as batch:
        batch.add_column(
            sa.Column(
                "verifiedAt",
                sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("verifyStatus", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("Backup") as batch:
        batch.drop_column("verifyStatus")
        batch.drop_column("verifiedAt")
