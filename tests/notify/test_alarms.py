"""The alarms raised when nothing happens: checked by every server process, sent by one."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.db.enums import NotificationEvent
from tests.backup.helpers import backup_and_wait
from tests.notify.conftest import CREATE, SIGNING_KEY, notify_settings
from tests.notify.receivers import WebhookReceiver
from tests.support.app import make_settings, open_api
from tests.support.waiting import wait_until

NO_BACKUP = NotificationEvent.NO_RECENT_BACKUP
LOW_DISK = NotificationEvent.LOW_DISK_SPACE


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB file system: less than any backup's headroom."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


async def test_no_recent_backup_is_sent_once_by_one_of_several_processes(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        tmp_path,
        **notify_settings(tmp_path, None, no_backup_alert_hours=24),
    )
    async with open_api(settings) as first, open_api(settings) as second:
        await first.query(
            CREATE,
            {
                "input": {
                    "name": "hook",
                    "kind": "WEBHOOK",
                    "events": ["NO_RECENT_BACKUP"],
                    "url": receiver.url(),
                    "signingSecret": SIGNING_KEY,
                }
            },
        )
        checkers = (first.resources.alarms, second.resources.alarms)

        async def check_everywhere(at: datetime) -> list[NotificationEvent]:
            sent = await asyncio.gather(*(checker.check(at) for checker in checkers))
            return [event for events in sent for event in events if event is NO_BACKUP]

        backup = await backup_and_wait(first, backupType="PARTIAL")
        now = datetime.now(UTC)
        assert await check_everywhere(now) == []  # a backup has just completed
        later = now + timedelta(hours=25)
        assert await check_everywhere(later) == [NO_BACKUP]
        assert await check_everywhere(later + timedelta(hours=1)) == []  # once per period
        assert await check_everywhere(later + timedelta(hours=24)) == [NO_BACKUP]

        async def two() -> bool | None:
            return True if len(receiver.deliveries) == 2 else None

        await wait_until(two, timeout=30)
    assert backup["filename"] in receiver.deliveries[0].body.decode()


async def test_a_disk_too_small_for_the_next_backup_raises_one_alarm_a_day(
    tmp_path: Path, receiver: WebhookReceiver, tiny_disk: Path
) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        tmp_path,
        backup_dir=tiny_disk,
        **notify_settings(tmp_path, None),
    )
    async with open_api(settings) as api:
        await api.query(
            CREATE,
            {
                "input": {
                    "name": "hook",
                    "kind": "WEBHOOK",
                    "events": ["LOW_DISK_SPACE"],
                    "url": receiver.url(),
                    "signingSecret": SIGNING_KEY,
                }
            },
        )
        now = datetime.now(UTC)
        assert LOW_DISK in await api.resources.alarms.check(now)
        assert LOW_DISK not in await api.resources.alarms.check(now + timedelta(minutes=5))
        assert LOW_DISK in await api.resources.alarms.check(now + timedelta(days=1))
        health = await api.query(
            "{ backupHealth { status problems storage { enoughForNextBackup } } }"
        )

        async def two() -> bool | None:
            return True if len(receiver.deliveries) == 2 else None

        await wait_until(two, timeout=30)
    assert health["backupHealth"]["status"] == "CRITICAL"
    assert health["backupHealth"]["storage"]["enoughForNextBackup"] is False
    assert b"the next full backup needs about" in receiver.deliveries[0].body
