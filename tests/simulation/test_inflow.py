"""Counterfactual inflow recovers a known inflow from measurements and emptyings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from domain.bins import Bin
from domain.values import Position
from simulation.parameters.waste import density_kg_per_l
from simulation.waste.history import read_history
from simulation.waste.inflow import derive_inflow

T0 = datetime(2024, 1, 1, tzinfo=UTC)
RATE = 60.0  # litres per day, known


def _synthetic_bin(noise_at: int | None = None) -> list[object]:
    """A 660 L bin filling at RATE, measured every 6 h, emptied every 3 days at 08:00 with its true mass."""
    b = Bin.install(
        code="B-1",
        stream="residual",
        capacity_l=660,
        position=Position(745_000.0, 6_284_000.0),
        commune_insee="34114",
        at=T0,
    )
    level = 0.0
    hour = 0
    for step in range(1, 14 * 24 + 1):
        hour = step
        level += RATE / 24.0
        if hour % 72 == 8:
            b.empty("R", level * density_kg_per_l("residual"), T0 + timedelta(hours=hour))
            level = 0.0
        if hour % 6 == 0:
            reading = level / 660 * 100
            if noise_at is not None and hour == noise_at:
                reading -= 5.0  # a settling drop without any emptying
            b.measure_fill_level(reading, T0 + timedelta(hours=hour))
    return b.collect_events()


def test_inflow_recovered_through_emptyings() -> None:
    inflow = derive_inflow(read_history(_synthetic_bin()), T0, 14)
    rates = inflow.litres_per_day[0]
    full_days = inflow.coverage[0] > 0.99
    assert full_days.sum() >= 13
    np.testing.assert_allclose(rates[full_days], RATE, rtol=1e-9)
    assert inflow.noise_drops[0] == 0 and inflow.censored[0] == 0


def test_a_drop_without_emptying_is_clamped_and_counted() -> None:
    inflow = derive_inflow(read_history(_synthetic_bin(noise_at=30)), T0, 14)
    assert inflow.noise_drops[0] == 1
    assert np.nanmin(inflow.litres_per_day[0]) >= 0
    # total over the fortnight gains the rebound after the clamped drop (33 L)
    assert abs(np.nansum(inflow.litres_per_day[0] * inflow.coverage[0]) - RATE * 14) < 40


def test_without_mass_the_stretch_before_an_emptying_is_unobserved() -> None:
    inflow = derive_inflow(read_history(_synthetic_bin()), T0, 14, use_mass=False)
    assert np.all(inflow.coverage[0] <= 1.0) and inflow.coverage[0].sum() < 14
    filled = inflow.filled()
    assert not np.isnan(filled).any()
