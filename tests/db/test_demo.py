"""The demo tables, seeded by whichever process starts first on an empty database."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from server.db.demo import ROLES, USERS, seed_demo_database


async def test_processes_that_start_at_once_seed_the_demo_tables_once(database_url: str) -> None:
    """`lumbung serve --workers 2` on an empty database: every worker seeds at start. One
    does; the others wait for it and find `User` there (before, a worker could fail with
    "Table 'Role' already exists", and uvicorn stopped the whole server)."""
    engines = [create_async_engine(database_url) for _ in range(4)]
    try:
        seeded = await asyncio.gather(*(seed_demo_database(engine) for engine in engines))
        assert sorted(seeded) == [False, False, False, True]
        async with engines[0].connect() as connection:
            roles = (await connection.execute(sa.text("SELECT COUNT(*) FROM Role"))).scalar()
            users = (await connection.execute(sa.text("SELECT COUNT(*) FROM User"))).scalar()
        assert (roles, users) == (len(ROLES), len(USERS))
    finally:
        for engine in engines:
            await engine.dispose()
