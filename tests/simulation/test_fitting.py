"""Fitted fill models: readable factors, spread, seeded sampling."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import numpy as np
import pytest

from simulation.waste.fitting import constant_models, fit_fill_models, fit_table
from simulation.waste.history import BinRecord, History
from simulation.waste.inflow import Inflow

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def _inflow(days: int = 364) -> tuple[Inflow, History]:
    ids = [uuid4(), uuid4()]
    rng = np.random.default_rng(1)
    weekday = np.array([1, 1, 1, 1, 1, 1.5, 1.5])
    dates = [T0.date() + timedelta(days=k) for k in range(days)]
    litres = np.vstack(
        [
            40.0 * weekday[[d.weekday() for d in dates]] * rng.gamma(100, 1 / 100, days),
            np.full(days, np.nan),  # never observed: takes its stream's pool
        ]
    )
    coverage = np.vstack([np.ones(days), np.zeros(days)])
    records = {
        i: BinRecord(i, f"B-{k}", "residual", 660, 0.0, 0.0, "34114", T0) for k, i in enumerate(ids)
    }
    return Inflow(
        T0, tuple(ids), ("B-0", "B-1"), litres, coverage, np.zeros(2, int), np.zeros(2, int)
    ), History(records, T0, T0, 0)


def test_weekday_factors_and_spread_are_recovered() -> None:
    models = fit_fill_models(*_inflow())
    m = models.model(0)
    weekday_mean = sum([1, 1, 1, 1, 1, 1.5, 1.5]) / 7
    assert abs(m.mean_l_per_day - 40 * weekday_mean) < 1.5
    assert abs(m.weekday_factor[5] / m.weekday_factor[0] - 1.5) < 0.1
    assert 0.05 <= m.cv < 0.2
    assert m.fitted_from == "own data" and models.model(1).fitted_from == "stream pool"
    assert models.model(1).mean_l_per_day == m.mean_l_per_day


def test_table_rows_are_readable() -> None:
    rows = fit_table(fit_fill_models(*_inflow()))
    assert (
        rows[0]["code"] == "B-0"
        and "x_sat" in rows[0]
        and "x_summer" in rows[0]
        and rows[0]["days_to_full"]
    )


@pytest.mark.slow
def test_sampling_is_reproducible_and_centred() -> None:
    models = constant_models(
        ["a", "b"], ["residual"] * 2, ["34114"] * 2, [660, 660], [50.0, 100.0], cv=0.3
    )

    def draw(seed):
        return np.array(
            [
                models.sample(date(2024, 1, 1), rng)
                for rng in [np.random.default_rng(seed)]
                for _ in range(2000)
            ]
        )  # noqa: E731

    a, b = draw(7), draw(7)
    assert np.array_equal(a, b)
    np.testing.assert_allclose(a.mean(axis=0), [50.0, 100.0], rtol=0.03)
    np.testing.assert_allclose(a.std(axis=0) / a.mean(axis=0), 0.3, rtol=0.1)
