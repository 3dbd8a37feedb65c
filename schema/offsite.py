"""Offsite copies in the API: the targets, each backup's copies, what a target holds, and the
mutations that copy a backup now or import one from a target (docs/offsite.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.permission import BasePermission

from schema.context import Info
from schema.enums import CopyStatus, TargetKind
from schema.permissions import IsAdmin
from schema.scalars import BigInt
from schema.types import Backup
from server.db import models
from server.offsite.config import TargetConfig
from server.offsite.fetch import RemoteBackup as RemoteBackupRecord

ADMIN: list[type[BasePermission]] = [IsAdmin]
TargetName = Annotated[
    str, strawberry.argument(description="The target's name, as `offsiteTargets` lists it.")
]


@strawberry.type(description="A backup's copy on one offsite target.")
class OffsiteCopy:
    id: int = strawberry.field(
        description="The copy's id: follow its upload with `offsiteCopyProgress(id)`."
    )
    target: str = strawberry.field(description="The target's name.")
    status: CopyStatus = strawberry.field(description="Where the copy stands.")
    bytes: BigInt = strawberry.field(description="Bytes on the target, once COMPLETED.")
    attempts: int = strawberry.field(description="Upload attempts so far.")
    verified_at: datetime | None = strawberry.field(
        description="When it was last read back from the target and found equal to the backup."
    )
    error: str | None = strawberry.field(description="Why the last attempt failed.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When a PENDING or FAILED copy is (re)tried; null when it is not."
    )
    updated_at: datetime = strawberry.field(description="When the copy last changed.")

    @classmethod
    def of(cls, row: models.BackupCopy) -> OffsiteCopy:
        return cls(
            id=row.id,
            target=row.target,
            status=row.status,
            bytes=BigInt(row.size),
            attempts=row.attempts,
            verified_at=row.verified_at,
            error=row.error_message,
            next_attempt_at=row.next_attempt_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="Where copies go (configured with LUMBUNG_OFFSITE_TARGETS).")
class OffsiteTarget:
    name: str = strawberry.field(description="Its name, used by the mutations and `copies`.")
    kind: TargetKind = strawberry.field(description="S3 or SFTP.")
    enabled: bool = strawberry.field(description="Whether new backups are copied to it.")
    location: str = strawberry.field(
        description="Where it is (bucket and prefix, or host and folder); never a credential."
    )

    @classmethod
    def of(cls, config: TargetConfig) -> OffsiteTarget:
        return cls(
            name=config.name,
            kind=TargetKind(config.kind),
            enabled=config.enabled,
            location=config.location,
        )


@strawberry.type(description="A backup an offsite target holds, as its manifest describes it.")
class RemoteBackup:
    filename: str = strawberry.field(description="The backup's file name.")
    file_size: BigInt = strawberry.field(description="Its size in bytes.")
    created_at: str = strawberry.field(description="When it was made (ISO 8601, UTC).")
    backup_type: str = strawberry.field(description="full, partial or selective.")
    encrypted: bool = strawberry.field(description="Whether it is encrypted with age.")
    backup_id: int | None = strawberry.field(
        description="Its id in this catalog; null until `importBackup` brings it in."
    )

    @classmethod
    def of(cls, record: RemoteBackupRecord) -> RemoteBackup:
        return cls(
            filename=record.filename,
            file_size=BigInt(record.size),
            created_at=record.created_at,
            backup_type=record.backup_type,
            encrypted=record.encrypted,
            backup_id=record.catalog_id,
        )


@strawberry.type(description="Copies of a backup that are due now.")
class CopyBackupPayload:
    message: str = strawberry.field(description="What happened, for people.")
    copies: list[OffsiteCopy] = strawberry.field(description="The copies, PENDING or running.")


@strawberry.type(description="A backup brought in from an offsite target.")
class ImportBackupPayload:
    message: str = strawberry.field(description="What happened, for people.")
    backup: Backup = strawberry.field(
        description="The backup, COMPLETED: its file fetched and checked, ready to restore."
    )


@strawberry.type(description="Offsite copies: copy now, import.")
class OffsiteMutation:
    @strawberry.mutation(
        permission_classes=ADMIN,
        description=(
            "Copy a completed backup to one target (or every enabled one) now: a backup made "
            "before the target existed, a copy rotation deleted, or a failed copy not to wait "
            "for. Returns at once; follow each copy with `offsiteCopyProgress`."
        ),
    )
    async def copy_backup(
        self,
        info: Info,
        id: Annotated[int, strawberry.argument(description="Backup id.")],
        target: Annotated[
            str | None, strawberry.argument(description="One target (default: every enabled).")
        ] = None,
    ) -> CopyBackupPayload:
        rows = await info.context.resources.offsite.copy_now(id, target)
        return CopyBackupPayload(
            message=f"Copy of backup #{id} to {', '.join(r.target for r in rows)} scheduled.",
            copies=[OffsiteCopy.of(row) for row in rows],
        )

    @strawberry.mutation(
        permission_classes=ADMIN,
        description=(
            "Bring a backup that an offsite target holds into this catalog (a fresh "
            "installation, the day the server is lost): its file is fetched and checked "
            "against its manifest, then it can be restored. Waits for the download."
        ),
    )
    async def import_backup(
        self,
        info: Info,
        target: TargetName,
        filename: Annotated[
            str, strawberry.argument(description="The file name, as `remoteBackups` lists it.")
        ],
    ) -> ImportBackupPayload:
        principal = info.context.principal
        assert principal is not None
        row = await info.context.resources.remote.import_backup(
            target, filename, principal.actor_id
        )
        return ImportBackupPayload(
            message=f"Backup {row.filename} imported from {target} as #{row.id}.",
            backup=Backup.of(row),
        )
