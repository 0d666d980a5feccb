"""Projection models: each container's fill rate by weekday and season, with its spread.

The model is multiplicative and meant to be read by an analyst:
``litres on day d = mean × season factor[season(d)] × weekday factor[weekday(d)] × noise``,
with the noise a gamma variable of mean 1 and coefficient of variation ``cv``. Factors are
shrunk towards 1 when few days back them (``SHRINK_DAYS`` pseudo-days at 1), and a container
never observed takes the mean of its stream. Sampling takes an explicit generator.

Not responsible for deriving the inflow (``simulation.waste.inflow``) nor for deciding collections.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from simulation.waste.history import History
    from simulation.waste.inflow import Inflow

SEASONS = ("winter", "spring", "summer", "autumn")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SHRINK_DAYS = 2.0
MIN_CV = 0.05
MIN_COVERAGE = 0.5
_SEASON_OF_MONTH = np.array([0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 0])  # Dec–Feb winter, …


def season_of(day: date) -> int:
    """Index in ``SEASONS`` of a date (meteorological seasons)."""
    return int(_SEASON_OF_MONTH[day.month - 1])


@dataclass(frozen=True)
class FillModel:
    """One container's fitted fill rate, as an analyst reads it."""

    code: str
    stream: str
    commune_insee: str
    capacity_l: float
    mean_l_per_day: float
    weekday_factor: tuple[float, ...]
    season_factor: tuple[float, ...]
    cv: float
    days_observed: int
    fitted_from: str
    """"own data" or "stream pool" (the container was never observed)."""


@dataclass(frozen=True)
class FillModels:
    """The fitted models of many containers as arrays, in the order of ``codes``."""

    codes: tuple[str, ...]
    streams: tuple[str, ...]
    communes: tuple[str, ...]
    capacity_l: np.ndarray
    mean: np.ndarray
    weekday: np.ndarray
    """Shape (bins, 7)."""
    season: np.ndarray
    """Shape (bins, 4)."""
    cv: np.ndarray
    days_observed: np.ndarray
    fitted_from: tuple[str, ...]

    def expected(self, day: date) -> np.ndarray:
        """Expected litres thrown into each container on ``day``."""
        litres: np.ndarray = (
            self.mean * self.weekday[:, day.weekday()] * self.season[:, season_of(day)]
        )
        return litres

    def expected_days(self, first: date, count: int) -> np.ndarray:
        """Expected litres per container for ``count`` days from ``first``, shape (bins, count)."""
        days = [first + timedelta(days=k) for k in range(count)]
        wd = self.weekday[:, [d.weekday() for d in days]]
        se = self.season[:, [season_of(d) for d in days]]
        litres: np.ndarray = self.mean[:, None] * wd * se
        return litres

    def sample(self, day: date, rng: np.random.Generator) -> np.ndarray:
        """Draw the litres thrown into each container on ``day`` (gamma around the expectation)."""
        shape = 1.0 / np.square(self.cv)
        litres: np.ndarray = rng.gamma(shape, self.expected(day) / shape)
        return litres

    def model(self, index: int) -> FillModel:
        """The explainable model of one container."""
        return FillModel(
            self.codes[index],
            self.streams[index],
            self.communes[index],
            float(self.capacity_l[index]),
            float(self.mean[index]),
            tuple(float(v) for v in self.weekday[index]),
            tuple(float(v) for v in self.season[index]),
            float(self.cv[index]),
            int(self.days_observed[index]),
            self.fitted_from[index],
        )


def fit_fill_models(inflow: Inflow, history: History) -> FillModels:
    """Fit each container's rate by season then weekday, with its spread, from derived inflow."""
    records = {r.bin_id: r for r in history.bins.values()}
    rows = [records[b] for b in inflow.bin_ids]
    first = inflow.start.date()
    dates = [first + timedelta(days=k) for k in range(inflow.days)]
    weekday_idx = np.array([d.weekday() for d in dates])
    season_idx = np.array([season_of(d) for d in dates])
    n = len(rows)
    mean = np.full(n, np.nan)
    weekday = np.ones((n, 7))
    season = np.ones((n, 4))
    cv = np.full(n, np.nan)
    observed_days = np.zeros(n, dtype=int)
    for i in range(n):
        keep = inflow.coverage[i] >= MIN_COVERAGE
        rates = inflow.litres_per_day[i, keep]
        observed_days[i] = int(keep.sum())
        if observed_days[i] == 0:
            continue
        mean[i] = rates.mean()
        if mean[i] <= 0:
            cv[i] = MIN_CV
            continue
        season[i] = _factors(rates / mean[i], season_idx[keep], 4)
        deseason = rates / (mean[i] * season[i, season_idx[keep]])
        weekday[i] = _factors(deseason, weekday_idx[keep], 7)
        fitted = mean[i] * season[i, season_idx[keep]] * weekday[i, weekday_idx[keep]]
        ratio = rates / np.where(fitted > 0, fitted, 1.0)
        cv[i] = max(MIN_CV, float(ratio.std(ddof=1)) if len(ratio) > 1 else MIN_CV)
    source = ["own data"] * n
    streams = tuple(r.stream for r in rows)
    for k in np.flatnonzero(np.isnan(mean)):
        pool = [j for j in range(n) if streams[j] == streams[k] and not np.isnan(mean[j])]
        mean[k] = float(np.mean(mean[pool])) if pool else 0.0
        cv[k] = float(np.mean(cv[pool])) if pool else MIN_CV
        source[k] = "stream pool"
    return FillModels(
        tuple(r.code for r in rows),
        streams,
        tuple(r.commune_insee for r in rows),
        np.array([float(r.capacity_l) for r in rows]),
        mean,
        weekday,
        season,
        cv,
        observed_days,
        tuple(source),
    )


def _factors(values: np.ndarray, groups: np.ndarray, size: int) -> np.ndarray:
    """Per-group mean of ``values`` (≈1 overall), shrunk towards 1, renormalised to mean 1."""
    sums = np.bincount(groups, weights=values, minlength=size)
    counts = np.bincount(groups, minlength=size).astype(float)
    factors = (sums + SHRINK_DAYS) / (counts + SHRINK_DAYS)
    seen = counts > 0
    return factors / factors[seen].mean() if seen.any() else factors


def constant_models(
    codes: Sequence[str],
    streams: Sequence[str],
    communes: Sequence[str],
    capacity_l: Sequence[float] | np.ndarray,
    mean_l_per_day: Sequence[float] | np.ndarray,
    cv: float | Sequence[float] = MIN_CV,
    season: np.ndarray | None = None,
) -> FillModels:
    """Models with given means, flat weekday factors and flat (or given) season factors.

    For synthetic valleys and tests; ``season`` (shape (bins, 4), winter first) gives each
    container its own season factors (``simulation.waste.inflow.catchment_inflow``'s tourist
    containers).
    """
    n = len(codes)
    return FillModels(
        tuple(codes),
        tuple(streams),
        tuple(communes),
        np.asarray(capacity_l, dtype=float),
        np.asarray(mean_l_per_day, dtype=float),
        np.ones((n, 7)),
        np.ones((n, 4)) if season is None else np.asarray(season, dtype=float).reshape(n, 4),
        np.broadcast_to(np.asarray(cv, dtype=float), (n,)).copy(),
        np.zeros(n, dtype=int),
        ("given",) * n,
    )


def fit_table(models: FillModels) -> list[dict[str, object]]:
    """One readable row per container: mean, factors by weekday and season, spread, provenance."""
    rows: list[dict[str, object]] = []
    for i in range(len(models.codes)):
        m = models.model(i)
        row: dict[str, object] = {
            "code": m.code,
            "stream": m.stream,
            "commune": m.commune_insee,
            "capacity_l": m.capacity_l,
            "mean_l_per_day": round(m.mean_l_per_day, 2),
            "days_to_full": round(m.capacity_l / m.mean_l_per_day, 1)
            if m.mean_l_per_day > 0
            else None,
        }
        row.update(
            {f"x_{name}": round(v, 3) for name, v in zip(WEEKDAYS, m.weekday_factor, strict=True)}
        )
        row.update(
            {f"x_{name}": round(v, 3) for name, v in zip(SEASONS, m.season_factor, strict=True)}
        )
        row.update(
            {"cv": round(m.cv, 3), "days_observed": m.days_observed, "fitted_from": m.fitted_from}
        )
        rows.append(row)
    return rows
