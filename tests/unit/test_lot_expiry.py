"""``lot_expiry`` for every policy: year_end, rolling_days, month_end, never.

Expiry instants are the start of a program-local day, converted to UTC. Shanghai is UTC+8 all
year; America/New_York switches between UTC-5 (EST) and UTC-4 (EDT).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.program import ProgramConfig
from shared.rules import BusinessEvent, MemberState, PointsLot, apply_event, available_points, is_live, lot_expiry


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- year_end (the default program) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("earned_at", "expires_at"),
    [
        # 2025-12-31 23:59 Shanghai: earned in 2025, expires at the end of 2026 local
        ("2025-12-31T15:59:00Z", "2026-12-31T16:00:00Z"),
        # 2026-01-01 00:00 Shanghai: earned in 2026, expires at the end of 2027 local
        ("2025-12-31T16:00:00Z", "2027-12-31T16:00:00Z"),
        ("2026-01-01T00:00:00Z", "2027-12-31T16:00:00Z"),
        ("2026-07-15T04:00:00Z", "2027-12-31T16:00:00Z"),
        ("2026-12-31T15:59:59.999999Z", "2027-12-31T16:00:00Z"),
    ],
)
def test_year_end_points_expire_at_the_end_of_the_next_local_year(
    default_config: ProgramConfig, earned_at: str, expires_at: str
) -> None:
    # Given the default program (year_end, years_after 1, Asia/Shanghai)
    # When points are earned at `earned_at` / Then they expire at `expires_at`
    assert lot_expiry(default_config, utc(earned_at)) == utc(expires_at)


def test_year_end_with_zero_years_after_expires_at_this_year_end(make_config: Any) -> None:
    # Given points that expire at the end of the year they were earned in
    config = make_config(expiry={"policy": "year_end", "years_after": 0})
    # When earned mid-2026 / Then they expire at 2027-01-01 00:00 Shanghai
    assert lot_expiry(config, utc("2026-07-15T04:00:00Z")) == utc("2026-12-31T16:00:00Z")


def test_earned_lot_carries_the_policy_expiry(default_config: ProgramConfig) -> None:
    # Given the default program / When an order completes at 2025-12-31T16:00Z (2026 local)
    event = BusinessEvent(
        event_id="e",
        type="order_completed",
        occurred_at=utc("2025-12-31T16:00:00Z"),
        attributes={"order_id": "o", "settled_amount": Decimal("50")},
    )
    outcome = apply_event(default_config, MemberState("default", "m"), event)
    # Then its lot expires at the end of 2027 local
    assert outcome.lot == PointsLot(utc("2027-12-31T16:00:00Z"), 50)


# --- rolling_days -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earned_at", "expires_at"),
    [
        # 2026-03-10 12:00 local: day D = Mar 10, expires at the end of Apr 9 (D + 30) local
        ("2026-03-10T04:00:00Z", "2026-04-09T16:00:00Z"),
        # 2026-03-11 00:30 local: a different local day than its UTC date
        ("2026-03-10T16:30:00Z", "2026-04-10T16:00:00Z"),
        # across a year end
        ("2026-12-15T04:00:00Z", "2027-01-14T16:00:00Z"),
    ],
)
def test_rolling_days_expire_at_the_end_of_local_day_plus_n(make_config: Any, earned_at: str, expires_at: str) -> None:
    # Given a 30-day rolling expiry / When points are earned / Then end of local day D + 30
    config = make_config(expiry={"policy": "rolling_days", "days": 30})
    assert lot_expiry(config, utc(earned_at)) == utc(expires_at)


def test_rolling_one_day_expires_at_the_end_of_tomorrow(make_config: Any) -> None:
    # Given a 1-day rolling expiry / When earned on Mar 10 local / Then expires at the start of Mar 12 local
    config = make_config(expiry={"policy": "rolling_days", "days": 1})
    assert lot_expiry(config, utc("2026-03-10T04:00:00Z")) == utc("2026-03-11T16:00:00Z")


# --- month_end --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("months_after", "earned_at", "expires_at"),
    [
        # Same month: earned March 10 local, expires at the end of March local
        (0, "2026-03-10T04:00:00Z", "2026-03-31T16:00:00Z"),
        # Earned 2026-03-31T16:30Z = April 1 local: April's end
        (0, "2026-03-31T16:30:00Z", "2026-04-30T16:00:00Z"),
        # December wraps into the next year
        (0, "2026-12-15T04:00:00Z", "2026-12-31T16:00:00Z"),
        (1, "2026-12-15T04:00:00Z", "2027-01-31T16:00:00Z"),
        (2, "2026-11-30T04:00:00Z", "2027-01-31T16:00:00Z"),
        (13, "2026-12-01T04:00:00Z", "2028-01-31T16:00:00Z"),
        # Leap-year February: end of Feb 29
        (0, "2028-02-29T04:00:00Z", "2028-02-29T16:00:00Z"),
        (1, "2028-01-31T04:00:00Z", "2028-02-29T16:00:00Z"),
        # ...and a common-year February: end of Feb 28
        (1, "2027-01-31T04:00:00Z", "2027-02-28T16:00:00Z"),
    ],
)
def test_month_end_expires_at_the_end_of_the_local_month_n_months_later(
    make_config: Any, months_after: int, earned_at: str, expires_at: str
) -> None:
    # Given a month_end policy / When points are earned / Then end of local month M + months_after
    config = make_config(expiry={"policy": "month_end", "months_after": months_after})
    assert lot_expiry(config, utc(earned_at)) == utc(expires_at)


# --- never ------------------------------------------------------------------------------------------


def test_never_policy_gives_no_expiry(make_config: Any) -> None:
    # Given a program whose points never expire
    config = make_config(expiry={"policy": "never"})
    # When points are earned / Then their expiry is None
    assert lot_expiry(config, utc("2026-03-10T04:00:00Z")) is None
    event = BusinessEvent(
        event_id="e",
        type="order_completed",
        occurred_at=utc("2026-03-10T04:00:00Z"),
        attributes={"order_id": "o", "settled_amount": Decimal("12.50")},
    )
    outcome = apply_event(config, MemberState("default", "m"), event)
    assert outcome.lot == PointsLot(None, 12)


# --- a zone with daylight saving time --------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "earned_at", "expires_at"),
    [
        # month_end in summer: 2026-07-01 00:00 EDT (UTC-4)
        ({"policy": "month_end", "months_after": 0}, "2026-06-15T12:00:00Z", "2026-07-01T04:00:00Z"),
        # month_end in winter: 2027-01-01 00:00 EST (UTC-5)
        ({"policy": "month_end", "months_after": 0}, "2026-12-15T12:00:00Z", "2027-01-01T05:00:00Z"),
        # earned in February (EST), expires at the end of March (DST began March 8): EDT
        ({"policy": "month_end", "months_after": 1}, "2026-02-15T12:00:00Z", "2026-04-01T04:00:00Z"),
        # October (EDT): Nov 1 00:00 is still EDT (the switch is at 02:00 that day)
        ({"policy": "month_end", "months_after": 0}, "2026-10-15T12:00:00Z", "2026-11-01T04:00:00Z"),
        # October (EDT) + 1 month: Dec 1 00:00 EST
        ({"policy": "month_end", "months_after": 1}, "2026-10-15T12:00:00Z", "2026-12-01T05:00:00Z"),
        # year_end: always a January 1st, always EST
        ({"policy": "year_end", "years_after": 1}, "2026-06-15T12:00:00Z", "2028-01-01T05:00:00Z"),
        # 2026-01-01T03:00Z is still 2025-12-31 22:00 in New York: earned in 2025
        ({"policy": "year_end", "years_after": 1}, "2026-01-01T03:00:00Z", "2027-01-01T05:00:00Z"),
        # rolling across the spring-forward day: earned Mar 1 (EST), expires at the start of Mar 11 (EDT)
        ({"policy": "rolling_days", "days": 9}, "2026-03-01T17:00:00Z", "2026-03-11T04:00:00Z"),
    ],
)
def test_expiry_local_midnight_converts_to_utc_with_the_right_dst_offset(
    make_config: Any, policy: dict[str, Any], earned_at: str, expires_at: str
) -> None:
    # Given a New York program with `policy` / When points are earned / Then local midnight in UTC
    config = make_config(time_zone="America/New_York", currency="USD", expiry=policy)
    assert lot_expiry(config, utc(earned_at)) == utc(expires_at)


# --- the expiry instant is exclusive -------------------------------------------------------------


def test_lot_is_spendable_until_its_expiry_instant_exclusive() -> None:
    # Given a lot expiring at 2026-12-31T16:00Z
    expiry = utc("2026-12-31T16:00:00Z")
    lot = PointsLot(expiry, 100)

    # When checked one microsecond before, at, and after the expiry
    # Then it is live only before
    assert is_live(lot, expiry - timedelta(microseconds=1))
    assert not is_live(lot, expiry)
    assert not is_live(lot, expiry + timedelta(seconds=1))
    assert available_points((lot,), expiry - timedelta(microseconds=1)) == 100
    assert available_points((lot,), expiry) == 0


def test_never_expiring_lot_is_always_live() -> None:
    lot = PointsLot(None, 7)
    assert is_live(lot, datetime(9999, 12, 31, tzinfo=UTC))
