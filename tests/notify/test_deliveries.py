"""Notifications reach a real SMTP relay and a real webhook receiver; failures are retried,
recorded, and never fail or delay the job that caused them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from server.notify.senders import sign
from tests.backup.helpers import backup_and_wait, restore_and_wait
from tests.notify.conftest import CREATE, DELIVERIES, SIGNING_KEY, notify_settings
from tests.notify.receivers import SMTP_USER, Relay, WebhookReceiver
from tests.support.app import Api, make_settings, open_api
from tests.support.waiting import wait_until

TEST = "mutation ($id: Int!) { testNotification(channel: $id) { status attempts error event } }"


async def deliveries(api: Api, channel: int, count: int = 1) -> list[dict[str, Any]]:
    """The channel's deliveries, once there are `count` of them."""

    async def enough() -> list[dict[str, Any]] | None:
        page = (await api.query(DELIVERIES, {"id": channel}))["notifications"]
        items: list[dict[str, Any]] = page["items"]
        return items if page["total"] >= count else None

    found: list[dict[str, Any]] = await wait_until(enough, timeout=30)
    return found


async def webhook(api: Api, receiver: WebhookReceiver, events: list[str], **extra: Any) -> int:
    data = await api.query(
        CREATE,
        {
            "input": {
                "name": "ops hook",
                "kind": "WEBHOOK",
                "events": events,
                "url": receiver.url("/hook/T0KEN-in-the-path"),
                "signingSecret": SIGNING_KEY,
                **extra,
            }
        },
    )
    channel_id: int = data["createNotificationChannel"]["id"]
    return channel_id


async def test_a_failed_backup_is_mailed_over_starttls_with_a_login(
    database: str, tmp_path: Path, relay: Relay
) -> None:
    # A dump tool that fails at once, on the real MariaDB.
    settings = make_settings(
        database, tmp_path, dump_command="false", **notify_settings(tmp_path, relay)
    )
    async with open_api(settings) as api:
        data = await api.query(
            CREATE,
            {
                "input": {
                    "name": "admins",
                    "kind": "EMAIL",
                    "events": ["BACKUP_FAILED", "DRILL_FAILED"],
                    "recipients": ["ops@example.id", "dba@example.id"],
                }
            },
        )
        channel = data["createNotificationChannel"]
        backup = await backup_and_wait(api, backupType="FULL")
        assert backup["status"] == "FAILED"
        [delivery] = await deliveries(api, channel["id"])
    assert delivery["status"] == "DELIVERED", delivery
    assert delivery["event"] == "BACKUP_FAILED"
    assert relay.mailbox.logins == [SMTP_USER]
    [mail] = relay.mailbox.messages
    assert mail["Subject"] == f"[Lumbung] Backup #{backup['id']} failed"
    assert mail["To"] == "ops@example.id, dba@example.id"
    assert mail["From"] == "lumbung@example.id"
    assert backup["filename"] in mail.get_payload()
    assert relay.mailbox.envelopes == [("lumbung@example.id", ["ops@example.id", "dba@example.id"])]


async def test_a_webhook_delivery_is_signed_so_the_receiver_can_verify_it(
    notifying: Api, receiver: WebhookReceiver
) -> None:
    channel = await webhook(notifying, receiver, ["RESTORE_COMPLETED"])
    backup = await backup_and_wait(notifying, backupType="PARTIAL")
    log = await restore_and_wait(notifying, backup)
    assert log["status"] == "COMPLETED"
    [delivery] = await deliveries(notifying, channel)
    assert delivery == {
        "event": "RESTORE_COMPLETED",
        "status": "DELIVERED",
        "subject": f"Restore #{log['id']} of backup #{backup['id']} completed",
        "attempts": 1,
        "error": None,
    }
    [received] = receiver.deliveries
    assert received.path == "/hook/T0KEN-in-the-path"
    timestamp = received.headers["X-Lumbung-Timestamp"]
    assert received.headers["X-Lumbung-Signature"] == sign(SIGNING_KEY, timestamp, received.body)
    assert abs(int(timestamp) - time.time()) < 60
    assert received.headers["X-Lumbung-Event"] == "restore_completed"
    body = json.loads(received.body)
    assert body["event"] == "restore_completed"
    assert body["details"]["restoreId"] == log["id"]
    assert SIGNING_KEY not in received.body.decode()


async def test_a_slack_webhook_gets_a_slack_body(notifying: Api, receiver: WebhookReceiver) -> None:
    data = await notifying.query(
        CREATE,
        {
            "input": {
                "name": "slack",
                "kind": "WEBHOOK",
                "events": ["RESTORE_COMPLETED"],
                "url": receiver.url(),
                "slack": True,
            }
        },
    )
    assert data["createNotificationChannel"]["hasSigningSecret"] is False
    result = await notifying.query(TEST, {"id": data["createNotificationChannel"]["id"]})
    assert result["testNotification"]["status"] == "DELIVERED"
    [received] = receiver.deliveries
    assert json.loads(received.body) == {
        "text": "*Test notification for channel 'slack'*\n"
        "This is a test from Lumbung: channel 'slack' works."
    }
    assert "X-Lumbung-Signature" not in received.headers


async def test_a_failing_webhook_is_retried_with_backoff_until_it_answers(
    notifying: Api, receiver: WebhookReceiver
) -> None:
    channel = await webhook(notifying, receiver, ["RESTORE_COMPLETED"])
    receiver.statuses = [500, 503]
    result = (await notifying.query(TEST, {"id": channel}))["testNotification"]
    assert result == {"status": "DELIVERED", "attempts": 3, "error": None, "event": "TEST"}
    first, second, third = (d.at for d in receiver.deliveries)
    # Backoff 0.05 s, then doubled.
    assert second - first >= 0.05
    assert third - second >= 0.1


async def test_a_refusing_webhook_is_not_retried_and_its_error_is_kept(
    notifying: Api, receiver: WebhookReceiver
) -> None:
    channel = await webhook(notifying, receiver, ["RESTORE_COMPLETED"])
    receiver.statuses = [403]
    result = (await notifying.query(TEST, {"id": channel}))["testNotification"]
    assert result["status"] == "FAILED"
    assert result["attempts"] == 1
    assert result["error"] == "127.0.0.1 refused the notification: HTTP 403"
    [listed] = (await notifying.query("{ notificationChannels { id lastError lastErrorAt } }"))[
        "notificationChannels"
    ]
    assert listed["lastError"] == result["error"]
    assert listed["lastErrorAt"] is not None


async def test_a_channel_that_never_answers_neither_fails_nor_delays_the_job(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        tmp_path,
        **notify_settings(tmp_path, None, webhook_timeout_seconds=1.0, notification_retries=1),
    )
    receiver.delay = 5.0
    async with open_api(settings) as api:
        channel = await webhook(api, receiver, ["RESTORE_COMPLETED"])
        backup = await backup_and_wait(api, backupType="PARTIAL")
        log = await restore_and_wait(api, backup)
        assert log["status"] == "COMPLETED"
        # The restore is done; its notification is still waiting on the silent webhook.
        assert (await api.query(DELIVERIES, {"id": channel}))["notifications"]["total"] == 0
        [delivery] = await deliveries(api, channel)
    assert delivery["status"] == "FAILED"
    assert delivery["attempts"] == 2
    assert delivery["error"] == "127.0.0.1 did not answer within 1 s"


async def test_test_notification_reports_a_relay_that_refuses_the_login(
    tmp_path: Path, relay: Relay
) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        tmp_path,
        **notify_settings(tmp_path, relay, smtp_password="wrong-password"),
    )
    async with open_api(settings) as api:
        data = await api.query(
            CREATE,
            {
                "input": {
                    "name": "m",
                    "kind": "EMAIL",
                    "events": ["BACKUP_FAILED"],
                    "recipients": ["ops@example.id"],
                }
            },
        )
        result = await api.query(TEST, {"id": data["createNotificationChannel"]["id"]})
    assert result["testNotification"]["status"] == "FAILED"
    assert result["testNotification"]["attempts"] == 1  # a refused login is not retried
    assert result["testNotification"]["error"].startswith("the SMTP server refused the login")
    assert relay.mailbox.messages == []


async def test_an_untrusted_relay_certificate_is_refused(tmp_path: Path, relay: Relay) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        tmp_path,
        **notify_settings(tmp_path, relay, smtp_ca_file=None, notification_retries=0),
    )
    async with open_api(settings) as api:
        data = await api.query(
            CREATE,
            {
                "input": {
                    "name": "m",
                    "kind": "EMAIL",
                    "events": ["BACKUP_FAILED"],
                    "recipients": ["ops@example.id"],
                }
            },
        )
        result = await api.query(TEST, {"id": data["createNotificationChannel"]["id"]})
    assert result["testNotification"]["status"] == "FAILED"
    assert "could not deliver through 127.0.0.1" in result["testNotification"]["error"]
    assert relay.mailbox.messages == []
