"""Late footfall counts: an interval older than the newest is accepted where it fits in a gap,
refused, by field and value, where it overlaps one already counted."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain import Beacon, OutOfOrderError, Position
from tests.conftest import T0

HERE = Position(752_000.0, 6_283_000.0)
ELSEWHERE = Position(752_500.0, 6_283_500.0)


def new_beacon() -> Beacon:
    return Beacon.install(
        code="BLE-LATE", zone_code="ZAE-CAMALCE", position=HERE, commune_insee="34114", at=T0
    )


def hour(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def test_a_late_count_in_a_gap_is_accepted_and_the_newest_stays_the_last() -> None:
    beacon = new_beacon()
    beacon.count_footfall(hour(1), hour(2), 10)
    beacon.count_footfall(hour(4), hour(5), 40)  # a gap from 2 to 4: a gateway was down
    beacon.count_footfall(hour(2), hour(3), 20)  # late, in the gap
    beacon.count_footfall(hour(3), hour(4), 30)  # late, fills the rest of it
    assert (beacon.total_count, beacon.last_count, beacon.counted_until) == (100, 40, hour(5))
    assert beacon._counted_spans == [(hour(1), hour(5))]  # one stretch: the gap is gone


@pytest.mark.parametrize(
    ("start", "end", "field", "value"),
    [
        (hour(1.5), hour(2.5), "interval_start", hour(1.5)),  # starts inside 1–2
        (hour(3.5), hour(4.5), "interval_end", hour(4.5)),  # ends inside 4–5
        (hour(2), hour(6), "interval_end", hour(6)),  # covers 4–5
        (hour(1), hour(2), "interval_start", hour(1)),  # the same interval again
    ],
)
def test_a_late_count_overlapping_one_counted_is_refused_by_field_and_value(
    start: datetime, end: datetime, field: str, value: datetime
) -> None:
    beacon = new_beacon()
    beacon.count_footfall(hour(1), hour(2), 10)
    beacon.count_footfall(hour(4), hour(5), 40)
    with pytest.raises(OutOfOrderError, match="already counted") as raised:
        beacon.count_footfall(start, end, 5)
    assert (raised.value.field, raised.value.value) == (field, value.isoformat())
    assert beacon.total_count == 50


def test_a_count_belongs_to_the_zone_served_when_it_ended() -> None:
    beacon = new_beacon()
    beacon.count_footfall(hour(1), hour(2), 10)
    with pytest.raises(OutOfOrderError) as moved_too_early:
        beacon.move(ELSEWHERE, "34114", "CENTRE", hour(1.5))  # inside a counted interval
    assert (moved_too_early.value.field, moved_too_early.value.value) == (
        "at",
        hour(1.5).isoformat(),
    )
    beacon.count_footfall(hour(4), hour(5), 40)
    beacon.move(ELSEWHERE, "34114", "CENTRE", hour(6))
    with pytest.raises(OutOfOrderError, match="serves zone CENTRE since") as before_the_move:
        beacon.count_footfall(hour(2), hour(3), 20)  # in a gap, but counted in the old zone
    assert before_the_move.value.field == "interval_end"
    beacon.count_footfall(hour(6), hour(7), 5)
    beacon.count_footfall(hour(8), hour(9), 5)
    beacon.count_footfall(hour(7), hour(8), 5)  # late, after the move: fine
    assert beacon.total_count == 65


def test_a_beacon_from_a_snapshot_of_before_takes_everything_counted_as_covered() -> None:
    beacon = new_beacon()
    beacon.count_footfall(hour(1), hour(2), 10)
    beacon.count_footfall(hour(4), hour(5), 40)
    # What a snapshot taken before these were kept restores: neither stretches nor zone time.
    del beacon.__dict__["_counted_spans"], beacon.__dict__["_zone_since"]
    with pytest.raises(OutOfOrderError):
        beacon.count_footfall(hour(2), hour(3), 20)  # the old rule: nothing before 5
    beacon.count_footfall(hour(5), hour(6), 60)
    assert (beacon.total_count, beacon.counted_until) == (110, hour(6))
