"""REDIS and SESSION keys on a real Redis: only what is under the prefix goes, exactly as asked."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from server.cache.keys import KeyMatch, KeySelection
from server.cache.redis_keys import RedisKeyClearer
from server.cache.request import build_request
from server.cache.results import ItemStatus
from server.db.enums import CacheType
from tests.cache.conftest import (
    QUIET_DB,
    cache_settings,
    keys_under,
    opened,
    put_keys,
    table_at_rest,
)
from tests.support.redis import RedisServer


async def command_calls(redis: Redis, *commands: str) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in commands}


async def test_only_the_application_prefix_goes_among_100000_keys(
    redis: Redis, redis_server: RedisServer, namespace: str, tmp_path: Path
) -> None:
    prefix = f"{namespace}cache:"
    await put_keys(redis, (f"{prefix}item:{n}" for n in range(100_000)))
    outside = {
        f"{namespace}sess:abc",  # the session prefix
        f"{namespace}other:1",
        f"{namespace}cache",  # the prefix without its colon
        f"{namespace}CACHE:1",  # prefixes are case-sensitive
        f"x{namespace}cache:1",  # the prefix, but not at the start
    }
    await put_keys(redis, outside)
    before = await command_calls(redis, "flushdb", "flushall", "keys")

    settings = cache_settings(tmp_path, namespace, redis_server.url)
    async with opened(settings) as resources:
        outcome = await resources.caches.clear(
            build_request(cache_type=CacheType.REDIS), actor_id=1
        )

    assert [item.label for item in outcome.items] == [f"Redis keys {prefix}* (100000)"]
    assert outcome.total_cleared == 100_000
    assert await keys_under(redis, prefix) == set()
    assert await keys_under(redis, namespace) | await keys_under(redis, "x" + namespace) == outside
    # A FLUSHDB would have taken the keys outside with it; nor may KEYS ever block Redis.
    assert await command_calls(redis, "flushdb", "flushall", "keys") == before


async def test_exact_keys_with_glob_metacharacters_clear_only_themselves(
    redis: Redis, namespace: str
) -> None:
    prefix = f"{namespace}cache:"
    names = ["a*", "ab", "a?", "ax", "[x]", "x", "back\\slash", "backslash", "r[1]", "r1"]
    await put_keys(redis, (prefix + name for name in names))
    chosen = ("a*", "a?", "[x]", "back\\slash", "r[1]", "not-there")

    clearer = RedisKeyClearer(redis)
    removed = await clearer.clear(prefix, KeySelection(chosen, KeyMatch.EXACT), dry_run=False)

    assert removed == 5
    assert await keys_under(redis, prefix) == {
        prefix + n for n in ("ab", "ax", "x", "backslash", "r1")
    }


async def test_glob_patterns_apply_within_the_prefix(redis: Redis, namespace: str) -> None:
    prefix = f"{namespace}cache:"
    await put_keys(
        redis,
        [
            *(f"{prefix}user:{n}" for n in range(50)),
            f"{prefix}users",
            f"{prefix}report:2024",
            f"{namespace}other:user:1",
            f"{namespace}sess:user:1",
        ],
    )
    selection = KeySelection(("user:*", "report:20[0-9][0-9]"), KeyMatch.GLOB)

    removed = await RedisKeyClearer(redis).clear(prefix, selection, dry_run=False)

    assert removed == 51
    assert await keys_under(redis, namespace) == {
        f"{prefix}users",
        f"{namespace}other:user:1",
        f"{namespace}sess:user:1",
    }


async def test_a_prefix_with_metacharacters_is_taken_literally(
    redis: Redis, namespace: str
) -> None:
    prefix = f"{namespace}c[a]che*:"
    await put_keys(
        redis, [f"{prefix}1", f"{prefix}2", f"{namespace}cache:1", f"{namespace}c[a]chex:1"]
    )

    removed = await RedisKeyClearer(redis).clear(prefix, KeySelection(), dry_run=False)

    assert removed == 2
    assert await keys_under(redis, namespace) == {f"{namespace}cache:1", f"{namespace}c[a]chex:1"}


async def test_a_dry_run_counts_without_removing(quiet_redis: Redis, namespace: str) -> None:
    redis = quiet_redis  # exact counts: a key table that no other test makes resize
    prefix = f"{namespace}cache:"
    await put_keys(redis, (f"{prefix}user:{n}" for n in range(2500)))
    await table_at_rest(redis, QUIET_DB)
    clearer = RedisKeyClearer(redis, batch=100)

    everything = await clearer.clear(prefix, KeySelection(), dry_run=True)
    overlapping = await clearer.clear(
        prefix, KeySelection(("user:*", "user:1*"), KeyMatch.GLOB), dry_run=True
    )
    exact = await clearer.clear(
        prefix, KeySelection(("user:1", "user:1", "nope"), KeyMatch.EXACT), dry_run=True
    )

    assert (everything, overlapping, exact) == (2500, 2500, 1)
    assert len(await keys_under(redis, prefix)) == 2500


async def test_session_clears_the_session_prefix_and_nothing_else(
    redis: Redis, redis_server: RedisServer, namespace: str, tmp_path: Path
) -> None:
    await put_keys(redis, [f"{namespace}sess:{n}" for n in range(30)] + [f"{namespace}cache:1"])
    settings = cache_settings(tmp_path, namespace, redis_server.url)
    async with opened(settings) as resources:
        one = await resources.caches.clear(
            build_request(cache_type=CacheType.SESSION, specific_keys=["7"]), actor_id=1
        )
        rest = await resources.caches.clear(build_request(cache_type=CacheType.SESSION), actor_id=1)

    assert one.total_cleared == 1
    assert f"Session keys {namespace}sess:7 (exact) (1)" in one.cleared_labels
    assert rest.total_cleared == 29
    redis_item = next(item for item in rest.items if item.name.startswith("Session keys"))
    assert redis_item.status is ItemStatus.CLEARED
    assert await keys_under(redis, namespace) == {f"{namespace}cache:1"}
