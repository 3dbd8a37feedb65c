"""Lumbung's catalog: the seed's Prisma models `Backup`, `RestoreLog` and `CacheLog`.

Table and column names are the seed's, with Prisma's MySQL types (String = VARCHAR(191),
DateTime = DATETIME(3), Json = JSON), so the application that owns the database can read them
with its own Prisma client. Enumerated values are stored as the seed's lowercase strings.

One deliberate difference: the seed cascades deletes from `User` to backups and logs. Here
`createdBy`, `restoredBy` and `clearedBy` are plain integers, so deleting a user never erases
the backup history (an audit trail that a user deletion can wipe is no audit trail).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import Enum, TypeDecorator

from server.db.enums import (
    BackupOrigin,
    BackupType,
    CacheType,
    Compression,
    CopyStatus,
    JobStatus,
)

CATALOG_TABLES = ("Backup", "RestoreLog", "CacheLog", "BackupCopy")


def stored_as_value(enum_class: type[enum.Enum], length: int) -> Enum:
    """A VARCHAR(length) column holding the member's value (the seed's lowercase string),
    read back as the member. No CHECK constraint and no native ENUM: the DDL is the plain
    string column the migrations create, which the owning application's Prisma client reads."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class UTCDateTime(TypeDecorator[datetime]):
    """DATETIME(3) holding naive UTC, as Prisma writes it; aware UTC datetimes in Python."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=3))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)


EMPTY_JSON_LIST = text("('[]')")


class Base(DeclarativeBase):
    pass


class Backup(Base):
    __tablename__ = "Backup"
    __table_args__ = (
        Index("Backup_createdAt_idx", "createdAt"),
        Index("Backup_status_idx", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(191))
    backup_type: Mapped[BackupType] = mapped_column("backupType", stored_as_value(BackupType, 191))
    tables: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=EMPTY_JSON_LIST)
    include_data: Mapped[bool] = mapped_column(
        "includeData", Boolean, default=True, server_default=text("1")
    )
    include_schema: Mapped[bool] = mapped_column(
        "includeSchema", Boolean, default=True, server_default=text("1")
    )
    description: Mapped[str | None] = mapped_column(String(191))
    # BIGINT where the seed has Int: a backup over 2 GiB must not overflow.
    file_size: Mapped[int] = mapped_column("fileSize", BigInteger, default=0)
    status: Mapped[JobStatus] = mapped_column(
        stored_as_value(JobStatus, 191), default=JobStatus.COMPLETED
    )
    created_at: Mapped[datetime] = mapped_column("createdAt", UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", UTCDateTime, default=utcnow, onupdate=utcnow
    )
    created_by: Mapped[int] = mapped_column("createdBy", Integer)
    # Lumbung's additions.
    checksum: Mapped[str | None] = mapped_column(String(64))
    compression: Mapped[Compression] = mapped_column(
        stored_as_value(Compression, 16), default=Compression.ZSTD, server_default=text("'zstd'")
    )
    error_message: Mapped[str | None] = mapped_column("errorMessage", Text)
    duration_ms: Mapped[int | None] = mapped_column("durationMs", Integer)
    origin: Mapped[BackupOrigin] = mapped_column(
        stored_as_value(BackupOrigin, 16),
        default=BackupOrigin.MANUAL,
        server_default=text("'manual'"),
    )
    completed_at: Mapped[datetime | None] = mapped_column("completedAt", UTCDateTime)
    # age encryption: the recipients' public keys (or "passphrase"); empty when plaintext.
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))
    recipients: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=EMPTY_JSON_LIST
    )


class BackupCopy(Base):
    """A backup's copy on one offsite target (docs/offsite.md): one row per backup and target."""

    __tablename__ = "BackupCopy"
    __table_args__ = (
        Index("BackupCopy_backupId_target_key", "backupId", "target", unique=True),
        Index("BackupCopy_status_nextAttemptAt_idx", "status", "nextAttemptAt"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    backup_id: Mapped[int] = mapped_column(
        "backupId", Integer, ForeignKey("Backup.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    target: Mapped[str] = mapped_column(String(64))
    status: Mapped[CopyStatus] = mapped_column(
        stored_as_value(CopyStatus, 16), default=CopyStatus.PENDING
    )
    size: Mapped[int] = mapped_column("bytes", BigInteger, default=0, server_default=text("0"))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    error_message: Mapped[str | None] = mapped_column("errorMessage", Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column("nextAttemptAt", UTCDateTime)
    # While IN_PROGRESS: the copy is the claimant's until then (renewed as it runs), so a copy
    # whose process died is taken over by another once this has passed.
    lease_until: Mapped[datetime | None] = mapped_column("leaseUntil", UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column("verifiedAt", UTCDateTime)
    created_at: Mapped[datetime] = mapped_column("createdAt", UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", UTCDateTime, default=utcnow, onupdate=utcnow
    )


class RestoreLog(Base):
    __tablename__ = "RestoreLog"
    __table_args__ = (Index("RestoreLog_backupId_idx", "backupId"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    backup_id: Mapped[int] = mapped_column(
        "backupId", Integer, ForeignKey("Backup.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    status: Mapped[JobStatus] = mapped_column(
        stored_as_value(JobStatus, 191),
        default=JobStatus.IN_PROGRESS,
        server_default=text("'in_progress'"),
    )
    error_message: Mapped[str | None] = mapped_column("errorMessage", Text)
    description: Mapped[str | None] = mapped_column(String(191))
    created_at: Mapped[datetime] = mapped_column("createdAt", UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column("completedAt", UTCDateTime)
    restored_by: Mapped[int] = mapped_column("restoredBy", Integer)
    # Lumbung's additions.
    tables: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=EMPTY_JSON_LIST)
    safety_backup_id: Mapped[int | None] = mapped_column("safetyBackupId", Integer)
    duration_ms: Mapped[int | None] = mapped_column("durationMs", Integer)


class CacheLog(Base):
    __tablename__ = "CacheLog"
    __table_args__ = (Index("CacheLog_createdAt_idx", "createdAt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cache_type: Mapped[CacheType] = mapped_column("cacheType", stored_as_value(CacheType, 191))
    cleared_items: Mapped[list[str]] = mapped_column(
        "clearedItems", JSON, default=list, server_default=EMPTY_JSON_LIST
    )
    total_cleared: Mapped[int] = mapped_column(
        "totalCleared", Integer, default=0, server_default=text("0")
    )
    description: Mapped[str | None] = mapped_column(String(191))
    created_at: Mapped[datetime] = mapped_column("createdAt", UTCDateTime, default=utcnow)
    cleared_by: Mapped[int] = mapped_column("clearedBy", Integer)
    # Lumbung's additions.
    failed_items: Mapped[list[str]] = mapped_column(
        "failedItems", JSON, default=list, server_default=EMPTY_JSON_LIST
    )
    dry_run: Mapped[bool] = mapped_column(
        "dryRun", Boolean, default=False, server_default=text("0")
    )
    duration_ms: Mapped[int | None] = mapped_column("durationMs", Integer)
