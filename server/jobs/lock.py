"""One backup or restore at a time per database, across processes and machines.

The lock itself belongs to the database adapter (MariaDB's GET_LOCK on a dedicated connection,
SQLite's flock): it dies with its holder. This module adds what a refused job needs to say,
and the short wait for a holder that is only finishing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.enums import JobStatus
from server.db.models import Backup, RestoreLog
from server.errors import Conflict

# How long a new job waits for a lock whose holder has nothing IN_PROGRESS (it is finishing).
LOCK_RELEASE_GRACE = 3.0
LOCK_RETRY_SECONDS = 0.05


class JobLock:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        take: Callable[[], AbstractAsyncContextManager[None]],
    ) -> None:
        self._sessions = sessions
        self._take = take

    async def running_job(self) -> str | None:
        """What the catalog says is running, or None when no job is IN_PROGRESS."""
        async with self._sessions() as session:
            restore = (
                await session.scalars(
                    select(RestoreLog).where(RestoreLog.status == JobStatus.IN_PROGRESS)
                )
            ).first()
            backup = (
                await session.scalars(select(Backup).where(Backup.status == JobStatus.IN_PROGRESS))
            ).first()
        if restore is not None:
            return f"restore #{restore.id} of backup #{restore.backup_id} is running"
        if backup is not None:
            return f"backup #{backup.id} ({backup.filename}) is running"
        return None

    async def acquire(self) -> AsyncExitStack:
        """Take the database's job lock, or raise Conflict naming the job that holds it.

        A job records its end (catalog row, final event) before it lets go of the lock, so a
        client that starts the next job the moment it sees the last one end can find the lock
        still held with nothing IN_PROGRESS. Then the holder is finishing (or recovering after
        a restart): wait for it, up to LOCK_RELEASE_GRACE seconds, instead of refusing."""
        deadline = time.monotonic() + LOCK_RELEASE_GRACE
        while True:
            stack = AsyncExitStack()
            try:
                await stack.enter_async_context(self._take())
            except Conflict:
                await stack.aclose()
                running = await self.running_job()
                if running is None and time.monotonic() < deadline:
                    await asyncio.sleep(LOCK_RETRY_SECONDS)
                    continue
                raise Conflict(
                    f"Not started: {running or 'another backup or restore is running'}. One "
                    "backup or restore runs at a time; wait for it to finish (follow it with its "
                    "progress subscription)."
                ) from None
            return stack

    async def acquire_within(self, seconds: float, poll: float = 1.0) -> AsyncExitStack:
        """Take the job lock, waiting up to `seconds` for the jobs that hold it
        (scheduled work waits its turn rather than fail); then Conflict, naming the holder."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                return await self.acquire()
            except Conflict:
                if time.monotonic() + poll > deadline:
                    raise
            await asyncio.sleep(poll)
