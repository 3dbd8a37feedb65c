"""RestoreLog.objectsBefore: the schema objects that existed when a restore began writing, so
that a rollback (at once, or at the next start after a crash) can drop what the failed restore
created and nothing else.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("RestoreLog")}
    if "objectsBefore" not in columns:
        op.add_column("RestoreLog", sa.Column("objectsBefore", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("RestoreLog", "objectsBefore")
