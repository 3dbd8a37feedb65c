"""The catalog's enumerations: one source for the models, the services and the GraphQL schema.

Each value is the seed's lowercase string, which is what the catalog stores, so the application
that owns the database reads the same words with its own client. The schema exposes these very
classes (schema/enums.py adds the descriptions).
"""

from __future__ import annotations

import enum


class BackupType(enum.Enum):
    FULL = "full"
    PARTIAL = "partial"
    SELECTIVE = "selective"


class JobStatus(enum.Enum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self is not JobStatus.IN_PROGRESS


class VerifyStatus(enum.Enum):
    """What re-reading a backup file against its manifest found."""

    OK = "ok"
    CORRUPT = "corrupt"
    MISSING = "missing"


class Compression(enum.Enum):
    ZSTD = "zstd"
    GZIP = "gzip"
    NONE = "none"


class BackupOrigin(enum.Enum):
    MANUAL = "manual"
    SAFETY = "safety"
    SCHEDULED = "scheduled"


class CopyStatus(enum.Enum):
    """Where a backup's copy on one offsite target stands."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    DELETED = "deleted"


class CacheType(enum.Enum):
    ALL = "all"
    DATABASE = "database"
    SESSION = "session"
    FILE = "file"
    MEMORY = "memory"
    REDIS = "redis"


class DrillStatus(enum.Enum):
    IN_PROGRESS = "in_progress"
    PASSED = "passed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self is not DrillStatus.IN_PROGRESS

    @property
    def job(self) -> JobStatus:
        """The status its progress events carry, like every job's."""
        return {
            DrillStatus.IN_PROGRESS: JobStatus.IN_PROGRESS,
            DrillStatus.PASSED: JobStatus.COMPLETED,
            DrillStatus.FAILED: JobStatus.FAILED,
        }[self]


class ChannelKind(enum.Enum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class NotificationEvent(enum.Enum):
    BACKUP_FAILED = "backup_failed"
    RESTORE_COMPLETED = "restore_completed"
    RESTORE_FAILED = "restore_failed"
    DRILL_FAILED = "drill_failed"
    SCHEDULE_MISSED = "schedule_missed"
    NO_RECENT_BACKUP = "no_recent_backup"
    LOW_DISK_SPACE = "low_disk_space"
    TEST = "test"


class DeliveryStatus(enum.Enum):
    DELIVERED = "delivered"
    FAILED = "failed"


class ScheduleAction(enum.Enum):
    BACKUP = "backup"
    CLEAR_CACHE = "clear_cache"


class ScheduleFrequency(enum.Enum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    CRON = "cron"


class Weekday(enum.Enum):
    # Cron's numbering (0 = Sunday) is what the catalog stores in `dayOfWeek`.
    SUNDAY = 0
    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6


class DrillMode(enum.Enum):
    """When a backup schedule drills its own backups (server/schedule/drills.py)."""

    OFF = "off"
    EVERY_NTH = "every_nth"
    DAILY = "daily"


class RunTrigger(enum.Enum):
    SLOT = "slot"
    CATCH_UP = "catch_up"
    MANUAL = "manual"


class RunStatus(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    MISSED = "missed"

    @property
    def final(self) -> bool:
        return self not in (RunStatus.WAITING, RunStatus.RUNNING)
