"""systemInfo, tables, cacheLogs and me through GraphQL, on SQLite and on MariaDB."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psutil

from tests.support.app import Api, make_settings, open_api
from tests.support.factories import add_backups, add_cache_logs
from tests.support.redis import RedisServer

SYSTEM_INFO = """{ systemInfo {
  application { name version environment }
  database { version engine totalUsers totalMessages totalBackups
    lastBackup { id filename createdAt } }
  system { uptime uptimeSeconds processUptime processUptimeSeconds totalCacheLogs
    storage { used available total usedBytes availableBytes totalBytes backupsBytes }
    memory { processRssBytes systemTotalBytes } cpu { count percent loadAverage } }
  redis { connected version error }
} }"""


async def test_system_info_has_the_seeds_whole_shape(api: Api) -> None:
    [first, second] = await add_backups(api.resources, 2)
    await add_backups(api.resources, 1, status="failed")  # the newest, but not a usable backup
    await add_cache_logs(api.resources, 3)
    info = (await api.query(SYSTEM_INFO))["systemInfo"]

    assert info["application"] == {
        "name": "Lumbung",
        "version": api.settings.app_version,
        "environment": "development",
    }
    database = info["database"]
    assert re.fullmatch(r"(SQLite|MariaDB) \d+\.\d+\.\d+", database["version"])
    assert database["engine"] == database["version"].split()[0]
    assert (database["totalUsers"], database["totalMessages"], database["totalBackups"]) == (
        6,
        42,
        3,
    )
    assert database["lastBackup"]["id"] == second
    assert database["lastBackup"]["filename"] == "backup_full_2024-01-15T10-31-00.sql.zst"

    system = info["system"]
    assert re.fullmatch(r"up \d+ (day|hour|minute)s?(, \d+ (hour|minute)s?)?", system["uptime"])
    assert abs(system["uptimeSeconds"] - (time.time() - psutil.boot_time())) < 5
    assert system["totalCacheLogs"] == 3
    storage = system["storage"]
    disk = psutil.disk_usage(str(api.settings.backup_dir))
    assert storage["totalBytes"] == disk.total
    assert abs(storage["availableBytes"] - disk.free) < 64 * 2**20
    assert re.fullmatch(r"\d+\.\d (KB|MB|GB|TB)", storage["total"])
    assert storage["backupsBytes"] == sum(2048576 + n for n in (0, 1, 0))
    assert system["memory"]["processRssBytes"] > 10 * 2**20
    assert len(system["cpu"]["loadAverage"]) == 3
    assert info["redis"] is None  # not configured
    assert first < second


async def test_system_info_reports_redis_when_configured(
    redis_server: RedisServer, database_url: str, tmp_path: Path
) -> None:
    async with open_api(make_settings(database_url, tmp_path, redis_url=redis_server.url)) as api:
        info = (await api.query("{ systemInfo { redis { connected version error } } }"))[
            "systemInfo"
        ]
        assert info["redis"]["connected"] is True
        assert info["redis"]["version"].startswith("7.")


async def test_tables_lists_the_application_tables_with_core_flags(api: Api) -> None:
    tables = (
        await api.query(
            "{ tables { name kind engine estimatedRows dataSize indexSize isCore isCatalog } }"
        )
    )["tables"]
    by_name = {table["name"]: table for table in tables}
    assert set(by_name) == {"User", "Role", "Permission", "Message"}
    assert [name for name, table in by_name.items() if table["isCore"]] == [
        "Permission",
        "Role",
        "User",
    ]
    assert all(table["kind"] == "TABLE" and not table["isCatalog"] for table in tables)
    assert by_name["Message"]["engine"] in ("InnoDB", "SQLite")
    assert by_name["Message"]["dataSize"] > 0
    if by_name["Message"]["engine"] == "SQLite":  # MariaDB's count is an estimate
        assert by_name["Message"]["estimatedRows"] == 42


async def test_tables_can_include_the_catalog(api: Api) -> None:
    tables = (await api.query("{ tables(includeCatalog: true) { name isCatalog } }"))["tables"]
    catalog = {table["name"] for table in tables if table["isCatalog"]}
    assert catalog == {
        "Backup",
        "RestoreLog",
        "CacheLog",
        "BackupCopy",
        "LumbungSchedule",
        "LumbungScheduleRun",
        "RestoreDrill",
        "NotificationChannel",
        "NotificationDelivery",
        "NotificationAlert",
        "lumbung_alembic_version",
    }


async def test_cache_logs_newest_first_and_filtered(api: Api) -> None:
    ids = await add_cache_logs(
        api.resources,
        5,
        cleared_items=["Prisma query cache", "Database connection pool"],
        total_cleared=2,
    )
    data = await api.query(
        """{ cacheLogs(limit: 2) { total pageCount items {
            id cacheType clearedItems totalCleared clearer { name } durationSeconds } } }"""
    )
    logs = data["cacheLogs"]
    assert (logs["total"], logs["pageCount"]) == (5, 3)
    assert [item["id"] for item in logs["items"]] == [ids[4], ids[3]]
    assert logs["items"][0]["clearedItems"] == ["Prisma query cache", "Database connection pool"]
    assert logs["items"][0]["clearer"] == {"name": "Admin Lumbung"}
    assert logs["items"][0]["durationSeconds"] == 0.012
    redis_only = (await api.query("{ cacheLogs(cacheType: REDIS) { total items { cacheType } } }"))[
        "cacheLogs"
    ]
    assert redis_only["total"] == 3
    assert {item["cacheType"] for item in redis_only["items"]} == {"REDIS"}


async def test_me_describes_the_caller(api: Api) -> None:
    me = (await api.query("{ me { subject userId roles isAdmin expiresAt user { name email } } }"))[
        "me"
    ]
    assert me["subject"] == "1" and me["userId"] == 1 and me["roles"] == ["admin"] and me["isAdmin"]
    assert me["user"] == {"name": "Admin Lumbung", "email": "admin@lumbung.local"}


async def test_bad_pagination_gets_a_clear_error(api: Api) -> None:
    for arguments, needle in [
        ("page: 0", "page must be 1 or more"),
        ("page: -3", "page must be 1 or more"),
        ("limit: 0", "limit must be between 1 and 100"),
        ("limit: -5", "limit must be between 1 and 100"),
        ("limit: 1000000", "limit must be between 1 and 100"),
    ]:
        for field in ("backups", "restoreLogs", "cacheLogs"):
            error = await api.error(f"{{ {field}({arguments}) {{ total }} }}")
            assert error["extensions"]["code"] == "BAD_USER_INPUT", (field, arguments)
            assert needle in error["message"]


async def test_malformed_requests_are_bad_user_input(api: Api) -> None:
    for query in [
        "{ backups(backupType: WEEKLY) { total } }",
        '{ backups(limit: "ten") { total } }',
        "{ backup(id: 99999999999) { id } }",
        "{ backups { nope } }",
        "{ backups { total ",
    ]:
        error = await api.error(query)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", query
