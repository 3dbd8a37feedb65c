"""The API's enums. Values are stored as the seed's lowercase strings (`.value`)."""

from __future__ import annotations

import enum

import strawberry

from server import errors


@strawberry.enum(description="What a backup covers.")
class BackupType(enum.Enum):
    FULL = strawberry.enum_value(
        "full", description="The whole database, with views, triggers, routines and events."
    )
    PARTIAL = strawberry.enum_value(
        "partial", description="The core tables (User, Role, Permission unless configured)."
    )
    SELECTIVE = strawberry.enum_value("selective", description="The tables the admin picked.")


@strawberry.enum(description="Where a background job (backup or restore) stands.")
class JobStatus(enum.Enum):
    IN_PROGRESS = strawberry.enum_value("in_progress", description="Running now.")
    COMPLETED = strawberry.enum_value(
        "completed", description="Finished; for a backup, its file and manifest are on disk."
    )
    FAILED = strawberry.enum_value("failed", description="Stopped; `errorMessage` says why.")


@strawberry.enum(description="How a backup file is compressed.")
class Compression(enum.Enum):
    ZSTD = strawberry.enum_value("zstd", description="Zstandard (the default): fast and small.")
    GZIP = strawberry.enum_value("gzip", description="gzip, for tools that lack zstd.")
    NONE = strawberry.enum_value("none", description="Plain SQL.")


@strawberry.enum(description="Why a backup was made.")
class BackupOrigin(enum.Enum):
    MANUAL = strawberry.enum_value("manual", description="An admin asked for it.")
    SAFETY = strawberry.enum_value(
        "safety", description="Taken automatically before a restore overwrote the data."
    )
    SCHEDULED = strawberry.enum_value("scheduled", description="Made by a backup schedule.")


@strawberry.enum(description="A kind of cache that can be cleared.")
class CacheType(enum.Enum):
    ALL = strawberry.enum_value("all", description="Every kind below.")
    DATABASE = strawberry.enum_value(
        "database", description="Connection pools and the database's own query cache."
    )
    SESSION = strawberry.enum_value("session", description="Session files and session keys.")
    FILE = strawberry.enum_value("file", description="The upload and temp cache folders.")
    MEMORY = strawberry.enum_value(
        "memory", description="In-process caches of every server process."
    )
    REDIS = strawberry.enum_value("redis", description="The application's keys in Redis.")


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
