"""The per-request context handed to every resolver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from schema.loaders import Loaders
from server.auth.tokens import Principal
from server.resources import Resources


def client_of(request: Request | WebSocket) -> str:
    """The peer's address, for logs ("-" when the server does not know it)."""
    return request.client.host if request.client else "-"


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    resources: Resources
    principal: Principal | None
    loaders: Loaders = field(init=False)
    # Set by Strawberry from a websocket's connection_init payload.
    connection_params: Any = None

    def __post_init__(self) -> None:
        # Loaders cache per request: a new request always sees fresh rows.
        self.loaders = Loaders(self.resources)

    @property
    def client(self) -> str:
        return client_of(self.request)


Info = strawberry.Info[Context, None]
