"""One backend down: the others are still cleared, and the result and the log say which failed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from redis.asyncio import Redis

from server.cache.request import build_request
from server.cache.results import ItemStatus
from server.db.enums import CacheType
from server.errors import ErrorCode
from tests.cache.conftest import cache_settings, opened, put_keys
from tests.support.redis import RedisServer
from tests.support.waiting import wait_until

KEYS = 200_000


async def test_redis_stopped_mid_clear_leaves_the_rest_cleared_and_logged(
    tmp_path: Path, namespace: str
) -> None:
    server = RedisServer().start()
    try:
        uploads = tmp_path / "uploads"
        uploads.mkdir()
        for n in range(20):
            (uploads / f"{n}.bin").write_bytes(b"x")
        settings = cache_settings(
            tmp_path,
            namespace,
            server.url,
            file_cache_dirs=[str(uploads)],
            cache_batch_size=100,  # many small round trips: the clear is surely under way
        )
        watcher = Redis.from_url(server.url)
        await put_keys(watcher, (f"{namespace}cache:{n}" for n in range(KEYS)))
        async with opened(settings) as resources:
            clearing = asyncio.create_task(
                resources.caches.clear(
                    build_request(cache_type=CacheType.ALL, description="mid-clear"), actor_id=2
                )
            )

            async def under_way() -> bool | None:
                return True if await watcher.dbsize() <= KEYS - 5000 else None

            await wait_until(under_way, 60, interval=0.002, what="5000 keys to be cleared")
            server.stop()
            await watcher.aclose()
            outcome = await asyncio.wait_for(clearing, 60)
    finally:
        server.cleanup()

    by_name = {item.name: item for item in outcome.items}
    redis_keys = by_name[f"Redis keys {namespace}cache:*"]
    assert (redis_keys.status, redis_keys.code) == (
        ItemStatus.FAILED,
        ErrorCode.BACKEND_UNAVAILABLE,
    )
    assert redis_keys.count is not None and 5000 <= redis_keys.count < KEYS
    assert f"{redis_keys.count} keys were removed before it failed" in (redis_keys.detail or "")
    # The files and this process's own caches did not wait for Redis.
    assert by_name[f"Files in {uploads}"].status is ItemStatus.CLEARED
    assert list(uploads.iterdir()) == []
    pool = next(item for item in outcome.items if item.name.startswith("Database connection"))
    assert pool.status is ItemStatus.CLEARED
    memory = [item for item in outcome.items if item.cache_type is CacheType.MEMORY]
    assert memory and all(item.status is ItemStatus.CLEARED for item in memory)
    assert outcome.message.startswith("Cache partly cleared")
    assert not outcome.everything_unavailable

    log = outcome.log
    assert log is not None and (log.cache_type, log.cleared_by) == (CacheType.ALL, 2)
    assert any(
        label.startswith(f"Redis keys {namespace}cache:* ({redis_keys.count}): BACKEND_UNAVAILABLE")
        for label in log.failed_items
    )
    assert f"Files in {uploads} (20): 20 B" in log.cleared_items
    assert log.total_cleared == outcome.total_cleared


async def test_with_redis_down_from_the_start_every_redis_item_fails_and_says_so(
    tmp_path: Path, namespace: str
) -> None:
    server = RedisServer().start()
    try:
        settings = cache_settings(tmp_path, namespace, server.url)
        async with opened(settings) as resources:
            server.stop()
            outcome = await resources.caches.clear(
                build_request(cache_type=CacheType.REDIS), actor_id=1
            )
    finally:
        server.cleanup()

    [item] = outcome.items
    assert (item.status, item.code, item.count) == (
        ItemStatus.FAILED,
        ErrorCode.BACKEND_UNAVAILABLE,
        0,
    )
    assert outcome.everything_unavailable
    assert outcome.message.startswith("Nothing cleared")
    assert outcome.log is not None and outcome.log.failed_items == [item.label]
