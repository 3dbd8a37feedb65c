"""Notification channels and deliveries: their types, and the mutations that manage them.
Secrets (a webhook's URL and signing key) go in and never come out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.permission import BasePermission

from schema.context import Info
from schema.enums import ChannelKind, DeliveryStatus, NotificationEvent
from schema.permissions import IsAdmin
from server.db import models
from server.notify import channels
from server.notify.channels import ChannelInput

ADMIN: list[type[BasePermission]] = [IsAdmin]


@strawberry.type(description="Where notifications go, and which events it gets.")
class NotificationChannel:
    id: int = strawberry.field(description="Channel id.")
    name: str = strawberry.field(description="A name for people, unique.")
    kind: ChannelKind = strawberry.field(description="EMAIL or WEBHOOK.")
    enabled: bool = strawberry.field(description="Whether it gets notifications now.")
    events: list[NotificationEvent] = strawberry.field(description="The events it gets.")
    recipients: list[str] = strawberry.field(description="E-mail: the addresses it sends to.")
    target: str | None = strawberry.field(
        description="Webhook: the URL's scheme and host only (the rest may be a secret)."
    )
    slack: bool = strawberry.field(description="Webhook: sends a Slack-compatible body.")
    has_signing_secret: bool = strawberry.field(
        description="Webhook: whether its deliveries are signed (the key itself is never shown)."
    )
    last_error: str | None = strawberry.field(
        description="Why its last failed delivery failed (null if none has)."
    )
    last_error_at: datetime | None = strawberry.field(description="When that was.")
    last_delivered_at: datetime | None = strawberry.field(
        description="When a delivery last succeeded."
    )
    created_at: datetime = strawberry.field(description="When the channel was added.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def of(cls, row: models.NotificationChannel, *, signed: bool) -> NotificationChannel:
        return cls(
            id=row.id,
            name=row.name,
            kind=row.kind,
            enabled=row.enabled,
            events=[NotificationEvent(e) for e in row.events or []],
            recipients=list(row.recipients or []),
            target=row.target_hint,
            slack=row.slack,
            has_signing_secret=signed,
            last_error=row.last_error,
            last_error_at=row.last_error_at,
            last_delivered_at=row.last_delivered_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="One notification sent (or not) to one channel.")
class NotificationDelivery:
    id: int = strawberry.field(description="Delivery id.")
    channel_id: int = strawberry.field(description="The channel it went to.")
    event: NotificationEvent = strawberry.field(description="What it was about.")
    status: DeliveryStatus = strawberry.field(description="DELIVERED or FAILED.")
    subject: str = strawberry.field(description="Its subject line.")
    attempts: int = strawberry.field(description="How many tries it took (retries included).")
    error: str | None = strawberry.field(description="Why it failed (null when DELIVERED).")
    created_at: datetime = strawberry.field(description="When the first try began.")
    completed_at: datetime | None = strawberry.field(description="When the last try ended.")

    @classmethod
    def of(cls, row: models.NotificationDelivery) -> NotificationDelivery:
        return cls(
            id=row.id,
            channel_id=row.channel_id,
            event=row.event,
            status=row.status,
            subject=row.subject,
            attempts=row.attempts,
            error=row.error,
            created_at=row.created_at,
            completed_at=row.completed_at,
        )


@strawberry.type(description="One page of notification deliveries, newest first.")
class NotificationDeliveryPage:
    items: list[NotificationDelivery] = strawberry.field(description="The deliveries.")
    total: int = strawberry.field(description="How many deliveries match, on all pages.")
    page: int = strawberry.field(description="This page's number, from 1.")
    limit: int = strawberry.field(description="Items per page.")
    page_count: int = strawberry.field(description="How many pages there are.")


@strawberry.input(description="A notification channel's fields; on update, null leaves one as is.")
class NotificationChannelInput:
    name: str | None = strawberry.field(default=None, description="A unique name.")
    kind: ChannelKind | None = strawberry.field(
        default=None, description="EMAIL or WEBHOOK (required to create; never changes)."
    )
    events: list[NotificationEvent] | None = strawberry.field(
        default=None, description="The events it gets (required to create)."
    )
    recipients: list[str] | None = strawberry.field(
        default=None, description="E-mail: the addresses to send to."
    )
    url: str | None = strawberry.field(
        default=None, description="Webhook: where to POST (write-only: never shown again)."
    )
    signing_secret: str | None = strawberry.field(
        default=None,
        description="Webhook: the HMAC-SHA256 key, at least 16 characters (write-only).",
    )
    slack: bool | None = strawberry.field(
        default=None, description="Webhook: send a Slack-compatible body (default false)."
    )
    enabled: bool | None = strawberry.field(default=None, description="Default true.")


def _input(given: NotificationChannelInput) -> ChannelInput:
    return ChannelInput(
        name=given.name,
        kind=given.kind,
        events=given.events,
        recipients=given.recipients,
        url=given.url,
        signing_secret=given.signing_secret,
        slack=given.slack,
        enabled=given.enabled,
    )


def shown(info: Info, row: models.NotificationChannel) -> NotificationChannel:
    return NotificationChannel.of(
        row, signed=channels.is_signed(info.context.resources.secrets, row)
    )


ChannelId = Annotated[int, strawberry.argument(description="The channel's id.")]
ChannelArg = Annotated[
    NotificationChannelInput, strawberry.argument(description="The channel's fields.")
]


@strawberry.type(description="Change things: notification channels.")
class NotificationMutation:
    @strawberry.mutation(permission_classes=ADMIN, description="Add a notification channel.")
    async def create_notification_channel(
        self, info: Info, input: ChannelArg
    ) -> NotificationChannel:
        resources = info.context.resources
        async with resources.sessions() as session:
            row = await channels.create_channel(
                session, resources.secrets, resources.settings, _input(input)
            )
        return shown(info, row)

    @strawberry.mutation(permission_classes=ADMIN, description="Change a notification channel.")
    async def update_notification_channel(
        self, info: Info, id: ChannelId, input: ChannelArg
    ) -> NotificationChannel:
        resources = info.context.resources
        async with resources.sessions() as session:
            row = await channels.update_channel(
                session, resources.secrets, resources.settings, id, _input(input)
            )
        return shown(info, row)

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Delete a notification channel and its deliveries; returns its id.",
    )
    async def delete_notification_channel(self, info: Info, id: ChannelId) -> int:
        async with info.context.resources.sessions() as session:
            row = await channels.delete_channel(session, id)
        return row.id

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Send a test notification to one channel now, and wait for the outcome "
        "(recorded like any delivery).",
    )
    async def test_notification(self, info: Info, channel: ChannelId) -> NotificationDelivery:
        delivery = await info.context.resources.notifier.test(channel)
        return NotificationDelivery.of(delivery)
