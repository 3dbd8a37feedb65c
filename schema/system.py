"""GraphQL types for system information, the table list and the caller."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.context import Info
from schema.enums import TableKind
from schema.scalars import BigInt
from schema.types import User
from server.auth.tokens import Principal
from server.resources import Resources
from server.system import info as service
from server.system.tables import TableInfo
from server.units import format_bytes, format_uptime


@strawberry.type(description="The running Lumbung.")
class ApplicationInfo:
    name: str = strawberry.field(description="Application name (LUMBUNG_APP_NAME).")
    version: str = strawberry.field(description="Application version.")
    environment: str = strawberry.field(description="`development` or `production`.")


@strawberry.type(description="The newest completed backup.")
class LastBackup:
    id: int = strawberry.field(description="Backup id.")
    filename: str = strawberry.field(description="File name of the backup.")
    created_at: datetime = strawberry.field(description="When the backup was made.")


@strawberry.type(description="The target database and the catalog's counts.")
class DatabaseInfo:
    version: str = strawberry.field(description="Server and version, e.g. `MariaDB 10.11.6`.")
    engine: str = strawberry.field(description="`MariaDB`, `MySQL` or `SQLite`.")
    total_users: int | None = strawberry.field(
        description="Rows in the application's User table (null when it has none)."
    )
    total_messages: int | None = strawberry.field(
        description="Rows in the application's Message table (null when it has none)."
    )
    total_backups: int = strawberry.field(description="Backups in the catalog, of any status.")
    last_backup: LastBackup | None = strawberry.field(description="The newest completed backup.")


@strawberry.type(description="The file system that holds the backup folder.")
class StorageInfo:
    used: str = strawberry.field(description="Used space for people, e.g. `2.4 GB`.")
    available: str = strawberry.field(description="Free space for people, e.g. `47.6 GB`.")
    total: str = strawberry.field(description="Size for people, e.g. `50.0 GB`.")
    used_bytes: BigInt = strawberry.field(description="Used space in bytes.")
    available_bytes: BigInt = strawberry.field(description="Space available to Lumbung, in bytes.")
    total_bytes: BigInt = strawberry.field(description="Size of the file system in bytes.")
    backups_bytes: BigInt = strawberry.field(description="Bytes taken by the catalog's backups.")


@strawberry.type(description="Memory of the machine and of this server process.")
class MemoryInfo:
    process_rss_bytes: BigInt = strawberry.field(description="Resident memory of this process.")
    system_total_bytes: BigInt = strawberry.field(description="Physical memory of the machine.")
    system_available_bytes: BigInt = strawberry.field(description="Memory available for new work.")
    system_percent: float = strawberry.field(description="Percent of memory in use.")


@strawberry.type(description="Processor load.")
class CpuInfo:
    count: int = strawberry.field(description="Logical processors.")
    percent: float = strawberry.field(
        description="Machine-wide CPU use since the previous reading."
    )
    load_average: list[float] = strawberry.field(
        description="Load average over 1, 5 and 15 minutes."
    )


@strawberry.type(description="The configured Redis server.")
class RedisInfo:
    connected: bool = strawberry.field(description="Whether Redis answered.")
    version: str | None = strawberry.field(description="Redis server version.")
    used_memory_bytes: BigInt | None = strawberry.field(description="Memory Redis uses.")
    error: str | None = strawberry.field(description="Why Redis could not be reached.")


@strawberry.type(description="The machine Lumbung runs on.")
class HostInfo:
    uptime: str = strawberry.field(description="Machine uptime, e.g. `up 7 days, 14 hours`.")
    uptime_seconds: BigInt = strawberry.field(description="Machine uptime in seconds.")
    process_uptime: str = strawberry.field(description="How long this server process has run.")
    process_uptime_seconds: BigInt = strawberry.field(description="The same, in seconds.")
    total_cache_logs: int = strawberry.field(description="Cache clearings in the catalog.")
    storage: StorageInfo = strawberry.field(description="Space of the backup folder's file system.")
    memory: MemoryInfo = strawberry.field(description="Memory figures.")
    cpu: CpuInfo = strawberry.field(description="Processor figures.")


@strawberry.type(description="Everything the System Information screen shows.")
class SystemInfo:
    application: ApplicationInfo = strawberry.field(description="The running Lumbung.")
    database: DatabaseInfo = strawberry.field(description="Database statistics.")
    system: HostInfo = strawberry.field(description="Uptime, storage, memory and CPU.")
    redis: RedisInfo | None = strawberry.field(
        description="Redis status (null when not configured)."
    )

    @classmethod
    async def now(cls, resources: Resources) -> SystemInfo:
        async with resources.sessions() as session:
            value = await service.collect_system_info(
                session,
                resources.settings,
                resources.users,
                started_at=resources.started_at,
                redis=resources.redis,
            )
        return cls.of(value)

    @classmethod
    def of(cls, value: service.SystemInfo) -> SystemInfo:
        db, host, storage = value.database, value.host, value.host.storage
        last = db.last_backup
        return cls(
            application=ApplicationInfo(
                name=value.application.name,
                version=value.application.version,
                environment=value.application.environment,
            ),
            database=DatabaseInfo(
                version=db.version,
                engine=db.engine,
                total_users=db.total_users,
                total_messages=db.total_messages,
                total_backups=db.total_backups,
                last_backup=LastBackup(
                    id=last.id, filename=last.filename, created_at=last.created_at
                )
                if last
                else None,
            ),
            system=HostInfo(
                uptime=format_uptime(host.uptime_seconds),
                uptime_seconds=BigInt(host.uptime_seconds),
                process_uptime=format_uptime(host.process_uptime_seconds),
                process_uptime_seconds=BigInt(host.process_uptime_seconds),
                total_cache_logs=value.total_cache_logs,
                storage=StorageInfo(
                    used=format_bytes(storage.used_bytes),
                    available=format_bytes(storage.available_bytes),
                    total=format_bytes(storage.total_bytes),
                    used_bytes=BigInt(storage.used_bytes),
                    available_bytes=BigInt(storage.available_bytes),
                    total_bytes=BigInt(storage.total_bytes),
                    backups_bytes=BigInt(storage.backups_bytes),
                ),
                memory=MemoryInfo(
                    process_rss_bytes=BigInt(host.memory.process_rss_bytes),
                    system_total_bytes=BigInt(host.memory.system_total_bytes),
                    system_available_bytes=BigInt(host.memory.system_available_bytes),
                    system_percent=host.memory.system_percent,
                ),
                cpu=CpuInfo(
                    count=host.cpu.count,
                    percent=host.cpu.percent,
                    load_average=list(host.cpu.load_average),
                ),
            ),
            redis=RedisInfo(
                connected=value.redis.connected,
                version=value.redis.version,
                used_memory_bytes=None
                if value.redis.used_memory_bytes is None
                else BigInt(value.redis.used_memory_bytes),
                error=value.redis.error,
            )
            if value.redis
            else None,
        )


@strawberry.type(description="A table (or view) of the target database.")
class Table:
    name: str = strawberry.field(description="Table name, as `createBackup(tables:)` takes it.")
    kind: TableKind = strawberry.field(description="TABLE or VIEW.")
    engine: str | None = strawberry.field(description="Storage engine, e.g. `InnoDB`.")
    estimated_rows: BigInt | None = strawberry.field(
        description="Row count: the engine's estimate on MariaDB/MySQL, exact on SQLite."
    )
    data_size: BigInt | None = strawberry.field(description="Bytes of row data.")
    index_size: BigInt | None = strawberry.field(description="Bytes of indexes.")
    is_core: bool = strawberry.field(description="Whether a PARTIAL backup includes it.")
    is_catalog: bool = strawberry.field(description="Whether it is Lumbung's own catalog table.")

    @classmethod
    def of(cls, table: TableInfo) -> Table:
        def big(value: int | None) -> BigInt | None:
            return None if value is None else BigInt(value)

        return cls(
            name=table.name,
            kind=TableKind(table.kind),
            engine=table.engine,
            estimated_rows=big(table.estimated_rows),
            data_size=big(table.data_bytes),
            index_size=big(table.index_bytes),
            is_core=table.is_core,
            is_catalog=table.is_catalog,
        )


@strawberry.type(description="The caller, as its token describes it.")
class Me:
    subject: str = strawberry.field(description="The token's `sub` claim.")
    user_id: int | None = strawberry.field(description="`sub` as a User id, when it is one.")
    roles: list[str] = strawberry.field(description="Roles the token carries.")
    is_admin: bool = strawberry.field(description="Whether the token carries the admin role.")
    expires_at: datetime = strawberry.field(description="When the token expires.")

    @classmethod
    def of(cls, principal: Principal) -> Me:
        return cls(
            subject=principal.subject,
            user_id=principal.user_id,
            roles=list(principal.roles),
            is_admin=principal.is_admin,
            expires_at=principal.expires_at,
        )

    @strawberry.field(description="The application's User row for `userId` (null when none).")
    async def user(self, info: Info) -> User | None:
        if self.user_id is None:
            return None
        return User.of(await info.context.loaders.users.load(self.user_id))
