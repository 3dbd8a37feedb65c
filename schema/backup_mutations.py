"""Mutations of backups: create, restore, verify, delete, pin and unpin."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.permission import BasePermission

from schema.context import Info
from schema.enums import BackupType, Compression, VerifyStatus
from schema.permissions import IsAdmin
from schema.types import Backup, RestoreLog
from server.backup.delete import delete_backup
from server.backup.pin import set_pinned
from server.backup.plan import BackupRequest
from server.backup.verify import verify_backup
from server.encryption.keyring import request_keyring
from server.offsite.check import verify_copy

ADMIN: list[type[BasePermission]] = [IsAdmin]


@strawberry.input(description="What to back up.")
class CreateBackupInput:
    backup_type: BackupType = strawberry.field(
        description="FULL, PARTIAL (the core tables) or SELECTIVE."
    )
    tables: list[str] | None = strawberry.field(
        default=None, description="For SELECTIVE: the tables, as the `tables` query names them."
    )
    include_schema: bool = strawberry.field(default=True, description="Dump table definitions.")
    include_data: bool = strawberry.field(default=True, description="Dump table rows.")
    description: str | None = strawberry.field(
        default=None, description="Free text, at most 191 characters."
    )
    compression: Compression | None = strawberry.field(
        default=None, description="ZSTD (default), GZIP or NONE."
    )
    include_catalog: bool = strawberry.field(
        default=False, description="For FULL: also dump Lumbung's own catalog tables."
    )


def backup_request(input: CreateBackupInput) -> BackupRequest:
    """The service's request for createBackup's input (a backup schedule's too)."""
    return BackupRequest(
        backup_type=input.backup_type,
        tables=input.tables,
        include_schema=input.include_schema,
        include_data=input.include_data,
        description=input.description,
        compression=input.compression,
        include_catalog=input.include_catalog,
    )


@strawberry.type(description="A backup that has started.")
class CreateBackupPayload:
    message: str = strawberry.field(description="What happened, for people.")
    backup: Backup = strawberry.field(
        description="The backup, IN_PROGRESS: follow it by polling `backup(id)`."
    )


@strawberry.type(description="A restore that has started.")
class RestoreBackupPayload:
    message: str = strawberry.field(description="What happened, for people.")
    restore_log: RestoreLog = strawberry.field(
        description="The restore, IN_PROGRESS: follow it with `restoreProgress` or `restoreLogs`."
    )


@strawberry.type(description="The result of re-reading a backup file.")
class BackupVerification:
    status: VerifyStatus = strawberry.field(description="OK, CORRUPT or MISSING.")
    problems: list[str] = strawberry.field(
        description="What is wrong, one line each (empty when OK)."
    )
    sections_checked: int = strawberry.field(
        description="Sections of the file that were checked (0 for an offsite copy, whose "
        "bytes are compared with the backup's SHA-256 instead)."
    )
    target: str | None = strawberry.field(
        description="The offsite target whose copy was checked; null for the local file."
    )
    backup: Backup = strawberry.field(description="The backup that was checked.")


@strawberry.type(description="A backup that was deleted.")
class DeleteBackupPayload:
    message: str = strawberry.field(description="What happened, for people.")
    id: int = strawberry.field(description="Id of the deleted backup.")
    filename: str = strawberry.field(description="File name of the deleted backup.")
    removed_files: list[str] = strawberry.field(description="Files removed from the backup folder.")
    removed_copies: list[str] = strawberry.field(
        description="Offsite targets whose copy was deleted too."
    )
    forgotten_copies: list[str] = strawberry.field(
        description="Targets no longer configured, whose copy (if any) was left where it is."
    )


Confirm = Annotated[
    str, strawberry.argument(description="The backup's filename, repeated: the confirmation.")
]
BackupId = Annotated[int, strawberry.argument(description="Backup id.")]
IdentityArg = Annotated[
    str | None,
    strawberry.argument(
        description="For an encrypted backup, when LUMBUNG_AGE_IDENTITY_FILE is not set: the "
        "age identity (the key file's AGE-SECRET-KEY-1... line), used for this request only: "
        "never stored, never logged."
    ),
]
PassphraseArg = Annotated[
    str | None,
    strawberry.argument(
        description="For a backup encrypted with a passphrase: the passphrase, for this "
        "request only (never stored, never logged)."
    ),
]


@strawberry.type(description="Change things: backups and restores.")
class BackupMutation:
    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Start a backup. Returns at once with the backup IN_PROGRESS.",
    )
    async def create_backup(
        self,
        info: Info,
        input: Annotated[CreateBackupInput, strawberry.argument(description="What to back up.")],
    ) -> CreateBackupPayload:
        principal = info.context.principal
        assert principal is not None
        started = await info.context.resources.backups.start(
            backup_request(input), principal.actor_id
        )
        return CreateBackupPayload(
            message=f"Backup {started.row.filename} started.", backup=Backup.of(started.row)
        )

    @strawberry.mutation(
        permission_classes=ADMIN,
        description=(
            "Restore a backup. The file is verified first; by default a safety backup of what "
            "will be overwritten is taken; a failed restore puts the live data back. Returns "
            "once the file is verified, with the restore IN_PROGRESS."
        ),
    )
    async def restore_backup(
        self,
        info: Info,
        id: BackupId,
        confirm: Confirm,
        tables: Annotated[
            list[str] | None,
            strawberry.argument(description="Only these tables of the backup (default: all)."),
        ] = None,
        safety_backup: Annotated[
            bool | None,
            strawberry.argument(description="Back up the live tables first (default: on)."),
        ] = None,
        description: Annotated[
            str | None, strawberry.argument(description="Free text, at most 191 characters.")
        ] = None,
        identity: IdentityArg = None,
        passphrase: PassphraseArg = None,
    ) -> RestoreBackupPayload:
        principal = info.context.principal
        assert principal is not None
        started = await info.context.resources.restores.start(
            id,
            confirm=confirm,
            tables=tables,
            safety_backup=safety_backup,
            description=description,
            actor=principal.actor_id,
            keyring=request_keyring(identity, passphrase),
        )
        return RestoreBackupPayload(
            # `confirm` is the backup's filename: the service refuses anything else.
            message=f"Restore of {confirm} started.",
            restore_log=RestoreLog.of(started.row),
        )

    @strawberry.mutation(
        permission_classes=ADMIN,
        description=(
            "Re-read a backup file and check it and every section against its manifest (an "
            "encrypted one is decrypted on the way; a file gone from the folder is fetched "
            "from an offsite copy first). With `target`, read that target's copy back and "
            "compare it with the backup instead: a damaged copy is uploaded again."
        ),
    )
    async def verify_backup(
        self,
        info: Info,
        id: BackupId,
        target: Annotated[
            str | None, strawberry.argument(description="Check this offsite target's copy.")
        ] = None,
        identity: IdentityArg = None,
        passphrase: PassphraseArg = None,
    ) -> BackupVerification:
        resources = info.context.resources
        if target is not None:
            backup, check = await verify_copy(resources.sessions, resources.offsite, id, target)
            return BackupVerification(
                status=VerifyStatus(check.status),
                problems=check.problems,
                sections_checked=0,
                target=target,
                backup=Backup.of(backup),
            )
        backup, result = await verify_backup(
            resources.sessions,
            resources.folder,
            id,
            encryption=resources.encryption,
            remote=resources.remote,
            keyring=request_keyring(identity, passphrase),
        )
        return BackupVerification(
            status=VerifyStatus(result.status),
            problems=result.problems,
            sections_checked=result.sections_checked,
            target=None,
            backup=Backup.of(backup),
        )

    @strawberry.mutation(
        permission_classes=ADMIN,
        description=(
            "Delete a backup: its offsite copies, its file, its manifest and its catalog row. "
            "When a target cannot be reached, nothing local is deleted."
        ),
    )
    async def delete_backup(
        self, info: Info, id: BackupId, confirm: Confirm
    ) -> DeleteBackupPayload:
        resources = info.context.resources
        deleted = await delete_backup(
            resources.sessions, resources.folder, resources.offsite, id, confirm
        )
        return DeleteBackupPayload(
            message=f"Backup {deleted.filename} deleted.",
            id=deleted.id,
            filename=deleted.filename,
            removed_files=deleted.removed_files,
            removed_copies=deleted.removed_copies,
            forgotten_copies=deleted.forgotten_copies,
        )

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Pin a backup: rotation keeps it whatever its rules, deleteBackup refuses it.",
    )
    async def pin_backup(self, info: Info, id: BackupId) -> Backup:
        return Backup.of(await set_pinned(info.context.resources.sessions, id, True))

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Unpin a backup: rotation and deleteBackup treat it like any other again.",
    )
    async def unpin_backup(self, info: Info, id: BackupId) -> Backup:
        return Backup.of(await set_pinned(info.context.resources.sessions, id, False))
