"""DATABASE on a real MariaDB with its query cache on: reset when permitted, reported when not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server.cache.request import build_request
from server.cache.results import ItemStatus
from server.db.enums import CacheType
from server.errors import ErrorCode
from tests.cache.conftest import opened
from tests.support.app import make_settings
from tests.support.binaries import ensure_binaries
from tests.support.mariadb import MariaDBServer


class QueryCacheMariaDB(MariaDBServer):
    """MariaDB with the query cache on: it cannot be switched on at run time when the server
    started with it off, which is MariaDB's default."""

    def _command(self) -> list[str]:
        return [*super()._command(), "--query-cache-type=1", "--query-cache-size=4M"]


@pytest.fixture(scope="module")
def query_cache_server() -> Iterator[QueryCacheMariaDB]:
    ensure_binaries()
    server = QueryCacheMariaDB().start()
    server.create_database("qc")
    server.root_sql("CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2);", "qc")
    # A user with every right on its database but not the global RELOAD.
    server.root_sql(
        "CREATE USER 'plain'@'%' IDENTIFIED BY 'plain-password';"
        "GRANT ALL PRIVILEGES ON `qc`.* TO 'plain'@'%';"
    )
    yield server
    server.cleanup()


def queries_in_cache(server: MariaDBServer) -> int:
    server.root_sql("SELECT * FROM t; SELECT x FROM t WHERE x > 1;", "qc")
    return int(server.root_sql("SHOW STATUS LIKE 'Qcache_queries_in_cache';").split()[1])


async def test_the_query_cache_is_reset_when_the_user_may(
    query_cache_server: QueryCacheMariaDB, tmp_path: Path
) -> None:
    assert queries_in_cache(query_cache_server) >= 2
    settings = make_settings(query_cache_server.url("qc"), tmp_path, demo_data=False)
    async with opened(settings) as resources:
        dry = await resources.caches.clear(
            build_request(cache_type=CacheType.DATABASE, dry_run=True), actor_id=1
        )
        still = int(
            query_cache_server.root_sql("SHOW STATUS LIKE 'Qcache_queries_in_cache';").split()[1]
        )
        outcome = await resources.caches.clear(
            build_request(cache_type=CacheType.DATABASE), actor_id=1
        )

    query_cache = {item.name: item for item in outcome.items}["Database query cache"]
    assert query_cache.status is ItemStatus.CLEARED and query_cache.count and query_cache.count >= 2
    assert {item.name: item for item in dry.items}[
        "Database query cache"
    ].status is ItemStatus.WOULD_CLEAR
    assert still >= 2  # the dry run touched nothing
    after = query_cache_server.root_sql("SHOW STATUS LIKE 'Qcache_queries_in_cache';")
    assert int(after.split()[1]) == 0
    assert outcome.failures == []


async def test_a_user_without_reload_gets_the_pool_cleared_and_the_reason_for_the_rest(
    query_cache_server: QueryCacheMariaDB, tmp_path: Path
) -> None:
    url = query_cache_server.url("qc").replace(
        f"{query_cache_server.user}:{query_cache_server.password}", "plain:plain-password"
    )
    async with opened(make_settings(url, tmp_path, demo_data=False)) as resources:
        outcome = await resources.caches.clear(
            build_request(cache_type=CacheType.DATABASE), actor_id=1
        )

    # (The third item says that without Redis only this process's pool could be reached.)
    pool, others, query_cache = outcome.items
    assert (others.name, others.status) == ("Other server processes", ItemStatus.SKIPPED)
    assert pool.name.startswith("Database connection pool") and pool.status is ItemStatus.CLEARED
    assert (query_cache.status, query_cache.code) == (ItemStatus.FAILED, ErrorCode.FORBIDDEN)
    assert "RELOAD privilege" in (query_cache.detail or "")
    assert outcome.log is not None
    assert outcome.log.failed_items == [
        "Database query cache: FORBIDDEN - the database user lacks the RELOAD privilege that "
        "RESET QUERY CACHE needs; grant it, or leave the query cache to expire by itself"
    ]
    assert "plain-password" not in repr(outcome.log.failed_items)
