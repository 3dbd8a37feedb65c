"""Reading drills: a backup's latest (batched for DataLoaders), the list, the filter of the
backup history by the last drill's outcome, and what a finished drill says."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.backup.history import get_backup
from server.db.enums import DrillStatus
from server.db.models import Backup, RestoreDrill
from server.db.pagination import Page, PageRequest, paginate
from server.units import format_duration


class LastDrill(enum.Enum):
    """The backups filter: by how their newest drill ended, or whether they have any."""

    PASSED = "passed"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    NEVER = "never"


def outcome_message(row: RestoreDrill, filename: str) -> str:
    """What a finished drill says, built from its row alone: the live final event and a
    follower who arrives after the end (reading the row) get the same words."""
    if row.status is not DrillStatus.PASSED:
        return "Restore drill failed: " + (" ".join((row.problems or [])[:3]) or "see problems.")
    restored = format_duration((row.restore_ms or 0) / 1000)
    unproven = len(row.unproven or [])
    note = f" ({unproven} thing(s) could not be checked: see `unproven`)" if unproven else ""
    return f"Backup {filename} restores in {restored} and matches the database as it was{note}."


def _latest_ids() -> Select[Any]:
    return select(func.max(RestoreDrill.id)).group_by(RestoreDrill.backup_id)


def filter_by_last_drill(query: Select[Any], wanted: LastDrill) -> Select[Any]:
    """`query` (of backups) narrowed to those whose newest drill is `wanted`."""
    if wanted is LastDrill.NEVER:
        return query.where(
            ~select(RestoreDrill.id).where(RestoreDrill.backup_id == Backup.id).exists()
        )
    latest = select(RestoreDrill.backup_id).where(
        RestoreDrill.id.in_(_latest_ids()), RestoreDrill.status == DrillStatus(wanted.value)
    )
    return query.where(Backup.id.in_(latest))


async def latest_drills_by_backup(
    session: AsyncSession, backup_ids: Sequence[int]
) -> list[RestoreDrill | None]:
    """The newest drill of each backup (or None), in the order of `backup_ids` (one query)."""
    query = select(RestoreDrill).where(
        RestoreDrill.id.in_(_latest_ids().where(RestoreDrill.backup_id.in_(set(backup_ids))))
    )
    found = {row.backup_id: row for row in (await session.scalars(query)).all()}
    return [found.get(backup_id) for backup_id in backup_ids]


async def list_drills(
    session: AsyncSession, request: PageRequest, *, backup_id: int | None = None
) -> Page[RestoreDrill]:
    query = select(RestoreDrill).order_by(RestoreDrill.created_at.desc(), RestoreDrill.id.desc())
    if backup_id is not None:
        await get_backup(session, backup_id)
        query = query.where(RestoreDrill.backup_id == backup_id)
    return await paginate(session, query, request)
