"""Monte Carlo replications: independent seeds from one, and every KPI as a mean with its 95 % CI.

The replication seeds are spawned from the scenario's seed with NumPy's ``SeedSequence``, so
a run is identified by (scenario, seed, replications) and gives the same numbers anywhere.
Not responsible for what a replication computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """A KPI over replications: mean, 95 % confidence interval (Student's t), spread, count."""

    mean: float
    low: float
    high: float
    std: float
    replications: int

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval."""
        return (self.high - self.low) / 2

    def as_dict(self) -> dict[str, float]:
        """Plain values."""
        return {
            "mean": self.mean,
            "low": self.low,
            "high": self.high,
            "std": self.std,
            "n": self.replications,
        }


def replication_seeds(seed: int, replications: int) -> list[int]:
    """Independent, reproducible seeds for each replication of a run seeded with ``seed``."""
    if replications < 1:
        raise ValueError(f"replications must be at least 1, not {replications}")
    children = np.random.SeedSequence(seed).spawn(replications)
    return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in children]


def estimate(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean and confidence interval of independent replications.

    One replication has no interval: its bounds and spread are NaN, never a zero-width interval
    that would read as certainty.
    """
    if not values:
        raise ValueError("no values to estimate from")
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if len(data) == 1:
        return Estimate(mean, math.nan, math.nan, math.nan, 1)
    from scipy import stats  # a quarter of a second to import: loaded where used

    std = float(data.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, len(data) - 1)) * std / math.sqrt(len(data))
    return Estimate(mean, mean - half, mean + half, std, len(data))


def replicate(
    run: Callable[[int], Mapping[str, float]], seed: int, replications: int
) -> dict[str, Estimate]:
    """Run ``run(replication_seed)`` for each replication; estimate every KPI it returns."""
    results = [run(child) for child in replication_seeds(seed, replications)]
    names = list(results[0])
    for number, result in enumerate(results[1:], start=2):
        if list(result) != names:
            raise ValueError(
                f"replication {number} returned KPIs {sorted(result)}, the first {sorted(names)}"
            )
    return {name: estimate([result[name] for result in results]) for name in names}
