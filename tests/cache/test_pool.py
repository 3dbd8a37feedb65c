"""Clearing the connection pool while a request holds one of its connections."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text

from server.cache.database import clear_pool
from server.cache.results import ItemStatus
from tests.support.app import Api


async def test_a_connection_in_use_keeps_working_and_is_closed_when_it_comes_back(
    api: Api,
) -> None:
    engine = api.resources.engine
    retired = engine.sync_engine.pool
    closed: list[Any] = []
    event.listen(retired, "close", lambda dbapi_connection, record: closed.append(dbapi_connection))

    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT 1"))).scalar() == 1
        held = (await connection.get_raw_connection()).dbapi_connection
        result = await clear_pool(engine, dry_run=False, worker="test")
        assert result.status is ItemStatus.CLEARED, result
        # The request that holds it is not cut off.
        assert (await connection.execute(text("SELECT 2"))).scalar() == 2
        assert held not in closed

    # Back from the request: closed, not parked in the retired pool until garbage collection.
    assert held in closed
    assert engine.sync_engine.pool is not retired
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT 3"))).scalar() == 3
