"""CORS: the configured SPA origins may call the API from a browser, and open its websocket;
no other origin may do either."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from tests.support.app import Api, make_settings, open_api
from tests.support.asgi import serving
from tests.support.websocket import graphql_socket

SPA = "https://admin.example"
OTHER = "https://evil.example"
QUERY = {"query": "{ backups { total } }"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        tmp_path,
        cors_origins=f"{SPA},https://x.example",
    )
    async with open_api(settings) as value:
        yield value


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_the_spa_origin_gets_cors_headers_on_preflight_and_request(api: Api) -> None:
    response = await api.client.options("/graphql", headers=preflight(SPA))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()

    headers = {"Origin": SPA, "Authorization": f"Bearer {api.token()}"}
    response = await api.client.post("/graphql", json=QUERY, headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA
    # A refusal reaches the SPA readable too, so it can tell the user to log in again.
    refused = await api.client.post("/graphql", json=QUERY, headers={"Origin": SPA})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == SPA


async def test_another_origin_gets_no_cors_headers(api: Api) -> None:
    response = await api.client.options("/graphql", headers=preflight(OTHER))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers

    headers = {"Origin": OTHER, "Authorization": f"Bearer {api.token()}"}
    response = await api.client.post("/graphql", json=QUERY, headers=headers)
    assert "access-control-allow-origin" not in response.headers


async def test_without_configured_origins_no_origin_gets_cors_headers(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path)
    async with open_api(settings) as api:
        response = await api.client.options("/graphql", headers=preflight(SPA))
        assert "access-control-allow-origin" not in response.headers
        headers = {"Origin": SPA, "Authorization": f"Bearer {api.token()}"}
        response = await api.client.post("/graphql", json=QUERY, headers=headers)
        assert "access-control-allow-origin" not in response.headers


async def test_the_same_origins_govern_websockets(api: Api) -> None:
    auth = {"Authorization": f"Bearer {api.token()}"}
    async with serving(api.app) as url:
        with pytest.raises(InvalidStatus) as refused:
            async with graphql_socket(url, origin=OTHER):
                pass
        assert refused.value.response.status_code == 403
        async with graphql_socket(url, origin=SPA) as socket:
            assert (await socket.init(auth))["type"] == "connection_ack"
        # No Origin: not a browser, so no page can be riding on a user's session.
        async with graphql_socket(url) as socket:
            assert (await socket.init(auth))["type"] == "connection_ack"


async def test_without_configured_origins_a_browser_on_another_origin_cannot_open_a_socket(
    tmp_path: Path,
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path)
    async with open_api(settings) as api, serving(api.app) as url:
        with pytest.raises(InvalidStatus):
            async with graphql_socket(url, origin=SPA):
                pass
