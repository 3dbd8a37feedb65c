"""Alembic environment. Lumbung runs migrations itself (`lumbung migrate`, or at start in
development) over a connection it hands in through `config.attributes`, so the same async
engine and credentials serve both, and no URL with a password is ever written to a file."""

from __future__ import annotations

from alembic import context

from server.db.migrate import VERSION_TABLE
from server.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by calling the alembic CLI directly
    raise RuntimeError("run migrations with `lumbung migrate`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
