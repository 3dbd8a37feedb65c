"""The admin page's other actions and its words for failures, in headless chromium against a
real `lumbung serve`: a backup refused while another runs (CONFLICT names it), a damaged file
(verify and restore say so), a backend down (the page says which), a revoked token, the
download, the delete with its typed name, a schedule's frequency, the keyboard, and a phone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from playwright.async_api import Browser, expect

from tests.admin.page import (
    CREATE,
    Console,
    HeldDump,
    completed_backup,
    open_page,
    sign_in,
)
from tests.support.lumbung import LumbungServer, post, start_server
from tests.support.redis import RedisServer
from tests.support.tokens import JWT_SECRET, token
from tests.support.waiting import wait_until

BACKUP_STATUS = "query ($id: Int!) { backup(id: $id) { status } }"


def backup_file(server: LumbungServer, filename: str) -> Path:
    return server.tmp_dir / "backups" / filename


async def test_a_backup_refused_while_another_runs_names_the_running_one(
    browser: Browser, server: LumbungServer, held_dump: HeldDump
) -> None:
    console = Console(server)
    context, page = await open_page(browser, server, console)
    await sign_in(page)
    held_dump.shut()
    try:
        running = (await post(server, CREATE, {"input": {"backupType": "PARTIAL"}}))[
            "createBackup"
        ]["backup"]
        await page.get_by_role("button", name="Create Backup Now").click()
        dialog = page.get_by_role("dialog", name="Backup options")
        await dialog.get_by_role("button", name="Start backup").click()
        alert = dialog.get_by_role("alert")
        await expect(alert).to_contain_text("Another job is running.")
        await expect(alert).to_contain_text(f"#{running['id']}")
        await expect(dialog).to_be_visible()  # still open: nothing started
    finally:
        held_dump.open()

    async def done() -> bool | None:
        data = await post(server, BACKUP_STATUS, {"id": running["id"]})
        return True if data["backup"]["status"] != "IN_PROGRESS" else None

    await wait_until(done, timeout=120, what="the held backup to end")
    await context.close()
    assert console.errors == []


async def test_a_damaged_file_is_said_to_be_damaged(
    browser: Browser, server: LumbungServer
) -> None:
    backup = await completed_backup(server)
    path = backup_file(server, backup["filename"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    console = Console(server)
    context, page = await open_page(browser, server, console)
    await sign_in(page)
    row = page.locator("tr", has_text=backup["filename"])

    await row.get_by_role("button", name="Verify", exact=False).click()
    await expect(row.get_by_role("status")).to_contain_text("The file is damaged or gone: CORRUPT")
    await expect(row.locator("td").nth(6)).to_contain_text("corrupt")

    await page.get_by_role("button", name=f"Restore {backup['filename']}", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"Restore {backup['filename']}")
    await dialog.get_by_label("File name").fill(backup["filename"])
    await dialog.get_by_role("button", name="Restore").click()
    await expect(dialog.get_by_role("alert")).to_contain_text(
        "The backup file is damaged: its bytes do not match its checksum."
    )
    # The server keeps what the check found: another admin's browser sees it too.
    other, other_page = await open_page(browser, server, console)
    await sign_in(other_page)
    other_row = other_page.locator("tr", has_text=backup["filename"])
    await expect(other_row.locator("td").nth(6)).to_contain_text("corrupt")
    await other.close()
    await context.close()
    assert console.errors == []


async def test_download_hands_over_the_file_as_it_lies_on_disk(
    browser: Browser, server: LumbungServer
) -> None:
    backup = await completed_backup(server, backupType="PARTIAL")
    on_disk = backup_file(server, backup["filename"]).read_bytes()
    console = Console(server)
    context, page = await open_page(browser, server, console)
    await sign_in(page)
    async with page.expect_download() as started:
        await page.get_by_role("button", name=f"Download {backup['filename']}").click()
    download = await started.value
    assert download.suggested_filename == backup["filename"]
    # Saved from the server's response as it streamed (not from a blob the page had to fill
    # in memory first).
    assert download.url == f"{server.base}/backups/{backup['id']}/file"
    saved = Path(await download.path())
    assert hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(on_disk).digest()
    row = page.locator("tr", has_text=backup["filename"])
    await expect(row.get_by_role("status")).to_contain_text("Your browser is saving the file")
    # The browser saved it from the response itself: the token never went into a URL.
    assert not [url for url in console.requests if "token" in url]
    await context.close()
    assert console.errors == []


async def test_a_download_refused_says_why_on_the_page(
    browser: Browser, server: LumbungServer
) -> None:
    backup = await completed_backup(server, backupType="PARTIAL")
    backup_file(server, backup["filename"]).unlink()
    console = Console(server)
    context, page = await open_page(browser, server, console)
    await sign_in(page)
    await page.get_by_role("button", name=f"Download {backup['filename']}").click()
    row = page.locator("tr", has_text=backup["filename"])
    await expect(row.get_by_role("status")).to_contain_text("missing from the backup folder")
    await context.close()


async def test_a_delete_needs_the_file_name_typed(browser: Browser, server: LumbungServer) -> None:
    backup = await completed_backup(server, backupType="PARTIAL")
    console = Console(server)
    context, page = await open_page(browser, server, console)
    await sign_in(page)
    await page.get_by_role("button", name=f"Delete {backup['filename']}").click()
    dialog = page.get_by_role("dialog", name=f"Delete {backup['filename']}")
    await dialog.get_by_label("File name").fill("backup_partial")
    await dialog.get_by_role("button", name="Delete").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("nothing was deleted")
    assert backup_file(server, backup["filename"]).exists()

    await dialog.get_by_label("File name").fill(backup["filename"])
    await dialog.get_by_role("button", name="Delete").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("main > p.notice")).to_contain_text(backup["filename"])
    await expect(page.locator("table.history")).not_to_contain_text(backup["filename"])
    assert not backup_file(server, backup["filename"]).exists()
    await context.close()
    assert console.errors == []


async def test_a_schedules_frequency_is_set_and_changed(
    browser: Browser, server: LumbungServer
) -> None:
    console = Console(server)
    context, page = await open_page(browser, server, console)
    await sign_in(page)
    await page.get_by_role("button", name="New backup schedule").click()
    dialog = page.get_by_role("dialog", name="New backup schedule")
    await dialog.get_by_label("Name").fill("Nightly")
    await dialog.get_by_label("Frequency").select_option("DAILY")
    await dialog.get_by_label("Time of day").fill("02:30")
    await dialog.get_by_label("Time zone").fill("UTC")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    schedules = page.locator("ul.schedules")
    await expect(schedules).to_contain_text("Nightly")
    await expect(schedules).to_contain_text("02:30")

    await page.get_by_role("button", name="Edit schedule Nightly").click()
    dialog = page.get_by_role("dialog", name="Schedule Nightly")
    await dialog.get_by_label("Frequency").select_option("WEEKLY")
    await dialog.get_by_label("Day of the week").select_option("FRIDAY")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    await expect(schedules).to_contain_text("Friday")
    await context.close()
    assert console.errors == []


@pytest.fixture
def lone_redis() -> Iterator[RedisServer]:
    redis = RedisServer().start()
    yield redis
    redis.cleanup()


async def test_a_backend_down_is_named(
    browser: Browser, tmp_path: Path, lone_redis: RedisServer
) -> None:
    server = start_server(
        tmp_path,
        {
            "LUMBUNG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
            "LUMBUNG_DEMO_DATA": "true",
            "LUMBUNG_REDIS_URL": lone_redis.url,
            "LUMBUNG_JWT_SECRET": JWT_SECRET,
            "LUMBUNG_SCHEDULER": "false",
        },
    )
    try:
        console = Console(server)
        context, page = await open_page(browser, server, console)
        await sign_in(page)
        lone_redis.stop()
        await page.get_by_role("button", name="Clear System Cache").click()
        dialog = page.get_by_role("dialog", name="Cache options")
        await dialog.get_by_role("button", name="Clear").click()
        alert = dialog.get_by_role("alert")
        await expect(alert).to_contain_text("A backend is down.")
        await expect(alert).to_contain_text("Down: redis")
        await context.close()
        # Chromium logs the 503s; nothing else went wrong, and nothing went elsewhere.
        assert [error for error in console.errors if "status of 503" not in error] == []
    finally:
        server.stop()


async def test_a_revoked_token_brings_the_sign_in_back_with_the_reason(
    browser: Browser, server: LumbungServer
) -> None:
    console = Console(server)
    context, page = await open_page(browser, server, console)
    value = token()
    await sign_in(page, value)
    jti = jwt.decode(value, options={"verify_signature": False})["jti"]
    server.run_cli("revoke", jti, "--ttl", "1h")
    # The page's next request (it asks what runs every few seconds) is refused.
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_text(
        "Your token was refused (revoked, or not valid here). Paste another one."
    )
    assert await page.evaluate("sessionStorage.getItem('lumbung.token')") is None
    await context.close()
    assert console.errors == []


async def test_the_page_is_used_with_the_keyboard_and_every_control_is_labelled(
    browser: Browser, server: LumbungServer
) -> None:
    console = Console(server)
    context, page = await open_page(browser, server, console)
    # Sign in without the mouse: the token field has the focus, Tab reaches the button.
    await expect(page.get_by_label("Admin token")).to_be_focused()
    await page.keyboard.insert_text(token())
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Backup Management")).to_be_visible()

    # A dialog opens from the keyboard, holds the focus, and Escape closes it.
    await page.get_by_role("button", name="Clear System Cache").focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Cache options")
    await expect(dialog).to_be_visible()
    assert await dialog.evaluate("d => d.contains(document.activeElement)")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()

    await page.get_by_role("button", name="Create Backup Now").click()
    await expect(page.get_by_role("dialog", name="Backup options")).to_be_visible()
    unlabelled = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
              .filter((c) => c.labels.length === 0 && !c.getAttribute('aria-label'))
              .map((c) => c.outerHTML)"""
    )
    assert unlabelled == []
    await page.keyboard.press("Escape")
    await context.close()
    assert console.errors == []


async def test_a_phone_sees_the_page_without_scrolling_sideways(
    browser: Browser, server: LumbungServer
) -> None:
    await completed_backup(server, backupType="PARTIAL")
    console = Console(server)
    context, page = await open_page(browser, server, console, width=390)
    await sign_in(page)
    await expect(page.locator("table.history tbody tr").first).to_contain_text("partial")
    await expect(page.locator("#system dl")).to_contain_text("MariaDB")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    await context.close()
    assert console.errors == []


async def test_the_history_is_filtered_by_creator_date_and_size(
    browser: Browser, server: LumbungServer
) -> None:
    backup = await completed_backup(server, backupType="PARTIAL")
    console = Console(server)
    context, page = await open_page(browser, server, console)
    await sign_in(page)
    history = page.locator("table.history tbody")
    pager = page.locator("#backups .pager-text")
    await expect(history).to_contain_text(backup["filename"])

    async def narrowed(label: str, value: str, *, shows: bool) -> None:
        await page.get_by_label(label).fill(value)
        await page.get_by_label(label).dispatch_event("change")
        if shows:
            await expect(history).to_contain_text(backup["filename"])
        else:
            await expect(history).to_have_text("No backup matches.")
            await expect(pager).to_contain_text("0 backups")
        await page.get_by_label(label).fill("")
        await page.get_by_label(label).dispatch_event("change")
        await expect(history).to_contain_text(backup["filename"])

    await narrowed("Created by (user id)", "1", shows=True)
    await narrowed("Created by (user id)", "99", shows=False)
    await narrowed("Min size (MB)", "1000", shows=False)
    await narrowed("Max size (MB)", "1000", shows=True)
    await narrowed("From date", "2999-01-01", shows=False)
    await narrowed("To date", "2000-01-01", shows=False)
    await context.close()
    assert console.errors == []
