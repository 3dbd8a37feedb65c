"""The System Settings page in a real headless browser (Debian's chromium, driven by
Playwright), against a real `lumbung serve` on the private MariaDB and Redis: what an admin
sees and does, waited for by what shows on the page, never by a sleep.

Each section's screenshot is taken by this run; `make screenshots` saves them in docs/screenshots/
(README shows them).
"""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.async_api import Browser, expect
from redis.asyncio import Redis

from tests.admin.page import (
    Console,
    HeldDump,
    completed_backup,
    open_page,
    screenshot,
    sign_in,
)
from tests.support.lumbung import LumbungServer, post
from tests.support.redis import RedisServer
from tests.support.tokens import token


async def test_an_admin_signs_in_and_sees_every_section(
    browser: Browser, server: LumbungServer
) -> None:
    console = Console(server)
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
    # A reload keeps the session; another tab starts at the sign-in.
    await page.reload()
    await expect(page.get_by_role("heading", name="Backup Management")).to_be_visible()
    other = await context.new_page()
    console.watch(other)
    await other.goto(f"{server.base}/admin/")
    await expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    await screenshot(page, "#system", "system")
    await context.close()
    assert console.errors == []


async def test_a_selective_backup_is_followed_to_100_percent(
    browser: Browser, server: LumbungServer
) -> None:
    console = Console(server)
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
    console = Console(server)
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
    # What was asked for is what ran: the tables left ticked, with a safety backup.
    logs = await post(
        server,
        "query ($id: Int!) { restoreLogs(backupId: $id) "
        "{ items { status tables safetyBackupId } } }",
        {"id": backup["id"]},
    )
    [log] = logs["restoreLogs"]["items"]
    assert log["status"] == "COMPLETED"
    assert sorted(log["tables"]) == ["Permission", "Role", "User"]
    assert log["safetyBackupId"] is not None
    await context.close()
    assert console.errors == []


async def test_a_cache_clear_runs_dry_then_for_real(
    browser: Browser, server: LumbungServer, redis_server: RedisServer
) -> None:
    client = Redis.from_url(redis_server.url)
    await client.mset({"cache:report:1": "a", "cache:report:2": "b", "cache:other": "c"})
    console = Console(server)
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
    console = Console(server)
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
    console = Console(server)
    context, page = await open_page(browser, server, console)
    await sign_in(page, token(ttl=timedelta(seconds=15)))
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
    console = Console(server)
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
