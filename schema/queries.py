"""Root queries. Resolvers stay thin: check input, call one service, shape the result."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.permission import BasePermission

from schema.context import Info
from schema.enums import BackupType, CacheType, JobStatus, LastDrill
from schema.health import BackupHealth
from schema.notifications import (
    NotificationChannel,
    NotificationDelivery,
    NotificationDeliveryPage,
    shown,
)
from schema.offsite import OffsiteTarget, RemoteBackup
from schema.permissions import IsAdmin
from schema.prefetch import backups_page
from schema.scalars import BigInt
from schema.schedules import ScheduleQuery
from schema.system import Me, SystemInfo, Table
from schema.types import (
    Backup,
    BackupPage,
    CacheLog,
    CacheLogPage,
    RestoreDrill,
    RestoreDrillPage,
    RestoreLog,
    RestoreLogPage,
)
from server.backup import history
from server.cache.history import list_cache_logs
from server.db.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest
from server.drill.history import filter_by_last_drill, list_drills
from server.health.service import backup_health
from server.notify.channels import list_channels, list_deliveries
from server.system.tables import list_tables

ADMIN: list[type[BasePermission]] = [IsAdmin]
PageArg = Annotated[int, strawberry.argument(description="Page number, from 1.")]
LimitArg = Annotated[int, strawberry.argument(description=f"Items per page, 1 to {MAX_LIMIT}.")]


@strawberry.type(
    description="Read the backup history, the cache history, the schedules and the system."
)
class Query(ScheduleQuery):
    @strawberry.field(
        permission_classes=ADMIN,
        description=(
            "Backups, newest first, optionally filtered by type, status, last drill, creator, "
            "date and size."
        ),
    )
    async def backups(
        self,
        info: Info,
        page: PageArg = 1,
        limit: LimitArg = DEFAULT_LIMIT,
        backup_type: Annotated[
            BackupType | None, strawberry.argument(description="Only backups of this type.")
        ] = None,
        status: Annotated[
            JobStatus | None, strawberry.argument(description="Only backups in this status.")
        ] = None,
        last_drill: Annotated[
            LastDrill | None,
            strawberry.argument(
                description="Only backups whose newest restore drill ended so (or NEVER drilled)."
            ),
        ] = None,
        created_by: Annotated[
            int | None, strawberry.argument(description="Only backups made by this user id.")
        ] = None,
        created_from: Annotated[
            datetime | None,
            strawberry.argument(description="Only backups started at or after this time."),
        ] = None,
        created_until: Annotated[
            datetime | None,
            strawberry.argument(description="Only backups started before this time."),
        ] = None,
        min_size: Annotated[
            BigInt | None,
            strawberry.argument(
                description="Only backups whose file has at least this many bytes."
            ),
        ] = None,
        max_size: Annotated[
            BigInt | None,
            strawberry.argument(description="Only backups whose file has at most this many bytes."),
        ] = None,
    ) -> BackupPage:
        request = PageRequest(page=page, limit=limit)
        where = history.BackupFilter(
            backup_type=backup_type,
            status=status,
            created_by=created_by,
            created_from=created_from,
            created_until=created_until,
            min_size=min_size,
            max_size=max_size,
        )
        async with info.context.resources.sessions() as session:
            result = await history.list_backups(
                session,
                request,
                where=where,
                narrow=None
                if last_drill is None
                else lambda query: filter_by_last_drill(query, last_drill),
            )
            items = await backups_page(info, session, result.items)
        return BackupPage(
            items=items,
            total=result.total,
            page=result.page,
            limit=result.limit,
            page_count=result.page_count,
        )

    @strawberry.field(permission_classes=ADMIN, description="One backup by id (NOT_FOUND if none).")
    async def backup(
        self, info: Info, id: Annotated[int, strawberry.argument(description="Backup id.")]
    ) -> Backup:
        async with info.context.resources.sessions() as session:
            return Backup.of(await history.get_backup(session, id))

    @strawberry.field(
        permission_classes=ADMIN, description="Restores, newest first, optionally of one backup."
    )
    async def restore_logs(
        self,
        info: Info,
        page: PageArg = 1,
        limit: LimitArg = DEFAULT_LIMIT,
        backup_id: Annotated[
            int | None,
            strawberry.argument(
                description="Only restores of this backup (NOT_FOUND if no such backup)."
            ),
        ] = None,
    ) -> RestoreLogPage:
        request = PageRequest(page=page, limit=limit)
        async with info.context.resources.sessions() as session:
            result = await history.list_restore_logs(session, request, backup_id=backup_id)
        return RestoreLogPage(
            items=[RestoreLog.of(row) for row in result.items],
            total=result.total,
            page=result.page,
            limit=result.limit,
            page_count=result.page_count,
        )

    @strawberry.field(
        permission_classes=ADMIN,
        description="Restore drills, newest first, optionally of one backup.",
    )
    async def restore_drills(
        self,
        info: Info,
        page: PageArg = 1,
        limit: LimitArg = DEFAULT_LIMIT,
        backup_id: Annotated[
            int | None,
            strawberry.argument(
                description="Only drills of this backup (NOT_FOUND if no such backup)."
            ),
        ] = None,
    ) -> RestoreDrillPage:
        request = PageRequest(page=page, limit=limit)
        async with info.context.resources.sessions() as session:
            result = await list_drills(session, request, backup_id=backup_id)
        return RestoreDrillPage(
            items=[RestoreDrill.of(row) for row in result.items],
            total=result.total,
            page=result.page,
            limit=result.limit,
            page_count=result.page_count,
        )

    @strawberry.field(
        permission_classes=ADMIN,
        description="Is the database protected right now? The last good backup, the last "
        "drill, each schedule, and the backup disk.",
    )
    async def backup_health(self, info: Info) -> BackupHealth:
        resources = info.context.resources
        health = await backup_health(
            resources.sessions,
            resources.adapter,
            resources.folder,
            resources.settings,
            resources.schedule_health,
            resources.clock(),
        )
        return BackupHealth.of(health)

    @strawberry.field(
        permission_classes=ADMIN,
        description="Notification channels (their secrets are never shown).",
    )
    async def notification_channels(self, info: Info) -> list[NotificationChannel]:
        async with info.context.resources.sessions() as session:
            rows = await list_channels(session)
        return [shown(info, row) for row in rows]

    @strawberry.field(
        permission_classes=ADMIN,
        description="Notifications sent (or not), newest first, optionally to one channel.",
    )
    async def notifications(
        self,
        info: Info,
        page: PageArg = 1,
        limit: LimitArg = DEFAULT_LIMIT,
        channel_id: Annotated[
            int | None,
            strawberry.argument(description="Only deliveries to this channel (NOT_FOUND if none)."),
        ] = None,
    ) -> NotificationDeliveryPage:
        request = PageRequest(page=page, limit=limit)
        async with info.context.resources.sessions() as session:
            result = await list_deliveries(session, request, channel_id=channel_id)
        return NotificationDeliveryPage(
            items=[NotificationDelivery.of(row) for row in result.items],
            total=result.total,
            page=result.page,
            limit=result.limit,
            page_count=result.page_count,
        )

    @strawberry.field(
        permission_classes=ADMIN,
        description="Cache clearings, newest first, optionally of one type.",
    )
    async def cache_logs(
        self,
        info: Info,
        page: PageArg = 1,
        limit: LimitArg = DEFAULT_LIMIT,
        cache_type: Annotated[
            CacheType | None, strawberry.argument(description="Only clearings of this cache type.")
        ] = None,
    ) -> CacheLogPage:
        request = PageRequest(page=page, limit=limit)
        async with info.context.resources.sessions() as session:
            result = await list_cache_logs(
                session,
                request,
                cache_type=cache_type,
            )
        return CacheLogPage(
            items=[CacheLog.of(row) for row in result.items],
            total=result.total,
            page=result.page,
            limit=result.limit,
            page_count=result.page_count,
        )

    @strawberry.field(
        permission_classes=ADMIN, description="The offsite targets backups are copied to."
    )
    def offsite_targets(self, info: Info) -> list[OffsiteTarget]:
        return [OffsiteTarget.of(config) for config in info.context.resources.offsite.targets.all]

    @strawberry.field(
        permission_classes=ADMIN,
        description=(
            "The backups an offsite target holds (each with its manifest), newest first: what "
            "`importBackup` can bring into this catalog."
        ),
    )
    async def remote_backups(
        self,
        info: Info,
        target: Annotated[str, strawberry.argument(description="The target's name.")],
    ) -> list[RemoteBackup]:
        found = await info.context.resources.remote.list_remote(target)
        return [RemoteBackup.of(record) for record in found]

    @strawberry.field(permission_classes=ADMIN, description="Tables available for backup.")
    async def tables(
        self,
        info: Info,
        include_catalog: Annotated[
            bool, strawberry.argument(description="Also list Lumbung's own catalog tables.")
        ] = False,
    ) -> list[Table]:
        settings = info.context.resources.settings
        async with info.context.resources.sessions() as session:
            tables = await list_tables(
                session, settings.core_tables, include_catalog=include_catalog
            )
        return [Table.of(table) for table in tables]

    @strawberry.field(
        permission_classes=ADMIN, description="Application, database and system figures."
    )
    async def system_info(self, info: Info) -> SystemInfo:
        return await SystemInfo.now(info.context.resources)

    @strawberry.field(
        permission_classes=ADMIN, description="The caller, as its token describes it."
    )
    def me(self, info: Info) -> Me:
        principal = info.context.principal
        assert principal is not None  # IsAdmin has let it through
        return Me.of(principal)
