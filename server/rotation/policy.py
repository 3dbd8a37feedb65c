"""Rotation decided: which backups a retention policy keeps, which go, and why. Pure: no
catalog, no files, no clock; server/rotation/service.py gathers the facts and does the deleting.

A schedule's own backups form its series. From the series, keep (restic's and borg's `keep-*`
rules, each on its own, their union kept):

- the newest `keepLast`;
- for each of the `keepDaily` most recent days that have a backup, the newest of that day;
  likewise `keepWeekly` ISO weeks, `keepMonthly` months and `keepYearly` years. Days, weeks,
  months and years are those of the schedule's time zone.

Then, if `maxTotalSize` is set and the series kept is larger, the oldest of it that nothing
protects goes until it fits.

Protected, whatever the rules say: the newest COMPLETED backup that verifies, a backup that a
restore is using, a pinned backup, a safety backup younger than the minimum age, and a backup
whose copy is the newest good one on an enabled offsite target (deleting the backup would
delete that copy). Safety backups (taken before restores) take part in no rule: once older
than that age, and not otherwise protected, they go.

The same decision rotates the copies on each offsite target (server/rotation/copies.py): the
candidates are then the backups with a copy there, and the protected newest is the newest
good copy on that target.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


class Reason(enum.Enum):
    # Why a backup is kept.
    LAST = "last"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"
    NEWEST_VERIFIED = "newest_verified"
    NEWEST_COPY = "newest_copy"
    PINNED = "pinned"
    IN_USE = "in_use"
    RECENT_SAFETY = "recent_safety"
    # Why a backup goes.
    UNSELECTED = "unselected"
    OVER_SIZE_CAP = "over_size_cap"
    OLD_SAFETY = "old_safety"


PROTECTIONS = frozenset(
    (
        Reason.NEWEST_VERIFIED,
        Reason.NEWEST_COPY,
        Reason.PINNED,
        Reason.IN_USE,
        Reason.RECENT_SAFETY,
    )
)


@dataclass(frozen=True)
class Retention:
    keep_last: int
    keep_daily: int
    keep_weekly: int
    keep_monthly: int
    keep_yearly: int
    max_total_size: int | None = None


# As careful as spatie/laravel-backup's defaults (everything for 7 days, then dailies for 16
# days, weeklies for 8 weeks, monthlies for 4 months, yearlies for 2 years), for a daily
# schedule; and no size cap, since a cap deletes good backups to make room.
DEFAULT_RETENTION = Retention(
    keep_last=7, keep_daily=16, keep_weekly=8, keep_monthly=4, keep_yearly=2
)


@dataclass(frozen=True)
class Candidate:
    id: int
    created_at: datetime  # aware
    size: int
    safety: bool = False
    pinned: bool = False
    in_use_by: str | None = None  # e.g. "restore #5"
    # The offsite targets on which its copy is the newest good (COMPLETED) one.
    newest_copy_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    candidate: Candidate
    keep: bool
    reasons: tuple[Reason, ...]
    details: tuple[str, ...]


Period = Callable[[date], Hashable]
RULES: tuple[tuple[Reason, Period, Callable[[date], str]], ...] = (
    (Reason.DAILY, lambda d: d, lambda d: f"{d:%Y-%m-%d}"),
    (
        Reason.WEEKLY,
        lambda d: d.isocalendar()[:2],
        lambda d: f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}",
    ),
    (Reason.MONTHLY, lambda d: (d.year, d.month), lambda d: f"{d:%Y-%m}"),
    (Reason.YEARLY, lambda d: d.year, lambda d: f"{d:%Y}"),
)


def newest_first(candidates: Sequence[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (c.created_at, c.id), reverse=True)


def decide(
    candidates: Sequence[Candidate],
    retention: Retention,
    *,
    zone: ZoneInfo,
    now: datetime,
    safety_min_age: timedelta,
    newest_verified: int | None,
) -> list[Verdict]:
    """A verdict for every candidate, newest first."""
    ordered = newest_first(candidates)
    series = [c for c in ordered if not c.safety]
    why: dict[int, list[tuple[Reason, str]]] = {c.id: [] for c in ordered}

    for rank, candidate in enumerate(series[: retention.keep_last], start=1):
        why[candidate.id].append(
            (Reason.LAST, f"one of the newest {retention.keep_last} (#{rank})")
        )
    counts = {
        Reason.DAILY: retention.keep_daily,
        Reason.WEEKLY: retention.keep_weekly,
        Reason.MONTHLY: retention.keep_monthly,
        Reason.YEARLY: retention.keep_yearly,
    }
    for reason, period, label in RULES:
        seen: set[Hashable] = set()
        for candidate in series:
            day = candidate.created_at.astimezone(zone).date()
            key = period(day)
            if key in seen:
                continue  # an older backup of a period already represented
            if len(seen) >= counts[reason]:
                break
            seen.add(key)
            why[candidate.id].append((reason, f"newest of {reason.value} {label(day)}"))

    for candidate in ordered:
        reasons = why[candidate.id]
        if candidate.id == newest_verified:
            reasons.append((Reason.NEWEST_VERIFIED, "the newest completed backup that verifies"))
        if candidate.newest_copy_on:
            reasons.append(
                (
                    Reason.NEWEST_COPY,
                    f"the newest good copy on {', '.join(candidate.newest_copy_on)}",
                )
            )
        if candidate.pinned:
            reasons.append((Reason.PINNED, "pinned by an admin"))
        if candidate.in_use_by:
            reasons.append((Reason.IN_USE, f"in use by {candidate.in_use_by}"))
        if candidate.safety and now - candidate.created_at < safety_min_age:
            reasons.append(
                (Reason.RECENT_SAFETY, f"a safety backup younger than {_age(safety_min_age)}")
            )

    gone: dict[int, tuple[Reason, str]] = {}
    if retention.max_total_size is not None:
        kept = [c for c in series if why[c.id]]
        total = sum(c.size for c in kept)
        for candidate in reversed(kept):  # oldest first
            if total <= retention.max_total_size:
                break
            if any(reason in PROTECTIONS for reason, _ in why[candidate.id]):
                continue
            total -= candidate.size
            gone[candidate.id] = (
                Reason.OVER_SIZE_CAP,
                f"the oldest kept while the series exceeds maxTotalSize "
                f"({retention.max_total_size} bytes)",
            )

    verdicts = []
    for candidate in ordered:
        reasons = why[candidate.id]
        if candidate.id in gone:
            reasons = [gone[candidate.id]]
        elif not reasons:
            reasons = [
                (Reason.OLD_SAFETY, f"a safety backup older than {_age(safety_min_age)}")
                if candidate.safety
                else (Reason.UNSELECTED, "kept by no rule")
            ]
        keep = reasons[0][0] not in (Reason.UNSELECTED, Reason.OVER_SIZE_CAP, Reason.OLD_SAFETY)
        verdicts.append(
            Verdict(
                candidate,
                keep,
                tuple(reason for reason, _ in reasons),
                tuple(detail for _, detail in reasons),
            )
        )
    return verdicts


def _age(span: timedelta) -> str:
    hours = int(span.total_seconds() // 3600)
    return f"{hours // 24} day(s)" if hours % 24 == 0 else f"{hours} hour(s)"
