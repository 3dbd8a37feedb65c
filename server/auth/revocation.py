"""Revoked tokens: a deny-list of `jti` claims in Redis, shared by every server process.

A revoked `jti` is kept as `lumbung:revoked-jti:<jti>` for as long as the token could still be
accepted (its remaining lifetime plus the leeway), then Redis forgets it by itself. The list
has its own Redis client, which gives up within about two seconds: an unreachable list must
turn the request away quickly (fail closed), not hold it through redis-py's default retries.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from server.errors import BackendUnavailable
from server.settings import OWN_REDIS_PREFIX

KEY_PREFIX = f"{OWN_REDIS_PREFIX}revoked-jti:"
TIMEOUT_SECONDS = 2.0
UNREACHABLE_MESSAGE = (
    "Tokens cannot be checked against the revocation list: Redis is unreachable "
    "(/readyz shows it). Try again once it is back."
)


class RevocationList:
    def __init__(self, redis: Redis, *, leeway_seconds: int) -> None:
        self._redis = redis
        self._leeway = leeway_seconds

    @classmethod
    def connect(cls, url: str, *, leeway_seconds: int) -> RevocationList:
        # One retry, at once: enough to replace a pooled connection that Redis dropped when
        # it restarted, never a wait. The URL (with its password) stays inside redis-py.
        redis = Redis.from_url(
            url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 1),
        )
        return cls(redis, leeway_seconds=leeway_seconds)

    async def is_revoked(self, jti: str) -> bool:
        """Whether `jti` is on the list; BackendUnavailable when the list cannot be read."""
        try:
            return bool(await self._redis.exists(KEY_PREFIX + jti))
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(UNREACHABLE_MESSAGE) from exc

    async def revoke(self, jti: str, *, expires_at: datetime) -> datetime | None:
        """Put `jti` on the list until the token it names could no longer be accepted anyway.
        Returns when the entry expires, or None when the token has expired already."""
        now = datetime.now(UTC)
        remaining = (expires_at - now).total_seconds() + self._leeway
        if remaining <= 0:
            return None
        seconds = math.ceil(remaining)
        try:
            # The value is only for a human looking at Redis: when it was revoked.
            await self._redis.set(KEY_PREFIX + jti, now.isoformat(timespec="seconds"), ex=seconds)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(UNREACHABLE_MESSAGE) from exc
        return now + timedelta(seconds=seconds)

    async def close(self) -> None:
        await self._redis.aclose()
