"""One convention for simulated time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from simulation.clock import SimClock


def test_hours_and_instants_round_trip_in_utc() -> None:
    clock = SimClock(datetime(2024, 3, 31, 0, 0, tzinfo=timezone(timedelta(hours=1))))
    assert clock.start == datetime(2024, 3, 30, 23, 0, tzinfo=UTC)
    instant = datetime(2024, 4, 2, 5, 30, tzinfo=UTC)
    assert clock.hours(instant) == 54.5 and clock.instant(54.5) == instant


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(datetime(2024, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(datetime(2024, 1, 1, tzinfo=UTC)).hours(datetime(2024, 1, 2))  # noqa: DTZ001
