"""Asking every server process to clear its own in-process caches and pool, over Redis pub/sub.

Each process (uvicorn worker, other machine) listens on one channel. The process that took
the request subscribes to a reply channel of its own, then PUBLISHes the order; PUBLISH
answers how many subscribers got it, which is how many replies to wait for. Each listener
clears its own caches and replies with what it did; the requester waits for that many
replies, up to a timeout, and says how many answered.

The requester clears its own caches directly (its listener may be reconnecting at that very
moment), so its own listener only acknowledges. A process whose listener is down when the
order goes out is not counted by PUBLISH and cannot be reached: nothing can tell that one
from a process that does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from server.cache.keys import KeySelection
from server.cache.results import ItemResult

log = logging.getLogger("lumbung.cache")

POLL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0


@dataclass(frozen=True)
class WorkerOrder:
    """What each process clears of its own: in-process caches, its connection pool, or both."""

    memory: bool
    pool: bool
    selection: KeySelection = field(default_factory=KeySelection)
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "memory": self.memory,
            "pool": self.pool,
            "selection": self.selection.to_json(),
            "dry_run": self.dry_run,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> WorkerOrder:
        return cls(
            memory=bool(value["memory"]),
            pool=bool(value["pool"]),
            selection=KeySelection.from_json(value.get("selection") or {}),
            dry_run=bool(value.get("dry_run", False)),
        )


@dataclass
class BroadcastAnswer:
    reached: int
    replies: dict[str, list[ItemResult]] = field(default_factory=dict)
    acknowledged_by_self: bool = False

    @property
    def missing(self) -> int:
        return max(self.reached - len(self.replies) - int(self.acknowledged_by_self), 0)


Handler = Callable[[WorkerOrder], Awaitable[list[ItemResult]]]


class WorkerBroadcast:
    def __init__(
        self, redis: Redis, *, channel: str, worker: str, handler: Handler, timeout: float
    ) -> None:
        self._redis = redis
        self._channel = channel
        self._worker = worker
        self._handler = handler
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.listening = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="lumbung-cache-broadcast")

    async def close(self) -> None:
        if self._task is None:
            return
        # The flag as well as the cancel: a cancel that lands while redis-py is reconnecting
        # its pub/sub connection can be swallowed inside redis-py (seen with Redis restarting
        # under Python 3.11), and the loop must still end at its next turn.
        self._closing = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def request(self, order: WorkerOrder) -> BroadcastAnswer:
        """Send `order` to every listening process; raise RedisError when Redis is down."""
        request_id = uuid.uuid4().hex
        reply_to = f"{self._channel}:reply:{request_id}"
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            # Subscribed before publishing, so that no fast reply is lost.
            await pubsub.subscribe(reply_to)
            message = {
                "id": request_id,
                "reply_to": reply_to,
                "origin": self._worker,
                "order": order.to_json(),
            }
            answer = BroadcastAnswer(
                int(await self._redis.publish(self._channel, json.dumps(message)))
            )
            await self._collect(pubsub, request_id, answer)
            return answer
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # unannotated before redis-py 8.2

    async def _collect(self, pubsub: PubSub, request_id: str, answer: BroadcastAnswer) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while answer.missing > 0 and (remaining := deadline - loop.time()) > 0:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=min(remaining, POLL_SECONDS)
            )
            if message is None:
                continue
            try:
                reply = json.loads(message["data"])
                if reply.get("id") != request_id:
                    continue
                if reply.get("same_process"):
                    answer.acknowledged_by_self = True
                else:
                    items = [ItemResult.from_json(item) for item in reply["items"]]
                    answer.replies[str(reply["worker"])] = items
            except (ValueError, KeyError, TypeError):
                log.warning(
                    "ignored a malformed cache broadcast reply",
                    extra={"event": "cache.broadcast_bad_reply"},
                )

    async def _listen(self) -> None:
        delay = 0.5
        while not self._closing:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self.listening.set()
                if delay > 0.5:
                    log.info(
                        "cache broadcast listener back", extra={"event": "cache.listener_back"}
                    )
                delay = 0.5
                while not self._closing:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=POLL_SECONDS
                    )
                    if message is not None:
                        await self._answer(message["data"])
            except (RedisError, OSError) as exc:
                if delay == 0.5:
                    log.warning(
                        "cache broadcast listener lost Redis (%s); retrying",
                        type(exc).__name__,
                        extra={"event": "cache.listener_lost"},
                    )
            except Exception:
                # A bug in one answer must not leave this process deaf to every later order.
                log.exception(
                    "cache broadcast listener failed", extra={"event": "cache.listener_error"}
                )
            finally:
                self.listening.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # unannotated before redis-py 8.2
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _answer(self, data: bytes | str) -> None:
        try:
            request = json.loads(data)
            request_id, reply_to = str(request["id"]), str(request["reply_to"])
            order = WorkerOrder.from_json(request["order"])
        except (ValueError, KeyError, TypeError):
            log.warning(
                "ignored a malformed cache broadcast",
                extra={"event": "cache.broadcast_bad_request"},
            )
            return
        reply: dict[str, Any] = {"id": request_id, "worker": self._worker}
        if request.get("origin") == self._worker:
            reply["same_process"] = True  # the requester clears itself directly
        else:
            reply["items"] = [item.to_json() for item in await self._handler(order)]
        await self._redis.publish(reply_to, json.dumps(reply))
