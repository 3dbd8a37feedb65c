"""The tracker that turns a job's raw progress (SQL bytes through the pipeline, table sections
as they pass) into progress events on the bus.

Two figures of progress: `percent` is of the current phase, against its estimate; `overall`
is of the whole job, for a UI's single bar. A job names its phases in order with the share of
the work each takes (`stages`), and `overall` adds up the phases done and the fraction of the
current one. It never goes back: not at a phase change, not when an estimate proves low, not
while a failed restore rolls back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace

from server.db.enums import JobStatus
from server.events.bus import ProgressBus
from server.events.event import ProgressEvent

# A phase of a job and its share of the work (any unit: the shares are added up).
Stage = tuple[str, float]


class ProgressTracker:
    """Turns a job's raw progress (SQL bytes, current table) into events: percent against
    the estimate, overall progress, tables done, ETA. Safe to call from the job's worker
    thread."""

    MIN_INTERVAL = 0.2  # seconds between events of the same phase

    def __init__(
        self,
        bus: ProgressBus,
        loop: asyncio.AbstractEventLoop,
        job_id: str,
        *,
        tables_total: int,
        bytes_total: int | None,
        stages: Sequence[Stage] = (),
    ) -> None:
        self._bus = bus
        self._stages = [(name, max(share, 0.0)) for name, share in stages]
        self._stage_total = sum(share for _, share in self._stages) or 1.0
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

    def _overall(self, phase: str, fraction: float) -> float:
        """The whole job's progress in `phase`, `fraction` of the way through it; never less
        than what was already shown."""
        done = 0.0
        for name, share in self._stages:
            if name == phase:
                done += share * min(max(fraction, 0.0), 1.0)
                break
            done += share
        else:
            done = 0.0  # a phase outside the plan (queued, rolling-back): no new ground
        return max(self._event.overall_percent, round(100.0 * done / self._stage_total, 1))

    def phase(
        self,
        phase: str,
        message: str | None = None,
        *,
        bytes_total: int | None = -1,
        keep_bytes: bool = False,
    ) -> None:
        """Enter `phase`. `bytes_total` is its estimate (-1: keep the current one). With
        `keep_bytes`, the phase finishes the bytes of the one before it (writing out what was
        dumped): bytes done stay, and they are the exact total now."""
        total: int | None
        if keep_bytes:
            done, total = self._event.bytes_done, self._event.bytes_done
        else:
            done = 0
            total = self._event.bytes_total if bytes_total == -1 else bytes_total
        self._seen_tables.clear()
        self._phase_started = time.monotonic()
        self._send(
            replace(
                self._event,
                phase=phase,
                message=message,
                bytes_done=done,
                bytes_total=total,
                tables_done=0,
                current_table=None,
                percent=0.0,
                overall_percent=self._overall(phase, 0.0),
                eta_seconds=None,
            ),
            force=True,
        )

    def advance(self, *, sql_bytes: int, table: str | None) -> None:
        if table is not None and table not in self._seen_tables:
            self._seen_tables.add(table)
        tables_done = max(len(self._seen_tables) - (1 if table is not None else 0), 0)
        total = self._event.bytes_total
        if total is not None and sql_bytes > total:
            total = sql_bytes  # the estimate was low: bytes done never pass the total
        percent = min(99.0, 100.0 * sql_bytes / total) if total else 0.0
        in_phase = time.monotonic() - self._phase_started
        eta = in_phase * (100 - percent) / percent if percent > 1 else None
        self._send(
            replace(
                self._event,
                bytes_done=sql_bytes,
                bytes_total=total,
                current_table=table,
                tables_done=tables_done,
                percent=round(percent, 1),
                overall_percent=self._overall(self._event.phase, percent / 100.0),
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
                overall_percent=100.0 if completed else self._event.overall_percent,
                # The real totals: what the last phase moved, now known exactly.
                bytes_total=self._event.bytes_done if completed else self._event.bytes_total,
                tables_done=self._event.tables_total if completed else self._event.tables_done,
                current_table=None,
                eta_seconds=0.0 if completed else None,
                message=message,
            ),
            force=True,
        )
