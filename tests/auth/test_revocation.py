"""Revoked tokens: `lumbung revoke` puts a jti on the list in Redis, every process refuses it,
and when the list cannot be read the API fails closed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from redis.asyncio import Redis
from sqlalchemy import event
from websockets.exceptions import ConnectionClosed

from server.auth.revocation import KEY_PREFIX, UNREACHABLE_MESSAGE
from server.auth.tokens import UNAUTHENTICATED_MESSAGE
from tests.support.app import Api, make_settings, open_api
from tests.support.asgi import serving
from tests.support.redis import RedisServer
from tests.support.tokens import JWT_SECRET
from tests.support.websocket import graphql_socket

QUERY = "{ backups { total } }"
SUBSCRIPTION = "subscription { systemInfo(intervalSeconds: 1) { database { totalUsers } } }"


def lumbung(
    *args: str, cwd: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LUMBUNG_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=cwd,
        env={**clean, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
async def api(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Api]:
    """The app with Redis configured, so revocation is on by default."""
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", tmp_path, redis_url=redis_server.url
    )
    async with open_api(settings) as value:
        yield value


async def _ttl(url: str, jti: str) -> int:
    redis = Redis.from_url(url)
    try:
        return int(await redis.ttl(KEY_PREFIX + jti))
    finally:
        await redis.aclose()


async def test_a_token_revoked_with_the_cli_is_refused_and_others_still_work(
    api: Api, redis_server: RedisServer, tmp_path: Path
) -> None:
    revoked, other = api.token(ttl=timedelta(hours=2)), api.token()
    assert (await api.post(QUERY, token=revoked)).status_code == 200

    env = {"LUMBUNG_REDIS_URL": redis_server.url, "LUMBUNG_JWT_SECRET": JWT_SECRET}
    # The token goes in on stdin: argv is visible to every user of the machine.
    result = lumbung("revoke", "-", cwd=tmp_path, env=env, stdin=revoked + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert revoked not in result.stderr

    response = await api.post(QUERY, token=revoked)
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == UNAUTHENTICATED_MESSAGE
    assert (await api.post(QUERY, token=other)).status_code == 200
    # Kept exactly as long as the token could still be accepted: 2 h plus the 10 s leeway.
    jti = result.stderr.split("revoked jti ")[1].split()[0]
    assert 7200 < await _ttl(redis_server.url, jti) <= 7210


async def test_the_cli_revokes_a_jti_for_as_long_as_it_is_told(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {"LUMBUNG_REDIS_URL": redis_server.url, "LUMBUNG_JWT_SECRET": JWT_SECRET}
    jti = uuid.uuid4().hex
    refused = lumbung("revoke", jti, cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert "give --ttl" in refused.stderr
    result = lumbung("revoke", jti, "--ttl", "30m", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert 1800 < await _ttl(redis_server.url, jti) <= 1810


def test_the_cli_says_revocation_needs_redis(tmp_path: Path) -> None:
    result = lumbung("revoke", "abc", "--ttl", "1h", cwd=tmp_path, env={})
    assert result.returncode == 2
    assert "set LUMBUNG_REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_names_its_jti_beside_the_token(tmp_path: Path) -> None:
    result = lumbung("token", "--sub", "1", cwd=tmp_path, env={"LUMBUNG_JWT_SECRET": JWT_SECRET})
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), JWT_SECRET, algorithms=["HS256"])
    assert f"jti {claims['jti']}" in result.stderr


async def test_revocation_switched_off_accepts_tokens_without_a_jti(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        tmp_path,
        redis_url=redis_server.url,
        jwt_revocation=False,
    )
    async with open_api(settings) as api:
        assert api.resources.revocation is None
        token = jwt.encode(
            {"sub": "1", "role": "admin", "exp": 2**31 - 1}, JWT_SECRET, algorithm="HS256"
        )
        assert (await api.post(QUERY, token=token)).status_code == 200


async def test_when_redis_is_unreachable_every_request_is_turned_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fail closed: without the list, a revoked token cannot be told from a good one."""
    redis = RedisServer().start()
    try:
        settings = make_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path, redis_url=redis.url
        )
        async with open_api(settings) as api, serving(api.app) as url:
            statements: list[str] = []
            event.listen(
                api.resources.engine.sync_engine,
                "before_cursor_execute",
                lambda *a: statements.append(a[2]),
            )
            token = api.token()
            assert (await api.post(QUERY, token=token)).status_code == 200
            redis.stop()
            statements.clear()
            caplog.set_level(logging.INFO, logger="lumbung.auth")
            caplog.clear()

            response = await api.post(QUERY, token=token)
            assert response.status_code == 503
            assert response.json() == {
                "data": None,
                "errors": [
                    {"message": UNREACHABLE_MESSAGE, "extensions": {"code": "BACKEND_UNAVAILABLE"}}
                ],
            }
            async with graphql_socket(url) as socket:
                init = {"type": "connection_init", "payload": {"token": token}}
                await socket.connection.send(json.dumps(init))
                await socket.subscribe(SUBSCRIPTION)
                with pytest.raises(ConnectionClosed) as closed:
                    received = await socket.receive()
                    raise AssertionError(f"the server answered: {received}")
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            assert statements == []  # nothing ran, over either transport
            denials = [r for r in caplog.records if r.name == "lumbung.auth"]
            assert len(denials) == 2  # one line per refusal
            assert all("revocation list unreachable" in r.reason for r in denials)  # type: ignore[attr-defined]

            redis.start()
            assert (await api.post(QUERY, token=token)).status_code == 200
    finally:
        redis.cleanup()


async def _revoke(api: Api, token: str) -> None:
    claims = jwt.decode(token, options={"verify_signature": False})
    assert api.resources.revocation is not None
    await api.resources.revocation.revoke(
        claims["jti"], expires_at=datetime.fromtimestamp(claims["exp"], UTC)
    )


async def test_an_open_socket_takes_no_new_subscription_once_its_token_is_revoked(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("schema.websocket.REVOCATION_RECHECK_SECONDS", 3600.0)
    token = api.token()
    async with serving(api.app) as url, graphql_socket(url) as socket:
        assert (await socket.init({"Authorization": f"Bearer {token}"}))["type"] == (
            "connection_ack"
        )
        first = await socket.subscribe(SUBSCRIPTION)
        async for _ in socket.stream(first):
            break
        await _revoke(api, token)
        await socket.subscribe(SUBSCRIPTION)
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                while True:
                    await socket.receive()  # the first subscription's events, then the close
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_an_open_socket_is_closed_soon_after_its_token_is_revoked(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("schema.websocket.REVOCATION_RECHECK_SECONDS", 0.5)
    token = api.token()
    async with serving(api.app) as url, graphql_socket(url) as socket:
        await socket.init({"Authorization": f"Bearer {token}"})
        operation = await socket.subscribe(SUBSCRIPTION)
        async for _ in socket.stream(operation):
            break
        await _revoke(api, token)
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                async for _ in socket.stream(operation):
                    pass
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
