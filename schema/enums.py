"""The API's enums. Those the catalog stores are the catalog's own classes, described here."""

from __future__ import annotations

import enum

import strawberry

from server import errors
from server.db.enums import BackupOrigin as BackupOrigin
from server.db.enums import BackupType as BackupType
from server.db.enums import CacheType as CacheType
from server.db.enums import ChannelKind as ChannelKind
from server.db.enums import Compression as Compression
from server.db.enums import DeliveryStatus as DeliveryStatus
from server.db.enums import DrillStatus as DrillStatus
from server.db.enums import JobStatus as JobStatus
from server.db.enums import NotificationEvent as NotificationEvent
from server.drill.history import LastDrill as LastDrill


def _describe(enum_class: type[enum.Enum], description: str, **values: str) -> None:
    """Expose one of the catalog's enums (server/db/enums.py) as it is, with a description of
    the enum and of each value. The class itself becomes the GraphQL enum, so a resolver hands
    over the column's value as it was read, with no conversion between two copies."""
    strawberry.enum(enum_class, description=description)
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
    DrillStatus,
    "How a restore drill stands.",
    IN_PROGRESS="Restoring into the scratch database, or comparing.",
    PASSED="Everything the drill could check matches (see `unproven` for what it could not).",
    FAILED="Something differs, or the restore failed: `problems` says what.",
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
