"""System information in the seed's shape: application, database and system figures."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from server.backup.history import latest_completed_backup
from server.db.models import Backup, CacheLog
from server.settings import Settings
from server.system.users import UserDirectory


@dataclass(frozen=True)
class ApplicationInfo:
    name: str
    version: str
    environment: str


@dataclass(frozen=True)
class LastBackup:
    id: int
    filename: str
    created_at: datetime


@dataclass(frozen=True)
class DatabaseInfo:
    version: str
    engine: str
    total_users: int | None
    total_messages: int | None
    total_backups: int
    last_backup: LastBackup | None


@dataclass(frozen=True)
class Storage:
    path: str
    used_bytes: int
    available_bytes: int
    total_bytes: int
    backups_bytes: int


@dataclass(frozen=True)
class Memory:
    process_rss_bytes: int
    system_total_bytes: int
    system_available_bytes: int
    system_percent: float


@dataclass(frozen=True)
class Cpu:
    count: int
    percent: float
    load_average: tuple[float, float, float]


@dataclass(frozen=True)
class RedisInfo:
    connected: bool
    version: str | None
    used_memory_bytes: int | None
    error: str | None


@dataclass(frozen=True)
class HostInfo:
    uptime_seconds: int
    process_uptime_seconds: int
    storage: Storage
    memory: Memory
    cpu: Cpu


@dataclass(frozen=True)
class SystemInfo:
    application: ApplicationInfo
    database: DatabaseInfo
    host: HostInfo
    total_cache_logs: int
    redis: RedisInfo | None


def database_version(raw: str, dialect: str) -> tuple[str, str]:
    """(`MariaDB 10.11.6`, `MariaDB`) from what the server reports about itself."""
    if dialect == "sqlite":
        return f"SQLite {raw}", "SQLite"
    number = raw.split("-", 1)[0]
    engine = "MariaDB" if "mariadb" in raw.lower() else "MySQL"
    return f"{engine} {number}", engine


def _host_figures(backup_dir: Path, started_at: float) -> tuple[int, int, Storage, Memory, Cpu]:
    # psutil reads /proc synchronously: this runs in a worker thread, off the event loop.
    disk = psutil.disk_usage(str(backup_dir))
    vm = psutil.virtual_memory()
    load = os.getloadavg()
    now = time.time()
    return (
        int(now - psutil.boot_time()),
        int(now - started_at),
        Storage(str(backup_dir.resolve()), disk.used, disk.free, disk.total, 0),
        Memory(psutil.Process().memory_info().rss, vm.total, vm.available, vm.percent),
        # Since the previous call: the lifespan primes it, so this is no cold-start zero.
        Cpu(
            psutil.cpu_count() or 1, psutil.cpu_percent(interval=None), (load[0], load[1], load[2])
        ),
    )


async def redis_info(redis: Redis) -> RedisInfo:
    try:
        server = await redis.info("server")
        memory = await redis.info("memory")
    except (RedisError, OSError) as exc:
        return RedisInfo(False, None, None, f"Redis is unreachable ({type(exc).__name__})")
    return RedisInfo(
        True, str(server.get("redis_version")), int(memory.get("used_memory", 0)), None
    )


async def _count_table(session: AsyncSession, table_name: str) -> int | None:
    connection = await session.connection()
    exists = await connection.run_sync(lambda sync: sync.dialect.has_table(sync, table_name))
    if not exists:
        return None
    quoted = connection.dialect.identifier_preparer.quote(table_name)
    return int(await session.scalar(text(f"SELECT COUNT(*) FROM {quoted}")) or 0)  # noqa: S608 - quoted identifier from settings


async def collect_system_info(
    session: AsyncSession,
    settings: Settings,
    users: UserDirectory,
    *,
    started_at: float,
    redis: Redis | None,
) -> SystemInfo:
    connection = await session.connection()
    dialect = connection.dialect.name
    raw_version = await session.scalar(
        text("SELECT sqlite_version()" if dialect == "sqlite" else "SELECT VERSION()")
    )
    version, engine = database_version(str(raw_version), dialect)
    total_backups = int(await session.scalar(select(func.count()).select_from(Backup)) or 0)
    backups_bytes = int(
        await session.scalar(select(func.coalesce(func.sum(Backup.file_size), 0))) or 0
    )
    total_cache_logs = int(await session.scalar(select(func.count()).select_from(CacheLog)) or 0)
    last = await latest_completed_backup(session)
    database = DatabaseInfo(
        version=version,
        engine=engine,
        total_users=await users.count(session),
        total_messages=await _count_table(session, settings.message_table),
        total_backups=total_backups,
        last_backup=LastBackup(last.id, last.filename, last.created_at) if last else None,
    )
    uptime, process_uptime, storage, memory, cpu = await asyncio.to_thread(
        _host_figures, settings.backup_dir, started_at
    )
    storage = Storage(
        storage.path,
        storage.used_bytes,
        storage.available_bytes,
        storage.total_bytes,
        backups_bytes,
    )
    return SystemInfo(
        application=ApplicationInfo(settings.app_name, settings.app_version, settings.environment),
        database=database,
        host=HostInfo(uptime, process_uptime, storage, memory, cpu),
        total_cache_logs=total_cache_logs,
        redis=await redis_info(redis) if redis is not None else None,
    )
