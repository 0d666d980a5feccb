"""Fitting a site's load on its meter readings recovers the load that produced them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from domain import Site
from simulation.energy import night_hours, recorded_energy
from simulation.energy_fit import fit_load, fit_loads

START = datetime(2024, 1, 1, 6, tzinfo=UTC)


def metered_cabinet(
    lit_kw: float, base_kwh: float, days: int, noise_kwh: float = 0.0
) -> list[object]:
    rng = np.random.default_rng(5)
    site = Site.register(
        code="EP-34114-001",
        name="Armoire 1",
        site_kind="lighting_cabinet",
        geometry_wkt="POINT (745900 6284300)",
        commune_insee="34114",
        at=START - timedelta(days=1),
        light_points=40,
    )
    index = 1_000.0
    site.meter_energy(index, START)
    for day in range(1, days + 1):
        night = (START + timedelta(days=day - 1)).date()  # the night between two 06:00 readings
        index += lit_kw * night_hours(night) + base_kwh + rng.normal(0.0, noise_kwh)
        site.meter_energy(round(index, 6), START + timedelta(days=day))
    return list(site.collect_events())


def test_the_fit_recovers_the_lit_power_and_the_base_load() -> None:
    models = fit_loads(recorded_energy(metered_cabinet(lit_kw=5.6, base_kwh=12.0, days=120)))
    (model,) = models.values()
    assert model.site == "EP-34114-001" and model.days == 120
    assert model.lit_kw == pytest.approx(5.6, rel=1e-6) and model.base_kwh == pytest.approx(
        12.0, rel=1e-5
    )
    assert model.r_squared == pytest.approx(1.0) and model.sigma_kwh == pytest.approx(0.0, abs=1e-6)


def test_noise_is_reported_and_sampling_is_reproducible() -> None:
    (model,) = fit_loads(
        recorded_energy(metered_cabinet(5.6, 12.0, days=200, noise_kwh=3.0))
    ).values()
    assert model.lit_kw == pytest.approx(5.6, rel=0.05) and model.sigma_kwh == pytest.approx(
        3.0, rel=0.15
    )
    days = [date(2025, 1, 1) + timedelta(days=n) for n in range(30)]
    first = model.sample_kwh(days, np.random.default_rng(9))
    assert (first == model.sample_kwh(days, np.random.default_rng(9))).all()
    assert abs(first.mean() - np.mean([model.expected_kwh(d) for d in days])) < 2.0


def test_too_few_days_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="site EP-1: 3 metered days"):
        fit_load("EP-1", {date(2024, 1, d): 50.0 for d in range(1, 4)})
