"""Starting, cancelling and recording background jobs: what every kind of job shares once it
holds the lock (server/jobs/lock.py)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

log = logging.getLogger("lumbung.jobs")

# How long a job's outcome is retried while the database is away.
RECORD_RETRY_SECONDS = 60.0


class JobRunner:
    """Runs each job as a task that lets go of its lock when it ends, and stops them all at
    shutdown. A job gets a threading.Event that is set when it must stop: its blocking work
    runs in worker threads, which a task cancellation cannot reach."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancels: dict[str, threading.Event] = {}

    def spawn(
        self, job_id: str, lock: AsyncExitStack, work: Callable[[threading.Event], Awaitable[None]]
    ) -> asyncio.Task[None]:
        cancel = threading.Event()

        async def run() -> None:
            try:
                await work(cancel)
            finally:
                self._tasks.pop(job_id, None)
                self._cancels.pop(job_id, None)
                try:
                    await lock.aclose()
                except Exception:
                    # The lock's connection is gone (the server restarted): so is the lock.
                    log.warning(
                        "job lock already lost", extra={"event": "jobs.lock_lost", "job": job_id}
                    )

        task = asyncio.create_task(run(), name=f"lumbung-{job_id}")
        self._tasks[job_id] = task
        self._cancels[job_id] = cancel
        return task

    def cancel(self, job_id: str) -> asyncio.Task[None] | None:
        """Ask one running job to stop; its task, to wait for, or None when it is not running
        in this process."""
        cancel = self._cancels.get(job_id)
        if cancel is not None:
            cancel.set()
        return self._tasks.get(job_id)

    async def shutdown(self) -> None:
        """Stop running jobs: they record themselves FAILED (interrupted) and clean up."""
        for cancel in self._cancels.values():
            cancel.set()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def record_outcome(write: Callable[[], Awaitable[None]], job: str) -> None:
    """Write a job's outcome to the catalog, retrying while the database is away (it may be the
    very server that just failed the job). After RECORD_RETRY_SECONDS the row is left
    IN_PROGRESS for the next start's recovery to mark as interrupted. Shielded: a shutdown that
    cancels the job still lets its outcome be written."""

    async def retrying() -> None:
        deadline = time.monotonic() + RECORD_RETRY_SECONDS
        delay = 0.2
        while True:
            try:
                await write()
                return
            except Exception:
                if time.monotonic() > deadline:
                    log.error(
                        "could not record a job's outcome",
                        exc_info=True,
                        extra={"event": "jobs.record_failed", "job": job},
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    await asyncio.shield(retrying())
