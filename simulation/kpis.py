"""Waste-collection KPIs: totals, per stream, per commune and per day; Monte Carlo estimates.

The ledger holds fixed-size arrays per (stream, commune) plus one short row per simulated day,
so its memory does not depend on the number of events. A tour's km, hours, fuel, CO2 and cost
are shared among the communes of its stops in proportion to the number of stops (a documented
simplification: a tour's km are not split geometrically). Cost is the fleet's operating cost
plus the overflow penalties of ``simulation.parameters.waste``; the treatment cost of the tonnes
(the same whatever the policy) is reported apart as ``reference_cost_eur``.

Not responsible for computing tours or levels (``simulation.waste``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from simulation.montecarlo import Estimate, replicate
from simulation.parameters.waste import (
    COST_EUR_PER_TONNE,
    OVERFLOW_PENALTY_EUR,
    OVERFLOW_PENALTY_EUR_PER_HOUR,
    STREAMS,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

KPIS = (
    "truck_km",
    "driving_hours",
    "fuel_l",
    "co2_kg",
    "collections",
    "tonnes",
    "fill_at_emptying_sum",
    "overflow_events",
    "overflow_bin_hours",
    "operating_cost_eur",
    "unserved_stops",
)
_K = {name: k for k, name in enumerate(KPIS)}


@dataclass
class Ledger:
    """Accumulates the KPIs of one run."""

    communes: list[str]
    cells: np.ndarray = field(init=False)
    """Shape (KPIs, streams, communes)."""
    days: list[tuple[str, np.ndarray]] = field(default_factory=list)
    _today: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.communes = list(self.communes)
        self.cells = np.zeros((len(KPIS), len(STREAMS), len(self.communes)))
        self._today = np.zeros(len(KPIS))

    def commune_index(self, commune: str) -> int:
        """Index of a commune, adding it when first seen (replay meets communes as it goes)."""
        try:
            return self.communes.index(commune)
        except ValueError:
            self.communes.append(commune)
            self.cells = np.concatenate(
                [self.cells, np.zeros((len(KPIS), len(STREAMS), 1))], axis=2
            )
            return len(self.communes) - 1

    def add(
        self, kpi: str, stream_idx: np.ndarray, commune_idx: np.ndarray, values: np.ndarray | float
    ) -> None:
        """Add per-bin values of one KPI (arrays of the same length, or one value per bin)."""
        k = _K[kpi]
        np.add.at(self.cells[k], (stream_idx, commune_idx), values)
        self._today[k] += float(np.sum(np.broadcast_to(values, np.shape(stream_idx))))

    def add_tour(self, stream: int, commune_idx: np.ndarray, **totals: float) -> None:
        """Share a tour's totals (truck_km=…, driving_hours=…) among the communes of its stops."""
        if commune_idx.size == 0:
            shares, communes = np.ones(1), np.zeros(1, dtype=int)  # an empty tour: first commune
        else:
            communes, counts = np.unique(commune_idx, return_counts=True)
            shares = counts / counts.sum()
        for kpi, value in totals.items():
            self.cells[_K[kpi], stream, communes] += value * shares
            self._today[_K[kpi]] += value

    def close_day(self, label: str) -> None:
        """End a simulated day: keep its totals as a row."""
        self.days.append((label, self._today))
        self._today = np.zeros(len(KPIS))

    def result(self) -> WasteKpis:
        """The final KPIs."""
        return WasteKpis(tuple(self.communes), self.cells.copy(), list(self.days))


def _finish(
    raw: Mapping[str, float], tonnes_by_stream: Sequence[float] | None = None
) -> dict[str, float]:
    out = {name: float(raw[name]) for name in KPIS if name != "fill_at_emptying_sum"}
    collections = raw["collections"]
    out["mean_fill_at_emptying"] = (
        float(raw["fill_at_emptying_sum"] / collections) if collections else 0.0
    )
    penalty = raw["overflow_events"] * OVERFLOW_PENALTY_EUR.value + (
        raw["overflow_bin_hours"] * OVERFLOW_PENALTY_EUR_PER_HOUR.value
    )
    out["overflow_penalty_eur"] = float(penalty)
    out["cost_eur"] = float(raw["operating_cost_eur"] + penalty)
    if tonnes_by_stream is not None:
        out["reference_cost_eur"] = float(
            sum(
                t * COST_EUR_PER_TONNE[s].value
                for s, t in zip(STREAMS, tonnes_by_stream, strict=True)
            )
        )
    return out


@dataclass(frozen=True)
class WasteKpis:
    """The KPIs of one run, readable in total, per stream, per commune and per day."""

    communes: tuple[str, ...]
    cells: np.ndarray
    day_rows: list[tuple[str, np.ndarray]]

    def _raw(self, cells: np.ndarray) -> dict[str, float]:
        return {name: float(cells[k].sum()) for name, k in _K.items()}

    def totals(self) -> dict[str, float]:
        """Every KPI over the whole run (truck_km, …, cost_eur)."""
        tonnes = self.cells[_K["tonnes"]].sum(axis=1)
        return _finish(self._raw(self.cells), list(tonnes))

    def by_stream(self) -> dict[str, dict[str, float]]:
        """KPIs per waste stream."""
        out = {}
        for s, stream in enumerate(STREAMS):
            tonnes = [0.0] * len(STREAMS)
            tonnes[s] = float(self.cells[_K["tonnes"], s].sum())
            out[stream] = _finish(self._raw(self.cells[:, s, :]), tonnes)
        return out

    def by_commune(self) -> dict[str, dict[str, float]]:
        """KPIs per commune (INSEE code)."""
        out = {}
        for c, commune in enumerate(self.communes):
            tonnes = list(self.cells[_K["tonnes"], :, c])
            out[commune] = _finish(self._raw(self.cells[:, :, c]), tonnes)
        return out

    def by_day(self) -> list[dict[str, object]]:
        """KPIs per simulated day (``day`` is its ISO date)."""
        rows: list[dict[str, object]] = []
        for label, values in self.day_rows:
            row: dict[str, object] = {"day": label}
            row.update(_finish({name: values[k] for name, k in _K.items()}))
            rows.append(row)
        return rows


def monte_carlo(
    run: Callable[[int], WasteKpis], seed: int, replications: int
) -> dict[str, Estimate]:
    """Run ``run(seed)`` for each replication seed; every total KPI as mean and 95 % CI."""
    return replicate(lambda child: run(child).totals(), seed, replications)
