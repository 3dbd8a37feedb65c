"""The application's own `User` table, read only to name a backup's creator and count users.

Lumbung does not own that table: its columns are discovered once (by reflection) and only
`id` plus whichever of the usual display columns exist are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnClause, TableClause, column, func, inspect, select, table
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

NAME_COLUMNS = ("name", "fullName", "full_name", "username", "displayName")
EMAIL_COLUMNS = ("email", "emailAddress", "email_address")


@dataclass(frozen=True)
class AppUser:
    id: int
    name: str | None
    email: str | None


@dataclass(frozen=True)
class _UserTable:
    table: TableClause
    name: ColumnClause[str] | None
    email: ColumnClause[str] | None


class UserDirectory:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._shape: _UserTable | None = None
        self._known_missing = False

    def forget(self) -> None:
        """Drop the reflected shape (the application may have migrated its table)."""
        self._shape = None
        self._known_missing = False

    def _reflect(self, connection: Connection) -> _UserTable | None:
        inspector = inspect(connection)
        if not inspector.has_table(self.table_name):
            return None
        names = {col["name"] for col in inspector.get_columns(self.table_name)}
        if "id" not in names:
            return None
        name = next((c for c in NAME_COLUMNS if c in names), None)
        email = next((c for c in EMAIL_COLUMNS if c in names), None)
        columns: list[ColumnClause[Any]] = [column("id"), *(column(c) for c in (name, email) if c)]
        clause = table(self.table_name, *columns)
        return _UserTable(
            clause,
            clause.c[name] if name else None,
            clause.c[email] if email else None,
        )

    async def _shape_of(self, session: AsyncSession) -> _UserTable | None:
        if self._shape is None and not self._known_missing:
            connection = await session.connection()
            self._shape = await connection.run_sync(self._reflect)
            self._known_missing = self._shape is None
        return self._shape

    async def by_ids(self, session: AsyncSession, ids: Sequence[int]) -> list[AppUser | None]:
        """Users in the order of `ids`, None for ids that no longer exist (one query)."""
        shape = await self._shape_of(session)
        if shape is None:
            return [None] * len(ids)
        columns = [shape.table.c.id]
        if shape.name is not None:
            columns.append(shape.name)
        if shape.email is not None:
            columns.append(shape.email)
        rows = (await session.execute(select(*columns).where(shape.table.c.id.in_(set(ids))))).all()
        found = {
            row.id: AppUser(
                id=row.id,
                name=getattr(row, shape.name.name) if shape.name is not None else None,
                email=getattr(row, shape.email.name) if shape.email is not None else None,
            )
            for row in rows
        }
        return [found.get(user_id) for user_id in ids]

    async def count(self, session: AsyncSession) -> int | None:
        shape = await self._shape_of(session)
        if shape is None:
            return None
        return int(await session.scalar(select(func.count()).select_from(shape.table)) or 0)
