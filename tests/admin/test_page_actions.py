"""The admin page's other actions and its words for failures, in headless chromium against a
real `lumbung serve`: a backup refused while another runs (CONFLICT names it), a damaged file
(verify and restore say so), a backend down (the page says which), the download, the delete
with its typed name, and a schedule's frequency."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

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
from tests.support.tokens import JWT_SECRET
from tests.support.waiting import wait_until

BACKUP_STATUS = "query ($id: Int!) { backup(id: $id) { status } }"


def backup_file(server: LumbungServer, filename: str) -> Path:
    return server.tmp_dir / "backups" / filename


async def test_a_backup_refused_while_another_runs_names_the_running_one(
    browser: Browser, server: LumbungServer, held_dump: HeldDump
) -> None:
    console = Console()
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
    console = Console()
    context, page = await open_page(browser, server, console)
    await sign_in(page)
    row = page.locator("tr", has_text=backup["filename"])

    await row.get_by_role("button", name="Verify", exact=False).click()
    await expect(row.get_by_role("status")).to_contain_text("The file is damaged or gone: CORRUPT")
    await expect(row.locator("td").nth(6)).to_have_text("corrupt")

    await page.get_by_role("button", name=f"Restore {backup['filename']}", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"Restore {backup['filename']}")
    await dialog.get_by_label("File name").fill(backup["filename"])
    await dialog.get_by_role("button", name="Restore").click()
    await expect(dialog.get_by_role("alert")).to_contain_text(
        "The backup file is damaged: its bytes do not match its checksum."
    )
    await context.close()
    assert console.errors == []


async def test_download_hands_over_the_file_as_it_lies_on_disk(
    browser: Browser, server: LumbungServer
) -> None:
    backup = await completed_backup(server, backupType="PARTIAL")
    on_disk = backup_file(server, backup["filename"]).read_bytes()
    console = Console()
    context, page = await open_page(browser, server, console)
    await sign_in(page)
    async with page.expect_download() as started:
        await page.get_by_role("button", name=f"Download {backup['filename']}").click()
    download = await started.value
    assert download.suggested_filename == backup["filename"]
    saved = Path(await download.path())
    assert hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(on_disk).digest()
    row = page.locator("tr", has_text=backup["filename"])
    await expect(row.get_by_role("status")).to_have_text("Downloaded.")
    await context.close()
    assert console.errors == []


async def test_a_delete_needs_the_file_name_typed(browser: Browser, server: LumbungServer) -> None:
    backup = await completed_backup(server, backupType="PARTIAL")
    console = Console()
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
    console = Console()
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
        console = Console()
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
    finally:
        server.stop()
