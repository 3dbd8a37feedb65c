"""The progress bus: the latest event of every job, fanned out to whoever follows it.

In one process it is a dictionary and a set of queues. With Redis configured, every event is
also stored in Redis (the job's latest state, so a subscriber on another worker or machine,
or one that arrives late or reconnects, starts from it) and published on a channel that one
listener per process relays to its local followers. A follower's queue holds only the newest
event: a slow consumer skips intermediate states and its memory never grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.events.event import ProgressEvent

log = logging.getLogger("lumbung.events")

KEY_PREFIX = "lumbung:progress:"
STATE_TTL_SECONDS = 7 * 86400
RECONNECT_MAX_SECONDS = 5.0
# Each process's count of progress followers, for /metrics: refreshed every
# FOLLOWERS_REPORT_SECONDS, forgotten FOLLOWERS_TTL_SECONDS after its process stops reporting.
FOLLOWERS_PREFIX = "lumbung:followers:"
FOLLOWERS_REPORT_SECONDS = 15
FOLLOWERS_TTL_SECONDS = 45


class ProgressBus:
    def __init__(self, redis: Redis | None = None) -> None:
        self._redis = redis
        self._latest: dict[str, ProgressEvent] = {}
        self._subscribers: dict[str, set[asyncio.Queue[ProgressEvent]]] = {}
        self._listeners: list[Callable[[ProgressEvent], None]] = []
        self._outbox: asyncio.Queue[ProgressEvent] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._followers_key = f"{FOLLOWERS_PREFIX}{socket.gethostname()}:{os.getpid()}"
        self.connected = asyncio.Event()

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._redis is None:
            return
        self._outbox = asyncio.Queue()
        self._tasks = [
            asyncio.create_task(self._relay_in(), name="lumbung-progress-in"),
            asyncio.create_task(self._relay_out(), name="lumbung-progress-out"),
            asyncio.create_task(self._report_followers(), name="lumbung-progress-followers"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        if self._outbox is not None:
            # Hand the last events (a job's final state above all) to Redis before leaving.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.join(), timeout=2)
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), timeout=5)

    # --- publishing -----------------------------------------------------------------------------
    def add_listener(self, listener: Callable[[ProgressEvent], None]) -> None:
        """Call `listener` with every event of this process's jobs (the CLI's progress bar)."""
        self._listeners.append(listener)

    def publish(self, event: ProgressEvent) -> None:
        """Publish an event of a job running in this process (call on the event loop)."""
        for listener in self._listeners:
            listener(event)
        self._deliver(event)
        if self._outbox is not None:
            self._outbox.put_nowait(event)

    def _deliver(self, event: ProgressEvent) -> None:
        latest = self._latest.get(event.job_id)
        if latest is not None and latest.sequence >= event.sequence:
            return  # our own event coming back from Redis, or an older one
        self._latest[event.job_id] = event
        for queue in self._subscribers.get(event.job_id, ()):
            if queue.full():  # keep only the newest: a slow reader skips, never piles up
                queue.get_nowait()
            queue.put_nowait(event)

    # --- following ------------------------------------------------------------------------------
    async def latest(self, job_id: str) -> ProgressEvent | None:
        """The newest known state of a job: this process's, or Redis's when that is newer."""
        local = self._latest.get(job_id)
        if self._redis is None:
            return local
        try:
            raw = await self._redis.get(KEY_PREFIX + job_id)
        except (RedisError, OSError):
            return local
        if raw is None:
            return local
        remote = ProgressEvent.from_json(raw)
        if local is None or remote.sequence > local.sequence:
            self._latest[job_id] = remote
            return remote
        return local

    @contextlib.contextmanager
    def subscribe(self, job_id: str) -> Iterator[asyncio.Queue[ProgressEvent]]:
        """A queue that receives the job's new events; it holds only the newest one."""
        queue: asyncio.Queue[ProgressEvent] = asyncio.Queue(maxsize=1)
        self._subscribers.setdefault(job_id, set()).add(queue)
        try:
            yield queue
        finally:
            followers = self._subscribers.get(job_id)
            if followers is not None:
                followers.discard(queue)
                if not followers:
                    del self._subscribers[job_id]

    # --- followers, for /metrics -----------------------------------------------------------------
    def follower_count(self) -> int:
        """Followers of jobs in this process."""
        return sum(len(queues) for queues in self._subscribers.values())

    async def followers_everywhere(self) -> int:
        """Followers in every process: this one's, plus what the others last reported to Redis
        (this one's alone without Redis, or when Redis cannot be read)."""
        if self._redis is None:
            return self.follower_count()
        try:
            await self._redis.set(
                self._followers_key, self.follower_count(), ex=FOLLOWERS_TTL_SECONDS
            )
            keys = [key async for key in self._redis.scan_iter(match=FOLLOWERS_PREFIX + "*")]
            values = await self._redis.mget(keys) if keys else []
        except (RedisError, OSError):
            return self.follower_count()
        return sum(int(value) for value in values if value is not None)

    async def _report_followers(self) -> None:
        assert self._redis is not None
        while True:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.set(
                    self._followers_key, self.follower_count(), ex=FOLLOWERS_TTL_SECONDS
                )
            await asyncio.sleep(FOLLOWERS_REPORT_SECONDS)

    # --- Redis ------------------------------------------------------------------------------------
    async def _relay_out(self) -> None:
        assert self._redis is not None and self._outbox is not None
        while True:
            event = await self._outbox.get()
            try:
                payload = event.to_json()
                delay = 0.1
                while True:
                    try:
                        async with self._redis.pipeline(transaction=False) as pipe:
                            pipe.set(KEY_PREFIX + event.job_id, payload, ex=STATE_TTL_SECONDS)
                            pipe.publish(KEY_PREFIX + event.job_id, payload)
                            await pipe.execute()
                        break
                    except (RedisError, OSError):
                        if not event.final and self._outbox.qsize():
                            break  # a newer event of some job is waiting: it supersedes this one
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, RECONNECT_MAX_SECONDS)
            finally:
                self._outbox.task_done()

    async def _relay_in(self) -> None:
        """One subscription per process relays every job's events to local followers; after a
        lost connection it reconnects and re-reads the latest state of every followed job."""
        assert self._redis is not None
        delay = 0.1
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.psubscribe(KEY_PREFIX + "*")
                    self.connected.set()
                    delay = 0.1
                    await self._resync()
                    # get_message with a timeout, not listen(): a cancel that lands inside
                    # redis-py's read can be swallowed, and the stop flag always ends the loop.
                    while not self._stopping:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None and message.get("type") == "pmessage":
                            self._deliver(ProgressEvent.from_json(message["data"]))
                    return
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.connected.clear()
                log.warning(
                    "progress relay lost Redis; reconnecting",
                    extra={"event": "progress.redis_lost", "error": type(exc).__name__},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _resync(self) -> None:
        for job_id in list(self._subscribers):
            event = await self.latest(job_id)
            if event is not None:
                # latest() stored it; hand it to the followers too.
                for queue in self._subscribers.get(job_id, ()):
                    if queue.full():
                        queue.get_nowait()
                    queue.put_nowait(event)
