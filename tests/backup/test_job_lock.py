"""One backup or restore at a time: the lock, and a client that starts the next job the moment
the last one has ended (its row and final event come before it lets go of the lock)."""

from __future__ import annotations

import asyncio
import time

import pytest

from server.jobs import lock as jobs
from tests.backup.helpers import CREATE, backup_and_wait, wait_for_backup
from tests.support.app import Api
from tests.support.factories import add_backups


async def test_the_next_job_waits_for_a_lock_being_let_go(api: Api) -> None:
    held = await api.resources.lock.acquire()  # a job past its end: nothing running

    async def let_go() -> None:
        await asyncio.sleep(0.4)
        await held.aclose()

    releasing = asyncio.create_task(let_go())
    started = time.monotonic()
    data = await api.query(CREATE, {"input": {"backupType": "FULL"}})
    waited = time.monotonic() - started
    await releasing
    assert waited >= 0.3, "it got a lock that was still held"
    backup = await wait_for_backup(api, data["createBackup"]["backup"]["id"])
    assert backup["status"] == "COMPLETED"


async def test_a_running_job_is_refused_at_once_and_named(api: Api) -> None:
    (running,) = await add_backups(api.resources, 1, status="in_progress")
    held = await api.resources.lock.acquire()
    try:
        started = time.monotonic()
        error = await api.error(CREATE, {"input": {"backupType": "FULL"}})
        assert time.monotonic() - started < jobs.LOCK_RELEASE_GRACE / 2
    finally:
        await held.aclose()
    assert error["extensions"]["code"] == "CONFLICT"
    assert f"backup #{running}" in error["message"]


async def test_a_lock_never_let_go_is_refused_after_the_grace(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "LOCK_RELEASE_GRACE", 0.5)
    held = await api.resources.lock.acquire()
    try:
        started = time.monotonic()
        error = await api.error(CREATE, {"input": {"backupType": "FULL"}})
        waited = time.monotonic() - started
    finally:
        await held.aclose()
    assert error["extensions"]["code"] == "CONFLICT"
    assert "another backup or restore is running" in error["message"]
    assert 0.5 <= waited < 5
    # and once it is let go, backups run again
    assert (await backup_and_wait(api, backupType="FULL"))["status"] == "COMPLETED"
