"""GraphiQL in a real headless browser (Debian's chromium, driven by Playwright), against a real
`lumbung serve`: it renders with nothing but the server to reach, and the schema loads as soon
as the token is pasted into the Headers tab."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, Request, Response, Route

from tests.support.browser import chromium
from tests.support.lumbung import LumbungServer, start_server
from tests.support.tokens import JWT_SECRET, token

# Generous: the machine is shared, and GraphiQL is 3.5 MB of JavaScript to parse.
TIMEOUT_MS = 60_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LumbungServer]:
    process = start_server(tmp_path, {"LUMBUNG_JWT_SECRET": JWT_SECRET})
    yield process
    process.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


class Traffic:
    """Every request the page makes. Anything not for the server is refused and remembered;
    this machine has no route out anyway, so such a request could only hang."""

    def __init__(self, server: LumbungServer) -> None:
        self.origin = urlsplit(server.base).netloc
        self.elsewhere: list[str] = []
        self.introspections: list[tuple[str | None, int]] = []
        self.failed: list[str] = []  # assets that did not load, and such

    async def introspected(self, count: int) -> list[tuple[str | None, int]]:
        """The schema fetches so far (Authorization sent, status), once there are `count`."""
        deadline = asyncio.get_running_loop().time() + TIMEOUT_MS / 1000
        while len(self.introspections) < count:
            assert asyncio.get_running_loop().time() < deadline, self.introspections
            await asyncio.sleep(0.05)
        return self.introspections

    def ours(self, url: str) -> bool:
        return urlsplit(url).netloc == self.origin

    async def route(self, route: Route, request: Request) -> None:
        if self.ours(request.url):
            await route.continue_()
        else:
            self.elsewhere.append(request.url)
            await route.abort()

    async def watch(self, page: Page) -> None:
        async def on_response(response: Response) -> None:
            request = response.request
            status = response.status
            if request.method == "POST" and "IntrospectionQuery" in (request.post_data or ""):
                headers = await request.all_headers()
                self.introspections.append((headers.get("authorization"), status))
            elif status >= 400:
                self.failed.append(f"{status} {request.url}")

        page.on("response", on_response)
        page.on("requestfailed", lambda request: self.failed.append(f"failed {request.url}"))
        page.on(
            "websocket",
            lambda socket: None if self.ours(socket.url) else self.elsewhere.append(socket.url),
        )


async def open_graphiql(browser: Browser, server: LumbungServer) -> tuple[Page, Traffic]:
    traffic = Traffic(server)
    context = await browser.new_context()
    await context.route("**/*", traffic.route)
    page = await context.new_page()
    await traffic.watch(page)
    await page.goto(f"{server.base}/graphql", timeout=TIMEOUT_MS)
    # GraphiQL has replaced the page's "Loading..." with its editors.
    await page.locator(".graphiql-query-editor .CodeMirror").wait_for(timeout=TIMEOUT_MS)
    return page, traffic


async def test_graphiql_renders_with_nothing_but_the_server_to_reach(
    browser: Browser, server: LumbungServer
) -> None:
    page, traffic = await open_graphiql(browser, server)
    assert await page.locator("#graphiql").inner_text() != "Loading..."
    # The explorer plugin loaded too: its button is in the sidebar.
    await page.get_by_role("button", name="Show GraphiQL Explorer").wait_for(timeout=TIMEOUT_MS)
    assert traffic.elsewhere == []
    assert traffic.failed == []


async def test_the_schema_loads_once_the_token_is_in_the_headers_tab(
    browser: Browser, server: LumbungServer
) -> None:
    page, traffic = await open_graphiql(browser, server)
    # Without a token, the schema fetch at start is refused.
    assert await traffic.introspected(1) == [(None, 401)]

    value = f"Bearer {token()}"
    await page.get_by_role("button", name="Headers").click()
    headers_editor = page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden)")
    await headers_editor.click()
    await page.keyboard.press("Control+A")
    await page.keyboard.insert_text(json.dumps({"Authorization": value}))

    # No re-fetch button pressed: the schema is there, field by field, in the docs.
    await page.get_by_role("button", name="Show Documentation Explorer").click()
    docs = page.locator(".graphiql-doc-explorer")
    await docs.get_by_text("Query", exact=True).click(timeout=TIMEOUT_MS)
    await docs.get_by_text("systemInfo", exact=True).wait_for(timeout=TIMEOUT_MS)
    assert await traffic.introspected(2) == [(None, 401), (value, 200)]
    assert traffic.elsewhere == []
    assert traffic.failed == []
