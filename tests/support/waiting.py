"""Waiting for a condition with a deadline, instead of sleeping "long enough": as fast as the
condition allows on a quiet machine, and still correct on a busy one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    check: Callable[[], Awaitable[T | None]],
    timeout: float = 120,
    *,
    interval: float = 0.05,
    what: str = "the condition",
) -> T:
    """Await `check()` every `interval` s until it returns something other than None, and
    return that; raise AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


def wait_until_sync(
    check: Callable[[], T | None],
    timeout: float = 120,
    *,
    interval: float = 0.05,
    what: str = "the condition",
) -> T:
    """wait_until for code outside an event loop (fixtures that start processes)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
