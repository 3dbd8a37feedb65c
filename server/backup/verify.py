"""Checking a backup file against its manifest: the whole file and every section."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.files import BackupFolder
from server.backup.history import get_backup
from server.backup.manifest import Manifest, read_manifest
from server.db.enums import JobStatus
from server.db.models import Backup
from server.errors import ChecksumMismatch, Conflict, NotFound

CHUNK = 1 << 20


@dataclass
class Verification:
    status: str  # ok | corrupt | missing
    problems: list[str] = field(default_factory=list)
    sections_checked: int = 0
    sha256: str | None = None
    manifest: Manifest | None = None


def verify_file(folder: BackupFolder, filename: str, expected_sha256: str | None) -> Verification:
    """Re-read the file (blocking; run it in a thread). Never raises for a bad file: says why."""
    try:
        manifest = read_manifest(folder.manifest_path(filename))
    except FileNotFoundError:
        return Verification("missing", [f"The manifest {filename}.manifest.json is missing."])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Verification("corrupt", [f"The manifest cannot be read ({type(exc).__name__})."])
    try:
        handle = folder.open_backup(filename)
    except NotFound as exc:
        return Verification("missing", [exc.message], manifest=manifest)

    problems: list[str] = []
    whole = hashlib.sha256()
    sections = sorted(manifest.sections, key=lambda s: s.offset)
    with handle:
        position = 0
        for section in sections:
            if section.offset != position:
                problems.append(f"the manifest's sections do not tile the file at byte {position}")
                break
            digest = hashlib.sha256()
            remaining = section.length
            while remaining:
                chunk = handle.read(min(CHUNK, remaining))
                if not chunk:
                    break
                digest.update(chunk)
                whole.update(chunk)
                remaining -= len(chunk)
            position += section.length - remaining
            label = f"table {section.table}" if section.kind == "table" else section.kind
            if remaining:
                problems.append(f"{label}: the file ends {remaining} bytes early (truncated)")
                break
            if digest.hexdigest() != section.sha256:
                problems.append(f"{label}: checksum mismatch")
        while chunk := handle.read(CHUNK):
            whole.update(chunk)
            position += len(chunk)
    sha256 = whole.hexdigest()
    if position != manifest.size:
        problems.append(f"size is {position} bytes, the manifest says {manifest.size}")
    if sha256 != manifest.sha256:
        problems.append("the file's SHA-256 differs from the manifest's")
    if expected_sha256 is not None and expected_sha256 != manifest.sha256:
        problems.append("the manifest's SHA-256 differs from the catalog's")
    return Verification(
        "corrupt" if problems else "ok",
        problems,
        sections_checked=len(sections),
        sha256=sha256,
        manifest=manifest,
    )


def require_intact(verification: Verification, filename: str) -> Manifest:
    """The manifest of a verified backup, or the error that refuses to use it."""
    if verification.status == "missing":
        raise NotFound(f"Backup {filename} cannot be used: {'; '.join(verification.problems)}")
    if verification.status != "ok" or verification.manifest is None:
        raise ChecksumMismatch(
            f"Backup {filename} is damaged and was not used: "
            f"{'; '.join(verification.problems[:5])}. "
            "Nothing was changed; restore another backup."
        )
    return verification.manifest


async def verify_backup(
    sessions: async_sessionmaker[AsyncSession], folder: BackupFolder, backup_id: int
) -> tuple[Backup, Verification]:
    """Re-read a completed backup's file against its manifest (`verifyBackup`, `lumbung
    verify`): the backup, and what the check found."""
    async with sessions() as session:
        backup = await get_backup(session, backup_id)
    if backup.status is not JobStatus.COMPLETED:
        raise Conflict(
            f"Backup #{backup.id} is {backup.status.value}; "
            "only a completed backup has a file to verify."
        )
    result = await asyncio.to_thread(verify_file, folder, backup.filename, backup.checksum)
    return backup, result
