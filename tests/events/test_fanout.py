"""Which subscriptions share one execution per process (schema/fanout.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from strawberry.types.execution import ExecutionResult

from schema.fanout import WAKE_BATCH, SharedStreams, shared_key
from tests.support.waiting import wait_until

PROGRESS = "subscription ($id: Int!) { backupProgress(id: $id) { sequence } }"
KEY = (PROGRESS, '{"id":1}', None)


def test_progress_subscriptions_with_the_same_text_and_variables_share() -> None:
    first = shared_key(PROGRESS, {"id": 1}, None)
    assert first is not None
    assert shared_key(PROGRESS, {"id": 1}, None) == first
    assert shared_key(PROGRESS, {"id": 2}, None) != first
    restore = "subscription { restoreProgress(id: 3) { sequence } }"
    assert shared_key(restore, None, None) is not None


@pytest.mark.parametrize(
    "query",
    [
        "subscription { systemInfo(intervalSeconds: 5) { system { uptime } } }",
        "subscription { backupProgress(id: 1) { sequence } systemInfo { now } }",
        "query { backupProgress(id: 1) { sequence } }",
        "subscription { backupProgress(id: 1) { sequence }",  # does not parse
        "subscription A { backupProgress(id: 1) { sequence } } "
        "subscription B { systemInfo { now } }",
    ],
)
def test_anything_else_runs_alone(query: str) -> None:
    assert shared_key(query, {}, None) is None


def test_the_named_operation_decides() -> None:
    query = (
        "subscription A { backupProgress(id: 1) { sequence } } "
        "subscription B { systemInfo { now } }"
    )
    assert shared_key(query, {}, "A") is not None
    assert shared_key(query, {}, "B") is None


def progress(phase: str) -> ExecutionResult:
    return ExecutionResult(data={"backupProgress": {"phase": phase}}, errors=None)


async def test_a_newer_result_overtakes_a_fan_out_under_way() -> None:
    """`done`, published while `writing` is still going out to many followers, reaches the
    followers not yet served directly: they never send the older `writing`."""
    followers = 4 * WAKE_BATCH
    first_sent = asyncio.Event()
    release_done = asyncio.Event()

    async def results() -> AsyncIterator[ExecutionResult]:
        yield progress("writing")
        await release_done.wait()
        yield progress("done")

    async def source() -> AsyncIterator[ExecutionResult]:
        return results()

    streams = SharedStreams()
    sent: list[list[str]] = [[] for _ in range(followers)]
    all_joined = asyncio.Event()
    joined = 0

    async def follower(index: int) -> None:
        nonlocal joined
        async with streams.join(KEY, source, mask=True) as stream:
            joined += 1
            if joined == followers:
                all_joined.set()
            async for item in stream.follow():
                sent[index].append(json.loads(item.payload)["data"]["backupProgress"]["phase"])
                if not first_sent.is_set():  # the job publishes `done` during the fan-out
                    first_sent.set()
                    release_done.set()

    # Everyone is waiting before the first result goes out (the stream starts on first join
    # but only yields once the loop turns).
    tasks = [asyncio.create_task(follower(i)) for i in range(followers)]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)

    assert all(phases[-1] == "done" for phases in sent), "every follower ends with done"
    got_writing = sum("writing" in phases for phases in sent)
    assert got_writing <= 2 * WAKE_BATCH, f"{got_writing} of {followers} sent the stale result"
    assert len(streams) == 0


async def test_followers_leaving_while_nothing_happens_do_not_pile_up() -> None:
    """Subscribing and leaving in a loop while the job is quiet keeps the stream's waiting
    list bounded."""
    hold = asyncio.Event()

    async def results() -> AsyncIterator[ExecutionResult]:
        yield progress("writing")
        await hold.wait()

    async def source() -> AsyncIterator[ExecutionResult]:
        return results()

    streams = SharedStreams()

    async def watcher(got_first: asyncio.Event) -> None:
        async with streams.join(KEY, source, mask=True) as stream:
            async for _ in stream.follow():
                got_first.set()

    async with streams.join(KEY, source, mask=True) as stream:  # keeps the stream alive
        for _ in range(20 * WAKE_BATCH):
            got_first = asyncio.Event()
            task = asyncio.create_task(watcher(got_first))
            await got_first.wait()
            await asyncio.sleep(0)  # now waiting for the next result
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert len(stream._waiting) <= 2 * WAKE_BATCH + 2
        hold.set()


async def test_every_follower_sends_the_final_result_before_any_completes() -> None:
    """Completing an operation (the `complete` message, cleanup, then the client's close)
    costs several sends: done first, for everyone."""
    followers = 3 * WAKE_BATCH

    async def everyone_sent_writing() -> bool | None:
        return True if order.count("writing") == followers else None

    async def results() -> AsyncIterator[ExecutionResult]:
        yield progress("writing")
        # Every follower has it and waits for the next result: then the final one comes.
        await wait_until(everyone_sent_writing, 10, interval=0.001, what="every follower")
        yield progress("done")

    async def source() -> AsyncIterator[ExecutionResult]:
        return results()

    streams = SharedStreams()
    order: list[str] = []

    async def follower() -> None:
        async with streams.join(KEY, source, mask=True) as stream:
            async for item in stream.follow():
                order.append(json.loads(item.payload)["data"]["backupProgress"]["phase"])
            order.append("complete")

    await asyncio.wait_for(asyncio.gather(*(follower() for _ in range(followers))), timeout=10)

    assert order.count("done") == followers
    assert order.count("complete") == followers
    last_done = max(i for i, what in enumerate(order) if what == "done")
    first_complete = order.index("complete")
    assert last_done < first_complete, "a follower completed before all had sent done"
