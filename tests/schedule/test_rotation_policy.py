"""Rotation's policy over random histories (hypothesis): what is kept is exactly the
grandfather-father-son set plus the protected backups, and the newest verified backup (and the
one holding a target's newest good copy) always survives. The expected set is computed here a
second way, period by period, not as the policy walks."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from server.rotation.policy import (
    DEFAULT_RETENTION,
    Candidate,
    Reason,
    Retention,
    decide,
)
from server.schedule.timing import zone

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
SAFETY_AGE = timedelta(days=30)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
PERIODS: list[tuple[str, Callable[[date], Hashable]]] = [
    ("keep_daily", lambda d: d.toordinal()),
    ("keep_weekly", lambda d: tuple(d.isocalendar())[:2]),
    ("keep_monthly", lambda d: d.year * 12 + d.month),
    ("keep_yearly", lambda d: d.year),
]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Candidate], int | None]:
    count = draw(st.integers(0, 40))
    minutes = draw(
        st.lists(st.integers(0, 3 * 366 * 24 * 60), min_size=count, max_size=count, unique=True)
    )
    candidates = [
        Candidate(
            id=n + 1,
            created_at=NOW - timedelta(minutes=age),
            size=draw(st.integers(1, 1000)),
            safety=bool(draw(st.booleans())) and bool(draw(st.booleans())),
            pinned=draw(st.integers(0, 9)) == 0,
            in_use_by="restore #1" if draw(st.integers(0, 9)) == 0 else None,
            newest_copy_on=("bucket",) if draw(st.integers(0, 9)) == 0 else (),
        )
        for n, age in enumerate(minutes)
    ]
    series = [c.id for c in candidates if not c.safety]
    verified: bool = draw(st.booleans())
    newest_verified = draw(st.sampled_from(series)) if series and verified else None
    return candidates, newest_verified


retentions = st.builds(
    Retention,
    keep_last=st.integers(1, 6),
    keep_daily=st.integers(0, 6),
    keep_weekly=st.integers(0, 4),
    keep_monthly=st.integers(0, 4),
    keep_yearly=st.integers(0, 3),
)


def expected_kept(
    candidates: list[Candidate], retention: Retention, tz: ZoneInfo, newest_verified: int | None
) -> set[int]:
    series = [c for c in candidates if not c.safety]
    newest = sorted(series, key=lambda c: (c.created_at, c.id), reverse=True)
    kept = {c.id for c in newest[: retention.keep_last]}
    for field, period in PERIODS:
        best: dict[Hashable, Candidate] = {}
        for c in series:
            key = period(c.created_at.astimezone(tz).date())
            if key not in best or (c.created_at, c.id) > (best[key].created_at, best[key].id):
                best[key] = c
        recent = sorted(best, key=lambda k: best[k].created_at, reverse=True)
        kept.update(best[key].id for key in recent[: getattr(retention, field)])
    protected = {
        c.id
        for c in candidates
        if c.id == newest_verified
        or c.pinned
        or c.in_use_by
        or c.newest_copy_on
        or (c.safety and NOW - c.created_at < SAFETY_AGE)
    }
    return kept | protected


@settings(max_examples=300, deadline=None)
@given(histories(), retentions, st.sampled_from(ZONES))
def test_rotation_keeps_exactly_the_gfs_set_plus_the_protected_backups(
    history: tuple[list[Candidate], int | None], retention: Retention, zone_key: str
) -> None:
    candidates, newest_verified = history
    tz = zone(zone_key)
    verdicts = decide(
        candidates,
        retention,
        zone=tz,
        now=NOW,
        safety_min_age=SAFETY_AGE,
        newest_verified=newest_verified,
    )
    kept = {v.candidate.id for v in verdicts if v.keep}
    assert kept == expected_kept(candidates, retention, tz, newest_verified)
    assert len(verdicts) == len(candidates)
    if newest_verified is not None:
        assert newest_verified in kept
    for verdict in verdicts:
        assert verdict.reasons and len(verdict.reasons) == len(verdict.details)


@settings(max_examples=300, deadline=None)
@given(histories(), retentions, st.integers(1, 20_000))
def test_a_size_cap_drops_the_oldest_unprotected_backups_until_the_rest_fit(
    history: tuple[list[Candidate], int | None], retention: Retention, cap: int
) -> None:
    candidates, newest_verified = history
    capped = Retention(**{**retention.__dict__, "max_total_size": cap})
    verdicts = decide(
        candidates,
        capped,
        zone=zone("UTC"),
        now=NOW,
        safety_min_age=SAFETY_AGE,
        newest_verified=newest_verified,
    )
    by_id = {v.candidate.id: v for v in verdicts}
    uncapped = expected_kept(candidates, retention, zone("UTC"), newest_verified)
    kept = {i for i, v in by_id.items() if v.keep}
    protected = {
        i
        for i, v in by_id.items()
        if set(v.reasons)
        & {
            Reason.NEWEST_VERIFIED,
            Reason.NEWEST_COPY,
            Reason.PINNED,
            Reason.IN_USE,
            Reason.RECENT_SAFETY,
        }
    }
    assert kept <= uncapped
    assert protected <= kept
    if newest_verified is not None:
        assert newest_verified in kept
    series_kept = [by_id[i].candidate for i in kept if not by_id[i].candidate.safety]
    dropped = [v.candidate for v in verdicts if v.reasons == (Reason.OVER_SIZE_CAP,)]
    total = sum(c.size for c in series_kept)
    # Either the kept series fits, or all that is left over the cap is protected.
    assert total <= cap or all(c.id in protected for c in series_kept)
    # The cap takes the oldest first: nothing it dropped is newer than what it could have.
    for gone in dropped:
        assert all(
            (gone.created_at, gone.id) < (c.created_at, c.id)
            for c in series_kept
            if c.id not in protected
        )


def test_the_defaults_over_three_years_of_nightly_backups() -> None:
    nightly = [Candidate(id=n, created_at=NOW - timedelta(days=n), size=1) for n in range(3 * 365)]
    verdicts = decide(
        nightly,
        DEFAULT_RETENTION,
        zone=zone("UTC"),
        now=NOW,
        safety_min_age=SAFETY_AGE,
        newest_verified=0,
    )
    kept = sorted((v.candidate.created_at.date() for v in verdicts if v.keep), reverse=True)
    dailies = [(NOW - timedelta(days=n)).date() for n in range(16)]  # June 15 back to May 31
    sundays = [date(2026, 5, d) for d in (24, 17, 10, 3)]  # weeks 21-18; 24-22 are dailies
    month_ends = [date(2026, 4, 30), date(2026, 3, 31)]  # June and May are dailies
    year_end = [date(2025, 12, 31)]  # 2026's newest is June 15
    assert kept == dailies + sundays + month_ends + year_end
