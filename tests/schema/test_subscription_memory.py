"""A long subscription does not grow memory event by event (graphql-core 3.3's per-event
executors share a memo that keeps every event's field lists alive; schema/executor.py)."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncGenerator

import strawberry

from schema import build_schema

EVENTS = 3000


@strawberry.type
class Inner:
    a: int
    b: str


@strawberry.type
class Event:
    n: int
    inner: Inner


@strawberry.type
class Query:
    x: int = 1


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def events(self) -> AsyncGenerator[Event, None]:
        for i in range(EVENTS):
            yield Event(n=i, inner=Inner(a=i, b="x"))


async def test_memory_stays_flat_over_thousands_of_events() -> None:
    executor = build_schema().execution_context_class
    schema = strawberry.Schema(
        query=Query, subscription=Subscription, execution_context_class=executor
    )
    stream = await schema.subscribe("subscription { events { n inner { a b } } }")
    tracemalloc.start()
    try:
        received = 0
        async for result in stream:
            assert not result.errors
            received += 1
            if received == 500:
                before = tracemalloc.get_traced_memory()[0]
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert received == EVENTS
    # Without the fix: ~1.9 KB per event here (~4.7 MB over 2,500 events).
    assert grown < 512 * 1024, f"grew {grown // 1024} KiB over {EVENTS - 500} events"
