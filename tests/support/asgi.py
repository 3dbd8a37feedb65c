"""An app on a real uvicorn on 127.0.0.1, inside the test's own event loop (so the test sees its
logs and its engine): for what only a real socket shows, e.g. websockets."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

from tests.support.ports import LOCALHOST

_START_TIMEOUT = 30.0


@asynccontextmanager
async def serving(app: ASGIApp, *, max_frame_bytes: int = 64 * 1024) -> AsyncIterator[str]:
    """Serve `app` (whose lifespan must be running already); yields its websocket URL."""
    # Bound here and handed over: no other process can take the port in between.
    listener = socket.socket()
    listener.bind((LOCALHOST, 0))
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
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if task.done():
                task.result()  # raises why it stopped
            if time.monotonic() > deadline:
                raise AssertionError(f"uvicorn did not start within {_START_TIMEOUT:g} s")
            await asyncio.sleep(0.01)
        yield f"ws://{LOCALHOST}:{port}/graphql"
    finally:
        server.should_exit = True
        await task
        listener.close()
