"""The API's enums. Those the catalog stores are the catalog's own classes, described here."""

from __future__ import annotations

import enum

import strawberry

from server import errors
from server.cache.keys import KeyMatch as KeyMatch
from server.cache.results import ItemStatus as ItemStatus
from server.db.enums import BackupOrigin as BackupOrigin
from server.db.enums import BackupType as BackupType
from server.db.enums import CacheType as CacheType
from server.db.enums import ChannelKind as ChannelKind
from server.db.enums import Compression as Compression
from server.db.enums import CopyStatus as CopyStatus
from server.db.enums import DeliveryStatus as DeliveryStatus
from server.db.enums import DrillMode as DrillMode
from server.db.enums import DrillStatus as DrillStatus
from server.db.enums import JobStatus as JobStatus
from server.db.enums import NotificationEvent as NotificationEvent
from server.db.enums import RunStatus as RunStatus
from server.db.enums import RunTrigger as RunTrigger
from server.db.enums import ScheduleAction as ScheduleAction
from server.db.enums import ScheduleFrequency as ScheduleFrequency
from server.db.enums import VerifyStatus as VerifyStatus
from server.db.enums import Weekday as Weekday
from server.drill.history import LastDrill as LastDrill
from server.rotation.policy import Reason as RetentionReason


def _describe(
    enum_class: type[enum.Enum], description: str, *, name: str | None = None, **values: str
) -> None:
    """Expose one of the server's enums (the catalog's in server/db/enums.py, the cache
    domain's) as it is, with a description of the enum and of each value. The class itself
    becomes the GraphQL enum, so a resolver hands over the value it got from a service or a
    column, with no conversion between two copies."""
    strawberry.enum(enum_class, name=name, description=description)
    definition = enum_class.__strawberry_definition__  # type: ignore[attr-defined]
    if {value.name for value in definition.values} != set(values):
        raise TypeError(f"describe every value of {enum_class.__name__}, and only those")
    for value in definition.values:
        value.description = values[value.name]


_describe(
    BackupType,
    "What a backup covers.",
    FULL="The whole database, with views, triggers, routines and events.",
    PARTIAL="The core tables (User, Role, Permission unless configured).",
    SELECTIVE="The tables the admin picked.",
)
_describe(
    JobStatus,
    "Where a background job (backup or restore) stands.",
    IN_PROGRESS="Running now.",
    COMPLETED="Finished; for a backup, its file and manifest are on disk.",
    FAILED="Stopped; `errorMessage` says why.",
)
_describe(
    Compression,
    "How a backup file is compressed.",
    ZSTD="Zstandard (the default): fast and small.",
    GZIP="gzip, for tools that lack zstd.",
    NONE="Plain SQL.",
)
_describe(
    BackupOrigin,
    "Why a backup was made.",
    MANUAL="An admin asked for it.",
    SAFETY="Taken automatically before a restore overwrote the data.",
    SCHEDULED="Made by a backup schedule.",
)
_describe(
    CopyStatus,
    "Where a backup's copy on one offsite target stands.",
    PENDING="Waiting for its turn, or for its next attempt after a failure (`nextAttemptAt`).",
    IN_PROGRESS="Being uploaded or read back now.",
    COMPLETED="Uploaded, read back, and equal to the backup (SHA-256): see `verifiedAt`.",
    FAILED="The last attempt failed (`error`); it is tried again at `nextAttemptAt`, if set.",
    DELETED="Deleted from the target (by rotation or by hand); the backup may still be here.",
)
_describe(
    CacheType,
    "A kind of cache that can be cleared.",
    ALL="Every kind below.",
    DATABASE="Connection pools and the database's own query cache.",
    SESSION="Session files and session keys.",
    FILE="The upload and temp cache folders.",
    MEMORY="In-process caches of every server process.",
    REDIS="The application's keys in Redis.",
)
_describe(
    ScheduleAction,
    "What a schedule runs.",
    BACKUP="A backup, with createBackup's options.",
    CLEAR_CACHE="A cache clear, with clearCache's options, logged as a CacheLog.",
)
_describe(
    ScheduleFrequency,
    "How often a schedule runs (in its time zone).",
    HOURLY="Every hour, at `minute` past.",
    DAILY="Every day, at `timeOfDay`.",
    WEEKLY="Every week, on `dayOfWeek` at `timeOfDay`.",
    MONTHLY="Every month, on `dayOfMonth` (1-28) at `timeOfDay`.",
    CRON="When the 5-field cron expression `cron` says.",
)
_describe(
    Weekday,
    "A day of the week.",
    SUNDAY="Sunday.",
    MONDAY="Monday.",
    TUESDAY="Tuesday.",
    WEDNESDAY="Wednesday.",
    THURSDAY="Thursday.",
    FRIDAY="Friday.",
    SATURDAY="Saturday.",
)
_describe(
    RunTrigger,
    "Why a schedule's run happened.",
    SLOT="Its slot fell due while a server ran the scheduler.",
    CATCH_UP="Its slot fell due while no server ran; it ran at the next start, within the grace.",
    MANUAL="An admin asked for it (runScheduleNow); it takes no slot.",
)
_describe(
    RunStatus,
    "Where a schedule's run stands.",
    WAITING="Claimed; waiting for another job to let go of the job lock.",
    RUNNING="Running: a backup's progress is on backupProgress(backupId).",
    COMPLETED="Done; for a backup, rotation ran after it (`rotated`, `rotatedCopies`).",
    FAILED="Did not do its work; `errorMessage` says why.",
    MISSED="Slots that no server ran in time (`missedSlots` of them): nothing was run.",
)
_describe(
    RetentionReason,
    "Why rotation keeps a backup, or lets it go.",
    LAST="Kept: one of the newest keepLast.",
    DAILY="Kept: the newest of one of the keepDaily most recent days with a backup.",
    WEEKLY="Kept: the newest of one of the keepWeekly most recent weeks with a backup.",
    MONTHLY="Kept: the newest of one of the keepMonthly most recent months with a backup.",
    YEARLY="Kept: the newest of one of the keepYearly most recent years with a backup.",
    NEWEST_VERIFIED="Kept: the newest completed backup whose file verifies.",
    NEWEST_COPY=(
        "Kept: its copy is the newest good (COMPLETED) one on an enabled offsite target; "
        "in a target's list: the newest good copy there."
    ),
    PINNED="Kept: an admin pinned it.",
    IN_USE="Kept: a running restore or restore drill uses it.",
    RECENT_SAFETY="Kept: a safety backup younger than LUMBUNG_SAFETY_BACKUP_MIN_AGE_DAYS.",
    UNSELECTED="Goes: no rule keeps it.",
    OVER_SIZE_CAP=(
        "Goes: the oldest kept while the schedule's backups (in a target's list: their "
        "copies there) exceed maxTotalSize."
    ),
    OLD_SAFETY="Goes: a safety backup older than LUMBUNG_SAFETY_BACKUP_MIN_AGE_DAYS.",
)


_describe(
    KeyMatch,
    "How the entries of `specificKeys` are read.",
    EXACT=(
        "Each entry is one key, without the prefix, taken literally: `*?[]\\` in it match "
        "only themselves, so `report[1]` clears `cache:report[1]` and nothing else."
    ),
    GLOB=(
        "Each entry is a Redis glob pattern (`*`, `?`, `[abc]`, `\\` escapes), applied "
        "within the prefix: `user:*` clears `cache:user:*` and never a key outside it."
    ),
)
_describe(
    ItemStatus,
    "What became of one item of a clear.",
    name="CacheItemStatus",
    CLEARED="Cleared; `count` entries went.",
    WOULD_CLEAR="Dry run: `count` entries would go; nothing was touched.",
    SKIPPED="Not there to clear (not configured, or no such cache): `detail` says why.",
    FAILED="Could not be cleared: `errorCode` and `detail` say why.",
)


_describe(
    DrillStatus,
    "How a restore drill stands.",
    IN_PROGRESS="Restoring into the scratch database, or comparing.",
    PASSED="Everything the drill could check matches (see `unproven` for what it could not).",
    FAILED="Something differs, or the restore failed: `problems` says what.",
)
_describe(
    DrillMode,
    "When a backup schedule drills its own backups.",
    OFF="Never.",
    EVERY_NTH=(
        "The run that completes the `every`-th backup since the schedule's last drill drills "
        "it (1: every backup)."
    ),
    DAILY="The first run of each day (in the schedule's time zone) drills its backup.",
)
_describe(
    LastDrill,
    "Backups by their newest restore drill.",
    PASSED="Their newest drill passed.",
    FAILED="Their newest drill failed.",
    IN_PROGRESS="A drill of theirs is running.",
    NEVER="Never drilled.",
)
_describe(
    ChannelKind,
    "Where a notification channel sends.",
    EMAIL="E-mail, through the relay of LUMBUNG_SMTP_HOST.",
    WEBHOOK="A JSON POST signed with HMAC-SHA256 (or a Slack-compatible body).",
)
_describe(
    NotificationEvent,
    "What a notification is about; each channel chooses the events it gets.",
    BACKUP_FAILED="A backup failed (a restore's safety backup counts as its restore).",
    RESTORE_COMPLETED="A restore completed.",
    RESTORE_FAILED="A restore failed (and what was rolled back).",
    DRILL_FAILED="A restore drill failed: the backup does not restore to the data it held.",
    SCHEDULE_MISSED="A schedule's run did not happen.",
    NO_RECENT_BACKUP="No backup has completed for LUMBUNG_NO_BACKUP_ALERT_HOURS.",
    LOW_DISK_SPACE="The backup folder's disk has less free space than the next backup needs.",
    TEST="A test sent by `testNotification` (not a channel's choice).",
)
_describe(
    DeliveryStatus,
    "How a notification's delivery ended.",
    DELIVERED="The relay or the webhook accepted it.",
    FAILED="Every attempt failed: `error` says why.",
)


@strawberry.enum(description="The kind of an offsite target.")
class TargetKind(enum.Enum):
    S3 = strawberry.enum_value("s3", description="An S3-compatible bucket.")
    SFTP = strawberry.enum_value("sftp", description="A folder on an SSH server, over SFTP.")


@strawberry.enum(description="Whether a table is a base table or a view.")
class TableKind(enum.Enum):
    TABLE = strawberry.enum_value("TABLE", description="A base table holding rows.")
    VIEW = strawberry.enum_value("VIEW", description="A view over other tables.")


ErrorCode = strawberry.enum(
    errors.ErrorCode,
    name="ErrorCode",
    description=(
        "The value of `extensions.code` on every error this API returns. UNAUTHENTICATED: no "
        "valid token; FORBIDDEN: not an admin; BAD_USER_INPUT: fix the request; NOT_FOUND: no "
        "such id; CONFLICT: another job is running; CHECKSUM_MISMATCH: the backup file is "
        "damaged; INSUFFICIENT_STORAGE: not enough free disk; BACKEND_UNAVAILABLE: the "
        "database or Redis is unreachable; INTERNAL: a bug (logged server-side)."
    ),
)
_describe(
    VerifyStatus,
    "The outcome of checking a backup file against its manifest.",
    OK="The file and every section match the manifest.",
    CORRUPT="Something differs: see `problems`.",
    MISSING="The file or its manifest is gone.",
)
