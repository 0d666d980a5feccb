"""Per-container inflow from catchments, and calendars planned to a service level (issue 13)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from domain.values import Position
from simulation.waste import Bins, ProjectedInflow, simulate
from simulation.waste.fitting import constant_models
from simulation.waste.inflow import TOURIST_SEASON_FACTOR, catchment_inflow
from simulation.waste.planning import FleetRouter
from simulation.waste.policies import Calendar, overflow_risk

MONDAY = date(2024, 1, 1)
CODES = [f"B-{i:03d}" for i in range(12)]
STREAMS = ["residual"] * 8 + ["glass"] * 4
COMMUNES = ["A"] * 4 + ["B"] * 4 + ["A"] * 3 + ["B"]
X, Y = np.arange(12) * 100.0, np.zeros(12)


def _catchments(seed: int, cv: float = 0.5, codes: list[str] = CODES):  # type: ignore[no-untyped-def]
    return catchment_inflow(
        codes,
        STREAMS[: len(codes)],
        COMMUNES[: len(codes)],
        X[: len(codes)],
        Y[: len(codes)],
        population={"A": 400.0, "B": 100.0},
        litres_per_inhabitant_day={"residual": 5.0, "glass": 0.5},
        seed=seed,
        cv=cv,
        sites=[(3_000.0, 0.0)],
    )


def test_each_container_its_own_inflow_seeded_and_reproducible() -> None:
    first, again, other = _catchments(7), _catchments(7), _catchments(8)
    assert np.array_equal(first.litres_per_day, again.litres_per_day)
    assert not np.array_equal(first.litres_per_day, other.litres_per_day)
    assert len(set(np.round(first.litres_per_day[:4], 6))) == 4  # no two alike in a commune
    # The commune's share is kept: 400 inhabitants over 4 residual bins, 5 L each a day.
    assert first.litres_per_day[:4].sum() == pytest.approx(400 * 5.0)
    assert first.litres_per_day[4:8].sum() == pytest.approx(100 * 5.0)
    assert first.litres_per_day[11] == pytest.approx(100 * 0.5)  # a lone column serves all B
    # A container keeps its draw whichever others are listed (seeded by its code).
    assert np.allclose(_catchments(7, codes=CODES[:4]).multiplier, first.multiplier[:4])
    flat = _catchments(7, cv=0.0)
    assert np.allclose(flat.litres_per_day[:4], 500.0)
    # Within 2 km of the site (x = 3,000 m): heavier in summer.
    assert flat.tourist.tolist() == [False] * 10 + [True] * 2
    assert tuple(flat.season[11]) == TOURIST_SEASON_FACTOR and tuple(flat.season[0]) == (1,) * 4


@pytest.mark.slow  # SciPy's special functions load in 0.2 s
def test_the_calendar_gives_slow_fillers_rare_rounds() -> None:
    capacity = np.array([660.0, 660.0, 660.0, 3_000.0, 3_000.0])
    rate = np.array([150.0, 60.0, 20.0, 90.0, 400.0])
    cal = Calendar.plan(
        ["residual"] * 3 + ["glass"] * 2,
        ["A"] * 5,
        capacity,
        rate,
        0.3,
        service_level=0.95,
    )
    assert cal.frequency == ("twice-weekly", "weekly", "four-weekly", "four-weekly", "twice-weekly")
    assert cal.short_of_target == 1  # 150 L a day: 600 L in 4 days, too close to 660 L
    assert overflow_risk(capacity[:1], rate[:1], np.array([0.3]), 4)[0] > 0.05
    assert cal.counts() == {"twice-weekly": 2, "weekly": 1, "four-weekly": 2}
    with pytest.raises(ValueError, match="frequencies"):
        Calendar.plan(["glass"], ["A"], capacity[:1], rate[:1], 0.3, frequencies=["daily"])


@pytest.mark.slow  # half a year of 300 bins, twice
@pytest.mark.parametrize("service_level", [0.8, 0.95])
def test_the_calendar_reaches_its_service_level_in_simulation(service_level: float) -> None:
    rng = np.random.default_rng(11)
    n = 300
    streams = ["residual"] * n
    capacity = np.full(n, 660.0)
    rate = rng.uniform(15.0, 140.0, n)
    bins = Bins.build(
        [f"B{i}" for i in range(n)], streams, ["A"] * n, capacity, rng.uniform(0, 3e3, n),
        rng.uniform(0, 3e3, n),
    )  # fmt: skip
    models = constant_models(bins.codes, streams, bins.communes, capacity, rate, cv=0.3)
    cal = Calendar.plan(
        streams, bins.communes, capacity, rate, 0.3, service_level=service_level,
        frequencies=["thrice-weekly", "twice-weekly", "weekly", "fortnightly", "four-weekly"],
    )  # fmt: skip
    assert cal.short_of_target == 0 and len(cal.counts()) >= 3
    totals = simulate(
        bins, cal, ProjectedInflow(models), models, FleetRouter(depot=Position(0.0, 0.0), tip=Position(5e3, 0.0), exact_up_to=0),
        start=MONDAY, days=168, seed=5,
    ).totals()  # fmt: skip
    # One overflow episode at most per round interval: events over collections is the share of
    # intervals that overflowed, which the plan keeps within 1 − service level.
    assert totals["unserved_stops"] == 0
    share = totals["overflow_events"] / totals["collections"]
    assert 0 < share <= 1 - service_level
