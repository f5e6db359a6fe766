"""Business time: UTC on disk, the program's time zone for calendar rules."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The time zone called ``name`` (cached: ZoneInfo reads tzdata files)."""
    return ZoneInfo(name)


def to_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive datetimes are a programming error, not a client's."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC)


def format_utc(moment: datetime) -> str:
    """RFC 3339 with a ``Z``, to the microsecond only when there is one."""
    moment = to_utc(moment)
    # Not strftime: its %Y writes year 26 as "26", which is not RFC 3339 and does not parse back.
    text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment:%H:%M:%S}"
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_utc(text: str) -> datetime:
    """Parse a timestamp written by :func:`format_utc` (or any RFC 3339 with an offset)."""
    return to_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def from_epoch_ms(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def local_date(moment: datetime, tz: str) -> date:
    """The calendar day of ``moment`` in the program's time zone."""
    return moment.astimezone(zone(tz)).date()


def local_month(moment: datetime, tz: str) -> str:
    """``YYYY-MM`` of ``moment`` in the program's time zone."""
    local = moment.astimezone(zone(tz))
    return f"{local.year:04d}-{local.month:02d}"


def start_of_local_day(day: date, tz: str) -> datetime:
    """The UTC instant at which local calendar ``day`` begins."""
    return datetime(day.year, day.month, day.day, tzinfo=zone(tz)).astimezone(UTC)


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months, clamped to the month's end (Jan 31 + 1 = Feb 28/29)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def add_months_utc(moment: datetime, months: int, tz: str) -> datetime:
    """``moment`` moved by calendar months in the program's zone, keeping the local wall time."""
    local = moment.astimezone(zone(tz))
    moved = add_months(local.date(), months)
    return local.replace(year=moved.year, month=moved.month, day=moved.day).astimezone(UTC)


def days(n: int) -> timedelta:
    return timedelta(days=n)
