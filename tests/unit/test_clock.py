"""Business time helpers (``shared.clock``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from shared import clock


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),  # common year: clamp to Feb 28
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year: clamp to Feb 29
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2028, 2, 29), 48, date(2032, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),  # December wraps
        (date(2026, 11, 30), 14, date(2028, 1, 30)),
        (date(2026, 3, 10), 0, date(2026, 3, 10)),
        (date(2026, 1, 15), -1, date(2025, 12, 15)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 3, 10), 12, date(2027, 3, 10)),
    ],
)
def test_add_months_moves_by_calendar_months_clamping_to_month_end(day: date, months: int, expected: date) -> None:
    assert clock.add_months(day, months) == expected


def test_add_months_utc_keeps_the_local_wall_time_across_dst() -> None:
    # Given 2026-01-15 12:00 in New York (EST, UTC-5)
    moment = utc("2026-01-15T17:00:00Z")

    # When moved 6 months in the New York zone
    moved = clock.add_months_utc(moment, 6, "America/New_York")

    # Then it is 2026-07-15 12:00 local (EDT, UTC-4), returned in UTC
    assert moved == utc("2026-07-15T16:00:00Z")
    assert moved.utcoffset() == timedelta(0)


def test_add_months_utc_clamps_in_local_calendar() -> None:
    # Given 2027-01-31 23:30 Shanghai (= 2027-01-31T15:30Z)
    # When +1 month / Then 2027-02-28 23:30 Shanghai
    assert clock.add_months_utc(utc("2027-01-31T15:30:00Z"), 1, "Asia/Shanghai") == utc("2027-02-28T15:30:00Z")
    # Given 2027-01-31T16:30Z = 2027-02-01 00:30 Shanghai / When +1 month / Then 2027-03-01 00:30 Shanghai
    assert clock.add_months_utc(utc("2027-01-31T16:30:00Z"), 1, "Asia/Shanghai") == utc("2027-02-28T16:30:00Z")


def test_add_months_utc_twelve_months_from_a_local_leap_day() -> None:
    # 2028-02-28T16:30Z is 2028-02-29 00:30 Shanghai; +12 months is 2029-02-28 00:30 Shanghai
    assert clock.add_months_utc(utc("2028-02-28T16:30:00Z"), 12, "Asia/Shanghai") == utc("2029-02-27T16:30:00Z")


def test_local_date_and_month_use_the_program_zone() -> None:
    moment = utc("2026-01-31T16:30:00Z")
    assert clock.local_date(moment, "Asia/Shanghai") == date(2026, 2, 1)
    assert clock.local_month(moment, "Asia/Shanghai") == "2026-02"
    assert clock.local_date(moment, "UTC") == date(2026, 1, 31)
    assert clock.local_month(moment, "America/New_York") == "2026-01"


@pytest.mark.parametrize(
    ("day", "zone", "expected"),
    [
        (date(2027, 1, 1), "Asia/Shanghai", "2026-12-31T16:00:00Z"),
        (date(2027, 1, 1), "America/New_York", "2027-01-01T05:00:00Z"),
        (date(2026, 7, 1), "America/New_York", "2026-07-01T04:00:00Z"),
        (date(2026, 3, 8), "America/New_York", "2026-03-08T05:00:00Z"),  # DST starts at 02:00 that day
        (date(2026, 3, 9), "America/New_York", "2026-03-09T04:00:00Z"),
        (date(2026, 7, 1), "UTC", "2026-07-01T00:00:00Z"),
    ],
)
def test_start_of_local_day_in_utc(day: date, zone: str, expected: str) -> None:
    result = clock.start_of_local_day(day, zone)
    assert result == utc(expected)
    assert result.tzinfo == UTC


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 22, 8, 0, tzinfo=UTC), "2026-11-22T08:00:00Z"),
        (datetime(2026, 11, 22, 8, 0, 0, 120000, tzinfo=UTC), "2026-11-22T08:00:00.12Z"),
        (datetime(2026, 11, 22, 16, 0, tzinfo=timezone(timedelta(hours=8))), "2026-11-22T08:00:00Z"),
    ],
)
def test_format_utc_writes_rfc3339_with_z_and_parse_reads_it_back(moment: datetime, text: str) -> None:
    assert clock.format_utc(moment) == text
    assert clock.parse_utc(text) == moment


def test_naive_datetimes_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="naive"):
        clock.to_utc(datetime(2026, 1, 1))


def test_from_epoch_ms_is_utc() -> None:
    assert clock.from_epoch_ms(1_763_798_400_000) == utc("2025-11-22T08:00:00Z")
