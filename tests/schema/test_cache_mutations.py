"""clearCache and cacheLogs through the ASGI app, on SQLite and MariaDB, with and without Redis;
and two real server processes answering one request."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from tests.cache.conftest import keys_under, put_keys
from tests.support.app import Api, make_settings, open_api
from tests.support.graphql import post_blocking
from tests.support.lumbung import LumbungServer
from tests.support.redis import RedisServer
from tests.support.tokens import JWT_SECRET
from tests.support.waiting import wait_until_sync

CLEAR = """
mutation ($input: ClearCacheInput!) {
  clearCache(input: $input) {
    message clearedItems totalCleared cacheType failedItems dryRun workersAnswered
    items { cacheType name status count detail errorCode }
    cacheLog { id cacheType clearedItems totalCleared failedItems dryRun description
               clearedBy durationSeconds createdAt clearer { name } }
  }
}
"""


async def clear(api: Api, **fields: Any) -> dict[str, Any]:
    data = await api.query(CLEAR, {"input": fields})
    result: dict[str, Any] = data["clearCache"]
    return result


async def test_clear_cache_answers_the_seeds_shape_and_logs_who_and_how_long(api: Api) -> None:
    result = await clear(api, cacheType="DATABASE", description="after the import")

    assert result["message"].startswith("Cache cleared successfully")
    assert result["cacheType"] == "DATABASE"
    assert result["failedItems"] == []
    assert result["clearedItems"][0].startswith("Database connection pool in worker ")
    engine = api.resources.engine.dialect.name
    expected = "SQLite has no query cache" if engine == "sqlite" else "the query cache is off"
    [query_cache] = [item for item in result["items"] if item["name"] == "Database query cache"]
    assert (query_cache["status"], expected in query_cache["detail"]) == ("SKIPPED", True)
    log = result["cacheLog"]
    assert (log["cacheType"], log["description"], log["clearedBy"]) == (
        "DATABASE",
        "after the import",
        1,
    )
    assert log["clearer"] == {"name": "Admin Lumbung"}
    assert log["clearedItems"] == result["clearedItems"]
    assert log["durationSeconds"] is not None

    listed = await api.query("{ cacheLogs(cacheType: DATABASE) { total items { id dryRun } } }")
    assert listed["cacheLogs"] == {"total": 1, "items": [{"id": log["id"], "dryRun": False}]}


def label(item: dict[str, Any]) -> str:
    """An item as clearedItems words it: its name, its count, its detail."""
    count = "" if item["count"] is None else f" ({item['count']})"
    return str(item["name"]) + count + (f": {item['detail']}" if item["detail"] else "")


async def test_cleared_items_lists_what_was_cleared_and_nothing_skipped(api: Api) -> None:
    result = await clear(api, clearAll=True)

    skipped = [item for item in result["items"] if item["status"] == "SKIPPED"]
    assert {item["cacheType"] for item in skipped} >= {"SESSION", "FILE", "REDIS"}
    cleared = [item for item in result["items"] if item["status"] == "CLEARED"]
    assert result["clearedItems"] == [label(item) for item in cleared]
    assert not any("not configured" in text for text in result["clearedItems"])
    assert result["cacheLog"]["clearedItems"] == result["clearedItems"]


async def test_a_dry_run_says_what_would_happen_not_what_was_cleared(api: Api) -> None:
    result = await clear(api, clearAll=True, dryRun=True)

    would = [item for item in result["items"] if item["status"] == "WOULD_CLEAR"]
    assert would and result["clearedItems"] == [label(item) for item in would]
    assert result["message"] == (
        f"Dry run: {result['totalCleared']} items would be cleared; nothing was touched."
    )
    [others] = [item for item in result["items"] if item["name"] == "Other server processes"]
    assert others["detail"] == (
        "Redis is not configured (LUMBUNG_REDIS_URL is unset), so only this process would be "
        "cleared; with several workers, configure Redis so that each clears its own"
    )
    told = [result["message"], *(item["detail"] or "" for item in result["items"])]
    assert not [text for text in told if " was cleared" in text or " were cleared" in text]


async def test_clear_all_is_every_kind_and_says_what_is_not_configured(api: Api) -> None:
    result = await clear(api, clearAll=True)

    assert result["cacheType"] == "ALL"
    kinds = {item["cacheType"] for item in result["items"]}
    assert kinds == {"MEMORY", "DATABASE", "SESSION", "FILE", "REDIS"}
    [redis_item] = [item for item in result["items"] if item["cacheType"] == "REDIS"]
    assert redis_item["status"] == "SKIPPED"
    assert "Redis is not configured" in redis_item["detail"]
    assert result["workersAnswered"] == 1


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({}, "Say what to clear"),
        ({"clearAll": True, "cacheType": "REDIS"}, "clearAll clears every cache type"),
        ({"cacheType": "FILE", "specificKeys": ["a"]}, "FILE holds no keys"),
        ({"cacheType": "REDIS", "description": "x" * 192}, "keep it to 191"),
        ({"cacheType": "REDIS", "specificKeys": [""]}, "empty key"),
        ({"cacheType": "MEMORY", "olderThanMinutes": 5}, "applies to files"),
    ],
)
async def test_a_request_that_cannot_work_is_bad_user_input(
    api: Api, fields: dict[str, Any], says: str
) -> None:
    error = await api.error(CLEAR, {"input": fields})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert says in error["message"]
    assert (await api.query("{ cacheLogs { total } }"))["cacheLogs"]["total"] == 0


async def test_only_admins_may_clear(api: Api) -> None:
    response = await api.post(
        CLEAR, {"input": {"clearAll": True}}, token=api.token(roles=["editor"])
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_dry_run_touches_nothing_and_is_logged_as_one(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    namespace = f"t{uuid.uuid4().hex[:10]}:"
    redis = Redis.from_url(redis_server.url)
    await put_keys(redis, (f"{namespace}cache:{n}" for n in range(120)))
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        tmp_path,
        redis_url=redis_server.url,
        cache_redis_prefix=[f"{namespace}cache:"],
        session_redis_prefix=[f"{namespace}sess:"],
        cache_broadcast_channel=f"{namespace}caches",
    )
    async with open_api(settings) as api:
        result = await clear(api, cacheType="REDIS", dryRun=True)
        gone = await clear(api, cacheType="REDIS", specificKeys=["1*", "2?"], keyMatch="GLOB")

    assert result["message"] == "Dry run: 120 items would be cleared; nothing was touched."
    assert result["items"][0]["status"] == "WOULD_CLEAR"
    assert result["cacheLog"]["dryRun"] is True
    assert gone["totalCleared"] == 1 + 10 + 20 + 10  # 1, 1x, 1xx, 2x
    assert len(await keys_under(redis, f"{namespace}cache:")) == 120 - 41
    await redis.aclose()


async def test_redis_alone_and_down_is_backend_unavailable_yet_logged(tmp_path: Path) -> None:
    server = RedisServer().start()
    try:
        settings = make_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
            tmp_path,
            redis_url=server.url,
            # With the revocation list in the stopped Redis, the token gate would turn the
            # request away before clearCache could show how it handles Redis being down.
            jwt_revocation=False,
        )
        async with open_api(settings) as api:
            server.stop()
            error = await api.error(CLEAR, {"input": {"cacheType": "REDIS"}})
            logs = await api.query("{ cacheLogs { items { cacheType failedItems } } }")
    finally:
        server.cleanup()

    assert error["extensions"]["code"] == "BACKEND_UNAVAILABLE"
    assert error["message"].startswith(
        "Nothing cleared: Redis keys cache:* (0): BACKEND_UNAVAILABLE"
    )
    assert "Logged as CacheLog" in error["message"]
    [row] = logs["cacheLogs"]["items"]
    assert row["cacheType"] == "REDIS"
    assert row["failedItems"][0].startswith("Redis keys cache:* (0): BACKEND_UNAVAILABLE")


# --- two real server processes, one Redis, one SQLite file -------------------------------------


@pytest.fixture
def two_servers(redis_server: RedisServer, tmp_path: Path) -> Iterator[list[str]]:
    channel = f"two-{uuid.uuid4().hex[:8]}"
    env = {
        "LUMBUNG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        "LUMBUNG_REDIS_URL": redis_server.url,
        "LUMBUNG_JWT_SECRET": JWT_SECRET,
        "LUMBUNG_CACHE_BROADCAST_CHANNEL": channel,
        "LUMBUNG_LOG_LEVEL": "WARNING",
    }
    servers = [LumbungServer(tmp_path, env, ready_path="/readyz") for _ in range(2)]
    # The first one creates the catalog alone: two migrations at once would race.
    servers[0].run_cli("migrate")
    try:
        for server in servers:
            server.start()
        client = SyncRedis.from_url(redis_server.url)
        try:
            wait_until_sync(
                lambda: True if client.pubsub_numsub(channel)[0][1] >= 2 else None,
                30,
                what="both servers' cache listeners to subscribe",
            )
        finally:
            client.close()
        yield [server.base for server in servers]
    finally:
        for server in servers:
            server.stop()


def test_two_server_processes_both_clear_their_memory_on_one_request(
    two_servers: list[str],
) -> None:
    token = token_for("1")
    first, second = two_servers
    post_blocking(second, token, "{ me { subject } backups { total } }")  # something for its caches

    body = post_blocking(
        first,
        token,
        "mutation { clearCache(input: {cacheType: MEMORY}) { workersAnswered failedItems "
        "items { name status count } } }",
    )
    pool_body = post_blocking(
        first,
        token,
        "mutation { clearCache(input: {cacheType: DATABASE}) { workersAnswered "
        "items { name status } } }",
    )

    assert "errors" not in body, body
    result = body["data"]["clearCache"]
    assert result["workersAnswered"] == 2
    assert result["failedItems"] == []
    workers = {item["name"].split(" in worker ")[1] for item in result["items"]}
    assert len(workers) == 2
    parser = [i for i in result["items"] if i["name"].startswith("GraphQL parser cache")]
    assert len(parser) == 2 and all(item["count"] >= 1 for item in parser)
    pools = [
        item
        for item in pool_body["data"]["clearCache"]["items"]
        if item["name"].startswith("Database connection pool")
    ]
    assert len(pools) == 2 and {item["status"] for item in pools} == {"CLEARED"}
    assert pool_body["data"]["clearCache"]["workersAnswered"] == 2


def token_for(subject: str) -> str:
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": "admin",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")
