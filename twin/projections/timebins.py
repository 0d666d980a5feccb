"""Time bins of the time-series views: UTC hours and Europe/Paris days.

Hours are UTC (an hour is an hour everywhere); days are the valley's local days, which last
23 or 25 hours when the clocks change. Quantities are shared out in exact integers so that a
total split over days adds up to the total exactly. Not responsible for what is measured.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

VALLEY_TIME = ZoneInfo("Europe/Paris")
MICRO = 1_000_000  # accumulators hold millionths, in integers: sums do not depend on grouping


# Instants repeat across assets: a memo, within bounds, read directly by the busiest handler.
HOURS: dict[datetime, datetime] = {}


def hour_of(instant: datetime) -> datetime:
    """The UTC hour an instant lies in, as its first instant."""
    hour = HOURS.get(instant)
    if hour is None:
        if len(HOURS) >= 100_000:
            HOURS.clear()
        hour = HOURS[instant] = instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour


def to_micro(value: float) -> int:
    """A quantity in millionths of its unit, rounded to the nearest."""
    return round(value * MICRO)


def local_day(instant: datetime) -> date:
    """The valley's calendar day an instant lies in."""
    return instant.astimezone(VALLEY_TIME).date()


def _local_midnight_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=VALLEY_TIME).astimezone(UTC)


def split_by_local_day(start: datetime, end: datetime, total_micro: int) -> list[tuple[date, int]]:
    """Share ``total_micro`` over the local days of [start, end], in proportion to time.

    The shares are whole and add up to ``total_micro`` exactly (the last day takes the
    rounding). An empty interval puts everything on the day of ``end``.
    """
    seconds = (end - start).total_seconds()
    if seconds <= 0:
        return [(local_day(end), total_micro)]
    shares: list[tuple[date, int]] = []
    given = 0
    cursor, day = start, local_day(start)
    while True:
        boundary = _local_midnight_after(day)
        if boundary >= end:
            shares.append((day, total_micro - given))
            return shares
        share = round(total_micro * (boundary - cursor).total_seconds() / seconds)
        shares.append((day, share))
        given += share
        cursor, day = boundary, day + timedelta(days=1)
