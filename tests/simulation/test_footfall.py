"""Footfall: exact replay, a fit recovering a known shape, seeded projection, peaks, trails."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from domain import Beacon, Position
from simulation.footfall import (
    ArrivalModel,
    FootfallCount,
    HourlySeries,
    OneOffEvent,
    TrailLeg,
    detection_ratio_from,
    expected_visitors,
    fit_arrivals,
    footfall_counts,
    footfall_kpis,
    hours_over_capacity,
    occupancy,
    peaks,
    recorded_footfall,
    sample_visitors,
    trail_visits,
)
from simulation.parameters.footfall import herault_month_factors

T0 = datetime(2024, 6, 3, tzinfo=UTC)  # a Monday, 02:00 in Paris
HOUR = timedelta(hours=1)
HERE = Position(752_000.0, 6_283_000.0)
PARIS = ZoneInfo("Europe/Paris")
SCANNER = UUID(int=1)


def counted_beacons() -> list[Beacon]:
    """Two beacons at the Pont du Diable, one in the activity zone; 15-minute counts, 3 days."""
    rng = random.Random(11)
    beacons = [
        Beacon.install(code=f"BLE-{n}", zone_code=zone, position=HERE, commune_insee="34010", at=T0)
        for n, zone in enumerate(["PONT-DU-DIABLE", "PONT-DU-DIABLE", "ZAE-CAMALCE"])
    ]
    for beacon in beacons:
        start = T0
        while start < T0 + timedelta(days=3):
            end = start + timedelta(minutes=15)
            beacon.count_footfall(start, end, rng.randrange(0, 40))
            start = end
    return beacons


# --- Replay --------------------------------------------------------------------------------------


def test_replay_reproduces_the_recorded_counts_exactly() -> None:
    beacons = counted_beacons()
    events = [event for beacon in beacons for event in beacon.collect_events()]
    series = recorded_footfall(footfall_counts(events))
    expected: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for event in events:
        if isinstance(event, Beacon.FootfallCounted):
            zone = "ZAE-CAMALCE" if event.originator_id == beacons[2].id else "PONT-DU-DIABLE"
            expected[zone][event.interval_start.replace(minute=0)] += event.count
    assert set(series) == {"PONT-DU-DIABLE", "ZAE-CAMALCE"}
    for zone, hours in expected.items():
        replayed = series[zone]
        assert replayed.values.dtype.kind == "i" and replayed.start == T0 and replayed.hours == 72
        assert {replayed.instant(h): int(v) for h, v in enumerate(replayed.values)} == hours
    assert series["PONT-DU-DIABLE"].total() == beacons[0].total_count + beacons[1].total_count
    assert series["ZAE-CAMALCE"].total() == beacons[2].total_count
    daily = series["ZAE-CAMALCE"].daily()
    assert sum(daily.values()) == beacons[2].total_count and min(daily) == date(2024, 6, 3)


def test_a_moved_beacon_counts_for_its_new_zone() -> None:
    beacon = Beacon.install(
        code="BLE-9", zone_code="A", position=HERE, commune_insee="34010", at=T0
    )
    beacon.count_footfall(T0, T0 + HOUR, 5)
    beacon.move(HERE, "34010", "B", T0 + HOUR)
    beacon.count_footfall(T0 + HOUR, T0 + 2 * HOUR, 7)
    counts = list(footfall_counts(beacon.collect_events()))
    assert [(c.zone, c.count) for c in counts] == [("A", 5), ("B", 7)]


def test_devices_become_visitors_with_the_detection_ratio() -> None:
    devices = HourlySeries(T0, np.array([11, 22, 0]))
    assert list(devices.to_visitors(0.11).values) == pytest.approx([100, 200, 0])
    assert detection_ratio_from(devices_counted=35, visitors_counted=500) == pytest.approx(0.07)
    with pytest.raises(ValueError):
        devices.to_visitors(0.0)


# --- Fitting -------------------------------------------------------------------------------------

HOUR_SHAPE = [0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 6, 6, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0]  # local hours
WEEKDAY_SHAPE = [2, 2, 2, 2, 3, 4, 4]  # Monday first


def shaped_counts(days: int, start: datetime) -> list[FootfallCount]:
    """Hourly counts that follow the multiplicative model exactly (weekday × hour, local time)."""
    counts = []
    for hour in range(days * 24):
        begin = start + hour * HOUR
        local = begin.astimezone(PARIS)
        value = HOUR_SHAPE[local.hour] * WEEKDAY_SHAPE[local.weekday()]
        counts.append(FootfallCount("ZAE", SCANNER, begin, begin + HOUR, value))
    return counts


def test_the_fit_recovers_a_known_shape_and_fills_unseen_months_from_the_seasons() -> None:
    [model] = fit_arrivals(
        shaped_counts(days=28, start=datetime(2024, 6, 2, 22, tzinfo=UTC))
    ).values()
    hours = np.array(HOUR_SHAPE) / np.mean(HOUR_SHAPE)
    weekdays = np.array(WEEKDAY_SHAPE) / np.mean(WEEKDAY_SHAPE)
    assert model.hour_factors == pytest.approx(list(hours), abs=1e-9)
    assert model.weekday_factors == pytest.approx(list(weekdays), abs=1e-9)
    assert model.dispersion == pytest.approx(0.0, abs=1e-9)  # the data are the model
    # Only June was seen; other months follow the Hérault seasonal shape (summer ×2.37 …).
    assert model.months_from_prior == tuple(m for m in range(12) if m != 5)
    prior = np.array(herault_month_factors())
    assert np.array(model.month_factors) == pytest.approx(prior / prior.mean(), rel=1e-9)
    # An average June hour holds mean(hour) × mean(weekday) devices.
    june_rate = model.base_per_hour * model.month_factors[5]
    assert june_rate == pytest.approx(np.mean(HOUR_SHAPE) * np.mean(WEEKDAY_SHAPE), rel=1e-9)
    assert model.as_dict()["weekday_factors"]["sat"] == pytest.approx(4 / np.mean(WEEKDAY_SHAPE))


def test_the_fit_spreads_long_intervals_over_the_hours_they_cover() -> None:
    counts = [FootfallCount("Z", SCANNER, T0, T0 + 4 * HOUR, 40)]
    [model] = fit_arrivals(counts).values()
    assert model.observed_hours == 4.0 and model.counted == 40.0
    assert model.rates(T0, 4) == pytest.approx([10.0] * 4)


def test_the_fit_of_noisy_counts_is_close_and_says_they_are_poisson() -> None:
    rng = np.random.default_rng(5)
    exact = shaped_counts(days=56, start=datetime(2024, 6, 2, 22, tzinfo=UTC))
    noisy = [
        FootfallCount(c.zone, c.beacon, c.start, c.end, int(rng.poisson(c.count * 5)))
        for c in exact
    ]
    [model] = fit_arrivals(noisy).values()
    assert np.array(model.weekday_factors) == pytest.approx(
        np.array(WEEKDAY_SHAPE) / np.mean(WEEKDAY_SHAPE), rel=0.05
    )
    assert 0.8 < model.dispersion < 1.2


# --- Projection ----------------------------------------------------------------------------------


def june_model() -> ArrivalModel:
    [model] = fit_arrivals(
        shaped_counts(days=28, start=datetime(2024, 6, 2, 22, tzinfo=UTC))
    ).values()
    return model


def test_same_seed_same_numbers_different_seed_different() -> None:
    model = june_model()
    start = datetime(2025, 6, 30, 22, tzinfo=UTC)
    first = sample_visitors(model, start, 24 * 14, seed=42)
    again = sample_visitors(model, start, 24 * 14, seed=42)
    other = sample_visitors(model, start, 24 * 14, seed=43)
    assert np.array_equal(first.values, again.values) and not np.array_equal(
        first.values, other.values
    )
    expected = expected_visitors(model, start, 24 * 14)
    assert first.total() == pytest.approx(expected.total(), rel=0.02)  # ~100,000 Poisson arrivals


def test_a_festival_multiplies_its_days_only() -> None:
    model = june_model()
    start = datetime(2025, 7, 4, 22, tzinfo=UTC)  # Saturday 5 July 2025, 00:00 in Paris
    festival = OneOffEvent("Festival", date(2025, 7, 6), date(2025, 7, 6), multiplier=3.0)
    elsewhere = OneOffEvent(
        "Elsewhere", date(2025, 7, 6), date(2025, 7, 6), 10.0, frozenset({"OTHER"})
    )
    plain = expected_visitors(model, start, 48, detection_ratio=0.1)
    busy = expected_visitors(model, start, 48, detection_ratio=0.1, events=[festival, elsewhere])
    assert busy.values[:24] == pytest.approx(plain.values[:24])
    assert busy.values[24:] == pytest.approx(3 * plain.values[24:])
    # Sunday at noon: base × hour(12) × weekday(sun) × month(jul) / 0.1 × 3
    noon = (
        model.base_per_hour
        * model.hour_factors[12]
        * model.weekday_factors[6]
        * model.month_factors[6]
    )
    assert busy.values[36] == pytest.approx(noon / 0.1 * 3)


# --- Peaks, capacity and trails ------------------------------------------------------------------


def test_peaks_and_hours_over_capacity() -> None:
    arrivals = HourlySeries(T0, np.array([10.0] * 30 + [100.0, 100.0] + [0.0] * 16))
    found = peaks(arrivals)
    assert found.peak_hour == T0 + 30 * HOUR and found.peak_hour_value == 100.0
    # Local days start at 22:00 UTC: 3 June holds 22 hours × 10, 4 June 8 × 10 + 2 × 100.
    assert (found.peak_day, found.peak_day_value, found.total) == (date(2024, 6, 4), 280.0, 500.0)
    present = occupancy(arrivals, stay_hours=2.0)
    assert present.values[5:29] == pytest.approx([20.0] * 24)  # Little: 10 an hour × 2 h
    assert present.values.sum() == pytest.approx(2.0 * arrivals.total())
    # Present in hours 30–33 with a 2 h stay: 0.5·100 + 10 + 5, 0.5·100 + 100 + 5, 100 + 50, 50.
    assert list(present.values[30:34]) == pytest.approx([65.0, 155.0, 150.0, 50.0], rel=1e-3)
    assert hours_over_capacity(present, 50.0) == 3
    assert occupancy(arrivals, stay_hours=0.5).values[10] == pytest.approx(5.0)
    kpis = footfall_kpis(arrivals, capacity=50.0, stay_hours=2.0)
    assert kpis["hours_over_capacity"] == 3.0 and kpis["peak_present"] == pytest.approx(
        present.values.max()
    )


def test_a_trail_carries_visitors_on_with_probability_and_delay() -> None:
    site_a = HourlySeries(T0, np.array([100.0, 0, 0, 0, 0, 0]), "visitors")
    site_b = HourlySeries(T0, np.array([0.0, 0, 10, 0, 0, 0]), "visitors")
    legs = [TrailLeg("A", "B", 0.3, 1), TrailLeg("B", "C", 0.5, {2: 0.5, 3: 0.5})]
    result = trail_visits({"A": site_a, "B": site_b}, legs)
    assert list(result.visits["B"].values) == pytest.approx([0, 30, 10, 0, 0, 0])
    assert list(result.visits["C"].values) == pytest.approx([0, 0, 0, 7.5, 10, 2.5])
    assert result.transfers == {("A", "B"): 30.0, ("B", "C"): 20.0}
    assert result.beyond_horizon == pytest.approx(0.0)
    with pytest.raises(ValueError, match="loop"):
        trail_visits({"A": site_a}, [TrailLeg("A", "B", 0.5), TrailLeg("B", "A", 0.5)])


def test_a_sampled_trail_is_seeded_and_close_to_its_expectation() -> None:
    arrivals = {"A": HourlySeries(T0, np.full(500, 200), "visitors")}
    legs = [TrailLeg("A", "B", 0.3, 1), TrailLeg("A", "C", 0.2, 2)]
    first, again = trail_visits(arrivals, legs, seed=3), trail_visits(arrivals, legs, seed=3)
    other = trail_visits(arrivals, legs, seed=4)
    assert np.array_equal(first.visits["B"].values, again.visits["B"].values)
    assert not np.array_equal(first.visits["B"].values, other.visits["B"].values)
    assert first.visits["B"].values[0] == 0 and first.visits["C"].values[:2].sum() == 0
    assert first.transfers[("A", "B")] == pytest.approx(30_000, rel=0.02)
    assert first.transfers[("A", "C")] == pytest.approx(20_000, rel=0.03)


def test_a_zone_where_nobody_was_counted_has_a_zero_rate() -> None:
    counts = [FootfallCount("Z", SCANNER, T0 + h * HOUR, T0 + (h + 1) * HOUR, 0) for h in range(48)]
    [model] = fit_arrivals(counts).values()
    assert model.base_per_hour == 0.0 and set(model.month_factors) == {1.0}
    assert sample_visitors(model, T0, 24, seed=1).total() == 0.0
