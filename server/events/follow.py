"""Following one job to its end: the current state at once, then each event, then the final
one, whichever process runs the job and whenever the follower arrives.

The catalog row is the last word: a job that finished before anyone followed it (or whose
events were lost with a Redis outage) ends the stream with the state its row records, and
while following, the row is checked now and then so a missing final event never leaves a
subscriber waiting forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from server.events.bus import ProgressBus
from server.events.event import ProgressEvent

CATALOG_CHECK_SECONDS = 2.0

# Reads a job's catalog row as an event: its final state once it ended, else a snapshot.
CatalogState = Callable[[], Awaitable[ProgressEvent]]


async def follow_job(
    bus: ProgressBus, job_id: str, catalog_state: CatalogState
) -> AsyncIterator[ProgressEvent]:
    # Subscribed before the first look, so no event slips between the look and the wait.
    with bus.subscribe(job_id) as queue:
        last = await bus.latest(job_id)
        if last is None or not last.final:
            row = await catalog_state()
            if last is None or row.final:
                last = row
        yield last
        if last.final:
            return
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=CATALOG_CHECK_SECONDS)
            except TimeoutError:
                event = await catalog_state()
                if not event.final:
                    continue
            if event.sequence <= last.sequence and not event.final:
                continue
            last = event
            yield event
            if event.final:
                return
