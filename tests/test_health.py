"""Health and readiness, with real dependencies going away."""

from __future__ import annotations

from pathlib import Path

from tests.support.app import make_settings, open_api
from tests.support.mariadb import MariaDBServer
from tests.support.redis import RedisServer


async def test_healthz_answers_without_a_token(tmp_path: Path) -> None:
    async with open_api(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path)) as api:
        response = await api.client.get("/healthz")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_follows_redis_down_and_back(tmp_path: Path) -> None:
    redis = RedisServer().start()
    try:
        settings = make_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path, redis_url=redis.url
        )
        async with open_api(settings) as api:
            ready = await api.client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
            redis.stop()
            down = await api.client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["checks"]["redis"].startswith("Redis is unreachable")
            redis.start()
            assert (await api.client.get("/readyz")).status_code == 200
    finally:
        redis.cleanup()


async def test_readyz_reports_a_lost_database_without_its_password(tmp_path: Path) -> None:
    server = MariaDBServer().start()
    try:
        settings = make_settings(server.create_database("ready"), tmp_path)
        async with open_api(settings) as api:
            assert (await api.client.get("/readyz")).status_code == 200
            server.stop()
            down = await api.client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["checks"]["database"].startswith("The database is unreachable")
            assert server.password not in down.text
            # A query now fails with a clear code, not a hang or a stack trace.
            error = await api.error("{ backups { total } }")
            assert error["extensions"]["code"] == "BACKEND_UNAVAILABLE"
            assert "unreachable" in error["message"]
            server.start()
            assert (await api.client.get("/readyz")).status_code == 200
    finally:
        server.cleanup()
