"""Loading a page's relations up front, when the query asks for them.

A page of 100 backups with `creator` and `restoreLogs { restorer }` would otherwise run a
resolver, a DataLoader future and an asyncio task per item and relation. Looking at the
query's selections, the root resolver loads users and restore logs in one statement each, on
its own session, and hands them to the items as plain values.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types.nodes import SelectedField, Selection

from schema.context import Info
from schema.types import Backup, RestoreDrill, RestoreLog, User
from server.backup.history import restore_logs_by_backup
from server.db import models
from server.drill.history import latest_drills_by_backup


def requested(selections: Sequence[Selection], path: tuple[str, ...]) -> bool:
    """Whether the query selects `path` (field names, fragments looked through)."""
    if not path:
        return True
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == path[0] and requested(selection.selections, path[1:]):
                return True
        elif requested(selection.selections, path):
            return True
    return False


async def backups_page(
    info: Info, session: AsyncSession, rows: Sequence[models.Backup]
) -> list[Backup]:
    items = [Backup.of(row) for row in rows]
    here = info.selected_fields
    wants_creator = requested(here, ("backups", "items", "creator"))
    wants_logs = requested(here, ("backups", "items", "restoreLogs"))
    wants_restorer = requested(here, ("backups", "items", "restoreLogs", "restorer"))
    if items and requested(here, ("backups", "items", "lastDrill")):
        drills = await latest_drills_by_backup(session, [item.id for item in items])
        for item, drill in zip(items, drills, strict=True):
            item.prefetched_last_drill = None if drill is None else RestoreDrill.of(drill)
    if not items or not (wants_creator or wants_logs):
        return items

    logs: list[list[RestoreLog]] = [[] for _ in items]
    if wants_logs:
        found = await restore_logs_by_backup(session, [item.id for item in items])
        logs = [[RestoreLog.of(row) for row in rows_] for rows_ in found]
    user_ids: set[int] = set()
    if wants_creator:
        user_ids.update(item.created_by for item in items)
    if wants_restorer:
        user_ids.update(log.restored_by for item_logs in logs for log in item_logs)
    users: dict[int, User | None] = {}
    if user_ids:
        ordered = sorted(user_ids)
        found_users = await info.context.resources.users.by_ids(session, ordered)
        users = {user_id: User.of(user) for user_id, user in zip(ordered, found_users, strict=True)}

    for item, item_logs in zip(items, logs, strict=True):
        if wants_creator:
            item.prefetched_creator = users.get(item.created_by)
        if wants_logs:
            item.prefetched_restore_logs = item_logs
            if wants_restorer:
                for log in item_logs:
                    log.prefetched_restorer = users.get(log.restored_by)
    return items
