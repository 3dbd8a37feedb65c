"""The routes of the admin page and of the backup download.

The page is static files only: it holds nothing, and everything it shows comes through the
public API with the token an admin pastes into it. What protects it is the browser's own
rules, sent with every file: a Content-Security-Policy that allows scripts, styles and
connections from this origin only (no inline script or style, nothing from elsewhere, no
framing), and nosniff so a file is only ever run as what its type says.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.admin.download import download_backup
from server.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
PAGE_PATH = "/admin"
# A Host header that is not a plain host[:port] gets no websocket source of its own: the page
# then falls back to 'self', which Chromium and Firefox also read as ws(s) of this origin.
_PLAIN_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


def content_security_policy(host: str | None) -> str:
    sockets = f" ws://{host} wss://{host}" if host and _PLAIN_HOST.fullmatch(host) else ""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self'{sockets}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class PageHeaders:
    """Adds the page's security headers to every response under /admin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1") or None

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = content_security_policy(host)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                # The page changes with the server: never run yesterday's modules against it.
                headers["Cache-Control"] = "no-cache"
            await send(message)

        await self.app(scope, receive, with_headers)


def admin_routes(settings: Settings) -> list[BaseRoute]:
    """GET /backups/{id}/file always (it is part of the API); the page when LUMBUNG_ADMIN_PAGE."""
    routes: list[BaseRoute] = [
        Route("/backups/{backup_id:int}/file", download_backup, methods=["GET", "HEAD", "POST"])
    ]
    if settings.admin_page:
        page = StaticFiles(directory=STATIC_DIR, html=True)
        routes.append(Mount(PAGE_PATH, app=PageHeaders(page), name="admin"))
    return routes
