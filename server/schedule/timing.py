"""When a schedule runs: the seed's frequencies (HOURLY, DAILY, WEEKLY, MONTHLY at a time of
day) or a 5-field cron expression, in an IANA time zone, as the instants (UTC) of its slots.

Cron expressions are parsed and evaluated by cronsim, which follows Debian's cron, daylight
saving time included:

- A slot at a fixed time of day (minute and hour fields without `*`: every DAILY, WEEKLY and
  MONTHLY schedule, `30 2 * * *`) that falls in the spring-forward gap runs at the first
  minute after the jump (02:30 in Europe/Berlin on the last Sunday of March runs at 03:00 CEST);
  one that falls in the fall-back overlap runs once, at its first occurrence (01:30 in
  America/New_York on the first Sunday of November runs at 01:30 EDT, not again at 01:30 EST).
- Schedules that run more often (a `*` in the minute or hour field: HOURLY, `*/15 * * * *`)
  follow elapsed time: the hour that does not exist has no slot, and the hour that happens
  twice has its slots twice, since those are two different hours of real time.

Time zones come from the `tzdata` package, never from the operating system: every machine
sharing a catalog must agree on each slot's instant, or two could claim one slot twice under
two different keys.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from server.db.enums import ScheduleFrequency, Weekday
from server.errors import BadUserInput

MAX_CRON_LENGTH = 191
ZONE_KEY = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")
TIME_OF_DAY = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
# Days that exist in every month: a MONTHLY schedule on the 31st would silently skip months.
LAST_SAFE_DAY = 28


@functools.cache
def zone(key: str) -> ZoneInfo:
    """The IANA zone `key` from the tzdata package, or BadUserInput."""
    unknown = BadUserInput(
        f"Unknown time zone {key[:64]!r}: give an IANA name such as Europe/Berlin, "
        "America/New_York or UTC."
    )
    if len(key) > 64 or not ZONE_KEY.fullmatch(key):
        raise unknown
    path = resources.files("tzdata.zoneinfo").joinpath(*key.split("/"))
    try:
        with path.open("rb") as handle:
            return ZoneInfo.from_file(handle, key=key)
    except (OSError, ValueError):
        raise unknown from None


def parse_time_of_day(text: str) -> tuple[int, int]:
    match = TIME_OF_DAY.fullmatch(text)
    if match is None:
        raise BadUserInput(f"timeOfDay {text[:20]!r} is not a time: write it HH:MM, e.g. 02:30.")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class Timing:
    """A checked timing: build it with `timing()`, which refuses what cannot work."""

    frequency: ScheduleFrequency
    time_zone: str
    expression: str
    time_of_day: str | None = None
    minute: int | None = None
    day_of_week: Weekday | None = None
    day_of_month: int | None = None

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.time_zone)

    def slots_after(self, after: datetime) -> Iterator[datetime]:
        """The slots strictly after `after`, in order, as aware UTC datetimes."""
        start = after.astimezone(self.zone)
        for slot in CronSim(self.expression, start):
            instant = slot.astimezone(UTC)
            # Cron evaluates wall-clock times: resumed inside a repeated hour, it can name a
            # wall time whose first occurrence has already passed.
            if instant > after:
                yield instant

    def next_after(self, after: datetime) -> datetime | None:
        return next(self.slots_after(after), None)


def timing(
    frequency: ScheduleFrequency,
    *,
    time_zone: str = "UTC",
    time_of_day: str | None = None,
    minute: int | None = None,
    day_of_week: Weekday | None = None,
    day_of_month: int | None = None,
    cron: str | None = None,
) -> Timing:
    """A timing from the API's fields, or BadUserInput naming what is wrong with them."""
    zone(time_zone)
    given = {
        "timeOfDay": time_of_day is not None,
        "minute": minute is not None,
        "dayOfWeek": day_of_week is not None,
        "dayOfMonth": day_of_month is not None,
        "cron": cron is not None,
    }
    allowed = {
        ScheduleFrequency.HOURLY: {"minute"},
        ScheduleFrequency.DAILY: {"timeOfDay"},
        ScheduleFrequency.WEEKLY: {"timeOfDay", "dayOfWeek"},
        ScheduleFrequency.MONTHLY: {"timeOfDay", "dayOfMonth"},
        ScheduleFrequency.CRON: {"cron"},
    }[frequency]
    extra = sorted(name for name, present in given.items() if present and name not in allowed)
    if extra:
        raise BadUserInput(
            f"{', '.join(extra)} do(es) not apply to {frequency.name}: it takes "
            f"{', '.join(sorted(allowed))} only."
        )
    if frequency is ScheduleFrequency.CRON:
        if cron is None:
            raise BadUserInput("A CRON schedule needs `cron`, e.g. `30 2 * * *` (02:30 daily).")
        expression = checked_cron(cron)
        result = Timing(frequency, time_zone, expression)
    elif frequency is ScheduleFrequency.HOURLY:
        minute = 0 if minute is None else minute
        if not 0 <= minute <= 59:
            raise BadUserInput(f"minute must be 0 to 59 (got {minute}).")
        result = Timing(frequency, time_zone, f"{minute} * * * *", minute=minute)
    else:
        text = time_of_day or "00:00"
        hour, at_minute = parse_time_of_day(text)
        if frequency is ScheduleFrequency.DAILY:
            expression = f"{at_minute} {hour} * * *"
        elif frequency is ScheduleFrequency.WEEKLY:
            day_of_week = day_of_week or Weekday.MONDAY
            expression = f"{at_minute} {hour} * * {day_of_week.value}"
        else:
            day_of_month = 1 if day_of_month is None else day_of_month
            if not 1 <= day_of_month <= LAST_SAFE_DAY:
                raise BadUserInput(
                    f"dayOfMonth {day_of_month} does not exist in every month: pick 1 to "
                    f"{LAST_SAFE_DAY}, or use CRON with `L` for the last day (`0 3 L * *`)."
                )
            expression = f"{at_minute} {hour} {day_of_month} * *"
        result = Timing(
            frequency,
            time_zone,
            expression,
            time_of_day=text,
            day_of_week=day_of_week,
            day_of_month=day_of_month,
        )
    if result.next_after(datetime.now(UTC)) is None:
        raise BadUserInput(
            f"The cron expression {result.expression!r} never fires (no slot in the next 50 "
            "years); check the day-of-month and month fields."
        )
    return result


def checked_cron(text: str) -> str:
    expression = " ".join(text.split())
    if len(expression) > MAX_CRON_LENGTH:
        raise BadUserInput(f"The cron expression is longer than {MAX_CRON_LENGTH} characters.")
    fields = expression.split(" ") if expression else []
    if len(fields) != 5:
        raise BadUserInput(
            f"The cron expression {expression[:60]!r} has {len(fields)} field(s); it needs 5: "
            "minute hour day-of-month month day-of-week, e.g. `30 2 * * *`."
        )
    try:
        CronSim(expression, datetime.now(UTC))
    except CronSimError as exc:
        if _impossible_date(fields):
            raise BadUserInput(
                f"The cron expression {expression!r} never fires: its day-of-month does not "
                "exist in its month(s) (e.g. 30 February)."
            ) from None
        # cronsim names the field ("Bad day-of-month"): that is what the admin must fix.
        raise BadUserInput(
            f"The cron expression {expression!r} is malformed: {exc} field. Fields are minute "
            "(0-59), hour (0-23), day-of-month (1-31, L), month (1-12, JAN-DEC), day-of-week "
            "(0-7, SUN-SAT)."
        ) from None
    return expression


def _impossible_date(fields: list[str]) -> bool:
    """Whether cronsim refused the expression only because its days never occur in its
    months: the same expression over every month parses."""
    try:
        CronSim(" ".join([*fields[:3], "*", fields[4]]), datetime.now(UTC))
    except CronSimError:
        return False
    return True


def stored_timing(
    frequency: ScheduleFrequency,
    expression: str,
    time_zone: str,
    *,
    time_of_day: str | None,
    minute: int | None,
    day_of_week: int | None,
    day_of_month: int | None,
) -> Timing:
    """A timing as the catalog holds it (checked when it was stored)."""
    return Timing(
        frequency,
        time_zone,
        expression,
        time_of_day=time_of_day,
        minute=minute,
        day_of_week=None if day_of_week is None else Weekday(day_of_week),
        day_of_month=day_of_month,
    )
