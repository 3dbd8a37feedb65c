"""Database adapters: what dumps, restores and locks each kind of database (base.py is the
contract; mysql.py and sqlite.py fulfil it)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from server.backup.adapters.base import DatabaseAdapter
from server.backup.adapters.mysql import MySQLAdapter
from server.backup.adapters.sqlite import SQLiteAdapter
from server.settings import Settings


def adapter_for(settings: Settings, engine: AsyncEngine) -> DatabaseAdapter:
    """The adapter for the configured database: MariaDB/MySQL or SQLite."""
    if engine.dialect.name == "sqlite":
        return SQLiteAdapter(settings)
    return MySQLAdapter(settings, engine)
