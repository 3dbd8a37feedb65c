"""Schedules over GraphQL: the `schedules`, `schedule` and `retentionPreview` queries and the
createSchedule, updateSchedule, deleteSchedule and runScheduleNow mutations. Resolvers only
translate: inputs to the service's values (timing.py, actions.py), rows to types."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.permission import BasePermission

from schema.backup_mutations import CreateBackupInput, backup_request
from schema.cache_mutations import ClearCacheInput, clear_request
from schema.context import Info
from schema.enums import DrillMode, ScheduleFrequency, Weekday
from schema.permissions import IsAdmin
from schema.scalars import BigInt
from schema.schedule_types import RetentionPreview, Schedule, ScheduleRun
from server.rotation.policy import DEFAULT_RETENTION, Retention
from server.schedule import views
from server.schedule.actions import ScheduledAction
from server.schedule.drills import DrillPolicy
from server.schedule.service import ScheduleChanges, ScheduleSpec
from server.schedule.timing import Timing, timing

ADMIN: list[type[BasePermission]] = [IsAdmin]
ScheduleId = Annotated[int, strawberry.argument(description="Schedule id.")]


@strawberry.input(description="When a schedule runs. Give only the fields its frequency takes.")
class ScheduleTimingInput:
    frequency: ScheduleFrequency = strawberry.field(description="HOURLY ... MONTHLY, or CRON.")
    time_zone: str = strawberry.field(
        default="UTC", description="An IANA time zone, e.g. Europe/Berlin (default UTC)."
    )
    time_of_day: str | None = strawberry.field(
        default=None, description="DAILY, WEEKLY, MONTHLY: HH:MM (default 00:00)."
    )
    minute: int | None = strawberry.field(
        default=None, description="HOURLY: minutes past the hour, 0-59 (default 0)."
    )
    day_of_week: Weekday | None = strawberry.field(
        default=None, description="WEEKLY: the day (default MONDAY)."
    )
    day_of_month: int | None = strawberry.field(
        default=None, description="MONTHLY: 1-28, days every month has (default 1)."
    )
    cron: str | None = strawberry.field(
        default=None,
        description="CRON: 5 fields, minute hour day-of-month month day-of-week (`30 2 * * *`).",
    )

    def to_timing(self) -> Timing:
        return timing(
            self.frequency,
            time_zone=self.time_zone,
            time_of_day=self.time_of_day,
            minute=self.minute,
            day_of_week=self.day_of_week,
            day_of_month=self.day_of_month,
            cron=self.cron,
        )


@strawberry.input(description="Which backups of a backup schedule rotation keeps.")
class RetentionInput:
    enabled: bool = strawberry.field(
        default=True, description="Rotate after each successful backup (default on)."
    )
    keep_last: int = strawberry.field(
        default=DEFAULT_RETENTION.keep_last, description="Keep the newest this many (at least 1)."
    )
    keep_daily: int = strawberry.field(
        default=DEFAULT_RETENTION.keep_daily,
        description="Keep the newest of each of this many most recent days that have a backup.",
    )
    keep_weekly: int = strawberry.field(
        default=DEFAULT_RETENTION.keep_weekly, description="Likewise for ISO weeks."
    )
    keep_monthly: int = strawberry.field(
        default=DEFAULT_RETENTION.keep_monthly, description="Likewise for months."
    )
    keep_yearly: int = strawberry.field(
        default=DEFAULT_RETENTION.keep_yearly, description="Likewise for years."
    )
    max_total_size: BigInt | None = strawberry.field(
        default=None,
        description="Then delete the oldest kept until they take at most this many bytes.",
    )

    def to_retention(self) -> Retention:
        return Retention(
            keep_last=self.keep_last,
            keep_daily=self.keep_daily,
            keep_weekly=self.keep_weekly,
            keep_monthly=self.keep_monthly,
            keep_yearly=self.keep_yearly,
            max_total_size=self.max_total_size,
        )


@strawberry.input(
    description="When a backup schedule drills its own backups: restores the backup a run "
    "made into a scratch database and proves it (docs/drills.md)."
)
class ScheduleDrillInput:
    mode: DrillMode = strawberry.field(description="OFF, EVERY_NTH or DAILY.")
    every: int | None = strawberry.field(
        default=None, description="For EVERY_NTH: drill every this-many-th backup, 1 to 1000."
    )

    def to_policy(self) -> DrillPolicy:
        return DrillPolicy(self.mode, self.every)


def _action(
    backup: CreateBackupInput | None, clear_cache: ClearCacheInput | None
) -> ScheduledAction:
    return ScheduledAction(
        backup=backup_request(backup) if backup is not None else None,
        clear=clear_request(clear_cache) if clear_cache is not None else None,
    )


@strawberry.input(description="A new schedule: its name, when, and one thing it runs.")
class CreateScheduleInput:
    name: str = strawberry.field(description="A unique name, at most 191 characters.")
    timing: ScheduleTimingInput = strawberry.field(description="When it runs.")
    backup: CreateBackupInput | None = strawberry.field(
        default=None, description="Run a backup with these options (or give clearCache)."
    )
    clear_cache: ClearCacheInput | None = strawberry.field(
        default=None, description="Run a cache clear with these options (or give backup)."
    )
    enabled: bool = strawberry.field(default=True, description="Run its slots (default on).")
    retention: RetentionInput | None = strawberry.field(
        default=None, description="Backup schedules: rotation (default: on, with the defaults)."
    )
    drill: ScheduleDrillInput | None = strawberry.field(
        default=None, description="Backup schedules: restore drills of its backups (default OFF)."
    )


@strawberry.input(description="Changes to a schedule; what is left out stays as it is.")
class UpdateScheduleInput:
    name: str | None = strawberry.field(default=None, description="A new name.")
    enabled: bool | None = strawberry.field(
        default=None, description="Turn it on or off. Slots from while it was off never run."
    )
    timing: ScheduleTimingInput | None = strawberry.field(
        default=None, description="A new timing, replacing the old (past slots are not run)."
    )
    backup: CreateBackupInput | None = strawberry.field(
        default=None, description="Run this backup from now on (replaces what it ran)."
    )
    clear_cache: ClearCacheInput | None = strawberry.field(
        default=None, description="Run this cache clear from now on (replaces what it ran)."
    )
    retention: RetentionInput | None = strawberry.field(
        default=None, description="A new rotation policy, replacing the old."
    )
    drill: ScheduleDrillInput | None = strawberry.field(
        default=None, description="A new drill policy, replacing the old."
    )


@strawberry.type(description="A schedule that was created or changed.")
class SchedulePayload:
    message: str = strawberry.field(description="What happened, for people.")
    schedule: Schedule = strawberry.field(description="The schedule as it is now.")


@strawberry.type(description="A schedule that was deleted (the backups it made stay).")
class DeleteSchedulePayload:
    message: str = strawberry.field(description="What happened, for people.")
    id: int = strawberry.field(description="Id of the deleted schedule.")
    name: str = strawberry.field(description="Its name.")


@strawberry.type(description="A run that has started.")
class RunScheduleNowPayload:
    message: str = strawberry.field(description="What happened, for people.")
    run: ScheduleRun = strawberry.field(
        description="The run, WAITING: follow it in the schedule's `runs`."
    )


async def _shown(info: Info, schedule_id: int) -> Schedule:
    facts = await info.context.loaders.schedules.load(schedule_id)
    assert facts is not None
    return Schedule.of(*facts)


@strawberry.type(description="Read schedules.")
class ScheduleQuery:
    @strawberry.field(permission_classes=ADMIN, description="Every schedule, oldest first.")
    async def schedules(self, info: Info) -> list[Schedule]:
        async with info.context.resources.sessions() as session:
            rows = await views.list_schedules(session)
            ids = [row.id for row in rows]
            slots = await views.newest_slots(session, ids)
            runs = await views.last_runs(session, ids)
        return [Schedule.of(row, slots.get(row.id), runs.get(row.id)) for row in rows]

    @strawberry.field(permission_classes=ADMIN, description="One schedule (NOT_FOUND if none).")
    async def schedule(self, info: Info, id: ScheduleId) -> Schedule:
        async with info.context.resources.sessions() as session:
            await views.get_schedule(session, id)
        return await _shown(info, id)

    @strawberry.field(
        permission_classes=ADMIN,
        description=(
            "What the next rotation of a schedule would delete, and why each backup is kept; "
            "then the same for the copies on each enabled offsite target. Files are verified "
            "to find the newest good backup."
        ),
    )
    async def retention_preview(
        self,
        info: Info,
        schedule_id: Annotated[int, strawberry.argument(description="Schedule id.")],
    ) -> RetentionPreview:
        _schedule, preview = await info.context.resources.schedules.preview(schedule_id)
        return RetentionPreview.of(schedule_id, preview)


@strawberry.type(description="Manage schedules.")
class ScheduleMutation:
    @strawberry.mutation(permission_classes=ADMIN, description="Create a schedule.")
    async def create_schedule(
        self,
        info: Info,
        input: Annotated[CreateScheduleInput, strawberry.argument(description="The schedule.")],
    ) -> SchedulePayload:
        principal = info.context.principal
        assert principal is not None
        retention = input.retention or RetentionInput()
        spec = ScheduleSpec(
            name=input.name,
            timing=input.timing.to_timing(),
            action=_action(input.backup, input.clear_cache),
            enabled=input.enabled,
            rotation_enabled=retention.enabled,
            retention=retention.to_retention(),
            drill=input.drill.to_policy() if input.drill is not None else DrillPolicy(),
        )
        row = await info.context.resources.schedules.create(spec, principal.actor_id)
        return SchedulePayload(
            message=f"Schedule {row.name!r} created.", schedule=await _shown(info, row.id)
        )

    @strawberry.mutation(permission_classes=ADMIN, description="Change a schedule.")
    async def update_schedule(
        self,
        info: Info,
        id: ScheduleId,
        input: Annotated[UpdateScheduleInput, strawberry.argument(description="The changes.")],
    ) -> SchedulePayload:
        action = None
        if input.backup is not None or input.clear_cache is not None:
            action = _action(input.backup, input.clear_cache)
        changes = ScheduleChanges(
            name=input.name,
            enabled=input.enabled,
            timing=input.timing.to_timing() if input.timing is not None else None,
            action=action,
            rotation_enabled=input.retention.enabled if input.retention is not None else None,
            retention=input.retention.to_retention() if input.retention is not None else None,
            drill=input.drill.to_policy() if input.drill is not None else None,
        )
        row = await info.context.resources.schedules.update(id, changes)
        return SchedulePayload(
            message=f"Schedule {row.name!r} updated.", schedule=await _shown(info, row.id)
        )

    @strawberry.mutation(
        permission_classes=ADMIN,
        description="Delete a schedule and its run history; the backups it made stay.",
    )
    async def delete_schedule(self, info: Info, id: ScheduleId) -> DeleteSchedulePayload:
        row = await info.context.resources.schedules.delete(id)
        return DeleteSchedulePayload(
            message=f"Schedule {row.name!r} deleted.", id=row.id, name=row.name
        )

    @strawberry.mutation(
        permission_classes=ADMIN,
        description=(
            "Run a schedule now, outside its timing (its slots are unaffected). Returns at once "
            "with the run WAITING."
        ),
    )
    async def run_schedule_now(self, info: Info, id: ScheduleId) -> RunScheduleNowPayload:
        started = await info.context.resources.schedules.run_now(id)
        return RunScheduleNowPayload(message="Run started.", run=ScheduleRun.of(started.row))
