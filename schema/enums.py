"""The API's enums. Those the catalog stores are the catalog's own classes, described here."""

from __future__ import annotations

import enum

import strawberry

from server import errors
from server.db.enums import BackupOrigin as BackupOrigin
from server.db.enums import BackupType as BackupType
from server.db.enums import CacheType as CacheType
from server.db.enums import Compression as Compression
from server.db.enums import CopyStatus as CopyStatus
from server.db.enums import JobStatus as JobStatus


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
