"""Reading per-bin history from events, in one pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.bins import Bin
from domain.values import Position
from simulation.waste.history import UnknownBinError, read_history

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _bin(code: str = "B-1", capacity: int = 660) -> Bin:
    return Bin.install(
        code=code,
        stream="residual",
        capacity_l=capacity,
        position=Position(745_000.0, 6_284_000.0),
        commune_insee="34114",
        at=T0,
    )


def test_series_and_static_description_per_bin() -> None:
    b = _bin()
    b.measure_fill_level(40.0, T0 + timedelta(hours=6))
    b.report_overflow("crew", T0 + timedelta(hours=7))
    b.empty("R-1", 30.0, T0 + timedelta(hours=8))
    b.move(Position(745_100.0, 6_284_100.0), "34010", T0 + timedelta(hours=9))
    other = _bin("B-2")
    events = [*b.collect_events(), *other.collect_events()]
    history = read_history(events)
    assert history.events_read == 6 and len(history.bins) == 2
    record = history.bins[b.id]
    assert (record.stream, record.capacity_l, record.commune_insee, record.x_l93) == (
        "residual",
        660,
        "34010",
        745_100.0,
    )
    assert record.fills == [(T0 + timedelta(hours=6), 40.0)]
    assert record.emptyings == [(T0 + timedelta(hours=8), "R-1", 30.0)]
    assert record.overflows == [T0 + timedelta(hours=7)]
    assert history.first == T0 and history.last == T0 + timedelta(hours=9)
    assert [r.code for r in history.records()] == ["B-1", "B-2"]


def test_an_event_for_a_bin_never_installed_stops_the_read() -> None:
    b = _bin()
    b.measure_fill_level(10.0, T0 + timedelta(hours=1))
    with pytest.raises(UnknownBinError, match="never installed"):
        read_history(b.collect_events()[1:])


def test_it_streams_over_a_generator_once() -> None:
    b = _bin()
    b.measure_fill_level(10.0, T0 + timedelta(hours=1))
    history = read_history(e for e in b.collect_events())
    assert len(history.bins[b.id].fills) == 1


def test_a_late_fact_takes_its_place_in_the_bins_series() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    bin_ = Bin.install(
        code="B-1",
        stream="glass",
        capacity_l=3000,
        position=Position(752000.0, 6283000.0),
        commune_insee="34114",
        at=t0,
    )
    bin_.measure_fill_level(50.0, t0 + timedelta(hours=12))
    bin_.measure_fill_level(30.0, t0 + timedelta(hours=6))  # recorded late
    bin_.empty("R-1", 20.0, t0 + timedelta(hours=9))
    bin_.empty("R-0", 10.0, t0 + timedelta(hours=3))  # recorded late
    (record,) = read_history(bin_.collect_events()).bins.values()
    assert [fill for _, fill in record.fills] == [30.0, 50.0]
    assert [round_id for _, round_id, _ in record.emptyings] == ["R-0", "R-1"]


def test_a_log_with_facts_recorded_weeks_late_replays_with_the_lateness_it_needs() -> None:
    from simulation import lateness_needed, replay

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    bins = [_bin("B-1"), _bin("B-2")]
    for day in (5, 10, 20):
        bins[0].measure_fill_level(10.0 + day, t0 + timedelta(days=day))
    bins[1].empty("R-1", 30.0, t0 + timedelta(days=2))
    first, second = (list(bin_.collect_events()) for bin_ in bins)
    # B-2's lift is recorded after B-1's reading of day 20: 18 days late.
    log = [second[0], *first, *second[1:]]
    with pytest.raises(ValueError, match="larger lateness"):
        replay(log)
    needed = lateness_needed(log)
    assert timedelta(days=18) < needed <= timedelta(days=18, seconds=1)
    assert replay(log, lateness=needed).totals()["collections"] == 1
