"""The alarms raised when nothing happens: no successful backup for LUMBUNG_NO_BACKUP_ALERT_HOURS,
and less free disk than the next backup needs. A small loop in every server process checks
every LUMBUNG_HEALTH_CHECK_SECONDS, even when no job runs.

Every process checks, and exactly one sends: an alarm is claimed by inserting its key into
`NotificationAlert` (a primary key), and only the process whose insert succeeds notifies. The
keys decide how often an alarm repeats: `no-recent-backup:<last good backup>:<n>` fires once
per LUMBUNG_NO_BACKUP_ALERT_HOURS of silence after that backup; `low-disk:<day>` once a day
while the disk stays short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.adapters.base import DatabaseAdapter
from server.backup.files import BackupFolder
from server.backup.history import latest_completed_backup
from server.backup.space import free_bytes, next_backup_bytes
from server.db.enums import Compression, NotificationEvent
from server.db.models import NotificationAlert
from server.errors import public_error
from server.notify.service import Notifier
from server.settings import Settings
from server.units import format_bytes

log = logging.getLogger("lumbung.notify")


class AlarmChecker:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        adapter: DatabaseAdapter,
        folder: BackupFolder,
        notifier: Notifier,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sessions = sessions
        self._adapter = adapter
        self._folder = folder
        self._notifier = notifier
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="lumbung-alarms")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            # First after one interval: a process that starts and stops at once (the CLI, a
            # restart) raises nothing on its way.
            await asyncio.sleep(self._settings.health_check_seconds)
            try:
                await self.check(self._clock())
            except Exception as exc:  # the database is away: try again next time
                log.warning(
                    "alarm check failed: %s",
                    public_error(exc).message,
                    extra={"event": "notify.check_failed"},
                )

    async def check(self, now: datetime) -> list[NotificationEvent]:
        """Raise the alarms that are due at `now`; returns those this process sent."""
        sent: list[NotificationEvent] = []
        hours = self._settings.no_backup_alert_hours
        async with self._sessions() as session:
            last = await latest_completed_backup(session)
        since = last.completed_at or last.created_at if last is not None else None
        if since is None or (now - since).total_seconds() > hours * 3600:
            periods = int((now - since).total_seconds() // (hours * 3600)) if since else 0
            key = f"no-recent-backup:{last.id if last else 'none'}:{periods}"
            if since is None:
                # Never a backup: remind once per period of the clock, not per check.
                key = f"no-recent-backup:none:{int(now.timestamp() // (hours * 3600))}"
            if await self._claim(key):
                what = (
                    f"the last one, {last.filename}, finished {since:%Y-%m-%d %H:%M} UTC"
                    if last is not None and since is not None
                    else "there has never been one"
                )
                self._notifier.notify(
                    NotificationEvent.NO_RECENT_BACKUP,
                    f"No successful backup for {hours:g} hours",
                    f"No backup has completed in the last {hours:g} hours: {what}.",
                    {"lastBackupId": last.id if last else None, "hours": hours},
                )
                sent.append(NotificationEvent.NO_RECENT_BACKUP)
        need = await next_backup_bytes(
            self._sessions,
            self._folder,
            self._adapter,
            Compression(self._settings.backup_compression),
        )
        free = await asyncio.to_thread(free_bytes, self._folder.root)
        if free < need and await self._claim(f"low-disk:{now:%Y-%m-%d}"):
            self._notifier.notify(
                NotificationEvent.LOW_DISK_SPACE,
                "Not enough disk for the next backup",
                f"The backup folder's disk has {format_bytes(free)} free; the next full backup "
                f"needs about {format_bytes(need)}. Free space or delete old backups.",
                {"freeBytes": free, "neededBytes": need},
            )
            sent.append(NotificationEvent.LOW_DISK_SPACE)
        return sent

    async def _claim(self, key: str) -> bool:
        try:
            async with self._sessions() as session:
                session.add(NotificationAlert(key=key))
                await session.commit()
        except IntegrityError:
            return False
        return True
