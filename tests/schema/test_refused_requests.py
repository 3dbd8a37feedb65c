"""Requests Strawberry refuses before executing anything get GraphQL's error shape and a code,
and one log line each; nothing runs."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.support.app import Api

CREATE = "mutation { createBackup(input: {backupType: FULL}) { backup { id } } }"


async def _refused(
    api: Api, response: httpx.Response, status: int, caplog: pytest.LogCaptureFixture
) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    refused = [r for r in caplog.records if getattr(r, "event", None) == "http.refused"]
    assert len(refused) == 1
    assert (await api.query("{ backups { total } }"))["backups"]["total"] == 0
    return str(error["message"])


async def test_a_mutation_over_get_is_refused(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    response = await api.client.get(
        "/graphql", params={"query": CREATE}, headers={"Authorization": f"Bearer {api.token()}"}
    )
    message = await _refused(api, response, 400, caplog)
    assert message == "mutations are not allowed when using GET"


async def test_a_batch_is_refused(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    response = await api.client.post(
        "/graphql",
        json=[{"query": CREATE}, {"query": CREATE}],
        headers={"Authorization": f"Bearer {api.token()}"},
    )
    message = await _refused(api, response, 400, caplog)
    assert "batch" in message.lower()


async def test_a_request_without_a_query_is_refused(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await api.client.post(
        "/graphql", json={"variables": {}}, headers={"Authorization": f"Bearer {api.token()}"}
    )
    await _refused(api, response, 400, caplog)


SUBSCRIPTION = "subscription { backupProgress(id: 1) { status } }"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_subscription_over_http_is_told_to_use_the_websocket(
    api: Api, caplog: pytest.LogCaptureFixture, method: str
) -> None:
    caplog.set_level(logging.INFO)
    headers = {"Authorization": f"Bearer {api.token()}"}
    if method == "GET":
        response = await api.client.get("/graphql", params={"query": SUBSCRIPTION}, headers=headers)
    else:
        response = await api.client.post("/graphql", json={"query": SUBSCRIPTION}, headers=headers)
    message = await _refused(api, response, 400, caplog)
    assert message == (
        "Subscriptions run over the websocket: open ws(s)://<host>/graphql with the "
        "graphql-transport-ws protocol and send this operation there."
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback logged
