"""The System Settings page in a real headless browser (Debian's chromium, driven by
Playwright), against a real `lumbung serve` on the private MariaDB and Redis: what an admin
sees and does, waited for by what shows on the page, never by a sleep.

Each section's screenshot is saved in docs/screenshots/ by this run (README shows them).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, expect
from redis.asyncio import Redis

from tests.support.browser import chromium
from tests.support.lumbung import LumbungServer, post, start_server
from tests.support.mariadb import MariaDBServer
from tests.support.redis import RedisServer
from tests.support.tokens import JWT_SECRET, token
from tests.support.waiting import wait_until

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
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


@pytest.fixture(scope="module")
def held_dump(tmp_path_factory: pytest.TempPathFactory) -> HeldDump:
    return HeldDump(tmp_path_factory.mktemp("tools"))


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    mariadb: MariaDBServer,
    redis_server: RedisServer,
    held_dump: HeldDump,
) -> Iterator[LumbungServer]:
    name = f"admin_page_{os.getpid()}"
    url = mariadb.create_database(name)
    workdir = tmp_path_factory.mktemp("admin")
    process = start_server(
        workdir,
        {
            "LUMBUNG_DATABASE_URL": url,
            "LUMBUNG_DEMO_DATA": "true",
            "LUMBUNG_REDIS_URL": redis_server.url,
            "LUMBUNG_JWT_SECRET": JWT_SECRET,
            "LUMBUNG_JWT_LEEWAY_SECONDS": "0",
            "LUMBUNG_BACKUP_DIR": str(workdir / "backups"),
            "LUMBUNG_DUMP_COMMAND": str(held_dump.tool),
            "LUMBUNG_SCHEDULER": "false",
            "LUMBUNG_LOG_FORMAT": "text",
        },
    )
    yield process
    process.stop()
    mariadb.drop_database(name)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    expect.set_options(timeout=TIMEOUT_MS)
    async with chromium() as launched:
        yield launched


class Console:
    """Errors the page logs (a module that failed, a CSP violation): a test ends with none.
    Chromium also logs each 401 the API answers; the page handles those (back to sign-in)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and "status of 401" not in message.text:
                self.errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))


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


async def test_an_admin_signs_in_and_sees_every_section(
    browser: Browser, server: LumbungServer
) -> None:
    console = Console()
    context, page = await open_page(browser, server, console)
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await screenshot(page, "body", "signin")
    # A token that is not a token is refused on the spot, in words.
    await page.get_by_label("Admin token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("Your token was refused")

    await sign_in(page)
    for heading in ("Backup Management", "Cache Management", "System Information"):
        await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    await expect(page.locator("#system dl")).to_contain_text("MariaDB")
    # The token lives in this tab's sessionStorage only.
    stored = await page.evaluate(
        "[sessionStorage.getItem('lumbung.token') !== null, localStorage.length]"
    )
    assert stored == [True, 0]
    await screenshot(page, "#system", "system")
    await context.close()
    assert console.errors == []


async def test_a_selective_backup_is_followed_to_100_percent(
    browser: Browser, server: LumbungServer
) -> None:
    console = Console()
    context, page = await open_page(browser, server, console)
    await sign_in(page)
    # Every value the bars take, in order, as the page sets them.
    await page.evaluate(
        """() => {
          window.barValues = [];
          new MutationObserver((changes) => {
            for (const change of changes) {
              if (change.target.tagName === 'PROGRESS') window.barValues.push(change.target.value);
            }
          }).observe(document.body, {attributes: true, attributeFilter: ['value'], subtree: true});
        }"""
    )

    await page.get_by_role("button", name="Create Backup Now").click()
    dialog = page.get_by_role("dialog", name="Backup options")
    await dialog.get_by_label("Backup type").select_option("SELECTIVE")
    await dialog.get_by_label("User", exact=True).check()
    await dialog.get_by_label("Role", exact=True).check()
    await dialog.get_by_label("Description").fill("<b>before the upgrade</b>")
    await screenshot(page, "dialog", "backup-options")
    await dialog.get_by_role("button", name="Start backup").click()
    await expect(dialog).to_be_hidden()

    job = page.locator("li.job").first
    await expect(job).to_contain_text("Completed")
    await expect(job.locator(".percent")).to_have_text("100%")
    assert await job.locator("progress").evaluate("bar => bar.value") == 100
    values = await page.evaluate("window.barValues")
    assert values == sorted(values), "the bar never goes back"

    row = page.locator("table.history tbody tr").first
    await expect(row).to_contain_text("selective")
    await expect(row).to_contain_text("completed")
    # The description is text, never markup.
    await expect(row).to_contain_text("<b>before the upgrade</b>")
    assert await row.locator("b").count() == 0
    await screenshot(page, "#backups", "backups")
    await context.close()
    assert console.errors == []


async def test_a_restore_needs_the_file_name_typed_and_then_runs_to_its_end(
    browser: Browser, server: LumbungServer
) -> None:
    backup = await completed_backup(server)
    console = Console()
    context, page = await open_page(browser, server, console)
    await sign_in(page)
    await page.get_by_role("button", name=f"Restore {backup['filename']}", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"Restore {backup['filename']}")
    await expect(dialog.get_by_label("Back up the current data first")).to_be_checked()
    await expect(dialog.get_by_label("Role", exact=True)).to_be_checked()

    await dialog.get_by_label("File name").fill(backup["filename"].replace("full", "fool"))
    await dialog.get_by_role("button", name="Restore").click()
    await expect(dialog.get_by_role("alert")).to_contain_text(
        f"The name typed is not {backup['filename']}: nothing was restored."
    )
    assert await page.locator("li.job", has_text="Restore #").count() == 0

    await dialog.get_by_label("Message", exact=True).uncheck()
    await dialog.get_by_label("File name").fill(backup["filename"])
    await screenshot(page, "dialog", "restore")
    await dialog.get_by_role("button", name="Restore").click()
    await expect(dialog).to_be_hidden()
    job = page.locator("li.job", has_text="Restore #")
    await expect(job).to_contain_text("Completed", timeout=120_000)
    await expect(job.locator(".percent")).to_have_text("100%")
    # Its safety backup is in the history, marked as such.
    await expect(page.locator("table.history")).to_contain_text("(safety)")
    await context.close()
    assert console.errors == []


async def test_a_cache_clear_runs_dry_then_for_real(
    browser: Browser, server: LumbungServer, redis_server: RedisServer
) -> None:
    client = Redis.from_url(redis_server.url)
    await client.mset({"cache:report:1": "a", "cache:report:2": "b", "cache:other": "c"})
    console = Console()
    context, page = await open_page(browser, server, console)
    await sign_in(page)

    async def clear(*, dry_run: bool) -> None:
        await page.get_by_role("button", name="Clear System Cache").click()
        dialog = page.get_by_role("dialog", name="Cache options")
        await dialog.get_by_label("Cache type").select_option("REDIS")
        await dialog.get_by_label("Specific keys").fill("report:*")
        await dialog.get_by_label("glob patterns").check()
        if not dry_run:
            await dialog.get_by_label("Dry run").uncheck()
        else:
            await expect(dialog.get_by_label("Dry run")).to_be_checked()
            await screenshot(page, "dialog", "cache-options")
        await dialog.get_by_role("button", name="Clear").click()
        await expect(dialog).to_be_hidden()

    await clear(dry_run=True)
    result = page.locator(".cache-result")
    await expect(result.locator("li")).to_contain_text("would be cleared (2)")
    assert await client.exists("cache:report:1", "cache:report:2") == 2
    await expect(page.locator("#caches tbody tr").first).to_contain_text("yes")

    await clear(dry_run=False)
    await expect(result.locator("li")).to_contain_text("cleared (2)")
    await expect(result.locator("li")).not_to_contain_text("would be")
    assert await client.exists("cache:report:1", "cache:report:2") == 0
    assert await client.get("cache:other") == b"c"
    history = page.locator("#caches tbody tr")
    await expect(history.first).to_contain_text("no")
    await screenshot(page, "#caches", "caches")
    await client.aclose()
    await context.close()
    assert console.errors == []


async def test_system_information_changes_live(browser: Browser, server: LumbungServer) -> None:
    console = Console()
    context, page = await open_page(browser, server, console)
    await sign_in(page)
    backups = page.locator("#system dt", has_text="Backups").locator(
        "xpath=following-sibling::dd[1]"
    )
    await expect(backups).to_have_text(re.compile(r"^\d+$"))
    before = int(await backups.inner_text())
    await completed_backup(server, backupType="PARTIAL")
    # Pushed by the subscription: no reload, no click.
    await expect(backups).to_have_text(str(before + 1))
    await context.close()
    assert console.errors == []


async def test_an_expired_token_brings_the_sign_in_back_with_the_reason(
    browser: Browser, server: LumbungServer
) -> None:
    console = Console()
    context, page = await open_page(browser, server, console)
    await sign_in(page, token(ttl=timedelta(seconds=8)))
    # The server closes the subscriptions' socket when the token expires (4401).
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_text(
        "Your token has expired. Paste a new one to go on."
    )
    assert await page.evaluate("sessionStorage.getItem('lumbung.token')") is None
    await context.close()
    assert console.errors == []


async def test_a_second_browser_sees_the_job_the_first_started(
    browser: Browser, server: LumbungServer, held_dump: HeldDump
) -> None:
    console = Console()
    first, first_page = await open_page(browser, server, console)
    second, second_page = await open_page(browser, server, console, width=390)
    await sign_in(first_page)
    await sign_in(second_page)
    held_dump.shut()
    try:
        await first_page.get_by_role("button", name="Create Backup Now").click()
        dialog = first_page.get_by_role("dialog", name="Backup options")
        await dialog.get_by_label("Backup type").select_option("PARTIAL")
        await dialog.get_by_role("button", name="Start backup").click()
        started = first_page.locator("li.job").first
        await expect(started).to_contain_text("Running")
        title = await started.locator("strong").inner_text()

        seen = second_page.locator("li.job", has_text=title)
        await expect(seen).to_be_visible()
        await expect(seen).to_contain_text("Running")
        filename = await started.locator(".muted").inner_text()
        await expect(second_page.locator("table.history")).to_contain_text("in progress")
        await expect(second_page.locator("table.history")).to_contain_text(filename)
        await screenshot(second_page, "body", "phone")
    finally:
        held_dump.open()
    await expect(seen).to_contain_text("Completed")
    await expect(seen.locator(".percent")).to_have_text("100%")
    await first.close()
    await second.close()
    assert console.errors == []
