"""DataLoaders: a page of backups resolves its creators and restore logs in one query each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from server.backup.history import restore_logs_by_backup
from server.db.models import Backup, BackupCopy, RestoreDrill, RestoreLog, Schedule, ScheduleRun
from server.drill.history import latest_drills_by_backup
from server.errors import NotFound
from server.resources import Resources
from server.schedule.views import last_runs, newest_slots
from server.system.users import AppUser

# A schedule's row, its newest claimed slot and its newest run: what its GraphQL type shows.
ScheduleFacts = tuple[Schedule, datetime | None, ScheduleRun | None]


class Loaders:
    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        self.users = DataLoader[int, AppUser | None](load_fn=self._users)
        self.restore_logs = DataLoader[int, list[RestoreLog]](load_fn=self._restore_logs)
        self.backups = DataLoader[int, Backup](load_fn=self._backups)
        self.last_drills = DataLoader[int, RestoreDrill | None](load_fn=self._last_drills)
        self.copies = DataLoader[int, list[BackupCopy]](load_fn=self._copies)
        # A run's backup may have been deleted by rotation since: None, not an error.
        self.maybe_backups = DataLoader[int, Backup | None](load_fn=self._maybe_backups)
        self.schedules = DataLoader[int, ScheduleFacts | None](load_fn=self._schedules)

    async def _users(self, ids: Sequence[int]) -> list[AppUser | None]:
        # Each batch opens its own session: sessions are never shared between resolvers.
        async with self._resources.sessions() as session:
            return await self._resources.users.by_ids(session, ids)

    async def _restore_logs(self, backup_ids: Sequence[int]) -> list[list[RestoreLog]]:
        async with self._resources.sessions() as session:
            return await restore_logs_by_backup(session, backup_ids)

    async def _last_drills(self, backup_ids: Sequence[int]) -> list[RestoreDrill | None]:
        async with self._resources.sessions() as session:
            return await latest_drills_by_backup(session, backup_ids)

    async def _backups(self, ids: Sequence[int]) -> list[Backup | BaseException]:
        async with self._resources.sessions() as session:
            rows = (await session.scalars(select(Backup).where(Backup.id.in_(set(ids))))).all()
        found = {row.id: row for row in rows}
        return [found.get(i) or NotFound(f"No backup has id {i}.") for i in ids]

    async def _copies(self, backup_ids: Sequence[int]) -> list[list[BackupCopy]]:
        async with self._resources.sessions() as session:
            rows = (
                await session.scalars(
                    select(BackupCopy)
                    .where(BackupCopy.backup_id.in_(set(backup_ids)))
                    .order_by(BackupCopy.target)
                )
            ).all()
        grouped: dict[int, list[BackupCopy]] = {}
        for row in rows:
            grouped.setdefault(row.backup_id, []).append(row)
        return [grouped.get(backup_id, []) for backup_id in backup_ids]

    async def _maybe_backups(self, ids: Sequence[int]) -> list[Backup | None]:
        async with self._resources.sessions() as session:
            rows = (await session.scalars(select(Backup).where(Backup.id.in_(set(ids))))).all()
        found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]

    async def _schedules(self, ids: Sequence[int]) -> list[ScheduleFacts | None]:
        async with self._resources.sessions() as session:
            rows = (await session.scalars(select(Schedule).where(Schedule.id.in_(set(ids))))).all()
            slots = await newest_slots(session, ids)
            runs = await last_runs(session, ids)
        found = {row.id: row for row in rows}
        return [(found[i], slots.get(i), runs.get(i)) if i in found else None for i in ids]
