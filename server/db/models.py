"""Lumbung's catalog: the seed's Prisma models `Backup`, `RestoreLog` and `CacheLog`, and
Lumbung's own `BackupCopy` (offsite copies), `LumbungSchedule` and `LumbungScheduleRun`.

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
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import Enum, TypeDecorator

from server.db.enums import (
    BackupOrigin,
    BackupType,
    CacheType,
    ChannelKind,
    Compression,
    CopyStatus,
    DeliveryStatus,
    DrillMode,
    DrillStatus,
    JobStatus,
    NotificationEvent,
    RunStatus,
    RunTrigger,
    ScheduleAction,
    ScheduleFrequency,
    VerifyStatus,
)

# The schedule tables carry Lumbung's name: `Schedule` is a common model name in applications,
# and the application owns the rest of the database.
CATALOG_TABLES = (
    "Backup",
    "RestoreLog",
    "CacheLog",
    "BackupCopy",
    "LumbungSchedule",
    "LumbungScheduleRun",
    "RestoreDrill",
    "NotificationChannel",
    "NotificationDelivery",
    "NotificationAlert",
)


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
        Index("Backup_scheduleId_idx", "scheduleId"),
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
    # What the database measured in the dump's snapshot (server/backup/evidence.py): what a
    # restore drill proves the data with. Kept here as well as in the manifest, beside the
    # file, so that a rewritten file and manifest cannot rewrite it too.
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The schedule that made it (origin SCHEDULED). A plain integer, like createdBy: deleting a
    # schedule never rewrites the history of the backups it made.
    schedule_id: Mapped[int | None] = mapped_column("scheduleId", Integer)
    # Kept by rotation whatever its rules say, and refused by deleteBackup until unpinned.
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))
    # age encryption: the recipients' public keys (or "passphrase"); empty when plaintext.
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))
    recipients: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=EMPTY_JSON_LIST
    )
    # The last time its file was re-read against its manifest (verifyBackup, `lumbung verify`),
    # and what that found: null until then.
    verified_at: Mapped[datetime | None] = mapped_column("verifiedAt", UTCDateTime)
    verify_status: Mapped[VerifyStatus | None] = mapped_column(
        "verifyStatus", stored_as_value(VerifyStatus, 16)
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
    # The schema objects that existed when the restore began writing, `[kind, name]` pairs
    # (server/backup/adapters/base.py SchemaObject); null where no rollback could use them.
    objects_before: Mapped[list[list[str | None]] | None] = mapped_column("objectsBefore", JSON)


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


class Schedule(Base):
    """What runs on its own, and when. `cronExpression` is always the effective expression
    (made from the frequency's fields unless the frequency is CRON); the scheduler reads only
    it and `timeZone`. Slots at or before `activeFrom` never run: it moves to the present when
    a schedule is created, re-enabled or given a new timing, so no past slot is caught up."""

    __tablename__ = "LumbungSchedule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(191), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("1"))
    action: Mapped[ScheduleAction] = mapped_column(stored_as_value(ScheduleAction, 16))
    # The createBackup or clearCache input, with the API's field names (server/schedule/actions.py).
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    frequency: Mapped[ScheduleFrequency] = mapped_column(stored_as_value(ScheduleFrequency, 16))
    time_of_day: Mapped[str | None] = mapped_column("timeOfDay", String(5))
    minute: Mapped[int | None] = mapped_column(Integer)
    day_of_week: Mapped[int | None] = mapped_column("dayOfWeek", Integer)
    day_of_month: Mapped[int | None] = mapped_column("dayOfMonth", Integer)
    cron_expression: Mapped[str] = mapped_column("cronExpression", String(191))
    time_zone: Mapped[str] = mapped_column("timeZone", String(64))
    active_from: Mapped[datetime] = mapped_column("activeFrom", UTCDateTime)
    # Rotation (backup schedules): the newest keepLast, plus the newest of each of the most
    # recent keepDaily days, keepWeekly weeks, ... that have a backup; optionally a size cap.
    rotation_enabled: Mapped[bool] = mapped_column(
        "rotationEnabled", Boolean, default=True, server_default=text("1")
    )
    keep_last: Mapped[int] = mapped_column("keepLast", Integer)
    keep_daily: Mapped[int] = mapped_column("keepDaily", Integer)
    keep_weekly: Mapped[int] = mapped_column("keepWeekly", Integer)
    keep_monthly: Mapped[int] = mapped_column("keepMonthly", Integer)
    keep_yearly: Mapped[int] = mapped_column("keepYearly", Integer)
    max_total_size: Mapped[int | None] = mapped_column("maxTotalSize", BigInteger)
    # Restore drills of its own backups (server/schedule/drills.py): every `drillEvery`-th
    # completed run, or the first of each day in its time zone.
    drill_mode: Mapped[DrillMode] = mapped_column(
        "drillMode",
        stored_as_value(DrillMode, 16),
        default=DrillMode.OFF,
        server_default=text("'off'"),
    )
    drill_every: Mapped[int | None] = mapped_column("drillEvery", Integer)
    created_at: Mapped[datetime] = mapped_column("createdAt", UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", UTCDateTime, default=utcnow, onupdate=utcnow
    )
    created_by: Mapped[int] = mapped_column("createdBy", Integer)


class ScheduleRun(Base):
    """One slot of a schedule, claimed by the one process that runs it, and what became of it.

    The unique key (scheduleId, slotAt) is the claim: every server process that finds a slot
    due inserts this row, and the database lets exactly one insert succeed, whatever the
    number of processes and machines. A MISSED row stands for `missedSlots` slots, from
    `missedFrom` to `slotAt`, that no server ran."""

    __tablename__ = "LumbungScheduleRun"
    __table_args__ = (
        UniqueConstraint("scheduleId", "slotAt", name="LumbungScheduleRun_scheduleId_slotAt_key"),
        Index("LumbungScheduleRun_status_idx", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(
        "scheduleId",
        Integer,
        ForeignKey("LumbungSchedule.id", ondelete="CASCADE", onupdate="CASCADE"),
    )
    # The slot's instant; null for a run an admin asked for (runScheduleNow), which claims no
    # slot, so it can neither take a slot's place nor keep one from running.
    slot_at: Mapped[datetime | None] = mapped_column("slotAt", UTCDateTime)
    trigger: Mapped[RunTrigger] = mapped_column(stored_as_value(RunTrigger, 16))
    status: Mapped[RunStatus] = mapped_column(stored_as_value(RunStatus, 16))
    claimed_by: Mapped[str] = mapped_column("claimedBy", String(191))
    missed_slots: Mapped[int] = mapped_column(
        "missedSlots", Integer, default=0, server_default=text("0")
    )
    missed_from: Mapped[datetime | None] = mapped_column("missedFrom", UTCDateTime)
    # Plain integers: rotation may delete the backup a run made; the run's record stays.
    backup_id: Mapped[int | None] = mapped_column("backupId", Integer)
    cache_log_id: Mapped[int | None] = mapped_column("cacheLogId", Integer)
    error_message: Mapped[str | None] = mapped_column("errorMessage", Text)
    # The restore drill this run started (a plain integer: the drill goes with its backup).
    drill_id: Mapped[int | None] = mapped_column("drillId", Integer)
    # What the rotation after this run deleted: one "#id filename" per backup.
    rotated: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=EMPTY_JSON_LIST)
    # What it deleted on the offsite targets: one "#id filename on target" per copy.
    rotated_copies: Mapped[list[str]] = mapped_column(
        "rotatedCopies", JSON, default=list, server_default=EMPTY_JSON_LIST
    )
    created_at: Mapped[datetime] = mapped_column("createdAt", UTCDateTime, default=utcnow)
    # Touched by the process running it while it lives: a run left WAITING or RUNNING whose
    # updatedAt stops moving belonged to a process that died.
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", UTCDateTime, default=utcnow, onupdate=utcnow
    )
    completed_at: Mapped[datetime | None] = mapped_column("completedAt", UTCDateTime)


class RestoreDrill(Base):
    """One restore drill: a backup restored into a scratch database and compared with what
    the database held when the backup was made (server/drill/)."""

    __tablename__ = "RestoreDrill"
    __table_args__ = (Index("RestoreDrill_backupId_idx", "backupId"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    backup_id: Mapped[int] = mapped_column(
        "backupId", Integer, ForeignKey("Backup.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    status: Mapped[DrillStatus] = mapped_column(
        stored_as_value(DrillStatus, 16), default=DrillStatus.IN_PROGRESS
    )
    # What differs (the drill FAILED), and what could not be checked, one sentence each.
    problems: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=EMPTY_JSON_LIST)
    unproven: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=EMPTY_JSON_LIST)
    tables: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=EMPTY_JSON_LIST)
    created_at: Mapped[datetime] = mapped_column("createdAt", UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column("completedAt", UTCDateTime)
    # The restore alone: how long this backup takes to restore. durationMs is the whole drill.
    restore_ms: Mapped[int | None] = mapped_column("restoreMs", Integer)
    duration_ms: Mapped[int | None] = mapped_column("durationMs", Integer)
    requested_by: Mapped[int] = mapped_column("requestedBy", Integer)
    schedule_id: Mapped[int | None] = mapped_column("scheduleId", Integer)


class NotificationChannel(Base):
    """Where notifications go: an e-mail address list, or a webhook. Its secrets (the webhook's
    URL and signing key) are stored encrypted and never leave the server."""

    __tablename__ = "NotificationChannel"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(191), unique=True)
    kind: Mapped[ChannelKind] = mapped_column(stored_as_value(ChannelKind, 16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("1"))
    events: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=EMPTY_JSON_LIST)
    recipients: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=EMPTY_JSON_LIST
    )
    # The webhook's scheme and host, for people (the whole URL may hold a token: Slack's do).
    target_hint: Mapped[str | None] = mapped_column("targetHint", String(191))
    slack: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))
    secret: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column("createdAt", UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", UTCDateTime, default=utcnow, onupdate=utcnow
    )
    last_error: Mapped[str | None] = mapped_column("lastError", Text)
    last_error_at: Mapped[datetime | None] = mapped_column("lastErrorAt", UTCDateTime)
    last_delivered_at: Mapped[datetime | None] = mapped_column("lastDeliveredAt", UTCDateTime)


class NotificationDelivery(Base):
    __tablename__ = "NotificationDelivery"
    __table_args__ = (Index("NotificationDelivery_channelId_idx", "channelId", "createdAt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(
        "channelId",
        Integer,
        ForeignKey("NotificationChannel.id", ondelete="CASCADE", onupdate="CASCADE"),
    )
    event: Mapped[NotificationEvent] = mapped_column(stored_as_value(NotificationEvent, 32))
    status: Mapped[DeliveryStatus] = mapped_column(stored_as_value(DeliveryStatus, 16))
    subject: Mapped[str] = mapped_column(String(191))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column("createdAt", UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column("completedAt", UTCDateTime)


class NotificationAlert(Base):
    """An alert of the periodic checker (no recent backup, low disk), once per key: every
    server process runs the checker, and the first to insert the key is the one that sends."""

    __tablename__ = "NotificationAlert"

    key: Mapped[str] = mapped_column(String(191), primary_key=True)
    created_at: Mapped[datetime] = mapped_column("createdAt", UTCDateTime, default=utcnow)
