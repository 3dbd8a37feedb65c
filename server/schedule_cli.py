"""`lumbung schedules ...`: list, create, update, delete, run and preview schedules, through the
same services as the API (checks and messages included)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from server.backup.plan import BackupRequest
from server.cache.keys import KeyMatch
from server.cache.request import build_request
from server.db.enums import (
    BackupType,
    CacheType,
    Compression,
    DrillMode,
    RunStatus,
    ScheduleFrequency,
    Weekday,
)
from server.errors import BadUserInput
from server.rotation.policy import DEFAULT_RETENTION, Retention
from server.schedule.actions import ScheduledAction
from server.schedule.drills import DrillPolicy
from server.schedule.service import ScheduleChanges, ScheduleSpec
from server.schedule.timing import Timing, timing
from server.schedule.views import get_schedule, last_runs, list_schedules, newest_slots, next_run_at

if TYPE_CHECKING:
    from server.resources import Resources

schedules_cli = typer.Typer(help="Backups and cache clears that run on their own.")

Frequency = Annotated[str | None, typer.Option(help="hourly, daily, weekly, monthly or cron.")]
At = Annotated[str | None, typer.Option("--at", help="daily/weekly/monthly: HH:MM.")]
Minute = Annotated[int | None, typer.Option(help="hourly: minutes past the hour.")]
DayOfWeek = Annotated[str | None, typer.Option(help="weekly: monday ... sunday.")]
DayOfMonth = Annotated[int | None, typer.Option(help="monthly: 1-28.")]
Cron = Annotated[str | None, typer.Option(help="cron: 5 fields, e.g. '30 2 * * *'.")]
Zone = Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Berlin.")]
Keep = Annotated[int | None, typer.Option()]
Drill = Annotated[
    str | None,
    typer.Option(help="Restore drills of its backups: off, daily, or N (every Nth backup)."),
]


def _timing(
    frequency: str,
    at: str | None,
    minute: int | None,
    day_of_week: str | None,
    day_of_month: int | None,
    cron: str | None,
    time_zone: str,
) -> Timing:
    try:
        kind = ScheduleFrequency[frequency.upper()]
        weekday = Weekday[day_of_week.upper()] if day_of_week else None
    except KeyError as exc:
        raise BadUserInput(f"unknown value {exc}: see --help") from None
    return timing(
        kind,
        time_zone=time_zone,
        time_of_day=at,
        minute=minute,
        day_of_week=weekday,
        day_of_month=day_of_month,
        cron=cron,
    )


def _action(
    backup_type: str | None,
    table: list[str] | None,
    compression: str | None,
    clear_cache: str | None,
    key: list[str] | None,
    description: str | None,
) -> ScheduledAction | None:
    try:
        backup = (
            BackupRequest(
                backup_type=BackupType[backup_type.upper()],
                tables=table,
                description=description,
                compression=Compression[compression.upper()] if compression else None,
            )
            if backup_type
            else None
        )
        clear = (
            build_request(
                cache_type=CacheType[clear_cache.upper()],
                specific_keys=key,
                key_match=KeyMatch.EXACT,
                description=description,
            )
            if clear_cache
            else None
        )
    except KeyError as exc:
        raise BadUserInput(f"unknown value {exc}: see --help") from None
    if backup is None and clear is None:
        return None
    return ScheduledAction(backup=backup, clear=clear)


def _drill(text: str | None) -> DrillPolicy | None:
    if text is None:
        return None
    word = text.strip().lower()
    if word.isdigit():
        return DrillPolicy(DrillMode.EVERY_NTH, int(word))
    if word in ("off", "daily"):
        return DrillPolicy(DrillMode[word.upper()])
    raise BadUserInput(f"--drill takes off, daily or a number of backups, not {text[:20]!r}.")


def _retention(base: Retention, **keep: int | None) -> Retention | None:
    if all(value is None for value in keep.values()):
        return None
    values = {name: getattr(base, name) for name in keep}
    values.update({name: value for name, value in keep.items() if value is not None})
    return Retention(**values, max_total_size=base.max_total_size)


def _run(body: object) -> None:
    from server.cli import _run as run_job
    from server.cli import _settings

    run_job(_settings(), body)  # type: ignore[arg-type]


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")


@schedules_cli.command("list")
def list_command() -> None:
    """Every schedule: id, name, when, next run and last run."""

    async def body(resources: Resources) -> int:
        async with resources.sessions() as session:
            rows = await list_schedules(session)
            ids = [row.id for row in rows]
            slots = await newest_slots(session, ids)
            runs = await last_runs(session, ids)
        for row in rows:
            upcoming = next_run_at(row, slots.get(row.id))
            last = runs.get(row.id)
            cells = [
                str(row.id),
                row.name,
                "on" if row.enabled else "off",
                row.action.value,
                f"{row.cron_expression} ({row.time_zone})",
                f"next {upcoming:%Y-%m-%d %H:%M} UTC" if upcoming else "next -",
                f"last {last.status.value}" if last else "never run",
            ]
            _print("\t".join(cells))
        return 0

    _run(body)


@schedules_cli.command()
def create(
    name: Annotated[str, typer.Argument(help="A unique name.")],
    frequency: Frequency = "daily",
    at: At = None,
    minute: Minute = None,
    day_of_week: DayOfWeek = None,
    day_of_month: DayOfMonth = None,
    cron: Cron = None,
    time_zone: Zone = "UTC",
    backup_type: Annotated[
        str | None, typer.Option(help="Back up: full, partial or selective.")
    ] = None,
    table: Annotated[list[str] | None, typer.Option(help="selective: a table (repeat).")] = None,
    compression: Annotated[str | None, typer.Option(help="zstd, gzip or none.")] = None,
    clear_cache: Annotated[
        str | None, typer.Option(help="Clear a cache instead: all, redis, memory, ...")
    ] = None,
    key: Annotated[list[str] | None, typer.Option(help="Only this cache key (repeat).")] = None,
    description: Annotated[str | None, typer.Option(help="Free text for each run.")] = None,
    keep_last: Keep = None,
    keep_daily: Keep = None,
    keep_weekly: Keep = None,
    keep_monthly: Keep = None,
    keep_yearly: Keep = None,
    rotation: Annotated[bool, typer.Option(help="Rotate after each backup.")] = True,
    drill: Drill = None,
    enabled: Annotated[bool, typer.Option(help="Run its slots.")] = True,
) -> None:
    """Create a schedule: a backup (--backup-type) or a cache clear (--clear-cache)."""

    async def body(resources: Resources) -> int:
        from server.cli import CLI_ACTOR

        action = _action(backup_type, table, compression, clear_cache, key, description)
        spec = ScheduleSpec(
            name=name,
            timing=_timing(
                frequency or "daily", at, minute, day_of_week, day_of_month, cron, time_zone
            ),
            action=action or ScheduledAction(),
            enabled=enabled,
            rotation_enabled=rotation,
            retention=_retention(
                DEFAULT_RETENTION,
                keep_last=keep_last,
                keep_daily=keep_daily,
                keep_weekly=keep_weekly,
                keep_monthly=keep_monthly,
                keep_yearly=keep_yearly,
            ),
            drill=_drill(drill) or DrillPolicy(),
        )
        row = await resources.schedules.create(spec, CLI_ACTOR)
        _print(str(row.id))
        return 0

    _run(body)


@schedules_cli.command()
def update(
    schedule_id: Annotated[int, typer.Argument(help="The schedule's id.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable", help="On or off.")] = None,
    frequency: Frequency = None,
    at: At = None,
    minute: Minute = None,
    day_of_week: DayOfWeek = None,
    day_of_month: DayOfMonth = None,
    cron: Cron = None,
    time_zone: Annotated[
        str | None, typer.Option(help="IANA time zone (default: the schedule's).")
    ] = None,
    keep_last: Keep = None,
    keep_daily: Keep = None,
    keep_weekly: Keep = None,
    keep_monthly: Keep = None,
    keep_yearly: Keep = None,
    drill: Drill = None,
) -> None:
    """Change a schedule; a new --frequency replaces its whole timing."""

    async def body(resources: Resources) -> int:
        async with resources.sessions() as session:
            current = await get_schedule(session, schedule_id)
        base = Retention(
            current.keep_last,
            current.keep_daily,
            current.keep_weekly,
            current.keep_monthly,
            current.keep_yearly,
            current.max_total_size,
        )
        changes = ScheduleChanges(
            name=name,
            enabled=enabled,
            timing=_timing(
                frequency,
                at,
                minute,
                day_of_week,
                day_of_month,
                cron,
                time_zone or current.time_zone,
            )
            if frequency
            else None,
            retention=_retention(
                base,
                keep_last=keep_last,
                keep_daily=keep_daily,
                keep_weekly=keep_weekly,
                keep_monthly=keep_monthly,
                keep_yearly=keep_yearly,
            ),
            drill=_drill(drill),
        )
        row = await resources.schedules.update(schedule_id, changes)
        _print(f"{row.id}\t{row.name}\t{row.cron_expression} ({row.time_zone})")
        return 0

    _run(body)


@schedules_cli.command()
def delete(schedule_id: Annotated[int, typer.Argument(help="The schedule's id.")]) -> None:
    """Delete a schedule and its history (the backups it made stay)."""

    async def body(resources: Resources) -> int:
        row = await resources.schedules.delete(schedule_id)
        _print(f"deleted {row.id}\t{row.name}")
        return 0

    _run(body)


@schedules_cli.command("run")
def run_command(schedule_id: Annotated[int, typer.Argument(help="The schedule's id.")]) -> None:
    """Run a schedule now, here, to its end (rotation included); exit 1 unless COMPLETED."""

    async def body(resources: Resources) -> int:
        from server.db.models import ScheduleRun

        started = await resources.schedules.run_now(schedule_id)
        await started.task
        async with resources.sessions() as session:
            run = await session.get(ScheduleRun, started.row.id)
        assert run is not None
        _print(
            f"run {run.id}: {run.status.value}"
            + (f", backup #{run.backup_id}" if run.backup_id else "")
            + (f", cache log #{run.cache_log_id}" if run.cache_log_id else "")
            + (f", rotated {len(run.rotated)}" if run.rotated else "")
            + (f", restore drill #{run.drill_id}" if run.drill_id else "")
            + (f", rotated {len(run.rotated_copies)} offsite copies" if run.rotated_copies else "")
        )
        if run.error_message:
            _print(f"  {run.error_message}")
        return 0 if run.status is RunStatus.COMPLETED else 1

    _run(body)


@schedules_cli.command()
def preview(schedule_id: Annotated[int, typer.Argument(help="The schedule's id.")]) -> None:
    """What the next rotation would delete, and why each backup is kept; then the copies on
    each enabled offsite target."""

    async def body(resources: Resources) -> int:
        _schedule, preview = await resources.schedules.preview(schedule_id)
        for item in preview.local:
            verb = "keep" if item.verdict.keep else "DELETE"
            _print(
                f"{verb}\t#{item.backup.id}\t{item.backup.filename}\t"
                + "; ".join(item.verdict.details)
            )
        for target, items in preview.targets.items():
            _print(f"on {target}:")
            for item in items:
                verb = "keep" if item.verdict.keep else "DELETE"
                _print(
                    f"{verb}\t#{item.backup.id}\t{item.backup.filename}\t"
                    + "; ".join(item.verdict.details)
                )
        return 0

    _run(body)
