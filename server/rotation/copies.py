"""Rotation per offsite target: a schedule's retention applied to the copies each enabled target
holds, as it is applied to the backups here.

The candidates on a target are the schedule's backups that have a copy there (anything but
DELETED: a copy still pending or failing is one rotation may spare the target from), with the
backup's own facts (when it was made, its size, pinned, in use). The protected newest is the
newest good copy on that target: the newest COMPLETED one, read back whole and compared with
the backup's SHA-256 when it was made (a later `verifyBackup(target)` that finds it damaged
marks it FAILED, and it stops counting). What the policy lets go is deleted with
OffsiteCopies.delete_copy: the copy goes, the backup here stays.

The newest good copy on each enabled target also protects its backup from the local rotation
(server/rotation/service.py): deleting a backup deletes all its copies (server/backup/delete.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.enums import CopyStatus
from server.db.models import Backup, BackupCopy
from server.errors import BackendUnavailable, LumbungError
from server.offsite.job import OffsiteCopies
from server.rotation.policy import Candidate, Verdict, newest_first

log = logging.getLogger("lumbung.audit")


@dataclass(frozen=True)
class CopyFacts:
    """The copies of a set of backups on the enabled targets, as rotation sees them."""

    held: dict[str, list[BackupCopy]]  # target -> its copies of these backups (not DELETED)
    newest_good: dict[str, int]  # target -> the backup whose copy there is the newest good one

    def newest_on(self, backup_id: int) -> tuple[str, ...]:
        """The targets whose newest good copy is this backup's."""
        return tuple(sorted(t for t, newest in self.newest_good.items() if newest == backup_id))


@dataclass(frozen=True)
class RemovedCopy:
    backup_id: int
    filename: str
    target: str

    def __str__(self) -> str:
        return f"#{self.backup_id} {self.filename} on {self.target}"


async def copy_facts(
    session: AsyncSession, copies: OffsiteCopies, backups: Sequence[Backup]
) -> CopyFacts:
    names = [target.name for target in copies.targets.enabled]
    by_id = {backup.id: backup for backup in backups}
    held: dict[str, list[BackupCopy]] = {name: [] for name in names}
    if names and by_id:
        rows = (
            await session.scalars(
                select(BackupCopy).where(
                    BackupCopy.backup_id.in_(list(by_id)),
                    BackupCopy.target.in_(names),
                    BackupCopy.status != CopyStatus.DELETED,
                )
            )
        ).all()
        for row in rows:
            held[row.target].append(row)
    newest_good: dict[str, int] = {}
    for name, rows in held.items():
        good = [
            Candidate(row.backup_id, by_id[row.backup_id].created_at, 0)
            for row in rows
            if row.status is CopyStatus.COMPLETED
        ]
        if good:
            newest_good[name] = newest_first(good)[0].id
    return CopyFacts(held, newest_good)


def target_candidates(
    facts: CopyFacts, target: str, backups: Sequence[Backup], using: dict[int, str]
) -> list[Candidate]:
    """The candidates on one target: the backups with a copy there, the newest good copy's
    marked as the protected one."""
    on_target = {row.backup_id for row in facts.held.get(target, [])}
    newest = facts.newest_good.get(target)
    return [
        Candidate(
            id=backup.id,
            created_at=backup.created_at,
            size=backup.file_size,
            pinned=backup.pinned,
            in_use_by=using.get(backup.id),
            newest_copy_on=(target,) if backup.id == newest else (),
        )
        for backup in backups
        if backup.id in on_target
    ]


async def remove_copies(
    copies: OffsiteCopies,
    schedule_id: int,
    target: str,
    going: Sequence[tuple[Backup, Verdict]],
    problems: list[str],
) -> list[RemovedCopy]:
    """Delete the copies on `target` that the policy lets go. A target that cannot be
    reached is left for the next rotation (the rest of its copies are not tried); a copy
    another process is uploading is left too. Each such refusal goes to `problems`."""
    removed: list[RemovedCopy] = []
    for backup, verdict in going:
        try:
            gone = await copies.delete_copy(backup.id, target)
        except LumbungError as refused:
            problems.append(f"the copy of #{backup.id} on {target} was kept: {refused.message}")
            log.warning(
                "rotation left a copy it could not delete",
                extra={
                    "event": "audit.rotation_copy_refused",
                    "schedule": schedule_id,
                    "backup": backup.id,
                    "target": target,
                    "why": refused.message,
                },
            )
            if isinstance(refused, BackendUnavailable):
                break
            continue
        if not gone:
            continue  # deleted meanwhile (deleteBackup, or another rotation)
        removed.append(RemovedCopy(backup.id, backup.filename, target))
        log.info(
            "rotation deleted the copy of backup #%s on %s",
            backup.id,
            target,
            extra={
                "event": "audit.rotation_copy",
                "schedule": schedule_id,
                "backup": backup.id,
                "target": target,
                "file": backup.filename,
                "reason": verdict.reasons[0].value,
                "detail": verdict.details[0],
            },
        )
    return removed
