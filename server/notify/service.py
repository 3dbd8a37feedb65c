"""The Notifier: what jobs and checks call to tell the channels that listen to an event.

`notify()` returns at once: each delivery runs as a task of its own, off the job's path, so a
slow or failing channel never fails or delays a backup, a restore or a drill. Every delivery
is recorded (`NotificationDelivery`, the `notifications` query) with its attempts and error,
and each channel keeps its last error. At shutdown, deliveries under way get a few seconds to
finish.

Events come from one place per job kind (the `_finish` of server/backup/job.py,
server/restore/job.py and server/drill/job.py), from the periodic checks (checker.py), and
from the scheduler (`schedule_missed`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.enums import ChannelKind, DeliveryStatus, NotificationEvent
from server.db.models import NotificationChannel, NotificationDelivery
from server.errors import public_error
from server.notify.channels import WebhookSecrets, get_channel
from server.notify.secrets import SecretBox
from server.notify.senders import Attempts, Final, Message, post_webhook, send_email, with_retries
from server.settings import Settings

log = logging.getLogger("lumbung.notify")

SHUTDOWN_GRACE_SECONDS = 5.0
MAX_SUBJECT = 191


class Notifier:
    def __init__(
        self, settings: Settings, sessions: async_sessionmaker[AsyncSession], box: SecretBox
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._box = box
        self._tasks: set[asyncio.Task[None]] = set()
        # httpx logs every request's full URL at INFO, and a webhook's URL may be its secret
        # (Slack's path is): its own lines are kept to warnings and worse.
        logging.getLogger("httpx").setLevel(logging.WARNING)

    # --- what callers say ----------------------------------------------------------------------
    def notify(
        self, event: NotificationEvent, subject: str, text: str, details: dict[str, Any]
    ) -> None:
        """Tell every enabled channel that listens to `event`, in the background."""
        message = Message(event.value, subject[:MAX_SUBJECT], text, details)
        task = asyncio.get_running_loop().create_task(
            self._fan_out(event, message), name=f"lumbung-notify-{event.value}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def schedule_missed(
        self,
        schedule_id: int,
        name: str,
        *,
        first: datetime,
        last: datetime,
        slots: int,
        reason: str,
    ) -> None:
        """For the scheduler: `slots` slots of schedule `name`, from `first` to `last`, did not
        run (`reason` says why)."""
        when = (
            f"its run of {last:%Y-%m-%d %H:%M} UTC"
            if slots == 1
            else f"{slots} runs, {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
        )
        self.notify(
            NotificationEvent.SCHEDULE_MISSED,
            f"Schedule {name!r} missed {when}",
            f"Schedule {name!r} (#{schedule_id}): {reason}",
            {
                "scheduleId": schedule_id,
                "missedSlots": slots,
                "missedFrom": first.isoformat(),
                "missedTo": last.isoformat(),
                "reason": reason,
            },
        )

    async def test(self, channel_id: int) -> NotificationDelivery:
        """`testNotification`: send a test message to one channel now and wait for the
        outcome (recorded like any delivery)."""
        async with self._sessions() as session:
            channel = await get_channel(session, channel_id)
        message = Message(
            NotificationEvent.TEST.value,
            f"Test notification for channel {channel.name!r}",
            f"This is a test from {self._settings.app_name}: channel {channel.name!r} works.",
            {"channelId": channel.id},
        )
        return await self._deliver(channel, NotificationEvent.TEST, message)

    async def close(self) -> None:
        """Give deliveries under way a few seconds, then stop them."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def idle(self) -> None:
        """Wait for the deliveries under way (tests, the CLI before it exits)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    # --- delivering ----------------------------------------------------------------------------
    async def _fan_out(self, event: NotificationEvent, message: Message) -> None:
        try:
            async with self._sessions() as session:
                channels = (
                    await session.scalars(
                        select(NotificationChannel).where(NotificationChannel.enabled.is_(True))
                    )
                ).all()
            listening = [c for c in channels if event.value in (c.events or [])]
            await asyncio.gather(*(self._deliver(c, event, message) for c in listening))
        except Exception as exc:
            log.error(
                "notifications could not be sent: %s",
                public_error(exc).message,
                extra={"event": "notify.failed", "notification": event.value},
            )

    async def _deliver(
        self, channel: NotificationChannel, event: NotificationEvent, message: Message
    ) -> NotificationDelivery:
        started = datetime.now(UTC)
        try:
            attempts = await with_retries(self._settings, lambda: self._send(channel, message))
        except Exception as exc:  # a sealed secret that cannot be opened, and the like
            attempts = Attempts(count=1, error=public_error(exc).message)
        delivery = NotificationDelivery(
            channel_id=channel.id,
            event=event,
            status=DeliveryStatus.FAILED if attempts.error else DeliveryStatus.DELIVERED,
            subject=message.subject,
            attempts=attempts.count,
            error=attempts.error,
            created_at=started,
            completed_at=datetime.now(UTC),
        )
        values: dict[str, object] = (
            {"last_error": attempts.error, "last_error_at": delivery.completed_at}
            if attempts.error
            else {"last_delivered_at": delivery.completed_at}
        )
        async with self._sessions() as session:
            session.add(delivery)
            await session.execute(
                update(NotificationChannel)
                .where(NotificationChannel.id == channel.id)
                .values(**values)
            )
            await session.commit()
        log.log(
            logging.WARNING if attempts.error else logging.INFO,
            "notification %s",
            delivery.status.value,
            extra={
                "event": "notify.delivery",
                "channel": channel.id,
                "notification": event.value,
                "attempts": attempts.count,
                "error": attempts.error,
            },
        )
        return delivery

    async def _send(self, channel: NotificationChannel, message: Message) -> None:
        app = self._settings.app_name
        if channel.kind is ChannelKind.EMAIL:
            await send_email(self._settings, list(channel.recipients or []), message, app)
            return
        if not channel.secret:
            raise Final("the webhook has no URL")
        secrets = WebhookSecrets.opened(self._box, channel.secret)
        await post_webhook(self._settings, secrets.url, secrets.key, channel.slack, message, app)
