"""Expiry policies across time zones, policy changes, and spending across lots of different policies.

Every expiry is the first instant of a program-local day, converted to UTC: the UTC offset of
that instant is the one in force on that local day, not the one at earning time.

- Asia/Shanghai: UTC+8 all year.
- America/New_York: EST (UTC-5) / EDT (UTC-4); 2026 DST from Mar 8 07:00Z to Nov 1 06:00Z.
- Europe/Berlin: CET (UTC+1) / CEST (UTC+2); 2026 DST from Mar 29 01:00Z to Oct 25 01:00Z,
  2028 DST from Mar 26.
- America/Santiago: local midnight is skipped on 2026-09-06 (00:00 -04 jumps to 01:00 -03).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest

from shared import clock
from shared.errors import InsufficientPoints
from shared.points import sweep
from shared.program import ProgramConfig
from shared.rules import (
    BusinessEvent,
    MemberState,
    PointsLot,
    apply_event,
    available_points,
    lot_expiry,
    next_expiry_action,
    reminder_times,
    spend_points,
    upcoming_expiries,
)

ConfigFactory = Callable[..., ProgramConfig]
_numbers = count(1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def order(at: datetime, amount: str) -> BusinessEvent:
    n = next(_numbers)
    return BusinessEvent(f"e-{n}", "order_completed", at, {"order_id": f"o-{n}", "settled_amount": Decimal(amount)})


def new_member() -> MemberState:
    return MemberState(program_id="default", member_id="m-1")


def zoned(make_config: ConfigFactory, time_zone: str, currency: str, **policy: Any) -> ProgramConfig:
    return make_config(time_zone=time_zone, currency=currency, expiry=policy)


def assert_first_instant_of_local_day(expires_at: datetime, time_zone: str, day: date) -> None:
    """``expires_at`` is the first instant of local ``day``: one microsecond earlier is the day before."""
    assert clock.local_date(expires_at, time_zone) == day
    assert clock.local_date(expires_at - timedelta(microseconds=1), time_zone) == day - timedelta(days=1)


def offset_hours(moment: datetime, time_zone: str) -> float:
    offset = moment.astimezone(clock.zone(time_zone)).utcoffset()
    assert offset is not None
    return offset.total_seconds() / 3600


# --- year_end --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earned_at", "expires_at", "expiry_day"),
    [
        # 2025-12-31 23:59 Shanghai: earned in 2025, expires at the start of 2027 local
        ("2025-12-31T15:59:00Z", "2026-12-31T16:00:00Z", date(2027, 1, 1)),
        # 2026-01-01 00:00 Shanghai (still 2025 in UTC): earned in 2026, expires at the start of 2028 local
        ("2025-12-31T16:00:00Z", "2027-12-31T16:00:00Z", date(2028, 1, 1)),
    ],
)
def test_year_end_in_shanghai_uses_the_local_year_of_the_earning(
    default_config: ProgramConfig, earned_at: str, expires_at: str, expiry_day: date
) -> None:
    # Given the default program (year_end, years_after 1, Asia/Shanghai)
    # When an order completes at `earned_at`
    outcome = apply_event(default_config, new_member(), order(utc(earned_at), "10"))

    # Then its lot expires at the first instant of `expiry_day` in Shanghai, exactly
    assert outcome.lot is not None
    assert outcome.lot.expires_at == utc(expires_at)
    assert_first_instant_of_local_day(utc(expires_at), "Asia/Shanghai", expiry_day)
    assert offset_hours(utc(expires_at), "Asia/Shanghai") == 8


def test_year_end_one_minute_apart_across_local_new_year_are_a_year_apart(default_config: ProgramConfig) -> None:
    # Given two orders one minute apart around 2026-01-01 00:00 Shanghai
    state = apply_event(default_config, new_member(), order(utc("2025-12-31T15:59:00Z"), "10")).state
    state = apply_event(default_config, state, order(utc("2025-12-31T16:00:00Z"), "20")).state

    # Then they land in two lots, one local year apart
    assert state.lots == (PointsLot(utc("2026-12-31T16:00:00Z"), 10), PointsLot(utc("2027-12-31T16:00:00Z"), 20))


def test_year_end_with_years_after_two(make_config: ConfigFactory) -> None:
    # Given points that expire at the end of the second year after the one they were earned in
    config = make_config(expiry={"policy": "year_end", "years_after": 2})
    # When earned on 2026-12-31 23:00 Shanghai / Then they expire at 2029-01-01 00:00 Shanghai
    assert lot_expiry(config, utc("2026-12-31T15:00:00Z")) == utc("2028-12-31T16:00:00Z")


@pytest.mark.parametrize(
    ("time_zone", "currency", "earned_at", "expires_at", "expiry_day", "winter_offset"),
    [
        # 2026-12-31 23:59:59 EST: earned in 2026, expires at 2028-01-01 00:00 EST
        ("America/New_York", "USD", "2027-01-01T04:59:59Z", "2028-01-01T05:00:00Z", date(2028, 1, 1), -5),
        # 2027-01-01 00:00 EST: earned in 2027, expires at 2029-01-01 00:00 EST
        ("America/New_York", "USD", "2027-01-01T05:00:00Z", "2029-01-01T05:00:00Z", date(2029, 1, 1), -5),
        # earned in summer (EDT, UTC-4): the expiry is still a January 1st, in EST
        ("America/New_York", "USD", "2026-07-04T16:00:00Z", "2028-01-01T05:00:00Z", date(2028, 1, 1), -5),
        # 2026-12-31 23:59 CET: earned in 2026, expires at 2028-01-01 00:00 CET
        ("Europe/Berlin", "EUR", "2026-12-31T22:59:00Z", "2027-12-31T23:00:00Z", date(2028, 1, 1), 1),
        # 2027-01-01 00:00 CET (still 2026 in UTC): earned in 2027
        ("Europe/Berlin", "EUR", "2026-12-31T23:00:00Z", "2028-12-31T23:00:00Z", date(2029, 1, 1), 1),
        # earned in summer (CEST, UTC+2): expiry at midnight CET
        ("Europe/Berlin", "EUR", "2026-07-01T12:00:00Z", "2027-12-31T23:00:00Z", date(2028, 1, 1), 1),
    ],
)
def test_year_end_in_a_dst_zone_expires_at_local_new_year_in_winter_offset(
    make_config: ConfigFactory,
    time_zone: str,
    currency: str,
    earned_at: str,
    expires_at: str,
    expiry_day: date,
    winter_offset: int,
) -> None:
    # Given a year_end program in a zone with daylight saving time
    config = zoned(make_config, time_zone, currency, policy="year_end", years_after=1)

    # When points are earned at `earned_at`
    expiry = lot_expiry(config, utc(earned_at))

    # Then they expire at local midnight of January 1st, in the winter offset
    assert expiry == utc(expires_at)
    assert expiry is not None
    assert_first_instant_of_local_day(expiry, time_zone, expiry_day)
    assert offset_hours(expiry, time_zone) == winter_offset


# --- rolling_days across DST changes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_zone", "currency", "days", "earned_at", "expires_at", "earned_offset", "expiry_offset"),
    [
        # Berlin spring forward: earned Mar 20 12:00 CET, D + 10 + 1 = Mar 31 00:00 CEST
        ("Europe/Berlin", "EUR", 10, "2026-03-20T11:00:00Z", "2026-03-30T22:00:00Z", 1, 2),
        # Berlin fall back: earned Oct 10 12:00 CEST, D + 30 + 1 = Nov 10 00:00 CET
        ("Europe/Berlin", "EUR", 30, "2026-10-10T10:00:00Z", "2026-11-09T23:00:00Z", 2, 1),
        # earned on the 23-hour day itself (Mar 29 01:30 CET): D + 1 + 1 = Mar 31 00:00 CEST
        ("Europe/Berlin", "EUR", 1, "2026-03-29T00:30:00Z", "2026-03-30T22:00:00Z", 1, 2),
        # Mar 29 23:30 CEST is still local day Mar 29
        ("Europe/Berlin", "EUR", 1, "2026-03-29T21:30:00Z", "2026-03-30T22:00:00Z", 2, 2),
        # Mar 30 00:30 CEST is local day Mar 30 although it is Mar 29 in UTC
        ("Europe/Berlin", "EUR", 1, "2026-03-29T22:30:00Z", "2026-03-31T22:00:00Z", 2, 2),
        # New York fall back: Oct 31 23:30 EDT (Nov 1 in UTC) is local day Oct 31 -> Nov 8 00:00 EST
        ("America/New_York", "USD", 7, "2026-11-01T03:30:00Z", "2026-11-08T05:00:00Z", -4, -5),
        # Nov 1 00:30 EDT, the 25-hour day -> Nov 9 00:00 EST
        ("America/New_York", "USD", 7, "2026-11-01T04:30:00Z", "2026-11-09T05:00:00Z", -4, -5),
        # New York spring forward: Mar 1 12:00 EST -> Mar 9 00:00 EDT (the day after the change)
        ("America/New_York", "USD", 7, "2026-03-01T17:00:00Z", "2026-03-09T04:00:00Z", -5, -4),
        # expiry on the change day itself (Mar 8): midnight is still EST, the switch is at 02:00
        ("America/New_York", "USD", 6, "2026-03-01T17:00:00Z", "2026-03-08T05:00:00Z", -5, -5),
    ],
)
def test_rolling_days_expire_at_the_start_of_local_day_d_plus_n_plus_one_across_dst(
    make_config: ConfigFactory,
    time_zone: str,
    currency: str,
    days: int,
    earned_at: str,
    expires_at: str,
    earned_offset: int,
    expiry_offset: int,
) -> None:
    # Given a rolling expiry of `days` days in a DST zone
    config = zoned(make_config, time_zone, currency, policy="rolling_days", days=days)
    earned = utc(earned_at)

    # When points are earned on local day D
    expiry = lot_expiry(config, earned)

    # Then they expire at the first instant of local day D + days + 1, with that day's offset
    assert expiry == utc(expires_at)
    assert expiry is not None
    earned_day = clock.local_date(earned, time_zone)
    assert_first_instant_of_local_day(expiry, time_zone, earned_day + timedelta(days=days + 1))
    assert offset_hours(earned, time_zone) == earned_offset
    assert offset_hours(expiry, time_zone) == expiry_offset


def test_rolling_days_across_dst_are_not_a_whole_number_of_24_hour_days(make_config: ConfigFactory) -> None:
    # Given 10 rolling days in Berlin, earned on Mar 20 (CET), expiring after the spring change
    config = zoned(make_config, "Europe/Berlin", "EUR", policy="rolling_days", days=10)
    earned = utc("2026-03-20T11:00:00Z")

    # When the expiry is computed
    expiry = lot_expiry(config, earned)

    # Then the 11 local days from the start of Mar 20 are one hour short of 11 x 24 h
    assert expiry is not None
    start_of_earn_day = clock.start_of_local_day(date(2026, 3, 20), "Europe/Berlin")
    assert start_of_earn_day == utc("2026-03-19T23:00:00Z")
    assert expiry - start_of_earn_day == timedelta(days=11) - timedelta(hours=1)


def test_rolling_days_landing_on_a_day_whose_midnight_is_skipped(make_config: ConfigFactory) -> None:
    # Given Santiago, where 2026-09-06 00:00 -04 jumps to 01:00 -03 (midnight never happens)
    config = zoned(make_config, "America/Santiago", "CLP", policy="rolling_days", days=9)

    # When points are earned on Aug 27 local (D + 10 = Sep 6)
    expiry = lot_expiry(config, utc("2026-08-27T16:00:00Z"))

    # Then they expire at the first instant of Sep 6 local (01:00 -03 = 04:00Z), not an hour later
    assert expiry == utc("2026-09-06T04:00:00Z")
    assert_first_instant_of_local_day(expiry, "America/Santiago", date(2026, 9, 6))


# --- month_end -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_zone", "currency", "months_after", "earned_at", "expires_at"),
    [
        # Jan 31 23:30 Shanghai of leap 2028, one month after: end of Feb 29 = Mar 1 00:00 local
        ("Asia/Shanghai", "CNY", 1, "2028-01-31T15:30:00Z", "2028-02-29T16:00:00Z"),
        # Jan 31 of common 2027: end of Feb 28
        ("Asia/Shanghai", "CNY", 1, "2027-01-31T15:30:00Z", "2027-02-28T16:00:00Z"),
        # Feb 1 00:30 Shanghai (Jan 31 in UTC) of 2028, one month after: end of March
        ("Asia/Shanghai", "CNY", 1, "2028-01-31T16:30:00Z", "2028-03-31T16:00:00Z"),
        # Feb 29 23:59 Shanghai, same month: expires one minute later
        ("Asia/Shanghai", "CNY", 0, "2028-02-29T15:59:00Z", "2028-02-29T16:00:00Z"),
        # Feb 1 00:00 Shanghai of 2028, same month: end of Feb 29
        ("Asia/Shanghai", "CNY", 0, "2028-01-31T16:00:00Z", "2028-02-29T16:00:00Z"),
        # December to the next year, New York (EST)
        ("America/New_York", "USD", 0, "2026-12-31T23:00:00Z", "2027-01-01T05:00:00Z"),
        ("America/New_York", "USD", 1, "2026-12-31T23:00:00Z", "2027-02-01T05:00:00Z"),
        # Dec 31 23:30 EST (Jan 1 in UTC) is still December: expires 30 minutes later
        ("America/New_York", "USD", 0, "2027-01-01T04:30:00Z", "2027-01-01T05:00:00Z"),
        # Berlin, leap February: Mar 1 00:00 CET
        ("Europe/Berlin", "EUR", 1, "2028-01-31T22:30:00Z", "2028-02-29T23:00:00Z"),
        # Berlin, February + 1 month: Apr 1 00:00 CEST (DST began Mar 26, 2028)
        ("Europe/Berlin", "EUR", 1, "2028-02-15T12:00:00Z", "2028-03-31T22:00:00Z"),
        # Berlin, December + 1 month: Feb 1 00:00 CET of the next year
        ("Europe/Berlin", "EUR", 1, "2027-12-15T12:00:00Z", "2028-01-31T23:00:00Z"),
    ],
)
def test_month_end_expires_at_the_first_instant_of_the_month_after_m_plus_n(
    make_config: ConfigFactory, time_zone: str, currency: str, months_after: int, earned_at: str, expires_at: str
) -> None:
    # Given a month_end policy / When points are earned in local month M
    config = zoned(make_config, time_zone, currency, policy="month_end", months_after=months_after)
    expiry = lot_expiry(config, utc(earned_at))

    # Then they expire when local month M + months_after ends
    assert expiry == utc(expires_at)
    assert expiry is not None
    assert clock.local_date(expiry, time_zone).day == 1
    assert_first_instant_of_local_day(expiry, time_zone, clock.local_date(expiry, time_zone))


# --- never -----------------------------------------------------------------------------------------


def test_never_policy_lot_has_no_expiry_no_reminders_and_nothing_to_sweep(make_config: ConfigFactory) -> None:
    # Given a program whose points never expire
    config = make_config(expiry={"policy": "never"})

    # When an order earns points
    outcome = apply_event(config, new_member(), order(utc("2026-03-10T04:00:00Z"), "99.99"))

    # Then its lot has no expiry and no reminders, and no sweep ever has work for it
    assert lot_expiry(config, utc("2026-03-10T04:00:00Z")) is None
    assert outcome.lot == PointsLot(None, 99)
    assert outcome.lot.remind_at == ()
    assert reminder_times(config, None, utc("2026-03-10T04:00:00Z")) == ()
    assert upcoming_expiries(outcome.state.lots, utc("2026-03-10T04:00:00Z")) == []
    assert next_expiry_action(outcome.state.lots) is None
    assert sweep(outcome.state, datetime(9999, 12, 31, tzinfo=UTC)) is None
    assert available_points(outcome.state.lots, datetime(9999, 12, 31, tzinfo=UTC)) == 99


# --- a policy change applies only to points earned after it ------------------------------------------


def test_policy_change_keeps_the_expiry_of_lots_already_earned(make_config: ConfigFactory) -> None:
    # Given a member who earned 100 points under year_end (expiry 2028-01-01 Shanghai)
    year_end = make_config()
    state = apply_event(year_end, new_member(), order(utc("2026-03-01T04:00:00Z"), "100")).state
    assert state.lots == (PointsLot(utc("2027-12-31T16:00:00Z"), 100),)

    # When the program switches to rolling 30 days and the member earns 50 more on Jun 1 local
    rolling = make_config(expiry={"policy": "rolling_days", "days": 30})
    state = apply_event(rolling, state, order(utc("2026-06-01T04:00:00Z"), "50")).state

    # Then the old lot keeps its year-end expiry and the new one expires at the start of Jul 2 local
    assert state.lots == (
        PointsLot(utc("2026-07-01T16:00:00Z"), 50),
        PointsLot(utc("2027-12-31T16:00:00Z"), 100),
    )

    # When the program switches again, to never, and the member earns 25
    never = make_config(expiry={"policy": "never"})
    state = apply_event(never, state, order(utc("2026-06-02T04:00:00Z"), "25")).state

    # Then the two expiring lots are untouched and the new lot never expires
    assert state.lots == (
        PointsLot(utc("2026-07-01T16:00:00Z"), 50),
        PointsLot(utc("2027-12-31T16:00:00Z"), 100),
        PointsLot(None, 25),
    )
    assert state.points_balance == 175


def test_policy_change_to_a_policy_with_the_same_instant_merges_lots(make_config: ConfigFactory) -> None:
    # Given 100 points under year_end, earned in 2026 (expire 2028-01-01 00:00 Shanghai)
    state = apply_event(make_config(), new_member(), order(utc("2026-03-01T04:00:00Z"), "100")).state

    # When the program switches to month_end 12 months after, and the member earns in December 2026
    month_end = make_config(expiry={"policy": "month_end", "months_after": 12})
    state = apply_event(month_end, state, order(utc("2026-12-10T04:00:00Z"), "40")).state

    # Then the end of December 2027 is the same instant: one lot
    assert state.lots == (PointsLot(utc("2027-12-31T16:00:00Z"), 140),)


def test_policy_change_of_time_zone_applies_only_to_new_lots(make_config: ConfigFactory) -> None:
    # Given 10 points earned under Shanghai year_end
    state = apply_event(make_config(), new_member(), order(utc("2026-03-01T04:00:00Z"), "10")).state

    # When the program moves to Berlin and the member earns again in 2026
    berlin = make_config(time_zone="Europe/Berlin", currency="EUR")
    state = apply_event(berlin, state, order(utc("2026-03-02T12:00:00Z"), "20")).state

    # Then the first lot still ends at Shanghai's new year, the second at Berlin's (7 hours later)
    assert state.lots == (PointsLot(utc("2027-12-31T16:00:00Z"), 10), PointsLot(utc("2027-12-31T23:00:00Z"), 20))


# --- spending across lots of different policies ------------------------------------------------------


@pytest.fixture
def mixed_member(make_config: ConfigFactory) -> MemberState:
    """Four lots earned under four policies (Shanghai), earned in an order unlike their expiries."""
    state = new_member()
    earns: list[tuple[dict[str, Any], str, str]] = [
        ({"policy": "never"}, "2026-03-01T04:00:00Z", "40"),
        ({"policy": "year_end", "years_after": 1}, "2026-03-02T04:00:00Z", "100"),
        ({"policy": "month_end", "months_after": 2}, "2026-03-03T04:00:00Z", "70"),
        ({"policy": "rolling_days", "days": 30}, "2026-03-04T04:00:00Z", "50"),
    ]
    for policy, at, amount in earns:
        state = apply_event(make_config(expiry=policy), state, order(utc(at), amount)).state
    return state


ROLLING_EXPIRY = utc("2026-04-03T16:00:00Z")  # Mar 4 + 30 + 1 = Apr 4 00:00 Shanghai
MONTH_EXPIRY = utc("2026-05-31T16:00:00Z")  # end of May
YEAR_EXPIRY = utc("2027-12-31T16:00:00Z")  # end of 2027


def test_mixed_policy_lots_are_sorted_soonest_expiring_never_last(mixed_member: MemberState) -> None:
    assert mixed_member.lots == (
        PointsLot(ROLLING_EXPIRY, 50),
        PointsLot(MONTH_EXPIRY, 70),
        PointsLot(YEAR_EXPIRY, 100),
        PointsLot(None, 40),
    )
    assert next_expiry_action(mixed_member.lots) == min(moment for lot in mixed_member.lots for moment in lot.remind_at)


def test_spend_takes_soonest_expiring_first_across_policies(mixed_member: MemberState) -> None:
    # Given lots: rolling 50 (Apr), month_end 70 (May), year_end 100 (2027), never 40
    # When 130 points are spent
    first = spend_points(mixed_member, 130, utc("2026-03-05T04:00:00Z"))

    # Then rolling and month_end are drained and 10 come from the year_end lot
    assert first.drawn == (PointsLot(ROLLING_EXPIRY, 50), PointsLot(MONTH_EXPIRY, 70), PointsLot(YEAR_EXPIRY, 10))
    assert first.state.lots == (PointsLot(YEAR_EXPIRY, 90), PointsLot(None, 40))

    # When 100 more are spent / Then the never-expiring lot is used last
    second = spend_points(first.state, 100, utc("2026-03-05T05:00:00Z"))
    assert second.drawn == (PointsLot(YEAR_EXPIRY, 90), PointsLot(None, 10))
    assert second.state.lots == (PointsLot(None, 30),)
    assert second.state.points_balance == 30


def test_spend_after_a_lot_expired_skips_it_even_before_the_sweep(mixed_member: MemberState) -> None:
    # Given the rolling lot expired at ROLLING_EXPIRY but no sweep ran
    at = ROLLING_EXPIRY

    # Then it is no longer available, and a spend starts at the month_end lot
    assert available_points(mixed_member.lots, at) == 70 + 100 + 40
    outcome = spend_points(mixed_member, 80, at)
    assert outcome.drawn == (PointsLot(MONTH_EXPIRY, 70), PointsLot(YEAR_EXPIRY, 10))

    # And spending everything that is left live is refused by one point more
    with pytest.raises(InsufficientPoints):
        spend_points(outcome.state, 130 + 1, at)
