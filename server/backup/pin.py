"""Pinning a backup: rotation keeps it whatever its rules say, and deleteBackup refuses it
until it is unpinned."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.history import get_backup
from server.db.models import Backup


async def set_pinned(
    sessions: async_sessionmaker[AsyncSession], backup_id: int, pinned: bool
) -> Backup:
    async with sessions() as session:
        backup = await get_backup(session, backup_id)
        backup.pinned = pinned
        await session.commit()
        return backup
