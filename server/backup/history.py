"""Reading the backup history: lists, one backup, restore logs (batched for DataLoaders)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.enums import BackupType, JobStatus
from server.db.models import Backup, RestoreLog
from server.db.pagination import Page, PageRequest, paginate
from server.errors import BadUserInput, NotFound


@dataclass(frozen=True)
class BackupFilter:
    """What the history is narrowed to; None leaves a criterion out. Times are UTC when naive;
    `created_from` is included, `created_until` is not, so consecutive ranges never overlap."""

    backup_type: BackupType | None = None
    status: JobStatus | None = None
    created_by: int | None = None
    created_from: datetime | None = None
    created_until: datetime | None = None
    min_size: int | None = None
    max_size: int | None = None

    def check(self) -> None:
        if (
            self.min_size is not None
            and self.max_size is not None
            and self.min_size > self.max_size
        ):
            raise BadUserInput("minSize is larger than maxSize: no backup could match.")
        if (
            self.created_from is not None
            and self.created_until is not None
            and _utc(self.created_from) >= _utc(self.created_until)
        ):
            raise BadUserInput("createdFrom is not before createdUntil: no backup could match.")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def list_backups(
    session: AsyncSession,
    request: PageRequest,
    *,
    backup_type: BackupType | None = None,
    status: JobStatus | None = None,
    narrow: Callable[[Select[Any]], Select[Any]] | None = None,
    where: BackupFilter | None = None,
) -> Page[Backup]:
    """A page of backups; `narrow` adds a filter of another domain's (the last drill's)."""
    where = where or BackupFilter(backup_type=backup_type, status=status)
    where.check()
    query = select(Backup).order_by(Backup.created_at.desc(), Backup.id.desc())
    if where.backup_type is not None:
        query = query.where(Backup.backup_type == where.backup_type)
    if where.status is not None:
        query = query.where(Backup.status == where.status)
    if where.created_by is not None:
        query = query.where(Backup.created_by == where.created_by)
    if where.created_from is not None:
        query = query.where(Backup.created_at >= _utc(where.created_from))
    if where.created_until is not None:
        query = query.where(Backup.created_at < _utc(where.created_until))
    if where.min_size is not None:
        query = query.where(Backup.file_size >= where.min_size)
    if where.max_size is not None:
        query = query.where(Backup.file_size <= where.max_size)
    if narrow is not None:
        query = narrow(query)
    return await paginate(session, query, request)


async def get_backup(session: AsyncSession, backup_id: int) -> Backup:
    backup = await session.get(Backup, backup_id)
    if backup is None:
        raise NotFound(f"No backup has id {backup_id}; list them with the `backups` query.")
    return backup


async def latest_completed_backup(session: AsyncSession) -> Backup | None:
    query = (
        select(Backup)
        .where(Backup.status == JobStatus.COMPLETED)
        .order_by(Backup.created_at.desc(), Backup.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def list_restore_logs(
    session: AsyncSession, request: PageRequest, *, backup_id: int | None = None
) -> Page[RestoreLog]:
    query = select(RestoreLog).order_by(RestoreLog.created_at.desc(), RestoreLog.id.desc())
    if backup_id is not None:
        await get_backup(session, backup_id)  # an unknown id is NOT_FOUND, not an empty page
        query = query.where(RestoreLog.backup_id == backup_id)
    return await paginate(session, query, request)


async def restore_logs_by_backup(
    session: AsyncSession, backup_ids: Sequence[int]
) -> list[list[RestoreLog]]:
    """Restore logs of each backup, newest first, in the order of `backup_ids` (one query)."""
    query = (
        select(RestoreLog)
        .where(RestoreLog.backup_id.in_(set(backup_ids)))
        .order_by(RestoreLog.created_at.desc(), RestoreLog.id.desc())
    )
    grouped: dict[int, list[RestoreLog]] = defaultdict(list)
    for log in (await session.scalars(query)).all():
        grouped[log.backup_id].append(log)
    return [grouped.get(backup_id, []) for backup_id in backup_ids]
