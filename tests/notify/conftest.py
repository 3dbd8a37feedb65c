"""An app on SQLite with a real SMTP relay and a real webhook receiver beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backup.conftest import database
from tests.notify.receivers import (
    SMTP_PASSWORD,
    SMTP_USER,
    Relay,
    WebhookReceiver,
    smtp_relay,
    webhook_receiver,
)
from tests.support.app import Api, make_settings, open_api

__all__ = ["database"]

SIGNING_KEY = "a-signing-key-of-some-length"
CREATE = """
mutation ($input: NotificationChannelInput!) {
  createNotificationChannel(input: $input) {
    id name kind enabled events recipients target slack hasSigningSecret lastError
  }
}
"""
DELIVERIES = """
query ($id: Int) {
  notifications(channelId: $id) { total items { event status subject attempts error } }
}
"""


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    with smtp_relay(tmp_path) as value:
        yield value


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as value:
        yield value


def notify_settings(tmp_path: Path, relay: Relay | None, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "notification_backoff_seconds": 0.05,
        "webhook_timeout_seconds": 2.0,
        "secrets_key": "a-secrets-key-for-the-tests-0123456789",
    }
    if relay is not None:
        values |= {
            "smtp_host": "127.0.0.1",
            "smtp_port": relay.port,
            "smtp_username": SMTP_USER,
            "smtp_password": SMTP_PASSWORD,
            "smtp_ca_file": relay.ca_file,
            "smtp_from": "lumbung@example.id",
        }
    return values | overrides


@pytest.fixture
async def notifying(tmp_path: Path, relay: Relay) -> AsyncIterator[Api]:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", tmp_path, **notify_settings(tmp_path, relay)
    )
    async with open_api(settings) as api:
        yield api
