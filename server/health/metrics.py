"""/metrics in Prometheus' text format (prometheus_client), read from the catalog at scrape
time: whichever worker or machine answers the scrape, the figures are the same, because they
are the catalog's, not one process's counters. Only the progress followers are per process;
with Redis, every process reports its count there and a scrape sums them.

Not public: it answers only a request bearing LUMBUNG_METRICS_TOKEN, and 404 when none is set.
"""

from __future__ import annotations

import asyncio
import hmac
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from server import __version__
from server.db.enums import DeliveryStatus, DrillStatus, JobStatus
from server.db.models import (
    Backup,
    CacheLog,
    NotificationChannel,
    NotificationDelivery,
    RestoreDrill,
    RestoreLog,
)
from server.resources import Resources


def _timestamp(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


@dataclass
class Figures:
    """Everything a scrape reports, read at once."""

    backups: dict[str, int] = field(default_factory=dict)  # by status
    failed_24h: int = 0
    last_success: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    restores: dict[str, int] = field(default_factory=dict)
    last_restore_seconds: float | None = None
    drills: dict[str, int] = field(default_factory=dict)
    last_drill: dict[str, float] = field(default_factory=dict)  # status -> completed at
    last_drill_restore_seconds: float | None = None
    cache_clears: int = 0
    last_cache_clear: float | None = None
    deliveries: dict[str, int] = field(default_factory=dict)
    failing_channels: dict[str, bool] = field(default_factory=dict)
    free_bytes: int = 0
    used_bytes: int = 0
    followers: int = 0


async def _counts(session: AsyncSession, status: object) -> dict[str, int]:
    rows = await session.execute(select(status, func.count()).group_by(status))  # type: ignore[call-overload]
    return {member.value: int(count) for member, count in rows.all()}


async def read_figures(resources: Resources, now: datetime) -> Figures:
    figures = Figures()
    async with resources.sessions() as session:
        figures.backups = await _counts(session, Backup.status)
        figures.failed_24h = int(
            await session.scalar(
                select(func.count()).where(
                    Backup.status == JobStatus.FAILED, Backup.created_at >= now - timedelta(days=1)
                )
            )
            or 0
        )
        for (backup_type,) in (await session.execute(select(Backup.backup_type).distinct())).all():
            newest = (
                await session.scalars(
                    select(Backup)
                    .where(Backup.status == JobStatus.COMPLETED, Backup.backup_type == backup_type)
                    .order_by(Backup.created_at.desc(), Backup.id.desc())
                    .limit(1)
                )
            ).first()
            if newest is not None:
                figures.last_success[backup_type.value] = (
                    (newest.completed_at or newest.created_at).timestamp(),
                    (newest.duration_ms or 0) / 1000,
                    newest.file_size,
                )
        figures.used_bytes = int(
            await session.scalar(
                select(func.sum(Backup.file_size)).where(Backup.status == JobStatus.COMPLETED)
            )
            or 0
        )
        figures.restores = await _counts(session, RestoreLog.status)
        restore = (
            await session.scalars(
                select(RestoreLog)
                .where(RestoreLog.status == JobStatus.COMPLETED)
                .order_by(RestoreLog.id.desc())
                .limit(1)
            )
        ).first()
        if restore is not None and restore.duration_ms is not None:
            figures.last_restore_seconds = restore.duration_ms / 1000
        figures.drills = await _counts(session, RestoreDrill.status)
        for status in (DrillStatus.PASSED, DrillStatus.FAILED):
            at = await session.scalar(
                select(func.max(RestoreDrill.completed_at)).where(RestoreDrill.status == status)
            )
            if at is not None:
                figures.last_drill[status.value] = at.replace(tzinfo=UTC).timestamp()
        drill = (
            await session.scalars(
                select(RestoreDrill)
                .where(RestoreDrill.restore_ms.is_not(None))
                .order_by(RestoreDrill.id.desc())
                .limit(1)
            )
        ).first()
        if drill is not None and drill.restore_ms is not None:
            figures.last_drill_restore_seconds = drill.restore_ms / 1000
        figures.cache_clears = int(await session.scalar(select(func.count(CacheLog.id))) or 0)
        last_clear = await session.scalar(select(func.max(CacheLog.created_at)))
        figures.last_cache_clear = (
            None if last_clear is None else last_clear.replace(tzinfo=UTC).timestamp()
        )
        figures.deliveries = await _counts(session, NotificationDelivery.status)
        for channel in (await session.scalars(select(NotificationChannel))).all():
            failing = channel.last_error_at is not None and (
                channel.last_delivered_at is None
                or channel.last_error_at > channel.last_delivered_at
            )
            figures.failing_channels[channel.name] = failing
    usage = await asyncio.to_thread(shutil.disk_usage, resources.folder.root)
    figures.free_bytes = usage.free
    figures.followers = await resources.progress.followers_everywhere()
    return figures


class CatalogCollector:
    """Hands prometheus_client the figures of one scrape."""

    def __init__(self, figures: Figures) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        f = self._figures
        info = GaugeMetricFamily("lumbung_info", "Lumbung's version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield _by(
            "lumbung_backups",
            "Backups in the catalog, by status.",
            "status",
            {s.value: f.backups.get(s.value, 0) for s in JobStatus},
        )
        yield GaugeMetricFamily(
            "lumbung_backups_failed_24h",
            "Backups that failed in the last 24 hours.",
            value=f.failed_24h,
        )
        for name, index, help_text in (
            (
                "lumbung_backup_last_success_timestamp_seconds",
                0,
                "When the newest completed backup of each type finished (Unix time).",
            ),
            (
                "lumbung_backup_last_duration_seconds",
                1,
                "How long the newest completed backup of each type took.",
            ),
            (
                "lumbung_backup_last_size_bytes",
                2,
                "The file size of the newest completed backup of each type.",
            ),
        ):
            yield _by(
                name, help_text, "backup_type", {k: v[index] for k, v in f.last_success.items()}
            )
        yield _by(
            "lumbung_restores",
            "Restores in the catalog, by status.",
            "status",
            {s.value: f.restores.get(s.value, 0) for s in JobStatus},
        )
        if f.last_restore_seconds is not None:
            yield GaugeMetricFamily(
                "lumbung_restore_last_duration_seconds",
                "How long the newest completed restore took.",
                value=f.last_restore_seconds,
            )
        yield _by(
            "lumbung_drills",
            "Restore drills in the catalog, by status.",
            "status",
            {s.value: f.drills.get(s.value, 0) for s in DrillStatus},
        )
        yield _by(
            "lumbung_drill_last_timestamp_seconds",
            "When the newest passed, and the newest failed, restore drill finished (Unix time).",
            "status",
            f.last_drill,
        )
        if f.last_drill_restore_seconds is not None:
            yield GaugeMetricFamily(
                "lumbung_drill_last_restore_seconds",
                "How long the newest drill's restore took: how long a restore takes.",
                value=f.last_drill_restore_seconds,
            )
        yield GaugeMetricFamily(
            "lumbung_cache_clears", "Cache clearings in the catalog.", value=f.cache_clears
        )
        if f.last_cache_clear is not None:
            yield GaugeMetricFamily(
                "lumbung_cache_last_clear_timestamp_seconds",
                "When caches were last cleared (Unix time).",
                value=f.last_cache_clear,
            )
        yield _by(
            "lumbung_jobs_in_progress",
            "Jobs running now, by kind.",
            "kind",
            {
                "backup": f.backups.get(JobStatus.IN_PROGRESS.value, 0),
                "restore": f.restores.get(JobStatus.IN_PROGRESS.value, 0),
                "drill": f.drills.get(DrillStatus.IN_PROGRESS.value, 0),
            },
        )
        yield GaugeMetricFamily(
            "lumbung_progress_subscribers",
            "Progress followers (subscriptions) across every server process.",
            value=f.followers,
        )
        yield _by(
            "lumbung_notification_deliveries",
            "Notification deliveries, by outcome.",
            "status",
            {s.value: f.deliveries.get(s.value, 0) for s in DeliveryStatus},
        )
        yield _by(
            "lumbung_notification_channel_failing",
            "1 when a channel's latest delivery failed.",
            "channel",
            {name: int(failing) for name, failing in f.failing_channels.items()},
        )
        yield GaugeMetricFamily(
            "lumbung_backup_storage_free_bytes",
            "Free space on the backup folder's disk.",
            value=f.free_bytes,
        )
        yield GaugeMetricFamily(
            "lumbung_backup_storage_used_bytes",
            "What the completed backups' files take.",
            value=f.used_bytes,
        )


def _by(name: str, help_text: str, label: str, values: dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _authorized(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


async def metrics(request: Request) -> Response:
    resources: Resources = request.app.state.resources
    token = resources.settings.metrics_token
    if token is None:
        return PlainTextResponse("Not Found", status_code=404)
    if not _authorized(request, token.get_secret_value()):
        return PlainTextResponse(
            "Unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CatalogCollector(await read_figures(resources, datetime.now(UTC))))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
