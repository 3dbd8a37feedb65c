"""The GraphQL types of schedules: a schedule, its runs, its rotation policy and preview."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from cronsim import CronSim

from schema.context import Info
from schema.enums import (
    BackupType,
    CacheType,
    Compression,
    DrillMode,
    KeyMatch,
    RunStatus,
    RunTrigger,
    ScheduleAction,
    ScheduleFrequency,
    Weekday,
)
from schema.scalars import BigInt
from schema.types import Backup, CacheLog, RestoreDrill
from server.db import models
from server.db.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest
from server.rotation.policy import Reason as RetentionReason
from server.rotation.service import Judged, Preview
from server.schedule import views


@strawberry.type(description="The createBackup options a backup schedule runs with.")
class ScheduledBackup:
    backup_type: BackupType = strawberry.field(description="FULL, PARTIAL or SELECTIVE.")
    tables: list[str] | None = strawberry.field(description="For SELECTIVE: the tables.")
    include_schema: bool = strawberry.field(description="Dump table definitions.")
    include_data: bool = strawberry.field(description="Dump table rows.")
    description: str | None = strawberry.field(description="Each backup's description.")
    compression: Compression | None = strawberry.field(
        description="The compression (null: LUMBUNG_BACKUP_COMPRESSION)."
    )
    include_catalog: bool = strawberry.field(description="For FULL: also Lumbung's catalog.")

    @classmethod
    def of(cls, options: dict[str, Any]) -> ScheduledBackup:
        compression = options.get("compression")
        return cls(
            backup_type=BackupType[options["backupType"]],
            tables=options.get("tables"),
            include_schema=bool(options.get("includeSchema", True)),
            include_data=bool(options.get("includeData", True)),
            description=options.get("description"),
            compression=Compression[compression] if compression else None,
            include_catalog=bool(options.get("includeCatalog", False)),
        )


@strawberry.type(description="The clearCache options a cache schedule runs with.")
class ScheduledClear:
    cache_type: CacheType = strawberry.field(description="The kind of cache (ALL for every kind).")
    specific_keys: list[str] = strawberry.field(description="Only these keys (empty: all).")
    key_match: KeyMatch = strawberry.field(description="EXACT or GLOB: how specificKeys are read.")
    older_than_minutes: int | None = strawberry.field(description="For files: minimum age.")
    dry_run: bool = strawberry.field(description="Report only; touch nothing.")
    description: str | None = strawberry.field(description="Each CacheLog's description.")

    @classmethod
    def of(cls, options: dict[str, Any]) -> ScheduledClear:
        return cls(
            cache_type=CacheType[options["cacheType"]],
            specific_keys=list(options.get("specificKeys") or []),
            key_match=KeyMatch[options.get("keyMatch", "EXACT")],
            older_than_minutes=options.get("olderThanMinutes"),
            dry_run=bool(options.get("dryRun", False)),
            description=options.get("description"),
        )


@strawberry.type(description="Which of its backups a schedule keeps (see docs/schedules.md).")
class RetentionPolicy:
    enabled: bool = strawberry.field(
        description="Whether rotation runs after each successful backup of the schedule."
    )
    keep_last: int = strawberry.field(description="The newest this many backups are kept.")
    keep_daily: int = strawberry.field(
        description="The newest backup of each of this many most recent days that have one."
    )
    keep_weekly: int = strawberry.field(description="Likewise for ISO weeks.")
    keep_monthly: int = strawberry.field(description="Likewise for months.")
    keep_yearly: int = strawberry.field(description="Likewise for years.")
    max_total_size: BigInt | None = strawberry.field(
        description="Bytes the schedule's kept backups may take in all (null: no cap)."
    )


@strawberry.type(description="When a backup schedule drills its own backups (docs/drills.md).")
class ScheduleDrillPolicy:
    mode: DrillMode = strawberry.field(description="OFF, EVERY_NTH or DAILY.")
    every: int | None = strawberry.field(description="For EVERY_NTH: N (1: every backup).")


@strawberry.type(description="One slot of a schedule, or a run an admin asked for.")
class ScheduleRun:
    id: int = strawberry.field(description="Run id.")
    schedule_id: int = strawberry.field(description="The schedule's id.")
    slot_at: datetime | None = strawberry.field(
        description="The slot this run is for (null for a MANUAL run)."
    )
    trigger: RunTrigger = strawberry.field(description="SLOT, CATCH_UP or MANUAL.")
    status: RunStatus = strawberry.field(description="WAITING, RUNNING, COMPLETED, FAILED, MISSED.")
    missed_slots: int = strawberry.field(description="For MISSED: how many slots it stands for.")
    missed_from: datetime | None = strawberry.field(
        description="For MISSED: the first of them (the last is `slotAt`)."
    )
    backup_id: int | None = strawberry.field(
        description="The backup it made (follow it with backupProgress)."
    )
    cache_log_id: int | None = strawberry.field(description="The CacheLog its clear wrote.")
    drill_id: int | None = strawberry.field(
        description="The restore drill it started after its backup (follow it with "
        "drillProgress); null when none was due or it could not start (`errorMessage` says why)."
    )
    error_message: str | None = strawberry.field(
        description="Why it failed or was missed; on a COMPLETED run, what its rotation could "
        "not delete (a target down, say), which the next rotation tries again."
    )
    rotated: list[str] = strawberry.field(
        description="Backups the rotation after it deleted (with their offsite copies), as "
        "`#id filename`."
    )
    rotated_copies: list[str] = strawberry.field(
        description="Copies the rotation deleted on offsite targets, their backups kept here, "
        "as `#id filename on target`."
    )
    claimed_by: str = strawberry.field(description="The server process that claimed it.")
    created_at: datetime = strawberry.field(description="When it was claimed.")
    completed_at: datetime | None = strawberry.field(description="When it ended.")

    @classmethod
    def of(cls, row: models.ScheduleRun) -> ScheduleRun:
        return cls(
            id=row.id,
            schedule_id=row.schedule_id,
            slot_at=row.slot_at,
            trigger=row.trigger,
            status=row.status,
            missed_slots=row.missed_slots,
            missed_from=row.missed_from,
            backup_id=row.backup_id,
            cache_log_id=row.cache_log_id,
            drill_id=row.drill_id,
            error_message=row.error_message,
            rotated=list(row.rotated or []),
            rotated_copies=list(row.rotated_copies or []),
            claimed_by=row.claimed_by,
            created_at=row.created_at,
            completed_at=row.completed_at,
        )

    @strawberry.field(description="The backup it made (null if none, or deleted since).")
    async def backup(self, info: Info) -> Backup | None:
        if self.backup_id is None:
            return None
        row = await info.context.loaders.maybe_backups.load(self.backup_id)
        return None if row is None else Backup.of(row)

    @strawberry.field(
        description="The restore drill it started (null if none, or gone with its backup)."
    )
    async def drill(self, info: Info) -> RestoreDrill | None:
        if self.drill_id is None:
            return None
        async with info.context.resources.sessions() as session:
            row = await session.get(models.RestoreDrill, self.drill_id)
        return None if row is None else RestoreDrill.of(row)

    @strawberry.field(description="The CacheLog its clear wrote (null for a backup).")
    async def cache_log(self, info: Info) -> CacheLog | None:
        if self.cache_log_id is None:
            return None
        async with info.context.resources.sessions() as session:
            row = await session.get(models.CacheLog, self.cache_log_id)
        return None if row is None else CacheLog.of(row)


@strawberry.type(description="One page of a schedule's runs, newest first.")
class ScheduleRunPage:
    items: list[ScheduleRun] = strawberry.field(description="The runs on this page.")
    total: int = strawberry.field(description="How many runs, on all pages.")
    page: int = strawberry.field(description="This page's number, from 1.")
    limit: int = strawberry.field(description="Items per page.")
    page_count: int = strawberry.field(description="How many pages there are.")


@strawberry.type(description="A backup or cache clear that runs on its own.")
class Schedule:
    id: int = strawberry.field(description="Schedule id.")
    name: str = strawberry.field(description="Its name, unique.")
    enabled: bool = strawberry.field(description="Whether its slots run.")
    action: ScheduleAction = strawberry.field(description="BACKUP or CLEAR_CACHE.")
    backup: ScheduledBackup | None = strawberry.field(description="For BACKUP: its options.")
    clear_cache: ScheduledClear | None = strawberry.field(
        description="For CLEAR_CACHE: its options."
    )
    frequency: ScheduleFrequency = strawberry.field(description="HOURLY ... MONTHLY, or CRON.")
    time_of_day: str | None = strawberry.field(description="DAILY/WEEKLY/MONTHLY: HH:MM.")
    minute: int | None = strawberry.field(description="HOURLY: minutes past the hour.")
    day_of_week: Weekday | None = strawberry.field(description="WEEKLY: the day.")
    day_of_month: int | None = strawberry.field(description="MONTHLY: the day (1-28).")
    cron: str = strawberry.field(
        description="The cron expression it runs by (made from the fields above unless CRON)."
    )
    time_zone: str = strawberry.field(description="The IANA time zone of its times.")
    next_run_at: datetime | None = strawberry.field(
        description=(
            "The next slot (UTC); in the past when it is overdue because no server runs the "
            "scheduler. Null while disabled."
        )
    )
    last_run: ScheduleRun | None = strawberry.field(description="Its newest run, if any.")
    retention: RetentionPolicy = strawberry.field(description="Its rotation policy.")
    drill: ScheduleDrillPolicy = strawberry.field(
        description="When it drills its own backups (backup schedules)."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    created_by: int = strawberry.field(
        description="Id of the user who created it; its backups are recorded as theirs."
    )

    @classmethod
    def of(
        cls,
        row: models.Schedule,
        newest_slot: datetime | None,
        last_run: models.ScheduleRun | None,
    ) -> Schedule:
        is_backup = row.action is ScheduleAction.BACKUP
        return cls(
            id=row.id,
            name=row.name,
            enabled=row.enabled,
            action=row.action,
            backup=ScheduledBackup.of(row.options) if is_backup else None,
            clear_cache=None if is_backup else ScheduledClear.of(row.options),
            frequency=row.frequency,
            time_of_day=row.time_of_day,
            minute=row.minute,
            day_of_week=None if row.day_of_week is None else Weekday(row.day_of_week),
            day_of_month=row.day_of_month,
            cron=row.cron_expression,
            time_zone=row.time_zone,
            next_run_at=views.next_run_at(row, newest_slot),
            last_run=None if last_run is None else ScheduleRun.of(last_run),
            retention=RetentionPolicy(
                enabled=row.rotation_enabled,
                keep_last=row.keep_last,
                keep_daily=row.keep_daily,
                keep_weekly=row.keep_weekly,
                keep_monthly=row.keep_monthly,
                keep_yearly=row.keep_yearly,
                max_total_size=None if row.max_total_size is None else BigInt(row.max_total_size),
            ),
            drill=ScheduleDrillPolicy(mode=row.drill_mode, every=row.drill_every),
            created_at=row.created_at,
            updated_at=row.updated_at,
            created_by=row.created_by,
        )

    @strawberry.field(description="The cron expression in words, e.g. `At 02:30`.")
    def cron_description(self) -> str:
        return CronSim(self.cron, datetime(2000, 1, 1)).explain()

    @strawberry.field(description="Its runs, newest first: its history.")
    async def runs(
        self,
        info: Info,
        page: Annotated[int, strawberry.argument(description="Page number, from 1.")] = 1,
        limit: Annotated[
            int, strawberry.argument(description=f"Items per page, 1 to {MAX_LIMIT}.")
        ] = DEFAULT_LIMIT,
    ) -> ScheduleRunPage:
        request = PageRequest(page=page, limit=limit)
        async with info.context.resources.sessions() as session:
            result = await views.run_history(session, self.id, request)
        return ScheduleRunPage(
            items=[ScheduleRun.of(row) for row in result.items],
            total=result.total,
            page=result.page,
            limit=result.limit,
            page_count=result.page_count,
        )


@strawberry.type(description="One backup in a schedule's rotation, and what rotation does.")
class RetentionItem:
    backup: Backup = strawberry.field(description="The backup.")
    keep: bool = strawberry.field(description="True: kept; false: the next rotation deletes it.")
    reasons: list[RetentionReason] = strawberry.field(
        description="Why: every rule that keeps it, or the one reason it goes."
    )
    details: list[str] = strawberry.field(description="The same reasons in words.")

    @classmethod
    def of(cls, judged: Judged) -> RetentionItem:
        return cls(
            backup=Backup.of(judged.backup),
            keep=judged.verdict.keep,
            reasons=list(judged.verdict.reasons),
            details=list(judged.verdict.details),
        )


@strawberry.type(
    description="What the next rotation of a schedule would delete on one offsite target."
)
class TargetRetentionPreview:
    target: str = strawberry.field(description="The offsite target (an enabled one).")
    items: list[RetentionItem] = strawberry.field(
        description="The schedule's backups that stay here and have a copy there, newest "
        "first: `keep` false means the next rotation deletes that copy (the backup stays)."
    )
    delete_count: int = strawberry.field(description="How many copies would be deleted.")


@strawberry.type(description="What the next rotation of a schedule would delete, and why.")
class RetentionPreview:
    schedule_id: int = strawberry.field(description="The schedule.")
    items: list[RetentionItem] = strawberry.field(
        description="Every backup in its scope (its own, and safety backups), newest first. "
        "A backup that goes takes its offsite copies with it."
    )
    delete_count: int = strawberry.field(description="How many would be deleted.")
    bytes_freed: BigInt = strawberry.field(description="Bytes their files take.")
    targets: list[TargetRetentionPreview] = strawberry.field(
        description="The same policy on each enabled offsite target, over its copies."
    )

    @classmethod
    def of(cls, schedule_id: int, preview: Preview) -> RetentionPreview:
        going = [item for item in preview.local if not item.verdict.keep]
        return cls(
            schedule_id=schedule_id,
            items=[RetentionItem.of(item) for item in preview.local],
            delete_count=len(going),
            bytes_freed=BigInt(sum(item.backup.file_size for item in going)),
            targets=[
                TargetRetentionPreview(
                    target=target,
                    items=[RetentionItem.of(item) for item in items],
                    delete_count=sum(1 for item in items if not item.verdict.keep),
                )
                for target, items in preview.targets.items()
            ],
        )
