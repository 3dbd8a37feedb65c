"""Progress subscriptions executed once per process, however many sockets follow them.

A thousand admins watching one backup send the same `backupProgress(id)` document. Executed
per subscriber, every event would run the selection set and encode the payload a thousand
times. Instead, subscriptions of `backupProgress` or `restoreProgress` with the same text,
variables and operation name share one `SharedStream`: one execution of the subscription
(Strawberry's own, extensions, validation and permissions included), whose every result is
encoded to JSON once. Each subscriber's operation task then only writes that text, framed with
its own operation id, to its socket.

What a subscriber sees is the same as when executed alone:
- the current state at once (a late joiner gets the stream's latest result), then the newest
  result whenever it changes, then completion when the stream ends;
- a slow socket never holds up the others nor queues without bound: each subscriber only ever
  sends the newest result (as the per-subscriber path does), never a backlog;
- a newer result overtakes a fan-out still under way: followers are woken in batches of
  `WAKE_BATCH`, with the event loop free between batches, so a `done` published while
  `writing` is still going out reaches the followers not yet woken directly (they skip
  `writing`), and the others right after. Waking all at once would run every follower's send
  before the producer could even read `done`, and its last receipts would wait two fan-outs.
  The final result, which nothing can overtake, goes to all at once, and every follower sends
  it before any does its completion work (`complete`, cleanup, the client's close), which
  costs several times a send;
- errors (an unknown id, a validation error) arrive as `error` or in `next`, coded and masked
  like everywhere else.

Sharing is safe because every socket is an authenticated admin's (the gate runs at
connection_init) and these resolvers read nothing from the caller but that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from strawberry.types.execution import ExecutionResult, PreExecutionError

from schema.errors import public_error

log = logging.getLogger("lumbung.graphql")

# Root subscription fields whose results depend only on their arguments.
SHARED_FIELDS = frozenset({"backupProgress", "restoreProgress"})

Key = tuple[str, str, str | None]

# Followers woken per turn of the event loop. Small enough that a newer result, the job and
# other requests get a turn every few milliseconds; large enough that the yield between batches
# costs nothing measurable (one loop turn per 64 sends).
WAKE_BATCH = 64


@lru_cache(maxsize=256)
def _is_shared_document(query: str, operation_name: str | None) -> bool:
    """Whether the document's operation is a subscription of one shareable field (a document
    that does not parse is not: the per-subscriber path answers it with its usual close)."""
    try:
        document = parse(query)
    except GraphQLError:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.SUBSCRIPTION:
        return False
    selections = operations[0].selection_set.selections
    return (
        len(selections) == 1
        and isinstance(selections[0], FieldNode)
        and selections[0].name.value in SHARED_FIELDS
    )


def shared_key(query: str, variables: Any, operation_name: str | None) -> Key | None:
    """The key a subscription shares its execution under, or None when it runs alone."""
    if not isinstance(query, str) or not _is_shared_document(query, operation_name):
        return None
    try:
        encoded = json.dumps(variables, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return (query, encoded, operation_name)


@dataclass(frozen=True, slots=True)
class Item:
    """One result of the shared stream, as every subscriber sends it."""

    kind: str  # "next": payload is the encoded `next` payload; "error": errors to send
    payload: str = ""
    errors: tuple[GraphQLError, ...] = ()

    def frame(self, operation_id: str) -> str:
        return f'{{"id":{json.dumps(operation_id)},"type":"next","payload":{self.payload}}}'


def encode(result: Any, *, first: bool, mask: bool) -> Item:
    errors = [public_error(e, mask_unexpected=mask) for e in getattr(result, "errors", None) or []]
    if first and isinstance(result, PreExecutionError):
        return Item("error", errors=tuple(errors))
    if not isinstance(result, ExecutionResult):
        unsupported = GraphQLError(
            "Incremental delivery is not supported over graphql-transport-ws"
        )
        return Item("error", errors=(unsupported,))
    payload: dict[str, Any] = {"data": result.data}
    if errors:
        payload["errors"] = [e.formatted for e in errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return Item("next", payload=json.dumps(payload, separators=(",", ":")))


class SharedStream:
    """One execution of a subscription and the subscribers following its latest result."""

    def __init__(self, key: Key, source: Callable[[], Awaitable[AsyncIterator[Any]]], mask: bool):
        self.key = key
        self.version = 0
        self.latest: Item | None = None
        self.finished = False
        self.members = 0
        # Followers waiting for a result newer than the version they saw, in the order they
        # started waiting (so the versions they saw never decrease from left to right).
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._cancelled = 0
        self._kick = asyncio.Event()
        self._mask = mask
        self._waker = asyncio.create_task(self._wake_followers(), name=f"shared-waker {key[0]!r}")
        self._task = asyncio.create_task(self._produce(source), name=f"shared-stream {key[0]!r}")

    async def _produce(self, source: Callable[[], Awaitable[AsyncIterator[Any]]]) -> None:
        try:
            results = await source()
            try:
                first = True
                async for result in results:
                    self._publish(encode(result, first=first, mask=self._mask))
                    first = False
                    if self.latest is not None and self.latest.kind == "error":
                        break
            finally:
                await results.aclose()  # type: ignore[attr-defined]
        except asyncio.CancelledError:
            raise
        except Exception:  # Strawberry turns resolver errors into results: this is a bug
            log.exception("shared subscription stream failed", extra={"event": "ws.shared"})
        finally:
            self.finished = True
            self._kick.set()

    def _publish(self, item: Item) -> None:
        self.version += 1
        self.latest = item
        self._kick.set()

    def _stale(self, seen: int) -> bool:
        return seen < self.version or self.finished

    async def _wake_followers(self) -> None:
        """Wake the followers behind the latest result, `WAKE_BATCH` per turn of the loop.
        A follower woken after a newer result arrived sends that one: it overtakes."""
        while True:
            await self._kick.wait()
            self._kick.clear()
            turn = 0
            while self._waiting and self._stale(self._waiting[0][0]):
                _, woken = self._waiting.popleft()
                if not woken.done():  # a follower cancelled while waiting is gone
                    woken.set_result(None)
                turn += 1
                # Once finished, nothing newer can overtake: the rest go all at once.
                if turn == WAKE_BATCH and not self.finished:
                    turn = 0
                    await asyncio.sleep(0)

    async def follow(self) -> AsyncIterator[Item]:
        """The latest result at once (if any), then each newer one, until the stream ends.
        A follower that is slower than the stream skips to the newest result."""
        seen = 0
        loop = asyncio.get_running_loop()
        while True:
            if self.version > seen and self.latest is not None:
                seen = self.version
                yield self.latest
                continue
            if self.finished:
                if seen:
                    # Let every follower send the final result before any of them does its
                    # completion work (`complete`, cleanup, then the client's close).
                    await asyncio.sleep(0)
                return
            woken: asyncio.Future[None] = loop.create_future()
            self._waiting.append((seen, woken))
            try:
                await woken
            except asyncio.CancelledError:
                self._forget_cancelled()
                raise

    def _forget_cancelled(self) -> None:
        """Drop the entries of followers that left while waiting, once they are half the
        queue: subscribing and leaving in a loop while no result comes must not grow it."""
        self._cancelled += 1
        if self._cancelled > WAKE_BATCH and self._cancelled * 2 > len(self._waiting):
            self._waiting = deque(entry for entry in self._waiting if not entry[1].done())
            self._cancelled = 0

    async def close(self) -> None:
        for task in (self._task, self._waker):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class SharedStreams:
    """The process's shared subscription streams, by key (one registry per GraphQL view)."""

    def __init__(self) -> None:
        self._streams: dict[Key, SharedStream] = {}

    def __len__(self) -> int:
        return len(self._streams)

    @contextlib.asynccontextmanager
    async def join(
        self, key: Key, source: Callable[[], Awaitable[AsyncIterator[Any]]], *, mask: bool
    ) -> AsyncIterator[SharedStream]:
        stream = self._streams.get(key)
        if stream is None or stream.finished:
            stream = self._streams[key] = SharedStream(key, source, mask)
        stream.members += 1
        try:
            yield stream
        finally:
            stream.members -= 1
            if stream.members == 0:
                if self._streams.get(key) is stream:
                    del self._streams[key]
                await stream.close()
