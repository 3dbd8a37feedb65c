"""Fixtures for clearing caches: a Redis client on the shared private server, a namespace per
test (so tests sharing that server never see each other's keys), and settings using both."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from server.auth.keys import resolve_token_keys
from server.cache.keys import escape_glob
from server.resources import Resources, open_resources
from server.settings import Settings
from tests.support.app import make_settings
from tests.support.redis import RedisServer
from tests.support.waiting import wait_until


@pytest.fixture
def namespace() -> str:
    """A prefix of this test's own: every Redis key and channel of the test starts with it."""
    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


# A Redis database no other test writes to: see table_at_rest.
QUIET_DB = 9


@pytest.fixture
async def quiet_redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A client on QUIET_DB, where only the one test that uses it has keys."""
    client = Redis.from_url(redis_server.url, db=QUIET_DB)
    yield client
    await client.aclose()


def cache_settings(
    tmp_path: Path, namespace: str, redis_url: str | None, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "cache_redis_prefix": [f"{namespace}cache:"],
        "session_redis_prefix": [f"{namespace}sess:"],
        "cache_broadcast_channel": f"{namespace}caches",
    }
    values.update(overrides)
    return make_settings(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", tmp_path, **values)


async def put_keys(redis: Redis, names: Iterable[str], batch: int = 5000) -> int:
    """SET every name (pipelined MSETs), return how many."""
    count = 0
    chunk: dict[str, bytes] = {}
    pipe = redis.pipeline(transaction=False)
    for name in names:
        chunk[name] = b"v"
        count += 1
        if len(chunk) == batch:
            pipe.mset(chunk)
            chunk = {}
            if len(pipe) >= 20:
                await pipe.execute()
    if chunk:
        pipe.mset(chunk)
    await pipe.execute()
    return count


async def keys_under(redis: Redis, prefix: str) -> set[str]:
    found: set[str] = set()
    async for key in redis.scan_iter(match=escape_glob(prefix) + "*", count=1000):
        found.add(key.decode())
    return found


async def table_at_rest(redis: Redis, db: int = 0) -> None:
    """Until Redis has finished resizing database `db`'s key table. While it resizes, SCAN may
    return a key twice and a dry run overcounts (server/cache/redis_keys.py and docs/caches.md
    say so): an exact count wants a table at rest. In database 0, shared by many tests, Redis
    may start shrinking the table at any moment after other tests removed their keys, also
    after this returned: an exact count belongs on QUIET_DB, whose table only grows, with the
    one test's keys, and rests once they are in."""

    async def at_rest() -> bool | None:
        stats = await redis.execute_command("DEBUG", "HTSTATS", str(db))  # type: ignore[no-untyped-call]
        text = stats.decode() if isinstance(stats, bytes) else str(stats)
        return None if "rehashing" in text else True

    await wait_until(at_rest, 60, interval=0.01, what="Redis to finish resizing its key table")


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Resources]:
    """The resources the lifespan builds (caches included), without the HTTP layer."""
    resources = await open_resources(settings, resolve_token_keys(settings))
    try:
        yield resources
    finally:
        await resources.close()
