"""`backupHealth`: is the database protected right now? The last good backup and whether it
is overdue, the last drill, each schedule's state, and the backup disk: free space, whether
the next backup fits, and how many days it lasts at the recent growth.

Schedules live in their own domain: it hands its rows in through `ScheduleHealthSource`
(`Resources.schedule_health`, server/schedule/health.py).
"""

from __future__ import annotations

import asyncio
import enum
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.adapters.base import DatabaseAdapter
from server.backup.files import BackupFolder
from server.backup.history import latest_completed_backup
from server.backup.space import next_backup_bytes
from server.db.enums import Compression, DrillStatus, JobStatus
from server.db.models import Backup, RestoreDrill
from server.settings import Settings
from server.units import format_bytes

GROWTH_WINDOW_DAYS = 7
FEW_DAYS_LEFT = 7


class HealthStatus(enum.Enum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class ScheduleHealth:
    """One schedule's row, as the schedules domain reports it."""

    schedule_id: int
    name: str
    enabled: bool
    last_success_at: datetime | None
    overdue: bool
    next_run_at: datetime | None
    last_drill: RestoreDrill | None = None


class ScheduleHealthSource(Protocol):
    async def schedule_health(self, now: datetime) -> list[ScheduleHealth]: ...


@dataclass(frozen=True)
class StorageHealth:
    free_bytes: int
    total_bytes: int
    used_by_backups_bytes: int
    growth_bytes_per_day: int
    days_left: float | None  # None: no growth to extrapolate
    next_backup_bytes: int

    @property
    def enough_for_next_backup(self) -> bool:
        return self.free_bytes >= self.next_backup_bytes


@dataclass
class BackupHealth:
    status: HealthStatus
    problems: list[str]
    last_success: Backup | None
    overdue: bool
    last_drill: RestoreDrill | None
    storage: StorageHealth
    schedules: list[ScheduleHealth] = field(default_factory=list)


async def _storage(
    sessions: async_sessionmaker[AsyncSession],
    adapter: DatabaseAdapter,
    folder: BackupFolder,
    settings: Settings,
    now: datetime,
) -> StorageHealth:
    usage = await asyncio.to_thread(shutil.disk_usage, folder.root)
    completed = Backup.status == JobStatus.COMPLETED
    since = now - timedelta(days=GROWTH_WINDOW_DAYS)
    async with sessions() as session:
        used = await session.scalar(select(func.sum(Backup.file_size)).where(completed))
        recent = await session.scalar(
            select(func.sum(Backup.file_size)).where(completed, Backup.completed_at >= since)
        )
    growth = int(recent or 0) // GROWTH_WINDOW_DAYS
    return StorageHealth(
        free_bytes=usage.free,
        total_bytes=usage.total,
        used_by_backups_bytes=int(used or 0),
        growth_bytes_per_day=growth,
        days_left=round(usage.free / growth, 1) if growth else None,
        next_backup_bytes=await next_backup_bytes(
            sessions, folder, adapter, Compression(settings.backup_compression)
        ),
    )


async def backup_health(
    sessions: async_sessionmaker[AsyncSession],
    adapter: DatabaseAdapter,
    folder: BackupFolder,
    settings: Settings,
    schedules: ScheduleHealthSource,
    now: datetime,
) -> BackupHealth:
    async with sessions() as session:
        last = await latest_completed_backup(session)
        drill = (
            await session.scalars(select(RestoreDrill).order_by(RestoreDrill.id.desc()).limit(1))
        ).first()
    storage = await _storage(sessions, adapter, folder, settings, now)
    critical: list[str] = []
    warnings: list[str] = []
    since = None if last is None else last.completed_at or last.created_at
    hours = settings.no_backup_alert_hours
    overdue = since is None or (now - since).total_seconds() > hours * 3600
    if overdue:
        critical.append(
            "No backup has ever completed."
            if since is None
            else f"No backup has completed for {(now - since).total_seconds() / 3600:.0f} hours "
            f"(the alarm is at {hours:g})."
        )
    if drill is None:
        warnings.append("No backup has been drilled yet: run testRestore on the newest one.")
    elif drill.status is DrillStatus.FAILED:
        critical.append(
            f"The newest restore drill (#{drill.id}, backup #{drill.backup_id}) failed."
        )
    if not storage.enough_for_next_backup:
        critical.append(
            f"The backup disk has {format_bytes(storage.free_bytes)} free; the next full backup "
            f"needs about {format_bytes(storage.next_backup_bytes)}."
        )
    elif storage.days_left is not None and storage.days_left < FEW_DAYS_LEFT:
        warnings.append(
            f"At the recent growth the backup disk is full in {storage.days_left:g} days."
        )
    rows = await schedules.schedule_health(now)
    for row in rows:
        if row.enabled and row.overdue:
            critical.append(f"Schedule {row.name!r} is overdue.")
    status = (
        HealthStatus.CRITICAL if critical else HealthStatus.WARNING if warnings else HealthStatus.OK
    )
    return BackupHealth(
        status=status,
        problems=critical + warnings,
        last_success=last,
        overdue=overdue,
        last_drill=drill,
        storage=storage,
        schedules=rows,
    )
