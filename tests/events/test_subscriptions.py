"""Live progress over graphql-transport-ws, on real server processes sharing real Redis."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.lumbung import LumbungServer, post, start_server
from tests.support.redis import RedisServer
from tests.support.tokens import JWT_SECRET, auth, token
from tests.support.websocket import graphql_socket

BACKUP_PROGRESS = """subscription ($id: Int!) { backupProgress(id: $id) {
  jobId sequence status phase percent bytesDone bytesTotal tablesDone tablesTotal currentTable
  elapsedSeconds etaSeconds message } }"""
RESTORE_PROGRESS = """subscription ($id: Int!) { restoreProgress(id: $id) {
  sequence status phase message } }"""
CREATE = "mutation { createBackup(input: {backupType: FULL}) { backup { id filename } } }"


def _grow(database: Path, rows: int) -> None:
    """Enough messages that a backup at zstd level 12 takes a few seconds to watch."""
    with sqlite3.connect(database) as connection:
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO Message (userId, content, createdAt) "
            "SELECT 2, hex(randomblob(60)) || ' pesan nomor ' || i, '2024-01-02 08:00:00' FROM n",
            (rows,),
        )


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, redis: RedisServer
) -> Iterator[list[LumbungServer]]:
    """Two server processes on one SQLite database and one Redis (shared by this module)."""
    tmp_path = tmp_path_factory.mktemp("cluster")
    env = {
        "LUMBUNG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        "LUMBUNG_DEMO_DATA": "true",
        "LUMBUNG_REDIS_URL": redis.url,
        "LUMBUNG_JWT_SECRET": JWT_SECRET,
        "LUMBUNG_JWT_LEEWAY_SECONDS": "0",
        "LUMBUNG_ZSTD_LEVEL": "12",
        "LUMBUNG_ZSTD_THREADS": "0",
        "LUMBUNG_MAX_SUBSCRIPTIONS_PER_CONNECTION": "2",
        "LUMBUNG_CORS_ORIGINS": "https://admin.example",
        "LUMBUNG_LOG_FORMAT": "text",
    }
    first = start_server(tmp_path, env)
    servers = [first]
    try:
        _grow(tmp_path / "app.db", 60_000)
        servers.append(start_server(tmp_path, env))  # after the first has migrated
        yield servers
    finally:
        for server in servers:
            server.stop()


async def _follow(
    server: LumbungServer, query: str, job_id: int, following: asyncio.Event | None = None
) -> list[dict[str, Any]]:
    """The job's events until its end; `following` is set once the first one has come."""
    async with graphql_socket(server.ws) as socket:
        assert (await socket.init(auth()))["type"] == "connection_ack"
        operation = await socket.subscribe(query, {"id": job_id})
        events = []
        async for payload in socket.stream(operation):
            events.append(next(iter(payload["data"].values())))
            if following is not None:
                following.set()
        return events


async def test_a_subscriber_on_one_process_follows_a_backup_running_on_another(
    cluster: list[LumbungServer],
) -> None:
    watcher, worker = cluster
    backup = (await post(worker, CREATE))["createBackup"]["backup"]
    events = await asyncio.wait_for(_follow(watcher, BACKUP_PROGRESS, backup["id"]), timeout=120)

    sequences = [event["sequence"] for event in events]
    assert sequences == sorted(set(sequences)), "events arrive in order, once each"
    phases = [event["phase"] for event in events]
    assert "dumping" in phases and "writing" in phases
    assert phases[-1] == "done"
    final = events[-1]
    assert final["status"] == "COMPLETED" and final["percent"] == 100
    assert final["tablesDone"] == final["tablesTotal"] == 4
    assert backup["filename"] in final["message"]
    dumping = [event for event in events if event["phase"] == "dumping"]
    assert any(event["bytesDone"] > 0 and event["currentTable"] for event in dumping)
    # Throttled: a few events per second at most.
    assert len(events) <= 6 * max(final["elapsedSeconds"], 1) + 6


async def test_a_late_subscriber_gets_the_final_state_and_the_end(
    cluster: list[LumbungServer],
) -> None:
    watcher, worker = cluster
    backup = (await post(worker, CREATE))["createBackup"]["backup"]
    await asyncio.wait_for(_follow(worker, BACKUP_PROGRESS, backup["id"]), timeout=120)
    events = await asyncio.wait_for(_follow(watcher, BACKUP_PROGRESS, backup["id"]), timeout=10)
    assert len(events) == 1
    assert (events[0]["status"], events[0]["phase"]) == ("COMPLETED", "done")


async def test_a_restores_progress_is_followed_to_its_end(cluster: list[LumbungServer]) -> None:
    watcher, worker = cluster
    backup = (await post(worker, CREATE))["createBackup"]["backup"]
    await asyncio.wait_for(_follow(worker, BACKUP_PROGRESS, backup["id"]), timeout=120)
    restore = await post(
        worker,
        "mutation ($id: Int!, $c: String!) { "
        "restoreBackup(id: $id, confirm: $c, safetyBackup: false) "
        "{ restoreLog { id } } }",
        {"id": backup["id"], "c": backup["filename"]},
    )
    log_id = restore["restoreBackup"]["restoreLog"]["id"]
    events = await asyncio.wait_for(_follow(watcher, RESTORE_PROGRESS, log_id), timeout=180)
    assert (events[-1]["status"], events[-1]["phase"]) == ("COMPLETED", "done"), events[-1]
    assert events[-1]["message"] == f"Restored 4 table(s) from {backup['filename']}."
    assert [e["sequence"] for e in events] == sorted({e["sequence"] for e in events})


async def test_redis_restarting_during_a_job_loses_no_final_event(
    cluster: list[LumbungServer], redis: RedisServer
) -> None:
    watcher, worker = cluster
    backup = (await post(worker, CREATE))["createBackup"]["backup"]
    following = asyncio.Event()
    follower = asyncio.create_task(_follow(watcher, BACKUP_PROGRESS, backup["id"], following))
    await asyncio.wait_for(following.wait(), timeout=60)
    redis.restart()
    events = await asyncio.wait_for(follower, timeout=120)
    assert events[-1]["status"] == "COMPLETED"
    assert events[-1]["phase"] == "done"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, 4401),
        ({"Authorization": "Bearer nonsense"}, 4401),
        ({"Authorization": f"Bearer {token(roles=['operator'])}"}, 4403),
    ],
)
async def test_a_bad_token_closes_the_socket(
    cluster: list[LumbungServer], payload: dict[str, str], code: int
) -> None:
    async with graphql_socket(cluster[0].ws) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await socket.init(payload)
            await socket.receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_the_socket_closes_when_the_token_expires(cluster: list[LumbungServer]) -> None:
    short = token(ttl=timedelta(seconds=2))
    async with graphql_socket(cluster[0].ws) as socket:
        assert (await socket.init(auth(short)))["type"] == "connection_ack"
        operation = await socket.subscribe(
            "subscription { systemInfo(intervalSeconds: 1) { system { uptime } } }"
        )
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            async for _ in socket.stream(operation):
                pass
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert 0.5 < time.monotonic() - started < 10


async def test_subscriptions_per_connection_are_capped(cluster: list[LumbungServer]) -> None:
    query = "subscription { systemInfo(intervalSeconds: 60) { system { uptime } } }"
    async with graphql_socket(cluster[0].ws) as socket:
        await socket.init(auth())
        await socket.subscribe(query)
        await socket.subscribe(query)
        third = await socket.subscribe(query)
        while True:
            message = await socket.receive()
            if message.get("id") == third:
                break
        assert message["type"] == "error"
        assert "limit" in message["payload"][0]["message"].lower()


async def test_system_info_is_pushed_at_the_interval_with_a_floor(
    cluster: list[LumbungServer],
) -> None:
    async with graphql_socket(cluster[0].ws) as socket:
        await socket.init(auth())
        too_fast = await socket.subscribe(
            "subscription { systemInfo(intervalSeconds: 0) { system { uptime } } }"
        )
        with pytest.raises(AssertionError, match="intervalSeconds must be between 1") as refused:
            async for _ in socket.stream(too_fast):
                pass
        assert "BAD_USER_INPUT" in str(refused.value)
        operation = await socket.subscribe(
            "subscription { systemInfo(intervalSeconds: 1) { "
            "database { totalUsers } system { uptimeSeconds } } }"
        )
        received = []
        async for payload in socket.stream(operation):
            received.append(payload["data"]["systemInfo"])
            if len(received) == 2:
                break
        assert received[0]["database"]["totalUsers"] == 6


async def test_a_browser_on_another_origin_is_refused(cluster: list[LumbungServer]) -> None:
    with pytest.raises(InvalidStatus):
        async with graphql_socket(cluster[0].ws, origin="https://evil.example"):
            pass
    async with graphql_socket(cluster[0].ws, origin="https://admin.example") as socket:
        assert (await socket.init(auth()))["type"] == "connection_ack"


async def test_an_unknown_job_is_not_found(cluster: list[LumbungServer]) -> None:
    async with graphql_socket(cluster[0].ws) as socket:
        await socket.init(auth())
        operation = await socket.subscribe(BACKUP_PROGRESS, {"id": 999})
        with pytest.raises(AssertionError) as failed:
            async for _ in socket.stream(operation):
                pass
        assert "NOT_FOUND" in str(failed.value)


async def _follow_on(socket: Any, query: str, job_id: int) -> list[dict[str, Any]]:
    operation = await socket.subscribe(query, {"id": job_id})
    return [next(iter(payload["data"].values())) async for payload in socket.stream(operation)]


async def test_many_subscribers_of_one_job_each_get_their_own_fields_and_the_end(
    cluster: list[LumbungServer],
) -> None:
    # One process executes a progress subscription once for all its followers
    # (schema/fanout.py): each must still see its own operation, fields and ending.
    watcher, worker = cluster
    backup = (await post(worker, CREATE))["createBackup"]["backup"]
    narrow = "subscription ($id: Int!) { backupProgress(id: $id) { sequence phase } }"

    async def two_on_one_socket() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with graphql_socket(watcher.ws) as socket:
            await socket.init(auth())
            first = await socket.subscribe(BACKUP_PROGRESS, {"id": backup["id"]})
            second = await socket.subscribe(BACKUP_PROGRESS, {"id": backup["id"]})
            streams: dict[str, list[dict[str, Any]]] = {first: [], second: []}
            done: set[str] = set()
            while done != {first, second}:
                message = await socket.receive()
                assert message["type"] in ("next", "complete"), message
                if message["type"] == "complete":
                    done.add(message["id"])
                else:
                    assert message["id"] not in done
                    streams[message["id"]].append(message["payload"]["data"]["backupProgress"])
            return streams[first], streams[second]

    async def leaves_early() -> None:
        async with graphql_socket(watcher.ws) as socket:
            await socket.init(auth())
            operation = await socket.subscribe(BACKUP_PROGRESS, {"id": backup["id"]})
            async for _ in socket.stream(operation):
                break

    followers = [_follow(watcher, BACKUP_PROGRESS, backup["id"]) for _ in range(3)]
    full, narrowed, (first, second), _ = await asyncio.wait_for(
        asyncio.gather(
            asyncio.gather(*followers),
            _follow(watcher, narrow, backup["id"]),
            two_on_one_socket(),
            leaves_early(),
        ),
        timeout=120,
    )
    for events in [*full, first, second]:
        sequences = [event["sequence"] for event in events]
        assert sequences == sorted(set(sequences))
        assert (events[-1]["status"], events[-1]["phase"]) == ("COMPLETED", "done")
        assert backup["filename"] in events[-1]["message"]
    assert all(set(event) == {"sequence", "phase"} for event in narrowed)
    assert narrowed[-1]["phase"] == "done"
    # A late follower after everyone left: a fresh execution, the final state, the end.
    late = await asyncio.wait_for(_follow(watcher, BACKUP_PROGRESS, backup["id"]), timeout=10)
    assert [(e["status"], e["phase"]) for e in late] == [("COMPLETED", "done")]


async def test_an_unknown_job_is_not_found_for_every_follower(
    cluster: list[LumbungServer],
) -> None:
    async def refused() -> str:
        async with graphql_socket(cluster[0].ws) as socket:
            await socket.init(auth())
            with pytest.raises(AssertionError) as failed:
                await _follow_on(socket, BACKUP_PROGRESS, 998)
            return str(failed.value)

    for error in await asyncio.wait_for(asyncio.gather(*(refused() for _ in range(3))), 30):
        assert "NOT_FOUND" in error
