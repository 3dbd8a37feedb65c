"""clearCache: clear exactly the caches asked for, in every server process, and log it.

A backend that is down fails its own items and the others are still cleared: the payload
says which failed and why (`failedItems`, `items[].errorCode`). Only when nothing at all was
cleared because every backend asked for was down does the mutation answer with an error,
BACKEND_UNAVAILABLE, so that a client reading only `errors` never takes an outage for a
success. The CacheLog is written either way (when the database is up).
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.permission import BasePermission

from schema.context import Info
from schema.enums import CacheType, ItemStatus, KeyMatch
from schema.permissions import IsAdmin
from schema.types import CacheLog
from server.cache.outcome import ClearOutcome
from server.cache.request import MAX_DESCRIPTION, MAX_KEYS, ClearRequest, build_request
from server.cache.results import ItemResult
from server.errors import BackendUnavailable, ErrorCode

ADMIN: list[type[BasePermission]] = [IsAdmin]


@strawberry.input(description="What to clear. Give a cacheType, or clearAll: true.")
class ClearCacheInput:
    cache_type: CacheType | None = strawberry.field(
        default=None, description="The kind of cache to clear (ALL for every kind)."
    )
    clear_all: bool = strawberry.field(
        default=False,
        description="Clear every kind at once, as cacheType ALL does (leave cacheType out).",
    )
    specific_keys: list[str] | None = strawberry.field(
        default=None,
        description=(
            f"Only these keys (at most {MAX_KEYS}), without the prefix, in every store that "
            "holds keys: Redis under the cache prefix (REDIS), Redis under the session prefix "
            "and session file names (SESSION), the in-memory cache (MEMORY). DATABASE and FILE "
            "hold no keys. Empty or absent: everything."
        ),
    )
    key_match: KeyMatch = strawberry.field(
        default=KeyMatch.EXACT, description="EXACT keys (the default) or GLOB patterns."
    )
    older_than_minutes: int | None = strawberry.field(
        default=None,
        description=(
            "FILE and session files: only files not modified for this many minutes "
            "(default LUMBUNG_FILE_CACHE_MIN_AGE_MINUTES)."
        ),
    )
    dry_run: bool = strawberry.field(
        default=False,
        description="Report what would be cleared without touching anything (logged too).",
    )
    description: str | None = strawberry.field(
        default=None, description=f"Free text for the log, at most {MAX_DESCRIPTION} characters."
    )


def clear_request(input: ClearCacheInput) -> ClearRequest:
    """The service's request for clearCache's input (a cache schedule's too), checked."""
    return build_request(
        cache_type=input.cache_type,
        clear_all=input.clear_all,
        specific_keys=input.specific_keys,
        key_match=input.key_match,
        dry_run=input.dry_run,
        description=input.description,
        older_than_minutes=input.older_than_minutes,
    )


@strawberry.type(description="One thing a clear dealt with: a key prefix, a folder, a cache.")
class CacheItem:
    cache_type: CacheType = strawberry.field(description="The kind it belongs to.")
    name: str = strawberry.field(
        description="What it is, e.g. `Redis keys cache:*` or `Files in /var/cache/app`."
    )
    status: ItemStatus = strawberry.field(description="What became of it.")
    count: int | None = strawberry.field(
        description="Entries removed (or that would be, in a dry run); null when unknown."
    )
    detail: str | None = strawberry.field(
        description="More about it: sizes, what was left alone, or why it failed or was skipped."
    )
    error_code: ErrorCode | None = strawberry.field(
        description=(
            "For FAILED: BACKEND_UNAVAILABLE (Redis, the database or a server process did not "
            "answer), FORBIDDEN (the database or file system refused; never about your token) "
            "or INTERNAL."
        )
    )

    @classmethod
    def of(cls, item: ItemResult) -> CacheItem:
        return cls(
            cache_type=item.cache_type,
            name=item.name,
            status=item.status,
            count=item.count,
            detail=item.detail,
            error_code=item.code,
        )


@strawberry.type(description="The seed's clearCache response, plus the items and the log entry.")
class ClearCachePayload:
    message: str = strawberry.field(description="What happened, for people.")
    cleared_items: list[str] = strawberry.field(
        description=(
            "What was cleared, with counts (in a dry run: what would be). What was not there "
            "to clear is in `items`, as SKIPPED."
        )
    )
    total_cleared: int = strawberry.field(
        description="Entries cleared in all (or that would be, in a dry run)."
    )
    cache_type: CacheType = strawberry.field(description="The kind asked for (ALL for clearAll).")
    failed_items: list[str] = strawberry.field(
        description="What could not be cleared, with the error code and why (empty when none)."
    )
    items: list[CacheItem] = strawberry.field(description="Every item, with its status.")
    dry_run: bool = strawberry.field(description="True when nothing was touched.")
    workers_answered: int | None = strawberry.field(
        description=(
            "Server processes that cleared their own MEMORY caches and database pool, this one "
            "included; null when neither MEMORY nor DATABASE was asked for."
        )
    )
    duration_seconds: float = strawberry.field(description="How long the clear took, in seconds.")
    cache_log: CacheLog | None = strawberry.field(
        description="The CacheLog entry written (null only when the database could not be reached)."
    )

    @classmethod
    def of(cls, outcome: ClearOutcome) -> ClearCachePayload:
        return cls(
            message=outcome.message,
            cleared_items=outcome.cleared_labels,
            total_cleared=outcome.total_cleared,
            cache_type=outcome.request.cache_type,
            failed_items=outcome.failed_labels,
            items=[CacheItem.of(item) for item in outcome.items],
            dry_run=outcome.request.dry_run,
            workers_answered=outcome.workers_answered,
            duration_seconds=outcome.duration_ms / 1000,
            cache_log=CacheLog.of(outcome.log) if outcome.log is not None else None,
        )


@strawberry.type(description="Clearing caches.")
class CacheMutation:
    @strawberry.mutation(
        permission_classes=ADMIN,
        description=(
            "Clear the caches asked for, in every server process, and log it as a CacheLog. "
            "Redis is cleared by prefix (SCAN + UNLINK), never FLUSHDB; file clearing never "
            "follows a symlink. A backend that is down fails its own items only; the error "
            "BACKEND_UNAVAILABLE comes when every one asked for was down."
        ),
    )
    async def clear_cache(
        self,
        info: Info,
        input: Annotated[ClearCacheInput, strawberry.argument(description="What to clear.")],
    ) -> ClearCachePayload:
        principal = info.context.principal
        assert principal is not None  # IsAdmin has let it through
        outcome = await info.context.resources.caches.clear(
            clear_request(input), actor_id=principal.actor_id
        )
        if outcome.everything_unavailable:
            logged = f" Logged as CacheLog {outcome.log.id}." if outcome.log is not None else ""
            raise BackendUnavailable(
                f"Nothing cleared: {'; '.join(outcome.failed_labels)}.{logged} "
                "Retry once it is back (/readyz shows which)."
            )
        return ClearCachePayload.of(outcome)
