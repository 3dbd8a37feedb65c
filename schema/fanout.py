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
        self._changed = asyncio.Event()
        self._mask = mask
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
            self._wake()

    def _publish(self, item: Item) -> None:
        self.version += 1
        self.latest = item
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def follow(self) -> AsyncIterator[Item]:
        """The latest result at once (if any), then each newer one, until the stream ends.
        A follower that is slower than the stream skips to the newest result."""
        seen = 0
        while True:
            changed = self._changed
            if self.version > seen and self.latest is not None:
                seen = self.version
                yield self.latest
                continue
            if self.finished:
                return
            await changed.wait()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


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
