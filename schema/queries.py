"""Root queries. Resolvers stay thin: check input, call one service, shape the result."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.permission import BasePermission

from schema.context import Info
from schema.enums import BackupType, CacheType, JobStatus
from schema.offsite import OffsiteTarget, RemoteBackup
from schema.permissions import IsAdmin
from schema.prefetch import backups_page
from schema.schedules import ScheduleQuery
from schema.system import Me, SystemInfo, Table
from schema.types import Backup, BackupPage, CacheLog, CacheLogPage, RestoreLog, RestoreLogPage
from server.backup import history
from server.cache.history import list_cache_logs
from server.db.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest
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
        description="Backups, newest first, optionally filtered by type and status.",
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
    ) -> BackupPage:
        request = PageRequest(page=page, limit=limit)
        async with info.context.resources.sessions() as session:
            result = await history.list_backups(
                session,
                request,
                backup_type=backup_type,
                status=status,
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
