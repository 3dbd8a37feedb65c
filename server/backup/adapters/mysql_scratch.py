"""The scratch database a MariaDB/MySQL restore drill restores into: made empty by Lumbung,
dropped afterwards, and never the live database.

A database of that name that Lumbung did not make is never dropped: Lumbung marks its own with
a table (`lumbung_drill_scratch`), and only a database holding that table is taken for a
leftover of a drill that a dead process left behind.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.errors import BadUserInput, Conflict

log = logging.getLogger("lumbung.drill")

SUFFIX = "_lumbung_drill"
MARKER = "lumbung_drill_scratch"
MAX_NAME = 64  # MySQL's limit on a database name


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def scratch_name(live: str, configured: str | None) -> str:
    """`<live>_lumbung_drill` (the live name shortened to fit 64 characters), or the
    configured name; never the live database's own."""
    name = configured or live[: MAX_NAME - len(SUFFIX)] + SUFFIX
    if name == live:
        raise BadUserInput(
            f"LUMBUNG_DRILL_DATABASE names the live database ({live}): a drill restores into a "
            "scratch database of its own. Set another name, or leave it unset."
        )
    if len(name) > MAX_NAME:
        raise BadUserInput(f"LUMBUNG_DRILL_DATABASE is over {MAX_NAME} characters: {name!r}")
    return name


def _code(exc: DBAPIError) -> int:
    args = getattr(exc.orig, "args", ())
    return int(args[0]) if args and isinstance(args[0], int) else 0


async def _current_user(engine: AsyncEngine) -> str:
    async with engine.connect() as connection:
        user, _, host = str(await connection.scalar(text("SELECT CURRENT_USER()"))).rpartition("@")
    return f"'{user}'@'{host}'"


async def _refused(engine: AsyncEngine, name: str, what: str) -> BadUserInput:
    account = await _current_user(engine)
    return BadUserInput(
        f"The drill restores into a scratch database, {_quote(name)}, and this database "
        f"account may not {what} it. Grant it: GRANT ALL PRIVILEGES ON {_quote(name)}.* TO "
        f"{account}; (or set LUMBUNG_DRILL_DATABASE to a database it may create and drop). "
        "The live database was not touched."
    )


async def _is_ours(engine: AsyncEngine, name: str) -> bool | None:
    """True: Lumbung's leftover; False: someone else's database; None: there is none."""
    async with engine.connect() as connection:
        exists = await connection.scalar(
            text("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"),
            {"name": name},
        )
        if not exists:
            return None
        marked = await connection.scalar(
            text(
                "SELECT COUNT(*) FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = :name AND TABLE_NAME = :marker"
            ),
            {"name": name, "marker": MARKER},
        )
    return bool(marked)


async def drop_leftover(engine: AsyncEngine, name: str) -> bool:
    """Drop the scratch database when Lumbung's marker says it is a leftover; True if so."""
    if await _is_ours(engine, name) is not True:
        return False
    async with engine.begin() as connection:
        await connection.execute(text(f"DROP DATABASE {_quote(name)}"))
    log.warning("dropped a drill's leftover scratch database", extra={"event": "drill.leftover"})
    return True


async def _create(engine: AsyncEngine, live: str, name: str) -> None:
    ours = await _is_ours(engine, name)
    if ours is False:
        raise Conflict(
            f"A database named {_quote(name)} exists and was not made by Lumbung: a drill "
            "never restores into it. Set LUMBUNG_DRILL_DATABASE to another name, or drop it."
        )
    if ours:
        await drop_leftover(engine, name)
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                    "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :live"
                ),
                {"live": live},
            )
        ).one()
    charset, collation = str(row[0]), str(row[1])
    try:
        async with engine.begin() as connection:
            # Like the live database, so that what the dump leaves to defaults comes out alike.
            await connection.execute(
                text(
                    f"CREATE DATABASE {_quote(name)} CHARACTER SET {_quote(charset)} "
                    f"COLLATE {_quote(collation)}"
                )
            )
    except DBAPIError as exc:
        if _code(exc) == 1007:  # it exists, though this account cannot see it
            raise Conflict(
                f"A database named {_quote(name)} exists and was not made by Lumbung: a drill "
                "never restores into it. Set LUMBUNG_DRILL_DATABASE to another name."
            ) from None
        if _code(exc) in (1044, 1045, 1142, 1227):
            raise await _refused(engine, name, "create") from None
        raise
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(f"CREATE TABLE {_quote(name)}.{_quote(MARKER)} (createdAt DATETIME)")
            )
    except DBAPIError as exc:
        await _drop(engine, name)
        if _code(exc) in (1044, 1142):
            raise await _refused(engine, name, "create tables in") from None
        raise


async def _drop(engine: AsyncEngine, name: str) -> None:
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {_quote(name)}"))
    except DBAPIError as exc:
        if _code(exc) in (1044, 1142):
            raise await _refused(engine, name, "drop") from None
        raise


@asynccontextmanager
async def scratch_database(
    engine: AsyncEngine, live: str, configured: str | None
) -> AsyncIterator[str]:
    name = scratch_name(live, configured)
    await _create(engine, live, name)
    try:
        yield name
    finally:
        await _drop(engine, name)
