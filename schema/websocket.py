"""The graphql-transport-ws handler, with the same admin gate as HTTP.

The token travels in the `connection_init` payload (`{"Authorization": "Bearer <token>"}`,
or `{"token": "<token>"}`) and is verified exactly as an HTTP request's header: a missing or
bad token closes the socket with 4401, a non-admin's with 4403, before anything runs. When
the token expires, the connection is closed with 4401. Errors leave with `extensions.code`,
as they do over HTTP.

Progress subscriptions (`backupProgress`, `restoreProgress`) run once per process and document
however many sockets follow them (schema/fanout.py); everything else runs per operation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocketDisconnect
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    SubscribeMessage,
)

from schema.context import Context
from schema.errors import public_error
from schema.fanout import SharedStream, SharedStreams, shared_key
from server.auth.tokens import Principal
from server.errors import BackendUnavailable, Forbidden, Unauthenticated


def bearer_from(params: Any) -> str | None:
    """The `Authorization` value a client put in its connection_init payload."""
    if not isinstance(params, dict):
        return None
    for key in ("Authorization", "authorization"):
        if isinstance(params.get(key), str):
            return str(params[key])
    headers = params.get("headers")
    if isinstance(headers, dict):
        return bearer_from(headers)
    token = params.get("token")
    return f"Bearer {token}" if isinstance(token, str) else None


async def authenticate(context: Context, params: Any) -> Principal:
    return await context.resources.tokens.authenticate_header(
        bearer_from(params), client=context.client
    )


# How often an open socket re-checks that its token has not been revoked since connection_init
# (every subscribe checks too).
REVOCATION_RECHECK_SECONDS = 30.0


class AuthenticatedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    _expiry: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if not self.connection_init_received:
            try:
                principal = await authenticate(self.context, message.get("payload"))
            except Unauthenticated:
                await self.websocket.close(code=4401, reason="Unauthorized")
                return
            except Forbidden:
                await self.websocket.close(code=4403, reason="Forbidden")
                return
            except BackendUnavailable:  # the revocation list is unreachable: fail closed
                await self.websocket.close(code=1013, reason="Try again later")
                return
            self.context.principal = principal
            self._expiry = asyncio.create_task(self._watch_token(principal))
        await super().handle_connection_init(message)

    async def _watch_token(self, principal: Principal) -> None:
        """Close the socket when its token expires, or within REVOCATION_RECHECK_SECONDS of
        its being revoked."""
        leeway = self.context.resources.settings.jwt_leeway_seconds
        while True:
            remaining = (principal.expires_at - datetime.now(UTC)).total_seconds() + leeway
            if remaining <= 0:
                await self.websocket.close(code=4401, reason="Token expired")
                return
            await asyncio.sleep(min(remaining, REVOCATION_RECHECK_SECONDS))
            if remaining > REVOCATION_RECHECK_SECONDS and not await self._still_valid(principal):
                return

    async def _still_valid(self, principal: Principal) -> bool:
        """False (and the socket closed) once the token is revoked, or when the revocation
        list cannot be read (fail closed, as at connection_init)."""
        try:
            await self.context.resources.tokens.recheck(principal, client=self.context.client)
        except Unauthenticated:
            await self.websocket.close(code=4401, reason="Token revoked")
            return False
        except BackendUnavailable:
            await self.websocket.close(code=1013, reason="Try again later")
            return False
        return True

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        principal = self.context.principal
        if principal is not None and not await self._still_valid(principal):
            return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        await super().shutdown()

    async def _send_result_stream(self, operation: Any, result_source: Any) -> None:
        mask = bool(getattr(self.view, "mask_unexpected_errors", True))

        async def coded() -> AsyncGenerator[Any, None]:
            async for result in result_source:
                if getattr(result, "errors", None):
                    result.errors = [public_error(e, mask_unexpected=mask) for e in result.errors]
                yield result

        stream: AsyncIterator[Any] = coded()
        try:
            await super()._send_result_stream(operation, stream)  # type: ignore[arg-type]
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        key = shared_key(operation.query, operation.variables, operation.operation_name)
        if key is None:
            await super().run_operation(operation)
            return

        def source() -> Any:
            return self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )

        mask = bool(getattr(self.view, "mask_unexpected_errors", True))
        streams: SharedStreams = self.view.shared_streams  # type: ignore[attr-defined]
        async with streams.join(key, source, mask=mask) as stream:
            if not await self._send_shared(operation, stream):
                return
        await operation.send_operation_message(CompleteMessage(id=operation.id, type="complete"))

    async def _send_shared(self, operation: Operation[Context, None], stream: SharedStream) -> bool:
        """Send the shared stream's results as this operation's; False when it ended with an
        `error` message (which completes the operation) or the socket went away."""
        socket = self.websocket.ws  # type: ignore[attr-defined]
        async for item in stream.follow():
            if operation.completed:
                return False
            if item.kind == "error":
                await operation.send_initial_errors(list(item.errors))
                return False
            try:
                await socket.send_text(item.frame(operation.id))
            except (WebSocketDisconnect, OSError):  # gone: the handler's shutdown cleans up
                return False
        return True
