"""Replications: reproducible seeds and honest confidence intervals."""

from __future__ import annotations

import random

import pytest

from simulation.montecarlo import estimate, replicate, replication_seeds


def test_seeds_are_reproducible_distinct_and_prefix_stable() -> None:
    seeds = replication_seeds(42, 10)
    assert seeds == replication_seeds(42, 10) and len(set(seeds)) == 10
    assert replication_seeds(42, 4) == seeds[:4]  # more replications extend, never reshuffle
    assert replication_seeds(43, 4) != seeds[:4]


def test_interval_matches_students_t_by_hand() -> None:
    result = estimate([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, s = 1.29099, t(0.975, 3) = 3.18245 -> half-width 2.05426
    assert result.mean == 2.5 and result.replications == 4
    assert result.half_width == pytest.approx(2.05426, abs=1e-5)


@pytest.mark.slow
def test_the_interval_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = random.Random(7)
    intervals = [estimate([rng.gauss(10.0, 3.0) for _ in range(8)]) for _ in range(2_000)]
    covered = sum(interval.low <= 10.0 <= interval.high for interval in intervals)
    assert 0.93 <= covered / 2_000 <= 0.97


def test_replicate_estimates_every_kpi_and_refuses_ragged_results() -> None:
    kpis = replicate(lambda seed: {"a": seed % 7, "b": 1.0}, seed=1, replications=5)
    assert set(kpis) == {"a", "b"} and kpis["b"].low == kpis["b"].high == 1.0
    calls = iter([{"a": 1.0}, {"b": 2.0}])
    with pytest.raises(ValueError, match="replication 2"):
        replicate(lambda seed: next(calls), seed=1, replications=2)


def test_one_replication_has_no_interval() -> None:
    import math

    single = estimate([4.2])
    assert (
        single.mean == 4.2
        and math.isnan(single.low)
        and math.isnan(single.high)
        and single.replications == 1
    )
