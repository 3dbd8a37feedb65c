"""When schedules run: the frequencies, cron expressions, time zones, and what daylight saving
time does to a slot (docs/schedules.md, "Daylight saving time")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest

from server.db.enums import ScheduleFrequency, Weekday
from server.errors import BadUserInput
from server.schedule.scheduler import due_slots
from server.schedule.timing import timing

F = ScheduleFrequency


def slots(frequency: F, start: datetime, count: int, **fields: object) -> list[str]:
    """The next `count` slots after `start`, as local wall times with their UTC offsets."""
    chosen = timing(frequency, **fields)  # type: ignore[arg-type]
    return [
        slot.astimezone(chosen.zone).isoformat()
        for slot in islice(chosen.slots_after(start), count)
    ]


@pytest.mark.parametrize(
    ("frequency", "fields", "expression"),
    [
        (F.HOURLY, {"minute": 15}, "15 * * * *"),
        (F.DAILY, {"time_of_day": "02:30"}, "30 2 * * *"),
        (F.WEEKLY, {"day_of_week": Weekday.SUNDAY, "time_of_day": "04:00"}, "0 4 * * 0"),
        (F.MONTHLY, {"day_of_month": 28, "time_of_day": "23:59"}, "59 23 28 * *"),
        (F.CRON, {"cron": "  */5   9-17 * * MON-FRI "}, "*/5 9-17 * * MON-FRI"),
    ],
)
def test_each_frequency_becomes_one_cron_expression(
    frequency: F, fields: dict[str, object], expression: str
) -> None:
    assert timing(frequency, **fields).expression == expression  # type: ignore[arg-type]


# Europe/Berlin springs forward on 2025-03-30: 02:00 CET becomes 03:00 CEST.
GAP_DAY = datetime(2025, 3, 29, 12, tzinfo=UTC)
# America/New_York falls back on 2025-11-02: 02:00 EDT becomes 01:00 EST.
OVERLAP_DAY = datetime(2025, 11, 1, 12, tzinfo=UTC)


def test_a_daily_slot_inside_the_spring_forward_gap_runs_once_right_after_the_jump() -> None:
    assert slots(F.DAILY, GAP_DAY, 3, time_of_day="02:30", time_zone="Europe/Berlin") == [
        "2025-03-30T03:00:00+02:00",  # 02:30 does not exist that night
        "2025-03-31T02:30:00+02:00",
        "2025-04-01T02:30:00+02:00",
    ]


def test_a_daily_slot_inside_the_fall_back_overlap_runs_once_at_its_first_occurrence() -> None:
    assert slots(F.DAILY, OVERLAP_DAY, 3, time_of_day="01:30", time_zone="America/New_York") == [
        "2025-11-02T01:30:00-04:00",  # EDT; not again at 01:30 EST an hour later
        "2025-11-03T01:30:00-05:00",
        "2025-11-04T01:30:00-05:00",
    ]


def test_an_hourly_schedule_follows_real_hours_across_the_gap_and_the_overlap() -> None:
    gap = slots(
        F.HOURLY, datetime(2025, 3, 29, 23, 30, tzinfo=UTC), 3, minute=15, time_zone="Europe/Berlin"
    )
    assert gap == [
        "2025-03-30T01:15:00+01:00",
        "2025-03-30T03:15:00+02:00",  # one real hour later: 02:15 never happens
        "2025-03-30T04:15:00+02:00",
    ]
    overlap = slots(
        F.HOURLY,
        datetime(2025, 11, 2, 4, 30, tzinfo=UTC),
        3,
        minute=15,
        time_zone="America/New_York",
    )
    assert overlap == [
        "2025-11-02T01:15:00-04:00",
        "2025-11-02T01:15:00-05:00",  # the repeated hour is a second real hour
        "2025-11-02T02:15:00-05:00",
    ]


def test_resuming_inside_the_overlap_never_runs_a_passed_slot_again() -> None:
    chosen = timing(F.DAILY, time_of_day="01:45", time_zone="America/New_York")
    # 01:30 EST, the second pass: 01:45 EDT happened an hour ago and must not come back.
    after = datetime(2025, 11, 2, 6, 30, tzinfo=UTC)
    nxt = chosen.next_after(after)
    assert nxt is not None
    assert nxt.astimezone(chosen.zone).isoformat() == "2025-11-03T01:45:00-05:00"


def test_the_slots_of_a_dst_night_are_each_claimed_once_by_the_scheduler() -> None:
    """Walking the gap and overlap nights minute by minute: each slot falls due exactly once."""
    nights = (
        (GAP_DAY, {"time_of_day": "02:30", "time_zone": "Europe/Berlin"}),
        (OVERLAP_DAY, {"time_of_day": "01:30", "time_zone": "America/New_York"}),
    )
    expected = (
        ["2025-03-30T01:00:00+00:00", "2025-03-31T00:30:00+00:00"],
        ["2025-11-02T05:30:00+00:00", "2025-11-03T06:30:00+00:00"],
    )
    for (start, fields), wanted in zip(nights, expected, strict=True):
        chosen = timing(F.DAILY, **fields)  # type: ignore[arg-type]
        claimed: list[str] = []
        after, now = start, start
        while now < start + timedelta(days=2):
            now += timedelta(minutes=1)
            due = due_slots(chosen, after, now)
            if due is not None:
                assert due.earlier == 0  # a minute's walk never finds two slots due at once
                claimed.append(due.latest.isoformat())
                after = due.latest
        assert claimed == wanted


@pytest.mark.parametrize(
    ("frequency", "fields", "words"),
    [
        (F.CRON, {"cron": "61 * * * *"}, "malformed: Bad minute"),
        (F.CRON, {"cron": "0 0 * * * *"}, "has 6 field(s); it needs 5"),
        (F.CRON, {"cron": "@daily"}, "has 1 field(s); it needs 5"),
        (F.CRON, {"cron": "0 0 30 2 *"}, "never fires"),
        (F.CRON, {"cron": "* * */20 * 1L"}, "never fires"),
        (F.CRON, {}, "needs `cron`"),
        (F.DAILY, {"time_zone": "Mars/Olympus"}, "Unknown time zone 'Mars/Olympus'"),
        (F.DAILY, {"time_zone": "../../etc/passwd"}, "Unknown time zone"),
        (F.DAILY, {"time_of_day": "25:00"}, "is not a time"),
        (F.DAILY, {"cron": "* * * * *"}, "cron do(es) not apply to DAILY"),
        (F.HOURLY, {"minute": 60}, "minute must be 0 to 59"),
        (F.MONTHLY, {"day_of_month": 31}, "does not exist in every month"),
        (F.WEEKLY, {"day_of_month": 3}, "dayOfMonth do(es) not apply to WEEKLY"),
    ],
)
def test_bad_timing_is_refused_naming_the_problem(
    frequency: F, fields: dict[str, object], words: str
) -> None:
    with pytest.raises(BadUserInput) as refused:
        timing(frequency, **fields)  # type: ignore[arg-type]
    assert words in refused.value.message
