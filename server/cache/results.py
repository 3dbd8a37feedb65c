"""What one clear did, item by item: cleared, would clear (dry run), skipped, or failed.

An item is one thing with a name an admin recognises: "Redis keys cache:*", "Files in
/var/cache/app", "Database connection pool in worker 4242@web-1". The CacheLog row keeps the
labels; the GraphQL result keeps the items themselves.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any

from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from server.db.enums import CacheType
from server.errors import ErrorCode

log = logging.getLogger("lumbung.cache")


class ItemStatus(enum.Enum):
    CLEARED = "cleared"
    WOULD_CLEAR = "would_clear"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class ItemResult:
    cache_type: CacheType
    name: str
    status: ItemStatus
    count: int | None = None
    detail: str | None = None
    code: ErrorCode | None = None

    @property
    def label(self) -> str:
        """The CacheLog's wording: `Redis keys cache:* (1234)`, or why nothing happened."""
        count = "" if self.count is None else f" ({self.count})"
        if self.status is ItemStatus.FAILED:
            code = self.code.value if self.code else ErrorCode.INTERNAL.value
            return f"{self.name}{count}: {code} - {self.detail or 'failed'}"
        if self.status is ItemStatus.SKIPPED:
            return f"{self.name}: {self.detail or 'skipped'}"
        return f"{self.name}{count}" + (f": {self.detail}" if self.detail else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "cache_type": self.cache_type.value,
            "name": self.name,
            "status": self.status.value,
            "count": self.count,
            "detail": self.detail,
            "code": self.code.value if self.code else None,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ItemResult:
        return cls(
            cache_type=CacheType(value["cache_type"]),
            name=str(value["name"]),
            status=ItemStatus(value["status"]),
            count=None if value.get("count") is None else int(value["count"]),
            detail=value.get("detail"),
            code=ErrorCode(value["code"]) if value.get("code") else None,
        )


def done(cache_type: CacheType, name: str, count: int | None, *, dry_run: bool) -> ItemResult:
    status = ItemStatus.WOULD_CLEAR if dry_run else ItemStatus.CLEARED
    return ItemResult(cache_type, name, status, count)


def skipped(cache_type: CacheType, name: str, why: str) -> ItemResult:
    return ItemResult(cache_type, name, ItemStatus.SKIPPED, detail=why)


def failed(
    cache_type: CacheType,
    name: str,
    why: str,
    code: ErrorCode = ErrorCode.BACKEND_UNAVAILABLE,
    *,
    count: int | None = None,
) -> ItemResult:
    return ItemResult(cache_type, name, ItemStatus.FAILED, count, why, code)


def failure(cache_type: CacheType, name: str, exc: BaseException) -> ItemResult:
    """An item that raised, worded for an admin: never the driver's text (it may name hosts)."""
    if isinstance(exc, AuthenticationError):
        return failed(cache_type, name, "Redis refused Lumbung's credentials", ErrorCode.FORBIDDEN)
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | ConnectionError | TimeoutError):
        why = f"Redis is unreachable ({type(exc).__name__}); check that it runs."
        return failed(cache_type, name, why)
    if isinstance(exc, ResponseError):
        # The reply's first word is Redis's error code (NOPERM, READONLY, ...): no secrets.
        word = str(exc).split(" ", 1)[0][:20]
        code = ErrorCode.FORBIDDEN if word in ("NOPERM", "NOAUTH") else ErrorCode.INTERNAL
        return failed(cache_type, name, f"Redis refused the command ({word})", code)
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        why = f"The database is unreachable ({type(exc).__name__})."
        return failed(cache_type, name, why)
    if isinstance(exc, PermissionError):
        return failed(cache_type, name, "permission denied", ErrorCode.FORBIDDEN)
    log.error("clearing %s failed", name, exc_info=exc, extra={"event": "cache.item_failed"})
    why = f"unexpected {type(exc).__name__}; see the server log"
    return failed(cache_type, name, why, ErrorCode.INTERNAL)
