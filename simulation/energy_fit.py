"""The energy load of a site fitted on its meter readings: kWh a day against the night's length.

For a lighting cabinet, a day's energy is about ``lit_kw × night hours + base_kwh`` (the lamps
burn from sunset to sunrise; the base is what burns whatever the night: controllers, a
building's daytime load). The fit is ordinary least squares over the days the meters cover,
and it reports its parameters and how well they explain the days, so an analyst sees what a
projection is built on. Schedules change ``lit_kw`` over time: fit the days of one schedule.
Not responsible for reading the meters (:func:`simulation.energy.recorded_energy`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

import numpy as np

from simulation.energy import RecordedEnergy, night_hours

_MIN_DAYS = 7


@dataclass(frozen=True)
class LoadModel:
    """kWh of a day ≈ ``lit_kw`` × night hours + ``base_kwh``, residuals of spread ``sigma_kwh``."""

    site: str
    lit_kw: float
    base_kwh: float
    sigma_kwh: float
    r_squared: float
    days: int

    def expected_kwh(self, day: date) -> float:
        """The expected energy of the night that begins on ``day``."""
        return self.lit_kw * night_hours(day) + self.base_kwh

    def sample_kwh(self, days: Sequence[date], rng: np.random.Generator) -> np.ndarray:
        """Energy of each day, with the fitted noise (never below zero)."""
        expected = np.array([self.expected_kwh(day) for day in days])
        return np.maximum(0.0, expected + rng.normal(0.0, self.sigma_kwh, len(days)))

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain values, for a report."""
        return {
            "site": self.site,
            "lit_kw": round(self.lit_kw, 3),
            "base_kwh": round(self.base_kwh, 3),
            "sigma_kwh": round(self.sigma_kwh, 3),
            "r_squared": round(self.r_squared, 4),
            "days": self.days,
        }


def fit_load(site: str, daily_kwh: Mapping[date, float]) -> LoadModel:
    """Least squares of a site's daily kWh on the night length of each day."""
    if len(daily_kwh) < _MIN_DAYS:
        raise ValueError(
            f"site {site}: {len(daily_kwh)} metered days, at least {_MIN_DAYS} needed for a fit"
        )
    days = sorted(daily_kwh)
    hours = np.array([night_hours(day) for day in days])
    kwh = np.array([daily_kwh[day] for day in days])
    design = np.column_stack((hours, np.ones_like(hours)))
    (lit_kw, base_kwh), *_ = np.linalg.lstsq(design, kwh, rcond=None)
    residuals = kwh - design @ np.array([lit_kw, base_kwh])
    total = float(((kwh - kwh.mean()) ** 2).sum())
    r_squared = 1.0 - float((residuals**2).sum()) / total if total > 0 else 1.0
    sigma = float(residuals.std(ddof=2)) if len(days) > 2 else 0.0
    return LoadModel(site, float(lit_kw), float(base_kwh), sigma, r_squared, len(days))


def fit_loads(recorded: RecordedEnergy) -> dict[UUID, LoadModel]:
    """A load model per site with enough metered days; the others are left out."""
    models = {}
    for site, daily in recorded.daily_kwh.items():
        if len(daily) >= _MIN_DAYS:
            code = recorded.sites.get(site, (str(site), ""))[0]
            models[site] = fit_load(code, daily)
    return models
