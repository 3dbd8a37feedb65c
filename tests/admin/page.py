"""What the admin page's tests do as a user does: open the page, sign in, take a screenshot;
and a dump tool that waits at a gate, to hold a backup IN_PROGRESS."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    WebSocket,
    expect,
)

from tests.support.lumbung import LumbungServer, post
from tests.support.tokens import token
from tests.support.waiting import wait_until

# Every run takes the screenshots (a page that cannot be drawn fails here); they land in
# docs/screenshots/ (README shows them) only when asked: `make screenshots` sets this variable,
# so `make test` leaves the working tree as it found it.
SCREENSHOTS = Path(
    os.environ.get("LUMBUNG_SCREENSHOTS_DIR")
    or Path(tempfile.gettempdir()) / f"lumbung-screenshots-{os.getuid()}"
)
# Generous: two helpers share two cores, and a backup or restore runs real tools.
TIMEOUT_MS = 60_000
BACKUP = """query ($id: Int!) { backup(id: $id) { id filename status tables } }"""
CREATE = """mutation ($input: CreateBackupInput!) {
  createBackup(input: $input) { backup { id filename } }
}"""


class HeldDump:
    """A dump tool that waits at a gate before it starts: while the gate is shut, a backup
    stays IN_PROGRESS, so another browser can be shown to find it (however fast the dump)."""

    def __init__(self, folder: Path) -> None:
        self.gate = folder / "dump-gate-open"
        self.tool = folder / "held-dump"
        real = shutil.which("mariadb-dump") or shutil.which("mysqldump")
        assert real, "mariadb-dump is missing"
        # The option file reaches the tool as /dev/fd/N (pass_fds): exec keeps the descriptor.
        self.tool.write_text(
            f'#!/bin/sh\nwhile [ ! -e "{self.gate}" ]; do sleep 0.05; done\nexec "{real}" "$@"\n'
        )
        self.tool.chmod(0o755)
        self.open()

    def open(self) -> None:
        self.gate.touch()

    def shut(self) -> None:
        self.gate.unlink(missing_ok=True)


class Console:
    """Errors the page logs (a module that failed, a CSP violation), and any request for
    somewhere other than the server (the page works offline): a test ends with none.
    Chromium also logs each 401 the API answers; the page handles those (back to sign-in)."""

    def __init__(self, server: LumbungServer) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []  # every URL the page asked for
        self.origin = urlsplit(server.base).netloc

    def watch(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and "status of 401" not in message.text:
                self.errors.append(message.text)

        def on_request(request: Request) -> None:
            self.requests.append(request.url)
            where = urlsplit(request.url)
            if where.scheme in ("http", "https", "ws", "wss") and where.netloc != self.origin:
                self.errors.append(f"a request elsewhere: {request.url}")

        def on_socket(socket: WebSocket) -> None:
            if urlsplit(socket.url).netloc != self.origin:
                self.errors.append(f"a socket elsewhere: {socket.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", on_request)
        page.on("websocket", on_socket)


async def open_page(
    browser: Browser, server: LumbungServer, console: Console, *, width: int = 1280
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    console.watch(page)
    await page.goto(f"{server.base}/admin/")
    return context, page


async def sign_in(page: Page, value: str | None = None) -> None:
    await page.get_by_label("Admin token").fill(value or token())
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Backup Management")).to_be_visible()


async def screenshot(page: Page, selector: str, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.locator(selector).screenshot(path=SCREENSHOTS / f"{name}.png")


async def completed_backup(server: LumbungServer, **input_: Any) -> dict[str, Any]:
    started = await post(server, CREATE, {"input": {"backupType": "FULL", **input_}})
    backup_id = started["createBackup"]["backup"]["id"]

    async def done() -> dict[str, Any] | None:
        backup: dict[str, Any] = (await post(server, BACKUP, {"id": backup_id}))["backup"]
        return None if backup["status"] == "IN_PROGRESS" else backup

    backup = await wait_until(done, timeout=120, what=f"backup #{backup_id}")
    assert backup["status"] == "COMPLETED"
    return backup
