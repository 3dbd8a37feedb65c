"""The catalog's GraphQL types: Backup, RestoreLog, CacheLog, their pages, and User.

Scalar fields are filled when the object is built from its row, so that graphql-core reads them
with its plain attribute resolver; only the relations (creator, restore logs) run resolvers, and
those go through DataLoaders.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.context import Info
from schema.enums import (
    BackupOrigin,
    BackupType,
    CacheType,
    Compression,
    DrillStatus,
    JobStatus,
    VerifyStatus,
)
from schema.scalars import BigInt
from server.db import models
from server.system.users import AppUser
from server.units import format_bytes, format_duration

if TYPE_CHECKING:
    from schema.offsite import OffsiteCopy
    from schema.schedule_types import Schedule


def _seconds(duration_ms: int | None) -> float | None:
    return None if duration_ms is None else duration_ms / 1000


# Relations resolve two ways. A list that loaded them up front hands them over as plain values
# (no coroutine, no task per item: for a page of 100 backups that is most of the cost of a
# query). Anything else returns an awaitable from a DataLoader, which graphql-core awaits.
NOT_LOADED = object()


async def _user(info: Info, user_id: int) -> User | None:
    return User.of(await info.context.loaders.users.load(user_id))


async def _restore_logs(info: Info, backup_id: int) -> list[RestoreLog]:
    return [RestoreLog.of(row) for row in await info.context.loaders.restore_logs.load(backup_id)]


async def _last_drill(info: Info, backup_id: int) -> RestoreDrill | None:
    row = await info.context.loaders.last_drills.load(backup_id)
    return None if row is None else RestoreDrill.of(row)


@strawberry.type(
    description="A restore drill: a backup restored into a scratch database and compared, "
    "table by table, with what the database held when the backup was made."
)
class RestoreDrill:
    id: int = strawberry.field(description="Restore drill id.")
    backup_id: int = strawberry.field(description="Id of the backup that was drilled.")
    status: DrillStatus = strawberry.field(description="IN_PROGRESS, PASSED or FAILED.")
    at: datetime = strawberry.field(description="When the drill started.")
    completed_at: datetime | None = strawberry.field(
        description="When it finished (null while IN_PROGRESS)."
    )
    duration_seconds: float | None = strawberry.field(
        description="How long the restore itself took: how long this backup takes to restore."
    )
    restores_in: str | None = strawberry.field(
        description="The same, for people: `4 min 12 s` (null until restored)."
    )
    total_seconds: float | None = strawberry.field(
        description="The whole drill: restore, comparison and clean-up."
    )
    problems: list[str] = strawberry.field(
        description="What differs or failed, one sentence each (empty when PASSED)."
    )
    unproven: list[str] = strawberry.field(
        description="What the drill could not check, and why (e.g. a backup made before "
        "Lumbung recorded evidence)."
    )
    tables: list[str] = strawberry.field(description="The tables restored and compared.")
    requested_by: int = strawberry.field(
        description="Id of the user who asked for it (0: the CLI or a schedule)."
    )
    schedule_id: int | None = strawberry.field(
        description="The schedule that ran it, if a schedule did."
    )

    @classmethod
    def of(cls, row: models.RestoreDrill) -> RestoreDrill:
        restore = _seconds(row.restore_ms)
        return cls(
            id=row.id,
            backup_id=row.backup_id,
            status=row.status,
            at=row.created_at,
            completed_at=row.completed_at,
            duration_seconds=restore,
            restores_in=None if restore is None else format_duration(restore),
            total_seconds=_seconds(row.duration_ms),
            problems=list(row.problems or []),
            unproven=list(row.unproven or []),
            tables=list(row.tables or []),
            requested_by=row.requested_by,
            schedule_id=row.schedule_id,
        )


@strawberry.type(description="A user of the application that owns the database.")
class User:
    id: int = strawberry.field(description="The user's id in the application's `User` table.")
    name: str | None = strawberry.field(description="Display name, when the table has one.")
    email: str | None = strawberry.field(description="E-mail address, when the table has one.")

    @classmethod
    def of(cls, user: AppUser | None) -> User | None:
        return None if user is None else cls(id=user.id, name=user.name, email=user.email)


@strawberry.type(description="One restore of a backup into the database.")
class RestoreLog:
    id: int = strawberry.field(description="Restore log id.")
    backup_id: int = strawberry.field(description="Id of the backup that was restored.")
    status: JobStatus = strawberry.field(description="IN_PROGRESS, COMPLETED or FAILED.")
    error_message: str | None = strawberry.field(
        description="Why the restore failed (null unless FAILED)."
    )
    description: str | None = strawberry.field(description="Free text given with the restore.")
    tables: list[str] = strawberry.field(
        description="Tables restored (empty: all of the backup's)."
    )
    safety_backup_id: int | None = strawberry.field(
        description="Id of the safety backup taken before the restore, if any."
    )
    created_at: datetime = strawberry.field(description="When the restore started.")
    completed_at: datetime | None = strawberry.field(
        description="When it finished (null while IN_PROGRESS)."
    )
    duration_seconds: float | None = strawberry.field(description="How long it took, in seconds.")
    restored_by: int = strawberry.field(description="Id of the user who asked for the restore.")

    @classmethod
    def of(cls, row: models.RestoreLog) -> RestoreLog:
        return cls(
            id=row.id,
            backup_id=row.backup_id,
            status=row.status,
            error_message=row.error_message,
            description=row.description,
            tables=list(row.tables or []),
            safety_backup_id=row.safety_backup_id,
            created_at=row.created_at,
            completed_at=row.completed_at,
            duration_seconds=_seconds(row.duration_ms),
            restored_by=row.restored_by,
        )

    # Filled when the list that holds this log loaded its users up front (see Prefetch).
    prefetched_restorer: strawberry.Private[object] = NOT_LOADED

    @strawberry.field(description="The user who asked for the restore (null if deleted since).")
    def restorer(self, info: Info) -> User | None:
        if self.prefetched_restorer is not NOT_LOADED:
            return self.prefetched_restorer  # type: ignore[return-value]
        return _user(info, self.restored_by)  # type: ignore[return-value]

    @strawberry.field(description="The backup that was restored.")
    async def backup(self, info: Info) -> Annotated[Backup, strawberry.lazy("schema.types")]:
        return Backup.of(await info.context.loaders.backups.load(self.backup_id))


@strawberry.type(description="A backup of the database: one file plus its manifest.")
class Backup:
    id: int = strawberry.field(description="Backup id.")
    filename: str = strawberry.field(
        description=(
            "File name in the backup folder, e.g. `backup_full_2024-01-15T10-30-00.sql.zst`."
        )
    )
    backup_type: BackupType = strawberry.field(description="FULL, PARTIAL or SELECTIVE.")
    tables: list[str] = strawberry.field(description="Tables in the backup.")
    include_data: bool = strawberry.field(description="Whether table rows were dumped.")
    include_schema: bool = strawberry.field(description="Whether table definitions were dumped.")
    description: str | None = strawberry.field(description="Free text given with the backup.")
    file_size: BigInt = strawberry.field(
        description="Size of the file in bytes (exact beyond 2 GiB)."
    )
    file_size_human: str = strawberry.field(
        description="Size of the file for people, e.g. `2.4 GB`."
    )
    status: JobStatus = strawberry.field(description="IN_PROGRESS, COMPLETED or FAILED.")
    compression: Compression = strawberry.field(description="How the file is compressed.")
    checksum: str | None = strawberry.field(
        description="SHA-256 of the file, hex (null until COMPLETED)."
    )
    error_message: str | None = strawberry.field(
        description="Why the backup failed (null unless FAILED)."
    )
    duration_seconds: float | None = strawberry.field(description="How long it took, in seconds.")
    origin: BackupOrigin = strawberry.field(
        description="Why it was made: by an admin, before a restore, or on a schedule."
    )
    created_at: datetime = strawberry.field(description="When the backup started.")
    updated_at: datetime = strawberry.field(description="When the row last changed.")
    completed_at: datetime | None = strawberry.field(
        description="When it finished (null while IN_PROGRESS)."
    )
    created_by: int = strawberry.field(description="Id of the user who made the backup.")
    encrypted: bool = strawberry.field(
        description="Whether the file is encrypted with age (docs/encryption.md)."
    )
    recipients: list[str] = strawberry.field(
        description="The age public keys it is encrypted to (`passphrase` for a passphrase); "
        "empty when it is not encrypted."
    )
    schedule_id: int | None = strawberry.field(
        description="For origin SCHEDULED: the schedule that made it (it may be deleted since)."
    )
    pinned: bool = strawberry.field(
        description="Pinned by an admin: rotation keeps it, deleteBackup refuses it."
    )
    verified_at: datetime | None = strawberry.field(
        description="When its file was last re-read against its manifest (`verifyBackup` "
        "without `target`, or `lumbung verify`); null if never."
    )
    verify_status: VerifyStatus | None = strawberry.field(
        description="What that last check found (`verifiedAt`); null if never checked."
    )

    @classmethod
    def of(cls, row: models.Backup) -> Backup:
        return cls(
            id=row.id,
            filename=row.filename,
            backup_type=row.backup_type,
            tables=list(row.tables or []),
            include_data=row.include_data,
            include_schema=row.include_schema,
            description=row.description,
            file_size=BigInt(row.file_size),
            file_size_human=format_bytes(row.file_size),
            status=row.status,
            compression=row.compression,
            checksum=row.checksum,
            error_message=row.error_message,
            duration_seconds=_seconds(row.duration_ms),
            origin=row.origin,
            created_at=row.created_at,
            updated_at=row.updated_at,
            completed_at=row.completed_at,
            created_by=row.created_by,
            encrypted=row.encrypted,
            recipients=list(row.recipients or []),
            schedule_id=row.schedule_id,
            pinned=row.pinned,
            verified_at=row.verified_at,
            verify_status=row.verify_status,
        )

    @strawberry.field(description="Its copies on the offsite targets, one per target.")
    async def copies(
        self, info: Info
    ) -> list[Annotated[OffsiteCopy, strawberry.lazy("schema.offsite")]]:
        from schema.offsite import OffsiteCopy

        return [OffsiteCopy.of(row) for row in await info.context.loaders.copies.load(self.id)]

    # Filled when the page that holds this backup loaded its relations up front (Prefetch).
    prefetched_creator: strawberry.Private[object] = NOT_LOADED
    prefetched_restore_logs: strawberry.Private[object] = NOT_LOADED
    prefetched_last_drill: strawberry.Private[object] = NOT_LOADED

    @strawberry.field(
        description="The newest restore drill of this backup (null if it was never drilled): "
        "whether it restores to the data it held, and how long it takes to restore."
    )
    def last_drill(self, info: Info) -> RestoreDrill | None:
        if self.prefetched_last_drill is not NOT_LOADED:
            return self.prefetched_last_drill  # type: ignore[return-value]
        return _last_drill(info, self.id)  # type: ignore[return-value]

    @strawberry.field(description="The user who made the backup (null if deleted since).")
    def creator(self, info: Info) -> User | None:
        if self.prefetched_creator is not NOT_LOADED:
            return self.prefetched_creator  # type: ignore[return-value]
        return _user(info, self.created_by)  # type: ignore[return-value]

    @strawberry.field(description="The schedule that made it (null if none, or deleted since).")
    async def schedule(
        self, info: Info
    ) -> Annotated[Schedule, strawberry.lazy("schema.schedule_types")] | None:
        from schema.schedule_types import Schedule

        if self.schedule_id is None:
            return None
        facts = await info.context.loaders.schedules.load(self.schedule_id)
        return None if facts is None else Schedule.of(*facts)

    @strawberry.field(description="Restores of this backup, newest first.")
    def restore_logs(self, info: Info) -> list[RestoreLog]:
        if self.prefetched_restore_logs is not NOT_LOADED:
            return self.prefetched_restore_logs  # type: ignore[return-value]
        return _restore_logs(info, self.id)  # type: ignore[return-value]


@strawberry.type(description="One clearing of caches.")
class CacheLog:
    id: int = strawberry.field(description="Cache log id.")
    cache_type: CacheType = strawberry.field(description="The kind of cache cleared.")
    cleared_items: list[str] = strawberry.field(description="What was cleared, by name.")
    total_cleared: int = strawberry.field(description="How many items were cleared.")
    failed_items: list[str] = strawberry.field(description="What could not be cleared, and why.")
    dry_run: bool = strawberry.field(
        description="True when nothing was touched: a report of what would go."
    )
    description: str | None = strawberry.field(description="Free text given with the request.")
    created_at: datetime = strawberry.field(description="When the caches were cleared.")
    duration_seconds: float | None = strawberry.field(description="How long it took, in seconds.")
    cleared_by: int = strawberry.field(description="Id of the user who cleared the caches.")

    @classmethod
    def of(cls, row: models.CacheLog) -> CacheLog:
        return cls(
            id=row.id,
            cache_type=row.cache_type,
            cleared_items=list(row.cleared_items or []),
            total_cleared=row.total_cleared,
            failed_items=list(row.failed_items or []),
            dry_run=row.dry_run,
            description=row.description,
            created_at=row.created_at,
            duration_seconds=_seconds(row.duration_ms),
            cleared_by=row.cleared_by,
        )

    @strawberry.field(description="The user who cleared the caches (null if deleted since).")
    async def clearer(self, info: Info) -> User | None:
        return User.of(await info.context.loaders.users.load(self.cleared_by))


@strawberry.type(description="One page of backups, newest first.")
class BackupPage:
    items: list[Backup] = strawberry.field(description="The backups on this page.")
    total: int = strawberry.field(description="How many backups match, on all pages.")
    page: int = strawberry.field(description="This page's number, from 1.")
    limit: int = strawberry.field(description="Items per page.")
    page_count: int = strawberry.field(description="How many pages there are.")


@strawberry.type(description="One page of restore logs, newest first.")
class RestoreLogPage:
    items: list[RestoreLog] = strawberry.field(description="The restore logs on this page.")
    total: int = strawberry.field(description="How many restore logs match, on all pages.")
    page: int = strawberry.field(description="This page's number, from 1.")
    limit: int = strawberry.field(description="Items per page.")
    page_count: int = strawberry.field(description="How many pages there are.")


@strawberry.type(description="One page of cache logs, newest first.")
class CacheLogPage:
    items: list[CacheLog] = strawberry.field(description="The cache logs on this page.")
    total: int = strawberry.field(description="How many cache logs match, on all pages.")
    page: int = strawberry.field(description="This page's number, from 1.")
    limit: int = strawberry.field(description="Items per page.")
    page_count: int = strawberry.field(description="How many pages there are.")


@strawberry.type(description="One page of restore drills, newest first.")
class RestoreDrillPage:
    items: list[RestoreDrill] = strawberry.field(description="The drills on this page.")
    total: int = strawberry.field(description="How many drills match, on all pages.")
    page: int = strawberry.field(description="This page's number, from 1.")
    limit: int = strawberry.field(description="Items per page.")
    page_count: int = strawberry.field(description="How many pages there are.")
