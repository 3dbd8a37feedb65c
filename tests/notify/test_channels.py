"""Channels through GraphQL: checked before they are stored, and their secrets write-only:
never returned, never logged, never stored in the clear."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.notify.conftest import CREATE, SIGNING_KEY
from tests.notify.receivers import Relay, WebhookReceiver
from tests.support.app import Api, make_settings, open_api

UPDATE = """
mutation ($id: Int!, $input: NotificationChannelInput!) {
  updateNotificationChannel(id: $id, input: $input) {
    id name enabled events target hasSigningSecret
  }
}
"""
SECRET_URL_PATH = "/services/T000/B000/XXXXsecretXXXX"


async def test_a_webhooks_url_and_signing_key_never_come_back_nor_reach_the_log(
    notifying: Api, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    variables = {
        "input": {
            "name": "hook",
            "kind": "WEBHOOK",
            "events": ["BACKUP_FAILED"],
            "url": receiver.url(SECRET_URL_PATH),
            "signingSecret": SIGNING_KEY,
        }
    }
    response = await notifying.post(CREATE, variables)
    created = response.json()["data"]["createNotificationChannel"]
    assert created["target"] == f"http://127.0.0.1:{receiver.port}/…"
    assert created["hasSigningSecret"] is True
    listed = await notifying.post(
        "{ notificationChannels { id name target recipients hasSigningSecret } }"
    )
    test = await notifying.post(
        "mutation ($id: Int!) { testNotification(channel: $id) { status } }",
        {"id": created["id"]},
    )
    assert test.json()["data"]["testNotification"]["status"] == "DELIVERED"
    for text_ in (response.text, listed.text, test.text, caplog.text):
        assert SECRET_URL_PATH not in text_
        assert SIGNING_KEY not in text_
    async with notifying.resources.engine.connect() as connection:
        stored = (await connection.execute(text('SELECT secret FROM "NotificationChannel"'))).one()
    assert SECRET_URL_PATH not in stored[0] and SIGNING_KEY not in stored[0]
    # The SDL has no field that could return them.
    sdl = (Path(__file__).parents[2] / "schema" / "schema.graphql").read_text()
    block = sdl[sdl.index("type NotificationChannel {") :]
    block = block[: block.index("}")]
    assert "url" not in block and "signingSecret" not in block


async def test_updating_a_webhook_keeps_its_secrets_unless_new_ones_are_given(
    notifying: Api, receiver: WebhookReceiver
) -> None:
    created = (
        await notifying.query(
            CREATE,
            {
                "input": {
                    "name": "hook",
                    "kind": "WEBHOOK",
                    "events": ["BACKUP_FAILED"],
                    "url": receiver.url("/old"),
                    "signingSecret": SIGNING_KEY,
                }
            },
        )
    )["createNotificationChannel"]
    renamed = await notifying.query(
        UPDATE, {"id": created["id"], "input": {"name": "renamed", "events": ["DRILL_FAILED"]}}
    )
    assert renamed["updateNotificationChannel"]["hasSigningSecret"] is True
    await notifying.query(UPDATE, {"id": created["id"], "input": {"url": receiver.url("/new")}})
    await notifying.query(
        "mutation ($id: Int!) { testNotification(channel: $id) { status } }", {"id": created["id"]}
    )
    assert [d.path for d in receiver.deliveries] == ["/new"]


@pytest.mark.parametrize(
    ("input_", "words"),
    [
        (
            {
                "kind": "WEBHOOK",
                "events": ["BACKUP_FAILED"],
                "url": "ftp://x/y",
                "signingSecret": SIGNING_KEY,
            },
            "http:// or https://",
        ),
        (
            {"kind": "WEBHOOK", "events": ["BACKUP_FAILED"], "url": "https://h/x"},
            "give `signingSecret`",
        ),
        (
            {
                "kind": "WEBHOOK",
                "events": ["BACKUP_FAILED"],
                "url": "https://h/x",
                "signingSecret": "short",
            },
            "at least 16",
        ),
        (
            {"kind": "EMAIL", "events": ["BACKUP_FAILED"], "recipients": ["not an address"]},
            "is not an e-mail address",
        ),
        ({"kind": "EMAIL", "events": ["BACKUP_FAILED"]}, "needs `recipients`"),
        ({"kind": "EMAIL", "events": [], "recipients": ["a@b.c"]}, "at least one event"),
        ({"kind": "EMAIL", "events": ["TEST"], "recipients": ["a@b.c"]}, "at least one event"),
    ],
)
async def test_a_bad_channel_is_refused_saying_what_is_wrong(
    notifying: Api, input_: dict[str, Any], words: str
) -> None:
    error = await notifying.error(CREATE, {"input": {"name": "x", **input_}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert words in error["message"]
    assert (await notifying.query("{ notificationChannels { id } }"))["notificationChannels"] == []


async def test_two_channels_may_not_share_a_name(notifying: Api) -> None:
    channel = {"name": "ops", "kind": "EMAIL", "events": ["BACKUP_FAILED"], "recipients": ["a@b.c"]}
    await notifying.query(CREATE, {"input": channel})
    error = await notifying.error(CREATE, {"input": channel})
    assert error["extensions"]["code"] == "CONFLICT"


async def test_e_mail_needs_a_relay_and_webhooks_need_a_secrets_key_in_production(
    tmp_path: Path, relay: Relay
) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        tmp_path,
        environment="production",
        migrate_on_start=True,
    )
    async with open_api(settings) as api:
        error = await api.error(
            CREATE,
            {
                "input": {
                    "name": "m",
                    "kind": "EMAIL",
                    "events": ["BACKUP_FAILED"],
                    "recipients": ["a@b.c"],
                }
            },
        )
        assert "LUMBUNG_SMTP_HOST" in error["message"]
        error = await api.error(
            CREATE,
            {
                "input": {
                    "name": "w",
                    "kind": "WEBHOOK",
                    "events": ["BACKUP_FAILED"],
                    "url": "https://h/x",
                    "signingSecret": SIGNING_KEY,
                }
            },
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "set LUMBUNG_SECRETS_KEY" in error["message"]


async def test_deleting_a_channel_deletes_its_deliveries(notifying: Api, relay: Relay) -> None:
    channel = {"name": "ops", "kind": "EMAIL", "events": ["BACKUP_FAILED"], "recipients": ["a@b.c"]}
    created = (await notifying.query(CREATE, {"input": channel}))["createNotificationChannel"]
    await notifying.query(
        "mutation ($id: Int!) { testNotification(channel: $id) { status } }", {"id": created["id"]}
    )
    deleted = await notifying.query(
        "mutation ($id: Int!) { deleteNotificationChannel(id: $id) }", {"id": created["id"]}
    )
    assert deleted["deleteNotificationChannel"] == created["id"]
    assert (await notifying.query("{ notifications { total } }"))["notifications"]["total"] == 0
    error = await notifying.error(
        "mutation ($id: Int!) { testNotification(channel: $id) { status } }", {"id": created["id"]}
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
