"""Per-container counts, the daily fill level and the typical day, against hand counts."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from simulation.parameters.waste import density_kg_per_l
from simulation.waste import Bins, ProjectedInflow, RecordedInflow, replay, simulate
from simulation.waste.fitting import constant_models
from simulation.waste.kpis import CONTAINER_KPIS, Ledger
from simulation.waste.planning import FleetRouter
from simulation.waste.policies import FixedSchedule, Round, Threshold
from tests.simulation.test_waste import MONDAY, FakeRouter, _recorded_log, _valley

GIGNAC = "34114"


def _two_bins_weekly(days: int = 28):  # type: ignore[no-untyped-def]
    """Two 100 L bins of one commune, 10 and 20 L/day, emptied Mondays 00:00 (1 km a stop)."""
    bins = Bins.build(
        ["B-A", "B-B"],
        ["residual"] * 2,
        [GIGNAC] * 2,
        [100.0, 100.0],
        [745_000.0, 745_100.0],
        [6_284_000.0, 6_284_000.0],
    )
    models = constant_models(
        bins.codes, bins.streams, bins.communes, [100.0, 100.0], [10.0, 20.0], cv=0.01
    )
    inflow = RecordedInflow(np.tile([[10.0], [20.0]], (1, days)))
    mondays = FixedSchedule({"residual": Round(frozenset({0}))})
    return simulate(
        bins,
        mondays,
        inflow,
        models,
        FakeRouter(),
        start=MONDAY,
        days=days,
        seed=1,
        collection_hour=0.0,
    )


def test_per_container_counts_by_hand_and_summing_to_the_totals() -> None:
    # A (10 L/day) reads 70 L on Mondays and never overflows; B (20 L/day) is full at the end of
    # Friday and overflows all of Saturday and Sunday: 1 event and 48 bin-hours a week. Both are
    # emptied on the 4 Mondays (the first one empty).
    kpis = _two_bins_weekly()
    per = kpis.by_container()
    residual = density_kg_per_l("residual") / 1000
    assert per["B-A"] == pytest.approx(
        {
            "collections": 4,
            "tonnes": 3 * 70 * residual,
            "overflow_events": 0,
            "overflow_bin_hours": 0,
        }
    )
    assert per["B-B"] == pytest.approx(
        {
            "collections": 4,
            "tonnes": 3 * 100 * residual,
            "overflow_events": 4,
            "overflow_bin_hours": 192,
        }
    )
    totals = kpis.totals()
    for kpi in CONTAINER_KPIS:
        assert kpis.container_array(kpi).sum() == pytest.approx(totals[kpi])
    # Same commune, different bins: the commune's figure no longer hides which one overflows.
    assert kpis.by_commune()[GIGNAC]["overflow_events"] == 4
    assert list(kpis.container_array("overflow_events")) == [0.0, 4.0]
    assert kpis.containers == ("B-A", "B-B")


def test_daily_mean_fill_before_the_collection_hour_by_hand() -> None:
    # Levels read at 00:00 (the collection hour here), before emptying, capped at 100 L:
    # A reads 10 L a day more since Monday (70 L on Monday), B 20 L (100 L from Friday night).
    kpis = _two_bins_weekly()
    rows = kpis.by_day()
    week_a = [0.7, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]  # Monday (before emptying) … Sunday
    week_b = [1.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.0]
    expected_fill = [(a + b) / 2 for a, b in zip(week_a, week_b, strict=True)]
    expected_above = [0.5, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5]  # B at exactly 80 % is not above it
    assert rows[0]["mean_fill"] == 0.0 and rows[0]["share_above_80"] == 0.0  # the run starts empty
    for d in range(1, 28):
        assert rows[d]["mean_fill"] == pytest.approx(expected_fill[d % 7]), d
        assert rows[d]["share_above_80"] == expected_above[d % 7], d
    assert set(kpis.totals()) == set(_two_bins_weekly(7).totals())  # totals keep their keys
    assert "mean_fill" not in kpis.totals()


def test_the_typical_day_rule_by_hand() -> None:
    # Emptied per day 10, 0, 2, 6, 7: running means over working days 10, 6, 6, 6.25. Day 0 is
    # kept; day 2 is as far from 6 as day 0 (tie: the earlier stays); day 3 is on the mean;
    # day 4 (0.75 off) is farther than day 3 (0.25 off).
    ledger = Ledger([GIGNAC], [f"B-{k:02d}" for k in range(12)])
    start = date(2024, 1, 1)
    for d, count in enumerate([10, 0, 2, 6, 7]):
        label = (start + timedelta(days=d)).isoformat()
        ledger.note_emptied(label, np.arange(count)[::-1], np.full(count, 100.0 + d))
        ledger.close_day(label)
    typical = ledger.result().typical_day
    assert typical is not None
    assert typical.day == "2024-01-04"
    assert typical.codes == ("B-00", "B-01", "B-02", "B-03", "B-04", "B-05")  # in container order
    assert list(typical.litres) == [103.0] * 6
    assert (typical.working_days, typical.mean_emptied) == (4, 6.25)
    assert Ledger([GIGNAC]).result().typical_day is None  # nothing emptied, no typical day


@pytest.mark.slow
def test_per_container_and_typical_day_on_a_valley_with_real_tours() -> None:
    bins, models = _valley()
    kpis = simulate(
        bins,
        Threshold(0.75),
        ProjectedInflow(models),
        models,
        FleetRouter(solution_limit=30),
        start=MONDAY,
        days=28,
        seed=11,
    )
    totals, rows = kpis.totals(), kpis.by_day()
    assert kpis.containers == bins.codes
    for kpi in CONTAINER_KPIS:
        assert kpis.container_array(kpi).sum() == pytest.approx(totals[kpi])
    collected = {c for c, v in kpis.by_container().items() if v["collections"] > 0}
    assert collected and sum(kpis.container_array("collections") > 1) > 0  # some emptied twice
    # The typical day: its containers were emptied (that day, so at least once in the run), as
    # many as the day's collections; and the rule, replayed on the daily collections, picks it.
    typical = kpis.typical_day
    assert typical is not None and set(typical.codes) <= collected
    day = next(r for r in rows if r["day"] == typical.day)
    assert len(typical.codes) == day["collections"] > 0
    capacity = dict(zip(bins.codes, bins.capacity_l, strict=True))
    assert all(0 < v <= capacity[c] for c, v in zip(typical.codes, typical.litres, strict=True))
    kept, mean, n = None, 0.0, 0
    for row in rows:
        count = row["collections"]
        if count:
            n += 1
            mean += (count - mean) / n
            if kept is None or abs(count - mean) < abs(kept[1] - mean):
                kept = (row["day"], count)
    assert kept is not None and kept[0] == typical.day
    assert typical.mean_emptied == pytest.approx(mean)
    # Levels are shares of capacity; the fill measured each day stays in 0–1.
    assert all(0.0 <= r["mean_fill"] <= 1.0 and 0.0 <= r["share_above_80"] <= 1.0 for r in rows)
    # Memory: the per-container figures do not grow with the horizon.
    short = simulate(
        bins,
        Threshold(0.75),
        ProjectedInflow(models),
        models,
        FakeRouter(),
        start=MONDAY,
        days=7,
        seed=11,
    )
    shape = (len(CONTAINER_KPIS), len(bins))
    assert short.container_cells.shape == kpis.container_cells.shape == shape


def test_replay_keeps_the_recorded_figures_per_container() -> None:
    kpis = replay(iter(_recorded_log()))
    per = kpis.by_container()
    assert per["B-A"] == pytest.approx(
        {"collections": 2, "tonnes": 0.0515, "overflow_events": 1, "overflow_bin_hours": 0.0}
    )
    assert per["B-B"] == pytest.approx(
        {"collections": 1, "tonnes": 0.512, "overflow_events": 1, "overflow_bin_hours": 12.0}
    )
    # One container emptied on each of days 1, 2 and 3: a tie, the first such day is kept.
    assert kpis.typical_day is not None
    assert (kpis.typical_day.day, kpis.typical_day.codes) == ("2024-01-02", ("B-A",))
    assert all("mean_fill" not in row for row in kpis.by_day())  # the log does not read every bin
