"""A small graphql-transport-ws client for tests, and a real uvicorn to point it at."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from websockets.asyncio.client import ClientConnection, connect

PROTOCOL = "graphql-transport-ws"


class GraphQLSocket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._ids = 0

    async def init(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.connection.send(json.dumps({"type": "connection_init", "payload": payload}))
        return await self.receive()

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await self.connection.recv())
        return message

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._ids += 1
        operation = str(self._ids)
        await self.connection.send(
            json.dumps(
                {
                    "id": operation,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables or {}},
                }
            )
        )
        return operation

    async def stream(self, operation: str) -> AsyncIterator[dict[str, Any]]:
        """`next` payloads of one operation until it completes (errors raise)."""
        while True:
            message = await self.receive()
            if message.get("id") != operation:
                continue
            if message["type"] == "next":
                if message["payload"].get("errors"):
                    raise AssertionError(message["payload"]["errors"])
                yield message["payload"]
            elif message["type"] == "complete":
                return
            elif message["type"] == "error":
                raise AssertionError(message["payload"])


@asynccontextmanager
async def graphql_socket(url: str, **options: Any) -> AsyncIterator[GraphQLSocket]:
    async with connect(url, subprotocols=[PROTOCOL], open_timeout=10, **options) as connection:  # type: ignore[list-item]
        yield GraphQLSocket(connection)


@asynccontextmanager
async def serving(app: ASGIApp, *, max_frame_bytes: int = 64 * 1024) -> AsyncIterator[str]:
    """`app` on a real uvicorn on 127.0.0.1, in this event loop (so a test sees its logs and
    its engine); yields the websocket URL. The app's lifespan must be running already."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        ws="websockets-sansio",
        ws_max_size=max_frame_bytes,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises why it stopped
            await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task
        listener.close()
