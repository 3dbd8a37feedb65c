"""Request size limits and the audit trail of mutations."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from server.auth.keys import resolve_token_keys
from server.auth.tokens import issue_token
from tests.support.app import Api, make_settings, open_api
from tests.support.lumbung import start_server
from tests.support.tokens import JWT_SECRET
from tests.support.websocket import graphql_socket


async def test_an_oversized_body_is_refused_with_one_short_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path, max_body_bytes=4096
    )
    caplog.set_level(logging.DEBUG)
    async with open_api(settings) as api:
        caplog.clear()
        query = "{ me { subject } } # " + "x" * 15_000
        response = await api.post(query)
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert len(caplog.text) < 2000  # 15 KB in, not a flood of log out

        # Without a Content-Length (chunked), the cap holds as the bytes arrive.
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"x" * 1000

        chunked = await api.client.post(
            "/graphql",
            content=chunks(),
            headers={"Authorization": f"Bearer {api.token()}", "Content-Type": "application/json"},
        )
        assert chunked.status_code == 413


async def test_an_oversized_websocket_frame_closes_the_socket(tmp_path: Path) -> None:
    """The cap holds for websocket frames too, as `lumbung serve` configures uvicorn."""
    env = {
        "LUMBUNG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        "LUMBUNG_JWT_SECRET": JWT_SECRET,
        "LUMBUNG_MAX_BODY_BYTES": "4096",
    }
    settings = make_settings("sqlite://", tmp_path)
    token = issue_token(
        settings, resolve_token_keys(settings), subject="1", roles=["admin"], ttl=timedelta(hours=1)
    )
    server = start_server(tmp_path, env)
    try:
        async with graphql_socket(server.ws) as socket:
            assert (await socket.init({"token": token}))["type"] == "connection_ack"
            query = "{ me { subject } } # " + "x" * 5000
            message = {"id": "1", "type": "subscribe", "payload": {"query": query}}
            await socket.connection.send(json.dumps(message))
            with pytest.raises(ConnectionClosed) as closed:
                await socket.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # too big
    finally:
        server.stop()


async def test_every_mutation_leaves_one_audit_record(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lumbung.audit")
    await api.query(
        "mutation ($i: CreateBackupInput!) { createBackup(input: $i) { backup { id } } }",
        {"i": {"backupType": "PARTIAL", "description": "line one\nline two"}},
    )
    await api.error(
        'mutation { createBackup(input: {backupType: SELECTIVE, tables: ["nope"]}) '
        "{ backup { id } } }"
    )
    records = [r for r in caplog.records if r.name == "lumbung.audit"]
    assert len(records) == 2
    accepted, rejected = records
    assert (accepted.outcome, accepted.sub, accepted.fields) == ("ok", "1", ["createBackup"])  # type: ignore[attr-defined]
    assert accepted.variables == {  # type: ignore[attr-defined]
        "i": {"backupType": "PARTIAL", "description": "line one\nline two"}
    }
    assert (rejected.outcome, rejected.codes) == ("rejected", ["BAD_USER_INPUT"])  # type: ignore[attr-defined]
    # The JSON log escapes CR/LF: a value cannot forge a second line.
    from server.logs import JsonFormatter

    assert "\n" not in JsonFormatter().format(accepted)


@pytest.mark.parametrize(("setting", "negotiated"), [(None, False), ("true", True)])
async def test_websocket_compression_is_declined_unless_switched_on(
    tmp_path: Path, setting: str | None, negotiated: bool
) -> None:
    """Browsers offer permessage-deflate; `lumbung serve` declines it by default (it halves
    the fan-out to many watchers) and accepts it with LUMBUNG_WS_COMPRESSION=true."""
    env = {
        "LUMBUNG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        "LUMBUNG_JWT_SECRET": JWT_SECRET,
    }
    if setting is not None:
        env["LUMBUNG_WS_COMPRESSION"] = setting
    server = start_server(tmp_path, env)
    try:
        async with graphql_socket(server.ws) as socket:  # the client offers permessage-deflate
            assert socket.connection.request is not None
            assert "permessage-deflate" in socket.connection.request.headers.get(
                "Sec-WebSocket-Extensions", ""
            )
            assert socket.connection.response is not None
            accepted = socket.connection.response.headers.get("Sec-WebSocket-Extensions", "")
            assert ("permessage-deflate" in accepted) is negotiated
    finally:
        server.stop()
