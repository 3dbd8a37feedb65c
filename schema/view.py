"""The GraphQL endpoint: Strawberry's ASGI view, with the admin gate in front of it.

The token is checked while the context is built, before parsing or executing anything, so a
request without a valid admin token never reaches a resolver. It is answered in GraphQL's
shape with a 401/403 status. Only the GraphiQL page itself (static HTML) opens without one.
"""

from __future__ import annotations

import logging
from typing import Any

from cross_web import HTTPException  # what Strawberry raises (its own dependency)
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http import process_result as format_result
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from schema.context import Context, client_of
from schema.errors import public_error
from schema.fanout import SharedStreams
from schema.graphiql import page_html
from schema.websocket import AuthenticatedTransportWS, authenticate
from server.errors import (
    BackendUnavailable,
    BadUserInput,
    ErrorCode,
    Forbidden,
    Unauthenticated,
)
from server.http_errors import error_response
from server.resources import Resources

# BACKEND_UNAVAILABLE: the revocation list cannot be read, so no token can be trusted.
STATUS_BY_CODE = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.BACKEND_UNAVAILABLE: 503,
}


SUBSCRIPTION_OVER_HTTP = (
    "Subscriptions run over the websocket: open ws(s)://<host>/graphql with the "
    "graphql-transport-ws protocol and send this operation there."
)


log = logging.getLogger("lumbung.audit")


class LumbungGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = AuthenticatedTransportWS

    def __init__(self, *args: Any, mask_unexpected_errors: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mask_unexpected_errors = mask_unexpected_errors
        # Progress subscriptions shared by every socket of this process (schema/fanout.py).
        self.shared_streams = SharedStreams()
        self._graphiql_page = page_html() if self.graphql_ide else ""

    async def process_result(
        self, request: Request | WebSocket, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = [
                public_error(error, mask_unexpected=self.mask_unexpected_errors)
                for error in result.errors
            ]
        return format_result(result)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except (Unauthenticated, Forbidden, BackendUnavailable) as error:
            if scope["type"] != "http":
                raise
            await error_response(error, STATUS_BY_CODE[error.code])(scope, receive, send)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        # Strawberry refuses a malformed request (no query, a batch, a mutation over GET, an
        # unsupported method) with a plain-text body; answer in GraphQL's shape, with a code.
        try:
            return await super().run(request, context, root_value)
        except HTTPException as exc:
            if not isinstance(request, Request):
                raise
            cause = exc.__cause__
            reason = exc.reason
            if (
                isinstance(cause, InvalidOperationTypeError)
                and cause.operation_type is OperationType.SUBSCRIPTION
            ):
                reason = SUBSCRIPTION_OVER_HTTP
            log.warning(
                "request refused",
                extra={
                    "event": "http.refused",
                    "status": exc.status_code,
                    "reason": reason,
                    "method": request.method,
                    "client": client_of(request),
                },
            )
            return error_response(BadUserInput(reason), exc.status_code)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        resources: Resources = request.app.state.resources
        principal = None
        if isinstance(request, Request) and not self._is_ide_page(request):
            principal = await resources.tokens.authenticate_header(
                request.headers.get("authorization"), client=client_of(request)
            )
        return Context(request=request, response=response, resources=resources, principal=principal)

    async def on_ws_connect(self, context: Context) -> Any:
        # The legacy graphql-ws protocol (when enabled) authenticates here; the
        # graphql-transport-ws handler has done it already, with 4401/4403 closes.
        if context.principal is None:
            try:
                context.principal = await authenticate(context, context.connection_params)
            except (Unauthenticated, Forbidden, BackendUnavailable) as exc:
                raise ConnectionRejectionError({"message": exc.message}) from None
        return await super().on_ws_connect(context)

    async def render_graphql_ide(self, request: Request) -> Response:
        # Lumbung's own page, with its assets served from here (schema/graphiql.py).
        return HTMLResponse(self._graphiql_page)

    def _is_ide_page(self, request: Request) -> bool:
        return bool(self.graphql_ide) and self.should_render_graphql_ide(
            self.request_adapter_class(request)
        )
