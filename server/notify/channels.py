"""Notification channels in the catalog: created, changed, deleted and listed, each checked
before it is stored. A webhook's URL and signing key are sealed (secrets.py) and never read
back through the API: the channel shows only the URL's scheme and host."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import parseaddr

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.enums import ChannelKind, NotificationEvent
from server.db.models import NotificationChannel, NotificationDelivery
from server.db.pagination import Page, PageRequest, paginate
from server.errors import BadUserInput, Conflict, JobFailed, NotFound
from server.notify.secrets import SecretBox
from server.settings import Settings

MAX_NAME = 191
MIN_SIGNING_KEY = 16
MAX_RECIPIENTS = 50


@dataclass(frozen=True)
class ChannelInput:
    """A channel's fields as given; None leaves a field as it is (on update)."""

    name: str | None = None
    kind: ChannelKind | None = None
    events: list[NotificationEvent] | None = None
    recipients: list[str] | None = None
    url: str | None = None
    signing_secret: str | None = None
    slack: bool | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class WebhookSecrets:
    url: str
    key: str | None

    def sealed(self, box: SecretBox) -> str:
        return box.seal(json.dumps({"url": self.url, "key": self.key}))

    @classmethod
    def opened(cls, box: SecretBox, sealed: str) -> WebhookSecrets:
        value = json.loads(box.open(sealed))
        return cls(url=str(value["url"]), key=value.get("key"))


def _checked_url(url: str) -> tuple[str, str]:
    """The URL and what may be shown of it (scheme and host)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise BadUserInput("`url` is not a valid URL.") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise BadUserInput("`url` must be an http:// or https:// URL with a host.")
    port = f":{parsed.port}" if parsed.port else ""
    return url, f"{parsed.scheme}://{parsed.host}{port}/…"


def _checked_recipients(recipients: list[str]) -> list[str]:
    if not recipients:
        raise BadUserInput("An e-mail channel needs `recipients`: at least one address.")
    if len(recipients) > MAX_RECIPIENTS:
        raise BadUserInput(f"At most {MAX_RECIPIENTS} recipients per channel.")
    for address in recipients:
        _, parsed = parseaddr(address)
        if parsed != address.strip() or "@" not in parsed or any(c in parsed for c in "\r\n,"):
            raise BadUserInput(f"{address!r} is not an e-mail address.")
    return [address.strip() for address in recipients]


def _checked_events(events: list[NotificationEvent]) -> list[str]:
    if not events or NotificationEvent.TEST in events:
        raise BadUserInput(
            "`events` must name at least one event (TEST is what testNotification sends)."
        )
    return [event.value for event in dict.fromkeys(events)]


def _apply(
    row: NotificationChannel, given: ChannelInput, box: SecretBox, settings: Settings
) -> None:
    if given.name is not None:
        name = given.name.strip()
        if not name or len(name) > MAX_NAME:
            raise BadUserInput(f"`name` must be 1 to {MAX_NAME} characters.")
        row.name = name
    if given.events is not None:
        row.events = _checked_events(given.events)
    if given.enabled is not None:
        row.enabled = given.enabled
    if given.slack is not None:
        row.slack = given.slack
    if row.kind is ChannelKind.EMAIL:
        if given.url is not None or given.signing_secret is not None:
            raise BadUserInput("`url` and `signingSecret` are for webhooks, not e-mail channels.")
        row.recipients = _checked_recipients(
            given.recipients if given.recipients is not None else list(row.recipients or [])
        )
        if not settings.smtp_host:
            raise BadUserInput("Set LUMBUNG_SMTP_HOST (the mail relay) before adding e-mail.")
        return
    if given.recipients is not None:
        raise BadUserInput("`recipients` are for e-mail channels, not webhooks.")
    current = WebhookSecrets.opened(box, row.secret) if row.secret else None
    url = given.url if given.url is not None else current.url if current else None
    if url is None:
        raise BadUserInput("A webhook channel needs `url`.")
    url, row.target_hint = _checked_url(url)
    key = given.signing_secret
    if key is None and current is not None:
        key = current.key
    if key is not None and len(key) < MIN_SIGNING_KEY:
        raise BadUserInput(f"`signingSecret` must be at least {MIN_SIGNING_KEY} characters.")
    if not key and not row.slack:
        raise BadUserInput(
            "A webhook is signed with HMAC-SHA256: give `signingSecret` (at least "
            f"{MIN_SIGNING_KEY} characters), or set `slack: true` for a Slack incoming webhook."
        )
    row.secret = WebhookSecrets(url, key or None).sealed(box)


def is_signed(box: SecretBox, row: NotificationChannel) -> bool:
    """Whether a webhook's deliveries are signed (False too when its secrets cannot be read)."""
    if not row.secret:
        return False
    try:
        return WebhookSecrets.opened(box, row.secret).key is not None
    except JobFailed:  # sealed under another key: its next delivery fails and says so
        return False


async def create_channel(
    session: AsyncSession, box: SecretBox, settings: Settings, given: ChannelInput
) -> NotificationChannel:
    if given.kind is None or given.name is None or given.events is None:
        raise BadUserInput("A channel needs `name`, `kind` and `events`.")
    row = NotificationChannel(kind=given.kind, enabled=True, slack=False, recipients=[])
    _apply(row, given, box, settings)
    session.add(row)
    await _commit(session, row.name)
    return row


async def update_channel(
    session: AsyncSession, box: SecretBox, settings: Settings, channel_id: int, given: ChannelInput
) -> NotificationChannel:
    row = await get_channel(session, channel_id)
    if given.kind is not None and given.kind is not row.kind:
        raise BadUserInput("A channel's kind cannot change: create another channel.")
    _apply(row, given, box, settings)
    await _commit(session, row.name)
    return row


async def delete_channel(session: AsyncSession, channel_id: int) -> NotificationChannel:
    row = await get_channel(session, channel_id)
    await session.delete(row)
    await session.commit()
    return row


async def _commit(session: AsyncSession, name: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"A channel named {name!r} exists already; choose another name.") from None


async def get_channel(session: AsyncSession, channel_id: int) -> NotificationChannel:
    row = await session.get(NotificationChannel, channel_id)
    if row is None:
        raise NotFound(
            f"No notification channel has id {channel_id}; list them with `notificationChannels`."
        )
    return row


async def list_channels(session: AsyncSession) -> list[NotificationChannel]:
    query = select(NotificationChannel).order_by(NotificationChannel.id)
    return list((await session.scalars(query)).all())


async def list_deliveries(
    session: AsyncSession, request: PageRequest, *, channel_id: int | None = None
) -> Page[NotificationDelivery]:
    query = select(NotificationDelivery).order_by(
        NotificationDelivery.created_at.desc(), NotificationDelivery.id.desc()
    )
    if channel_id is not None:
        await get_channel(session, channel_id)
        query = query.where(NotificationDelivery.channel_id == channel_id)
    return await paginate(session, query, request)
