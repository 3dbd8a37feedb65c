"""Schedules across real `lumbung serve` processes on one MariaDB: each slot runs exactly once
however many processes compete for it, and slots that fell due while every server was killed
run once at the next start. These wait for real minutes (a cron slot is a minute at the
finest): about six minutes in all, the least that shows it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.support.lumbung import LumbungServer, post, start_server
from tests.support.mariadb import MariaDBServer
from tests.support.tokens import JWT_SECRET

EVERY_MINUTE = {
    "name": "every minute",
    "timing": {"frequency": "CRON", "cron": "* * * * *"},
    "backup": {"backupType": "PARTIAL"},
}
CREATE = (
    "mutation ($input: CreateScheduleInput!) { createSchedule(input: $input) { schedule { id } } }"
)
DISABLE = "mutation ($id: Int!) { updateSchedule(id: $id, input: {enabled: false}) { message } }"


@pytest.fixture
def database(mariadb: MariaDBServer, tmp_path: Path) -> Iterator[str]:
    name = f"sched_{os.getpid()}_{tmp_path.name[-12:]}".replace("-", "_")[:60]
    url = mariadb.create_database(name)
    yield url
    mariadb.drop_database(name)


@pytest.fixture
async def catalog(database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database)
    yield engine
    await engine.dispose()


def environment(database: str, tmp_path: Path) -> dict[str, str]:
    return {
        "LUMBUNG_DATABASE_URL": database,
        "LUMBUNG_JWT_SECRET": JWT_SECRET,
        "LUMBUNG_DEMO_DATA": "true",
        "LUMBUNG_BACKUP_DIR": str(tmp_path / "backups"),
        "LUMBUNG_SCHEDULER_INTERVAL_SECONDS": "1",
        "LUMBUNG_LOG_FORMAT": "text",
    }


def kill(server: LumbungServer) -> None:
    """SIGKILL the server and its workers at once, as a crash would."""
    try:
        parent = psutil.Process(server.process.pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(family, timeout=10)
    server.process.wait()


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(text(sql), params)).all())


async def slot_runs(engine: AsyncEngine, schedule_id: int) -> list[Any]:
    return await rows(
        engine,
        "SELECT slotAt, status, backupId, missedSlots, `trigger` FROM LumbungScheduleRun "
        "WHERE scheduleId = :id AND slotAt IS NOT NULL ORDER BY slotAt",
        id=schedule_id,
    )


async def wait_for(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.5)


def minute_after(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


async def test_three_servers_run_each_minute_slot_exactly_once(
    database: str, catalog: AsyncEngine, tmp_path: Path
) -> None:
    env = environment(database, tmp_path)
    servers = [start_server(tmp_path, env, workers=2)]  # the first creates the demo tables
    try:
        servers += [start_server(tmp_path, env, workers=2), start_server(tmp_path, env)]
        data = await post(servers[0], CREATE, {"input": EVERY_MINUTE})
        schedule_id = data["createSchedule"]["schedule"]["id"]

        async def three_done() -> list[Any]:
            done = [r for r in await slot_runs(catalog, schedule_id) if r[1] == "completed"]
            return done if len(done) >= 3 else []

        await wait_for(three_done, 4 * 60)
        await post(servers[1], DISABLE, {"id": schedule_id})

        async def settled() -> list[Any]:
            runs = await slot_runs(catalog, schedule_id)
            return runs if all(r[1] in ("completed", "failed", "missed") for r in runs) else []

        runs = await wait_for(settled, 60)
    finally:
        for server in servers:
            server.stop()
    outputs = "\n".join(server.output()[-2000:] for server in servers)
    assert [r[1] for r in runs] == ["completed"] * len(runs), outputs
    slots = [r[0] for r in runs]
    # One run per minute slot, none missing between the first and the last.
    assert slots == [slots[0] + timedelta(minutes=n) for n in range(len(slots))]
    backups = await rows(
        catalog,
        "SELECT id, origin, status FROM Backup WHERE scheduleId = :id ORDER BY id",
        id=schedule_id,
    )
    assert len(backups) == len(runs)
    assert sorted(r[2] for r in runs) == [b[0] for b in backups]
    assert {(b[1], b[2]) for b in backups} == {("scheduled", "completed")}


async def test_slots_passed_while_every_server_was_killed_run_once_at_the_next_start(
    database: str, catalog: AsyncEngine, tmp_path: Path
) -> None:
    env = environment(database, tmp_path)
    servers = [start_server(tmp_path, env, workers=2)]
    try:
        servers.append(start_server(tmp_path, env))
        data = await post(servers[0], CREATE, {"input": EVERY_MINUTE})
        schedule_id = data["createSchedule"]["schedule"]["id"]

        async def first_done() -> list[Any]:
            return [r for r in await slot_runs(catalog, schedule_id) if r[1] == "completed"]

        await wait_for(first_done, 90)
        for server in servers:
            kill(server)
        killed_at = datetime.now(UTC)
        passed = minute_after(killed_at)
        await asyncio.sleep((passed - datetime.now(UTC)).total_seconds() + 3)

        # One slot passed while nothing ran: the next start runs it, once.
        servers.append(start_server(tmp_path, env))

        async def caught_up() -> list[Any]:
            runs = await slot_runs(catalog, schedule_id)
            return [r for r in runs if r[0] >= passed.replace(tzinfo=None) and r[1] == "completed"]

        (again,) = (await wait_for(caught_up, 60))[:1]
        assert again[0] == passed.replace(tzinfo=None)
        kill(servers[-1])

        # Many slots while nothing ran: every claimed slot, and the schedule's start, moved
        # 30 minutes into the past, which is the catalog as 30 minutes of downtime leave it.
        async with catalog.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE LumbungScheduleRun SET slotAt = slotAt - INTERVAL 30 MINUTE "
                    "WHERE scheduleId = :id"
                ),
                {"id": schedule_id},
            )
            await connection.execute(
                text(
                    "UPDATE LumbungSchedule SET activeFrom = activeFrom - INTERVAL 30 MINUTE "
                    "WHERE id = :id"
                ),
                {"id": schedule_id},
            )
        before = len(await slot_runs(catalog, schedule_id))
        servers.append(start_server(tmp_path, env, workers=2))

        async def after_restart() -> list[Any]:
            runs = await slot_runs(catalog, schedule_id)
            new = runs[before:] if len(runs) > before else []
            return new if any(r[1] == "completed" for r in new) else []

        new = await wait_for(after_restart, 60)
    finally:
        for server in servers:
            server.stop()
    outputs = "\n".join(server.output()[-2000:] for server in servers)
    missed = [r for r in new if r[1] == "missed"]
    ran = [r for r in new if r[1] != "missed"]
    assert len(missed) == 1, outputs
    assert missed[0][3] >= 29  # the slots of the half hour, recorded once
    assert len(ran) == 1 and ran[0][1] == "completed", outputs
    assert ran[0][2] is not None
    assert ran[0][0] > missed[0][0]
