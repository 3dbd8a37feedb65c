"""Checking a backup's copy on one target: its manifest and every byte of it read back and
compared with the catalog's SHA-256 (`verifyBackup(id, target:)`, `lumbung verify --target`).

A copy that no longer matches (bit rot on the target, a truncated object, a manifest gone) is
marked FAILED with what was found, and uploaded again at once when the local file is still
here: the next good copy repairs it.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.history import get_backup
from server.backup.manifest import parse_manifest
from server.db.enums import CopyStatus
from server.db.models import Backup, BackupCopy
from server.errors import NotFound
from server.offsite.job import OffsiteCopies
from server.offsite.targets import MANIFEST_SUFFIX, RemoteMissing, Target


@dataclass
class CopyCheck:
    target: str
    status: str  # ok | corrupt | missing
    problems: list[str] = field(default_factory=list)
    size: int = 0


async def verify_copy(
    sessions: async_sessionmaker[AsyncSession],
    copies: OffsiteCopies,
    backup_id: int,
    target: str,
) -> tuple[Backup, CopyCheck]:
    async with sessions() as session:
        backup = await get_backup(session, backup_id)
        copy = (
            await session.scalars(
                select(BackupCopy).where(
                    BackupCopy.backup_id == backup_id, BackupCopy.target == target
                )
            )
        ).first()
    copies.targets.config(target)
    if copy is None or copy.status is not CopyStatus.COMPLETED:
        state = "none" if copy is None else copy.status.value
        raise NotFound(
            f"Backup #{backup_id} has no completed copy on {target} (its copy there: {state})."
        )
    remote: Target = await asyncio.to_thread(copies.targets.open, target)
    try:
        check = await asyncio.to_thread(_check, remote, backup)
    finally:
        await asyncio.to_thread(remote.close)
    if check.problems:
        message = f"Checked and found damaged: {'; '.join(check.problems)}."
        async with sessions() as session:
            await session.execute(
                update(BackupCopy)
                .where(BackupCopy.id == copy.id)
                .values(status=CopyStatus.FAILED, error_message=message, verified_at=None)
            )
            await session.commit()
        if await asyncio.to_thread(copies.local_files_present, backup):
            await copies.copy_now(backup_id, target)
    return backup, check


def _check(remote: Target, backup: Backup) -> CopyCheck:
    name = remote.config.name
    problems: list[str] = []
    try:
        manifest = parse_manifest(remote.get_small(backup.filename + MANIFEST_SUFFIX))
        if manifest.sha256 != backup.checksum:
            problems.append("its manifest's SHA-256 differs from the catalog's")
    except RemoteMissing:
        return CopyCheck(name, "missing", ["its manifest is not on the target"])
    except (ValueError, KeyError, TypeError):
        problems.append("its manifest cannot be read")
    digest = hashlib.sha256()
    try:
        size = remote.read(backup.filename, digest.update, lambda done: None, threading.Event())
    except RemoteMissing:
        return CopyCheck(name, "missing", [*problems, "the backup file is not on the target"])
    if size != backup.file_size:
        problems.append(f"it is {size} bytes, the backup {backup.file_size}")
    if digest.hexdigest() != backup.checksum:
        problems.append("its SHA-256 differs from the backup's")
    return CopyCheck(name, "corrupt" if problems else "ok", problems, size)
