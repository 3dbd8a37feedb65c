"""MEMORY: every registered in-process cache, in every server process (over real Redis)."""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from server.cache.request import build_request
from server.cache.results import ItemStatus
from server.cache.service import CacheService
from server.db.enums import CacheType
from server.errors import ErrorCode
from server.system.users import UserDirectory
from tests.cache.conftest import cache_settings, opened
from tests.support.app import make_settings, open_api
from tests.support.redis import RedisServer


async def test_memory_empties_the_graphql_caches_and_the_user_table_shape(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path)
    async with open_api(settings) as api:
        await api.query("{ backups { items { id creator { name } } } me { subject } }")
        caches = api.resources.caches
        sizes = {cache.name: cache.size() for cache in caches.registry}
        assert sizes["GraphQL parser cache"] and sizes["GraphQL validation cache"]

        outcome = await caches.clear(build_request(cache_type=CacheType.MEMORY), actor_id=1)

        after = {cache.name: cache.size() for cache in caches.registry}
        assert after["GraphQL parser cache"] == after["GraphQL validation cache"] == 0
        assert after["Compiled SQL cache"] == 0
        assert api.resources.users._shape is None
        cleared = {item.name.split(" in worker")[0]: item.count for item in outcome.items}
        assert cleared["GraphQL parser cache"] == sizes["GraphQL parser cache"]
        assert outcome.workers_answered == 1


async def test_the_in_memory_stand_in_for_redis_is_cleared_by_key_or_whole(
    tmp_path: Path, namespace: str
) -> None:
    async with opened(cache_settings(tmp_path, namespace, None)) as resources:
        caches = resources.caches
        store = caches.local_store
        assert store is not None
        for key in ("user:1", "user:2", "report[1]", "report1"):
            store.set(key, "v")

        one = await caches.clear(
            build_request(cache_type=CacheType.MEMORY, specific_keys=["report[1]"]), actor_id=1
        )
        assert sorted(store.keys()) == ["report1", "user:1", "user:2"]
        redis_asked = await caches.clear(build_request(cache_type=CacheType.REDIS), actor_id=1)
        assert store.size() == 3
        everything = await caches.clear(build_request(cache_type=CacheType.MEMORY), actor_id=1)
        assert store.size() == 0

    # Only the keyed cache is looked at when keys are given; the LRUs are left alone.
    assert [(i.name.split(" in worker")[0], i.count) for i in one.items if i.count is not None] == [
        ("In-memory cache (stands in for Redis) keys report[1]", 1)
    ]
    [redis_item] = redis_asked.items
    assert redis_item.status is ItemStatus.SKIPPED
    assert "Redis is not configured" in (redis_item.detail or "")
    assert everything.total_cleared >= 3


async def test_two_workers_sharing_redis_each_clear_their_own_on_one_request(
    redis_server: RedisServer, tmp_path: Path, namespace: str
) -> None:
    settings = cache_settings(tmp_path, namespace, redis_server.url)
    async with opened(settings) as resources:
        first = resources.caches
        # A second process's service, as the broadcast sees it: its own registry and name.
        second = CacheService(
            settings,
            engine=resources.engine,
            sessions=resources.sessions,
            users=UserDirectory(settings.user_table),
            redis=resources.redis,
            worker="second@test",
        )
        await second.start()
        marks: list[str] = []
        try:
            for caches in (first, second):
                mark = functools.partial(marks.append, caches.worker)
                caches.registry.register_function("Marker cache", mark, lambda: 1)
                assert caches.broadcast is not None
                await asyncio.wait_for(caches.broadcast.listening.wait(), 5)

            outcome = await first.clear(build_request(cache_type=CacheType.ALL), actor_id=1)
        finally:
            await second.close()

    assert sorted(marks) == sorted([first.worker, "second@test"])
    assert outcome.workers_answered == 2
    pools = [item.name for item in outcome.items if item.name.startswith("Database connection")]
    assert pools == [
        f"Database connection pool in worker {first.worker}",
        "Database connection pool in worker second@test",
    ]
    assert outcome.failures == []


async def test_a_process_that_never_answers_is_reported_not_hidden(
    redis: Redis, redis_server: RedisServer, tmp_path: Path, namespace: str
) -> None:
    settings = cache_settings(
        tmp_path, namespace, redis_server.url, cache_broadcast_timeout_seconds=0.5
    )
    deaf = redis.pubsub()
    await deaf.subscribe(settings.cache_broadcast_channel)  # gets the order, never answers
    try:
        async with opened(settings) as resources:
            await asyncio.wait_for(resources.caches.broadcast.listening.wait(), 5)  # type: ignore[union-attr]
            outcome = await resources.caches.clear(
                build_request(cache_type=CacheType.MEMORY), actor_id=1
            )
    finally:
        await deaf.aclose()  # type: ignore[no-untyped-call]  # redis-py 8.1: PubSub.aclose is unannotated

    [failure] = outcome.failures
    assert failure.code is ErrorCode.BACKEND_UNAVAILABLE
    assert failure.detail is not None and failure.detail.startswith("1 of 2 did not answer")
    assert outcome.workers_answered == 1
    assert outcome.message.startswith("Cache partly cleared")


async def test_the_listener_comes_back_after_redis_restarts(tmp_path: Path, namespace: str) -> None:
    server = RedisServer().start()
    try:
        settings = cache_settings(tmp_path, namespace, server.url)
        async with opened(settings) as resources:
            broadcast = resources.caches.broadcast
            assert broadcast is not None
            await asyncio.wait_for(broadcast.listening.wait(), 5)
            server.restart()
            reply = await order_from_outside(
                server.url, settings.cache_broadcast_channel, namespace
            )
        assert reply["worker"] == resources.caches.worker
        assert [item["name"].split(" in worker")[0] for item in reply["items"]] == [
            "User table shape",
            "Compiled SQL cache",
        ]
    finally:
        server.cleanup()


async def order_from_outside(url: str, channel: str, namespace: str) -> dict[str, Any]:
    """Publish a MEMORY order as another process would, until a listener takes it (10 s)."""
    order = {
        "id": "outside",
        "reply_to": f"{namespace}reply",
        "origin": "another@process",
        "order": {"memory": True, "pool": False},
    }
    client = Redis.from_url(url)
    replies = client.pubsub(ignore_subscribe_messages=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    try:
        await replies.subscribe(f"{namespace}reply")
        while loop.time() < deadline:
            # An order sent while the listener reconnects is lost (pub/sub keeps nothing):
            # the requester would count it as unanswered. Send again until one is taken.
            if await client.publish(channel, json.dumps(order)) == 1:
                answer = loop.time() + 1
                while loop.time() < answer:
                    message = await replies.get_message(ignore_subscribe_messages=True, timeout=0.2)
                    if message is not None:
                        reply: dict[str, Any] = json.loads(message["data"])
                        return reply
            await asyncio.sleep(0.1)
        raise AssertionError("no listener answered within 10 s")
    finally:
        await replies.aclose()  # type: ignore[no-untyped-call]  # as above
        await client.aclose()
