"""Sending one notification: by e-mail (aiosmtplib: STARTTLS or TLS, with authentication) or to
a webhook (httpx: a JSON POST signed with HMAC-SHA256, or a Slack-compatible body), each with a
timeout and retries with backoff.

What a failure says is written here, never taken from a library's message as it is: those can
carry a webhook's URL, whose path may be its secret (Slack's are).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx

from server import __version__
from server.settings import Settings

SIGNATURE_HEADER = "X-Lumbung-Signature"
TIMESTAMP_HEADER = "X-Lumbung-Timestamp"
EVENT_HEADER = "X-Lumbung-Event"


@dataclass(frozen=True)
class Message:
    event: str
    subject: str
    text: str
    details: dict[str, Any]


@dataclass
class Attempts:
    """The outcome of sending one message, after its retries."""

    count: int = 0
    error: str | None = None


class Retryable(Exception):
    """A failure worth another try (a timeout, a refused connection, a 5xx or 429)."""


class Final(Exception):
    """A failure another try would not change (a 4xx, a refused login)."""


def sign(key: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(key, "<timestamp>." + body): the timestamp is signed too,
    so a receiver can refuse a replayed delivery."""
    digest = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


async def with_retries(settings: Settings, send: Any) -> Attempts:
    """Call `send()` until it succeeds, fails for good, or has been retried
    LUMBUNG_NOTIFICATION_RETRIES times, waiting 1x, 2x, 4x... the backoff in between."""
    result = Attempts()
    delay = settings.notification_backoff_seconds
    while True:
        result.count += 1
        try:
            await send()
            result.error = None
            return result
        except Final as exc:
            result.error = str(exc)
            return result
        except Retryable as exc:
            result.error = str(exc)
            if result.count > settings.notification_retries:
                return result
        await asyncio.sleep(delay)
        delay *= 2


async def post_webhook(
    settings: Settings, url: str, key: str | None, slack: bool, message: Message, app: str
) -> None:
    """One POST of the message; raises Retryable or Final."""
    host = httpx.URL(url).host
    if slack:
        payload: dict[str, Any] = {"text": f"*{message.subject}*\n{message.text}"}
    else:
        payload = {
            "event": message.event,
            "subject": message.subject,
            "text": message.text,
            "details": message.details,
            "application": app,
            "sentAt": time.time(),
        }
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Lumbung/{__version__}",
        EVENT_HEADER: message.event,
        TIMESTAMP_HEADER: timestamp,
    }
    if key:
        headers[SIGNATURE_HEADER] = sign(key, timestamp, body)
    try:
        async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        raise Retryable(
            f"{host} did not answer within {settings.webhook_timeout_seconds:g} s"
        ) from None
    except httpx.HTTPError as exc:
        raise Retryable(f"could not reach {host} ({type(exc).__name__})") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise Retryable(f"{host} answered HTTP {response.status_code}")
    if response.status_code >= 300:
        raise Final(f"{host} refused the notification: HTTP {response.status_code}")


async def send_email(settings: Settings, recipients: list[str], message: Message, app: str) -> None:
    """One SMTP session for the message; raises Retryable or Final."""
    if not settings.smtp_host:
        raise Final("LUMBUNG_SMTP_HOST is not set: e-mail cannot be sent.")
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = ", ".join(recipients)
    mail["Subject"] = f"[{app}] {message.subject}"
    mail[EVENT_HEADER] = message.event
    mail.set_content(message.text + "\n")
    context = ssl.create_default_context(
        cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    )
    security = settings.smtp_security
    try:
        await aiosmtplib.send(
            mail,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            use_tls=security == "tls",
            start_tls=security == "starttls",
            tls_context=context if security != "none" else None,
            timeout=settings.smtp_timeout_seconds,
        )
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise Final(f"the SMTP server refused the login ({exc.code})") from None
    except aiosmtplib.SMTPResponseException as exc:
        reason = f"the SMTP server answered {exc.code} {exc.message[:160]}"
        raise (Retryable(reason) if 400 <= exc.code < 500 else Final(reason)) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise Retryable(
            f"could not deliver through {settings.smtp_host}:{settings.smtp_port} "
            f"({type(exc).__name__})"
        ) from None
