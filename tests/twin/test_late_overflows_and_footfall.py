"""Overflow episodes and late footfall through the twin: state as of an instant, the views, the
replay and the analysts' series all count the same episodes, and a late count lands in its hour."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.wire import Envelope, encode
from adapters.wire.codec import to_epoch_ms
from domain import Beacon, Bin, OutOfOrderError, Position
from simulation.waste import lateness_needed, replay
from tests.conftest import T0
from tests.twin.test_projections_runs import dump
from twin import ValleyTwin, load_geography, open_twin
from twin.analysis import time_series
from twin.config import SNAPSHOT_INTERVAL
from twin.ingest import Incoming, IngestProcessor
from twin.projections import catch_up
from twin.projections.assets import ASSET_STATE
from twin.projections.footfall import FOOTFALL_HOURLY

HERE = Position(752_000.0, 6_283_000.0)
DAY = T0 + timedelta(days=1)


def hour(n: float) -> datetime:
    return DAY + timedelta(hours=n)


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    twin = open_twin(store_url)
    twin.add(
        Bin.install(
            code="B-1", stream="glass", capacity_l=3000, position=HERE, commune_insee="34114", at=T0
        ),
        Beacon.install(
            code="BLE-1", zone_code="ZAE-CAMALCE", position=HERE, commune_insee="34114", at=T0
        ),
    )
    try:
        yield twin
    finally:
        twin.close()


def instant(value: Any) -> datetime | None:
    """An instant as a view stores it (ISO text in SQLite, timestamptz in PostgreSQL)."""
    if value is None:
        return None
    return (datetime.fromisoformat(value) if isinstance(value, str) else value).astimezone(UTC)


def view_row(twin: ValleyTwin, code: str) -> dict[str, Any]:
    (row,) = [r for r in dump(twin)["asset_state"] if r[2] == code]
    return dict(zip(ASSET_STATE.names, row, strict=True))


def report(twin: ValleyTwin, at: datetime, by: str = "citizen") -> None:
    twin.change(Bin, "B-1", lambda b: b.report_overflow(by, at))


def overflows_as_of(twin: ValleyTwin, at: datetime) -> int:
    state = twin.state_at(Bin.id_for("B-1"), at)
    assert isinstance(state, Bin)
    return state.overflow_count


def test_a_late_emptying_between_a_reading_and_a_report_splits_the_episode_everywhere(
    twin: ValleyTwin,
) -> None:
    twin.measure_fill_level("B-1", 100.0, hour(1))  # the sensor sees it full
    report(twin, hour(5))  # a citizen, later: the same episode so far
    catch_up(twin)
    assert twin.get(Bin, "B-1").overflow_count == view_row(twin, "B-1")["overflow_count"] == 1
    twin.empty_bin("B-1", "R-1", 120.0, hour(3))  # the crew's lift, arriving late
    catch_up(twin)
    bin_ = twin.get(Bin, "B-1")
    row = view_row(twin, "B-1")
    assert bin_.overflow_count == row["overflow_count"] == 2
    assert bin_.overflowing_since() == hour(5)
    assert instant(row["overflowing_since"]) == hour(5)
    # As of an instant: the episodes begun by then.
    assert [overflows_as_of(twin, hour(n)) for n in (0, 1, 2, 3, 4, 5, 6)] == [0, 1, 1, 1, 1, 2, 2]
    log = list(twin.domain_events())
    replayed = replay(log, lateness=lateness_needed(log)).totals()
    assert (replayed["overflow_events"], replayed["overflow_bin_hours"]) == (2.0, 2.0)  # 1→3
    series = time_series(twin, "B-1", None, None, field="overflows")
    assert series["time"].tolist() == [hour(1), hour(5)]
    assert series.attrs["unit"] == "episodes"


def test_a_report_then_a_full_reading_before_the_next_emptying_is_one_episode(
    twin: ValleyTwin,
) -> None:
    report(twin, hour(1), by="crew")
    twin.measure_fill_level("B-1", 100.0, hour(2))
    report(twin, hour(3))
    twin.empty_bin("B-1", "R-1", 120.0, hour(4))
    twin.measure_fill_level("B-1", 100.0, hour(4))  # late by no time: the lift's own instant
    report(twin, hour(3.5))  # late, same episode
    catch_up(twin)
    assert twin.get(Bin, "B-1").overflow_count == view_row(twin, "B-1")["overflow_count"] == 1
    assert view_row(twin, "B-1")["overflowing_since"] is None  # it ended with the lift


def test_two_episodes_separated_by_an_emptying_count_two_until_a_late_sign_adds_none(
    twin: ValleyTwin,
) -> None:
    twin.measure_fill_level("B-1", 100.0, hour(1))
    twin.empty_bin("B-1", "R-1", 120.0, hour(2))
    report(twin, hour(6))
    catch_up(twin)
    report(twin, hour(1.5))  # late, inside the first episode
    twin.measure_fill_level("B-1", 100.0, hour(0.5))  # late, the first episode began earlier
    catch_up(twin)
    assert twin.get(Bin, "B-1").overflow_count == view_row(twin, "B-1")["overflow_count"] == 2
    series = time_series(twin, "bin", None, None, field="overflows")
    assert series["time"].tolist() == [hour(0.5), hour(6)]


@pytest.mark.slow  # a hundred events and more
def test_a_bin_loaded_from_a_snapshot_counts_episodes_as_one_folded_from_its_history(
    twin: ValleyTwin,
) -> None:
    for n in range(SNAPSHOT_INTERVAL + 10):  # a snapshot is taken on the way
        fill = 100.0 if n % 40 == 10 else (n % 40) * 2.0
        twin.measure_fill_level("B-1", fill, hour(n))
        if n % 40 == 39:
            twin.empty_bin("B-1", f"R-{n}", 90.0, hour(n + 0.5))
    report(twin, hour(20.5))  # late, in the first stretch (full at 10 h): nothing new
    twin.empty_bin("B-1", "R-late", 90.0, hour(15))  # late, between 10 h and 20.5 h: a split
    report(twin, hour(16))  # late again, in the episode 20.5 h began: it begins earlier
    bin_ = twin.get(Bin, "B-1")
    folded = twin.state_at(bin_.id, hour(1_000))
    assert isinstance(folded, Bin)
    assert bin_.overflow_count == folded.overflow_count == 4  # at 10, 16, 50, 90 h
    catch_up(twin)
    assert view_row(twin, "B-1")["overflow_count"] == 4


def test_a_late_count_lands_in_the_hour_its_interval_starts_in(twin: ValleyTwin) -> None:
    twin.count_footfall("BLE-1", hour(10), hour(10.25), 7)
    twin.count_footfall("BLE-1", hour(11), hour(11.25), 5)
    catch_up(twin)
    twin.count_footfall("BLE-1", hour(10.5), hour(10.75), 3)  # late, from a gateway's outbox
    with pytest.raises(OutOfOrderError) as overlapping:
        twin.count_footfall("BLE-1", hour(10.75), hour(11.1), 4)
    assert (overlapping.value.field, overlapping.value.value) == (
        "interval_end",
        hour(11.1).isoformat(),
    )
    catch_up(twin)
    hourly = {(row[0], instant(row[1])): row[2:4] for row in dump(twin)["footfall_hourly"]}
    assert hourly == {("ZAE-CAMALCE", hour(10)): (10, 1), ("ZAE-CAMALCE", hour(11)): (5, 1)}
    assert [c.name for c in FOOTFALL_HOURLY.columns][2:4] == ["devices", "scanners"]
    beacon = twin.get(Beacon, "BLE-1")
    row = view_row(twin, "BLE-1")
    assert (beacon.total_count, beacon.last_count, beacon.counted_until) == (15, 5, hour(11.25))
    assert row["footfall_total"] == 15
    assert instant(row["counted_until"]) == hour(11.25)


def test_a_late_count_over_the_wire_is_acknowledged_and_an_overlapping_one_refused(
    twin: ValleyTwin,
) -> None:
    def count(number: int, start: float, end: float, devices: int) -> Incoming:
        body = {"interval_start": to_epoch_ms(hour(start)), "count": devices}
        envelope = Envelope(
            f"m-{number}", "gw", "SCN-1", "BLE-1", "footfall.count", hour(end), body
        )
        return Incoming(encode(envelope))

    processor = IngestProcessor(twin, load_geography(), clock=lambda: hour(48))
    replies = processor.process(
        [count(1, 1, 2, 5), count(2, 3, 4, 6), count(3, 2, 3, 7), count(4, 2.5, 3.5, 1)]
    )
    assert [r.status for r in replies if r] == ["ack", "ack", "ack", "rejected"]
    assert "interval_start" in (replies[3].reason if replies[3] else "")
    assert twin.get(Beacon, "BLE-1").total_count == 18
