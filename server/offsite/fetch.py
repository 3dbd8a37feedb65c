"""Backups brought back from offsite copies: a local file gone (a lost disk, a cleaned folder)
is fetched from a copy before a restore, a verification or a drill uses it; and a fresh
installation imports what a target holds into its catalog (the day the server is lost).

Nothing fetched is used before it is checked: the file is hashed as it arrives and must match
its manifest's SHA-256 (and the catalog's, for a known backup), or it is thrown away. Only
then is it renamed into place, its manifest beside it; the caller then verifies it in full,
sections and all, as it would a file that never left.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.backup.files import NAME_PATTERN, BackupFolder, fsync_directory
from server.backup.manifest import Manifest, parse_manifest
from server.backup.space import HEADROOM_BYTES
from server.db.enums import BackupOrigin, BackupType, Compression, CopyStatus, JobStatus
from server.db.models import Backup, BackupCopy
from server.errors import (
    BackendUnavailable,
    ChecksumMismatch,
    Conflict,
    InsufficientStorage,
    LumbungError,
    NotFound,
)
from server.offsite.targets import MANIFEST_SUFFIX, Target, Targets
from server.units import format_bytes


@dataclass(frozen=True)
class RemoteBackup:
    """A backup on a target, as its manifest describes it."""

    filename: str
    size: int
    created_at: str
    backup_type: str
    encrypted: bool
    catalog_id: int | None  # its id here, when this catalog knows it


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class RemoteBackups:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        folder: BackupFolder,
        targets: Targets,
    ) -> None:
        self._sessions = sessions
        self._folder = folder
        self.targets = targets

    # --- a local file gone ---------------------------------------------------------------------
    async def ensure_local(self, backup: Backup) -> str | None:
        """Make sure backup's file and manifest are in the folder: when either is gone, fetch
        both from a completed copy (targets in the settings' order), checked against the
        catalog's SHA-256. Returns the target fetched from, None when nothing was missing or
        no copy exists (the caller then reports the missing file as before)."""
        if await asyncio.to_thread(self._folder.has_files, backup.filename):
            return None
        async with self._sessions() as session:
            copies = (
                await session.scalars(
                    select(BackupCopy).where(
                        BackupCopy.backup_id == backup.id,
                        BackupCopy.status == CopyStatus.COMPLETED,
                    )
                )
            ).all()
        held = {copy.target for copy in copies}
        names = [t.name for t in self.targets.all if t.name in held]
        if not names:
            return None
        failures = []
        for name in names:
            try:
                await self._fetch(name, backup.filename, backup.checksum)
                return name
            except LumbungError as exc:
                failures.append(exc.message)
        raise BackendUnavailable(
            f"The file of backup {backup.filename} is missing here, and no offsite copy could "
            f"be fetched: {' '.join(failures)}"
        )

    async def _fetch(self, target: str, filename: str, expected: str | None) -> Manifest:
        """Download a backup and its manifest into the folder, checked; returns the manifest."""
        remote: Target = await asyncio.to_thread(self.targets.open, target)
        try:
            return await asyncio.to_thread(self._download, remote, filename, expected)
        finally:
            await asyncio.to_thread(remote.close)

    def _download(self, remote: Target, filename: str, expected: str | None) -> Manifest:
        where = f"offsite target {remote.config.name!r}"
        raw_manifest = remote.get_small(filename + MANIFEST_SUFFIX)
        try:
            manifest = parse_manifest(raw_manifest)
        except (ValueError, KeyError, TypeError):
            raise ChecksumMismatch(
                f"The manifest of {filename} on {where} cannot be read."
            ) from None
        if manifest.file != filename or (expected is not None and manifest.sha256 != expected):
            raise ChecksumMismatch(
                f"The manifest of {filename} on {where} is not this backup's (its SHA-256 differs "
                "from the catalog's)."
            )
        free = shutil.disk_usage(self._folder.root).free
        if free < manifest.size + HEADROOM_BYTES:
            raise InsufficientStorage(
                f"Fetching {filename} ({format_bytes(manifest.size)}) needs more than the "
                f"{format_bytes(free)} free in the backup folder; free space first."
            )
        partial = self._folder.download_path(filename)
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            raise Conflict(
                f"Backup {filename} is being fetched already; try again shortly."
            ) from None
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:

                def sink(data: bytes) -> None:
                    out.write(data)
                    digest.update(data)

                size = remote.read(filename, sink, lambda done: None, threading.Event())
                out.flush()
                os.fsync(out.fileno())
            if size != manifest.size or digest.hexdigest() != manifest.sha256:
                raise ChecksumMismatch(
                    f"The copy of {filename} on {where} is damaged: its SHA-256 or size differs "
                    "from its manifest's. It was not used; fetch it from another target."
                )
            os.replace(partial, self._folder.path(filename))
            manifest_partial = self._folder.partial_path(filename)
            with open(manifest_partial, "wb") as out:
                out.write(raw_manifest)
                out.flush()
                os.fsync(out.fileno())
            os.replace(manifest_partial, self._folder.manifest_path(filename))
            fsync_directory(self._folder.root)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        return manifest

    # --- a fresh installation --------------------------------------------------------------------
    async def list_remote(self, target: str) -> list[RemoteBackup]:
        """The backups on a target (those with a manifest), newest first."""
        self.targets.config(target)
        remote: Target = await asyncio.to_thread(self.targets.open, target)
        try:
            names = await asyncio.to_thread(remote.names)
            found = []
            for name in sorted(names, reverse=True):
                base = name.removesuffix(MANIFEST_SUFFIX)
                if name == base or not NAME_PATTERN.fullmatch(base):
                    continue
                try:
                    manifest = parse_manifest(await asyncio.to_thread(remote.get_small, name))
                except (ValueError, KeyError, TypeError, NotFound):
                    continue
                found.append(manifest)
        finally:
            await asyncio.to_thread(remote.close)
        async with self._sessions() as session:
            known = {
                row.filename: row.id
                for row in (
                    await session.scalars(
                        select(Backup).where(Backup.filename.in_([m.file for m in found]))
                    )
                ).all()
            }
        return [
            RemoteBackup(
                filename=m.file,
                size=m.size,
                created_at=m.created_at,
                backup_type=m.backup_type,
                encrypted=m.encryption is not None,
                catalog_id=known.get(m.file),
            )
            for m in found
        ]

    async def import_backup(self, target: str, filename: str, actor: int) -> Backup:
        """Bring a backup that a target holds into this catalog: the file is fetched and
        checked, then the backup is COMPLETED here, with its copy on that target."""
        self._folder.check_name(filename)
        self.targets.config(target)
        async with self._sessions() as session:
            existing = (
                await session.scalars(select(Backup).where(Backup.filename == filename))
            ).first()
        if existing is not None:
            raise Conflict(f"{filename} is in the catalog already, as backup #{existing.id}.")
        if await asyncio.to_thread(self._folder.path(filename).exists):
            raise Conflict(
                f"{filename} is in the backup folder but not in the catalog; move it away first."
            )
        manifest = await self._fetch(target, filename, None)
        now = datetime.now(UTC)
        row = Backup(
            filename=filename,
            backup_type=BackupType(manifest.backup_type),
            tables=manifest.tables,
            include_data=manifest.include_data,
            include_schema=manifest.include_schema,
            description=manifest.description,
            file_size=manifest.size,
            status=JobStatus.COMPLETED,
            created_at=_utc(manifest.created_at),
            completed_at=_utc(manifest.completed_at),
            created_by=actor,
            checksum=manifest.sha256,
            compression=Compression(manifest.compression),
            origin=BackupOrigin.MANUAL,
            encrypted=manifest.encryption is not None,
            recipients=list(manifest.encryption.recipients) if manifest.encryption else [],
        )
        async with self._sessions() as session:
            session.add(row)
            await session.flush()
            session.add(
                BackupCopy(
                    backup_id=row.id,
                    target=target,
                    status=CopyStatus.COMPLETED,
                    size=manifest.size,
                    verified_at=now,
                )
            )
            await session.commit()
        return row
