"""create_app(settings): routes (/graphql, /healthz, /readyz, /metrics, /admin, the backup
download) and lifespan. The only module of server/ that imports schema/."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from schema import build_schema, graphiql
from schema.caches import register_graphql_caches
from schema.view import LumbungGraphQL
from server.admin.routes import admin_routes
from server.auth.keys import TokenKeys, resolve_token_keys
from server.errors import BackendUnavailable, LumbungError
from server.health.metrics import metrics
from server.limits import BodySizeLimit
from server.resources import Resources, open_resources
from server.settings import Settings, load_settings

log = logging.getLogger("lumbung")


async def healthz(request: Request) -> JSONResponse:
    """The process is up and serving (no dependency is checked)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """The database and, when configured, Redis answer: the process can take traffic."""
    resources: Resources = request.app.state.resources
    checks: dict[str, str] = {}
    for name, check in (("database", resources.check_database), ("redis", resources.check_redis)):
        if name == "redis" and resources.redis is None:
            checks[name] = "not configured"
            continue
        try:
            await check()
            checks[name] = "ok"
        except BackendUnavailable as exc:
            checks[name] = exc.message
    ready = all(value in ("ok", "not configured") for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


class StartFailed(Exception):
    """The lifespan could not open the resources; it has logged why."""


class QuietStartFailure:
    """Starlette hands uvicorn the whole traceback of a failed start, and uvicorn logs it as
    one message, clipped by the log formatter: the cause was lost. The lifespan logs the cause
    in one line (StartFailed), so uvicorn is told only that the start failed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_failure(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                held.append(message)  # sent once we know what failed
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_failure)
        except StartFailed:
            await send({"type": "lifespan.startup.failed", "message": ""})
        except BaseException:
            for message in held:
                await send(message)
            raise


def create_app(
    settings: Settings | None = None,
    *,
    token_keys: TokenKeys | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    settings = settings or load_settings()
    # Resolved now, not in the lifespan, so a bad key configuration fails before binding a port.
    keys = token_keys or resolve_token_keys(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            resources = await open_resources(settings, keys, clock=clock)
        except Exception as exc:
            # One line that names the cause; the traceback only when it is not one of ours.
            known = isinstance(exc, LumbungError)
            reason = str(exc) if known else f"{type(exc).__name__}: {exc}"
            log.critical(
                "Lumbung cannot start: %s",
                reason,
                exc_info=None if known else exc,
                extra={"event": "app.start_failed"},
            )
            raise StartFailed(reason) from exc
        register_graphql_caches(resources.caches.registry, graphql.schema)
        app.state.resources = resources
        if settings.scheduler:
            resources.scheduler.start()
        # Served processes watch for what no job reports (no recent backup, a short disk);
        # the CLI's one-off commands never do.
        resources.alarms.start()
        # Everything built at start lives as long as the process: move it out of the
        # collector's way. Without this, every full collection re-scans the schema, the ORM
        # and the libraries, and garbage collection takes a third of a busy server's time.
        gc.collect()
        gc.freeze()
        log.info(
            "lumbung ready",
            extra={
                "event": "app.ready",
                "environment": settings.environment,
                "database": resources.engine.dialect.name,
            },
        )
        try:
            yield
        finally:
            await resources.close()

    graphql = LumbungGraphQL(
        build_schema(settings),
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        # Queries may come over GET; Strawberry itself refuses mutations over GET.
        allow_queries_via_get=True,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL)
        if settings.graphql_ws_legacy
        else (GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=timedelta(seconds=10),
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        # Browsers on other origins may open a socket only from the configured SPA origins.
        allowed_origins=settings.cors_origins,
        mask_unexpected_errors=settings.is_production,
    )
    middleware = [
        Middleware(QuietStartFailure),
        Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes),
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
                max_age=600,
            )
        )
    routes: list[BaseRoute] = [
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *admin_routes(settings),
    ]
    if settings.graphiql_enabled:
        routes.append(Mount(graphiql.ASSETS_PATH, app=graphiql.assets()))
    return Starlette(
        debug=settings.debug,
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
    )
