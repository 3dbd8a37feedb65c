"""DATABASE: this process's connection pool, and the database server's own query cache.

The pool is per process, so every worker drops its own (through the broadcast). The query
cache is the server's, so only the process that took the request resets it, once.

MariaDB keeps a query cache when `have_query_cache` is YES, `query_cache_type` is not OFF and
`query_cache_size` is above 0 (it is off by default since 10.1.7); `RESET QUERY CACHE` then
needs the RELOAD privilege. MySQL 8 removed the query cache, and SQLite never had one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.cache.results import ItemResult, done, failed, failure, skipped
from server.db.enums import CacheType
from server.errors import ErrorCode

QUERY_CACHE = "Database query cache"
# ER_SPECIFIC_ACCESS_DENIED_ERROR: "you need (at least one of) the RELOAD privilege(s)".
ACCESS_DENIED = 1227


async def clear_pool(engine: AsyncEngine, *, dry_run: bool, worker: str) -> ItemResult:
    """Drop the pool's idle connections and start a fresh pool. Connections in use by other
    requests are not cut: they are closed when returned, so no running query is broken."""
    name = f"Database connection pool in worker {worker}"
    try:
        idle = _idle_connections(engine)
        if not dry_run:
            retired = engine.sync_engine.pool
            await engine.dispose()
            # A connection in use goes back to the retired pool, which would keep it open
            # until garbage collection (an unclosed driver connection, a session left open on
            # the server): close each as it comes back.
            event.listen(retired, "checkin", _close_on_return)
    except Exception as exc:
        return failure(CacheType.DATABASE, name, exc)
    return done(CacheType.DATABASE, name, idle, dry_run=dry_run)


def _close_on_return(dbapi_connection: Any, record: Any) -> None:
    if dbapi_connection is not None:
        record.invalidate()


def _idle_connections(engine: AsyncEngine) -> int:
    checkedin = getattr(engine.pool, "checkedin", None)
    return int(checkedin()) if callable(checkedin) else 0


async def clear_query_cache(engine: AsyncEngine, *, dry_run: bool) -> ItemResult:
    if engine.dialect.name != "mysql":
        return skipped(CacheType.DATABASE, QUERY_CACHE, "SQLite has no query cache")
    try:
        async with engine.connect() as connection:
            variables = await _show(
                connection,
                "SHOW VARIABLES WHERE Variable_name IN "
                "('have_query_cache', 'query_cache_type', 'query_cache_size')",
            )
            if variables.get("have_query_cache", "NO") != "YES":
                return skipped(
                    CacheType.DATABASE, QUERY_CACHE, "this server has no query cache (MySQL 8+)"
                )
            kind = str(variables.get("query_cache_type", "OFF")).upper()
            size = int(variables.get("query_cache_size", 0) or 0)
            if kind in ("OFF", "0") or size == 0:
                return skipped(
                    CacheType.DATABASE,
                    QUERY_CACHE,
                    f"the query cache is off (query_cache_type={kind}, query_cache_size={size})",
                )
            status = await _show(connection, "SHOW STATUS LIKE 'Qcache_queries_in_cache'")
            cached = int(status.get("Qcache_queries_in_cache", 0) or 0)
            if not dry_run:
                await connection.execute(text("RESET QUERY CACHE"))
    except DBAPIError as exc:
        if _errno(exc) == ACCESS_DENIED:
            return failed(
                CacheType.DATABASE,
                QUERY_CACHE,
                "the database user lacks the RELOAD privilege that RESET QUERY CACHE needs; "
                "grant it, or leave the query cache to expire by itself",
                ErrorCode.FORBIDDEN,
            )
        return failure(CacheType.DATABASE, QUERY_CACHE, exc)
    except Exception as exc:
        return failure(CacheType.DATABASE, QUERY_CACHE, exc)
    return done(CacheType.DATABASE, QUERY_CACHE, cached, dry_run=dry_run)


async def _show(connection: AsyncConnection, statement: str) -> dict[str, str]:
    rows = (await connection.execute(text(statement))).all()
    return {str(name): str(value) for name, value in rows}


def _errno(exc: DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None
