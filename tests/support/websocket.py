"""The graphql-transport-ws protocol: an async client for tests, a blocking one for benchmarks.

async with graphql_socket(url) as socket:
    await socket.init(auth())
    operation = await socket.subscribe(QUERY, {"id": 1})
    async for payload in socket.stream(operation): ...
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.sync.client import ClientConnection as BlockingConnection
from websockets.sync.client import connect as connect_blocking
from websockets.typing import Subprotocol

from tests.support.graphql import GraphQLFailed

PROTOCOL = Subprotocol("graphql-transport-ws")
OPEN_TIMEOUT = 10.0


def init_message(payload: dict[str, Any]) -> str:
    return json.dumps({"type": "connection_init", "payload": payload})


def subscribe_message(operation: str, query: str, variables: dict[str, Any] | None) -> str:
    return json.dumps(
        {
            "id": operation,
            "type": "subscribe",
            "payload": {"query": query, "variables": variables or {}},
        }
    )


PONG = json.dumps({"type": "pong"})


def payload_of(message: dict[str, Any], operation: str) -> tuple[bool, dict[str, Any] | None]:
    """What one message means for `operation`: (done, the `next` payload or None). Errors,
    of the operation or in a payload, raise GraphQLFailed."""
    if message.get("id") != operation:
        return False, None
    kind = message["type"]
    if kind == "next":
        if message["payload"].get("errors"):
            raise GraphQLFailed(message["payload"]["errors"])
        payload: dict[str, Any] = message["payload"]
        return False, payload
    if kind == "complete":
        return True, None
    if kind == "error":
        raise GraphQLFailed(message["payload"])
    return False, None


class GraphQLSocket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._ids = 0

    async def init(self, payload: dict[str, Any]) -> dict[str, Any]:
        """connection_init; the server's answer (connection_ack, or the socket closes)."""
        await self.connection.send(init_message(payload))
        return await self.receive()

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await self.connection.recv())
        return message

    async def receive_timed(self) -> tuple[dict[str, Any], float]:
        """The next message and its receipt wall time, read before the JSON is parsed."""
        raw = await self.connection.recv()
        received = time.time()
        message: dict[str, Any] = json.loads(raw)
        return message, received

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """Start an operation; its id."""
        self._ids += 1
        operation = str(self._ids)
        await self.connection.send(subscribe_message(operation, query, variables))
        return operation

    async def stream(self, operation: str) -> AsyncIterator[dict[str, Any]]:
        """`next` payloads of one operation until it completes (errors raise GraphQLFailed);
        the server's pings are answered."""
        while True:
            message = await self.receive()
            if message.get("type") == "ping":
                await self.connection.send(PONG)
                continue
            done, payload = payload_of(message, operation)
            if done:
                return
            if payload is not None:
                yield payload


@contextlib.asynccontextmanager
async def graphql_socket(url: str, **options: Any) -> AsyncIterator[GraphQLSocket]:
    """A graphql-transport-ws connection; `options` go to websockets' connect()."""
    options.setdefault("open_timeout", OPEN_TIMEOUT)
    async with connect(url, subprotocols=[PROTOCOL], **options) as connection:
        yield GraphQLSocket(connection)


class BlockingGraphQLSocket:
    """GraphQLSocket's twin for code without an event loop (benchmarks)."""

    def __init__(self, connection: BlockingConnection) -> None:
        self.connection = connection
        self._ids = 0

    def init(self, payload: dict[str, Any], timeout: float = OPEN_TIMEOUT) -> dict[str, Any]:
        self.connection.send(init_message(payload))
        return self.receive(timeout)

    def receive(self, timeout: float | None = None) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.connection.recv(timeout=timeout))
        return message

    def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, operation: str | None = None
    ) -> str:
        if operation is None:
            self._ids += 1
            operation = str(self._ids)
        self.connection.send(subscribe_message(operation, query, variables))
        return operation

    def stream(self, operation: str, deadline: float | None = None) -> Iterator[dict[str, Any]]:
        """`next` payloads of one operation until it completes; TimeoutError once
        time.monotonic() passes `deadline`."""
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"operation {operation} still running")
            message = self.receive(remaining)
            if message.get("type") == "ping":
                self.connection.send(PONG)
                continue
            done, payload = payload_of(message, operation)
            if done:
                return
            if payload is not None:
                yield payload


@contextlib.contextmanager
def blocking_graphql_socket(url: str, **options: Any) -> Iterator[BlockingGraphQLSocket]:
    options.setdefault("open_timeout", OPEN_TIMEOUT)
    with connect_blocking(url, subprotocols=[PROTOCOL], **options) as connection:
        yield BlockingGraphQLSocket(connection)
