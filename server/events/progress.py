"""Progress events of backups and restores, and the in-process bus that fans them out.

The bus keeps the latest event of every job, so a follower that arrives late (or reconnects)
starts from the current state, and the final event is never missed. A subscriber's queue holds
only the newest event: a slow consumer skips intermediate states, its memory never grows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

FINAL_STATUSES = ("completed", "failed")


@dataclass(frozen=True)
class ProgressEvent:
    job_id: str  # "backup:12" or "restore:7"
    sequence: int
    status: str  # in_progress | completed | failed
    phase: str
    percent: float
    bytes_done: int
    bytes_total: int | None
    tables_done: int
    tables_total: int
    current_table: str | None
    elapsed_seconds: float
    eta_seconds: float | None
    message: str | None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


class ProgressBus:
    def __init__(self) -> None:
        self._latest: dict[str, ProgressEvent] = {}
        self._subscribers: dict[str, set[asyncio.Queue[ProgressEvent]]] = {}
        self._listeners: list[Callable[[ProgressEvent], None]] = []

    def latest(self, job_id: str) -> ProgressEvent | None:
        return self._latest.get(job_id)

    def add_listener(self, listener: Callable[[ProgressEvent], None]) -> None:
        """Call `listener` with every event (the CLI's progress bar)."""
        self._listeners.append(listener)

    def publish(self, event: ProgressEvent) -> None:
        self._latest[event.job_id] = event
        for listener in self._listeners:
            listener(event)
        for queue in self._subscribers.get(event.job_id, ()):
            if queue.full():  # keep only the newest: a slow reader skips, never piles up
                queue.get_nowait()
            queue.put_nowait(event)

    async def follow(self, job_id: str) -> AsyncIterator[ProgressEvent]:
        """The current state at once, then each new event, until the final one."""
        queue: asyncio.Queue[ProgressEvent] = asyncio.Queue(maxsize=1)
        self._subscribers.setdefault(job_id, set()).add(queue)
        try:
            last = self._latest.get(job_id)
            if last is not None:
                yield last
                if last.final:
                    return
            while True:
                event = await queue.get()
                if last is not None and event.sequence <= last.sequence:
                    continue
                last = event
                yield event
                if event.final:
                    return
        finally:
            self._subscribers[job_id].discard(queue)


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
        self._seen_tables: set[str] = set()
        self._event = ProgressEvent(
            job_id=job_id,
            sequence=0,
            status="in_progress",
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
        event = replace(
            event, sequence=self._event.sequence + 1, elapsed_seconds=round(now - self._started, 3)
        )
        self._event = event
        if not force and now - self._last_sent < self.MIN_INTERVAL:
            return
        self._last_sent = now
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._bus.publish(event)
        else:
            self._loop.call_soon_threadsafe(self._bus.publish, event)

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

    def finish(self, status: str, message: str | None) -> None:
        self._send(
            replace(
                self._event,
                status=status,
                phase="done",
                percent=100.0 if status == "completed" else self._event.percent,
                tables_done=self._event.tables_total
                if status == "completed"
                else self._event.tables_done,
                current_table=None,
                eta_seconds=0.0 if status == "completed" else None,
                message=message,
            ),
            force=True,
        )
