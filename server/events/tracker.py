"""The tracker that turns a job's raw progress (SQL bytes through the pipeline, table sections
as they pass) into progress events on the bus."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from server.db.enums import JobStatus
from server.events.bus import ProgressBus
from server.events.event import ProgressEvent


class ProgressTracker:
    """Turns a job's raw progress (SQL bytes, current table) into events: percent against
    the estimate, tables done, ETA. Safe to call from the job's worker thread."""

    MIN_INTERVAL = 0.2  # seconds between events of the same phase

    def __init__(
        self,
        bus: ProgressBus,
        loop: asyncio.AbstractEventLoop,
        job_id: str,
        *,
        tables_total: int,
        bytes_total: int | None,
    ) -> None:
        self._bus = bus
        self._loop = loop
        self._started = time.monotonic()
        self._phase_started = self._started
        self._last_sent = 0.0
        self._published = 0
        self._flush_pending = False
        self._seen_tables: set[str] = set()
        self._event = ProgressEvent(
            job_id=job_id,
            sequence=0,
            status=JobStatus.IN_PROGRESS,
            phase="queued",
            percent=0.0,
            bytes_done=0,
            bytes_total=bytes_total,
            tables_done=0,
            tables_total=tables_total,
            current_table=None,
            elapsed_seconds=0.0,
            eta_seconds=None,
            message=None,
        )

    @property
    def last(self) -> ProgressEvent:
        return self._event

    def _send(self, event: ProgressEvent, *, force: bool) -> None:
        now = time.monotonic()
        self._event = replace(
            event, sequence=self._event.sequence + 1, elapsed_seconds=round(now - self._started, 3)
        )
        # Events may come from the job's worker thread: publishing happens on the loop.
        if force:
            self._loop.call_soon_threadsafe(self._flush)
        elif not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        wait = self._last_sent + self.MIN_INTERVAL - time.monotonic()
        self._loop.call_later(max(wait, 0.0), self._flush)

    def _flush(self) -> None:
        """Publish the newest event, at most every MIN_INTERVAL unless forced (a phase change,
        the end): a trailing edge, so the latest state always goes out."""
        self._flush_pending = False
        if self._event.sequence > self._published:
            self._published = self._event.sequence
            self._last_sent = time.monotonic()
            self._bus.publish(replace(self._event, emitted_at=time.time()))

    def phase(
        self, phase: str, message: str | None = None, *, bytes_total: int | None = -1
    ) -> None:
        total = self._event.bytes_total if bytes_total == -1 else bytes_total
        self._seen_tables.clear()
        self._phase_started = time.monotonic()
        self._send(
            replace(
                self._event,
                phase=phase,
                message=message,
                bytes_done=0,
                bytes_total=total,
                tables_done=0,
                current_table=None,
                percent=0.0,
                eta_seconds=None,
            ),
            force=True,
        )

    def advance(self, *, sql_bytes: int, table: str | None) -> None:
        if table is not None and table not in self._seen_tables:
            self._seen_tables.add(table)
        tables_done = max(len(self._seen_tables) - (1 if table is not None else 0), 0)
        total = self._event.bytes_total
        percent = min(99.0, 100.0 * sql_bytes / total) if total else 0.0
        in_phase = time.monotonic() - self._phase_started
        eta = in_phase * (100 - percent) / percent if percent > 1 else None
        self._send(
            replace(
                self._event,
                bytes_done=sql_bytes,
                current_table=table,
                tables_done=tables_done,
                percent=round(percent, 1),
                eta_seconds=None if eta is None else round(eta, 1),
            ),
            force=False,
        )

    def finish(self, status: JobStatus, message: str | None) -> None:
        completed = status is JobStatus.COMPLETED
        self._send(
            replace(
                self._event,
                status=status,
                phase="done",
                percent=100.0 if completed else self._event.percent,
                tables_done=self._event.tables_total if completed else self._event.tables_done,
                current_table=None,
                eta_seconds=0.0 if completed else None,
                message=message,
            ),
            force=True,
        )
