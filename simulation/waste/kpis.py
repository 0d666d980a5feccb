"""Waste-collection KPIs: totals, per stream, commune, container and day; Monte Carlo estimates.

The ledger holds fixed-size arrays per (stream, commune) and per container plus one short row
per simulated day, so its memory does not depend on the number of events. A tour's km, hours,
fuel, CO2 and cost are shared among the communes of its stops in proportion to the number of
stops (a documented simplification: a tour's km are not split geometrically) and are not
split among containers. Cost is the fleet's operating cost plus the overflow penalties of
``simulation.parameters.waste``; the treatment cost of the tonnes collected (€ per tonne of
each stream) is reported apart as ``reference_cost_eur``: it follows the tonnes collected,
which differ between policies by what is still in the bins when the run ends and by what
overflowed beside them, so it is not a saving of one policy over another.

**Trips.** ``trips`` counts the trucks that left the depot (a stream's truck, once a day at
most: its tip visits belong to the same trip), as the router reports them (``Routed.tours``);
``km_per_trip`` is ``truck_km / trips`` and ``stops_per_trip`` ``collections / trips`` (0
without trips), so ``truck_km`` is the sum of the trips' km.

Per container (``WasteKpis.by_container``): collections, tonnes, overflow events and
overflow bin-hours over the run, one array each in the order of the run's containers.

Per day, besides the KPIs: when the engine measures levels (``Ledger.measure_levels``; the
simulation does, just before the collection hour), ``mean_fill`` (mean share of capacity over
the containers, 0–1) and ``share_above_80`` (share of the containers more than 80 % full).

**Typical day.** The ledger keeps the containers emptied on one representative day, so that a
report can draw that day's tours without keeping every day's list: a *working day* is a day on
which at least one container was emptied; the kept day is replaced by a working day whose
number of emptied containers is strictly closer to the running mean over the working days so
far (the earlier day wins a tie). Memory: one day's containers at most. It is a streaming
rule: the running mean settles within the first weeks, so the kept day is close to, but not
always the closest to, the mean of the whole run.

Not responsible for computing tours or levels (``simulation.waste.engine``).
"""

from __future__ import annotations

import math
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
    "trips",
)
_K = {name: k for k, name in enumerate(KPIS)}

#: The KPIs also kept per container (tours are shared by communes, not by containers).
CONTAINER_KPIS = ("collections", "tonnes", "overflow_events", "overflow_bin_hours")
_C = {name: k for k, name in enumerate(CONTAINER_KPIS)}

#: ``share_above_80`` counts the containers whose level is more than this share of capacity.
FULL_SHARE = 0.8


@dataclass(frozen=True)
class TypicalDay:
    """The containers emptied on the run's typical day (see the module docstring for the rule)."""

    day: str
    """Its ISO date."""
    codes: tuple[str, ...]
    """The containers emptied that day, in the run's container order."""
    litres: np.ndarray
    """Loose litres in each of them when emptied (aligned with ``codes``)."""
    working_days: int
    """Days of the run on which at least one container was emptied."""
    mean_emptied: float
    """Containers emptied per working day, on average over the run."""


@dataclass
class Ledger:
    """Accumulates the KPIs of one run."""

    communes: list[str]
    containers: list[str] = field(default_factory=list)
    """Container codes, in the order of the per-container arrays (more may be added)."""
    cells: np.ndarray = field(init=False)
    """Shape (KPIs, streams, communes)."""
    days: list[tuple[str, np.ndarray]] = field(default_factory=list)
    levels: list[tuple[float, float]] = field(default_factory=list)
    """Per closed day: (mean fill, share above 80 %), NaN when levels were not measured."""
    _today: np.ndarray = field(init=False)
    _per_container: np.ndarray = field(init=False)
    _container_row: dict[str, int] = field(init=False)
    _today_levels: tuple[float, float] = field(init=False)
    _working_days: int = field(init=False, default=0)
    _mean_emptied: float = field(init=False, default=0.0)
    _typical: tuple[str, np.ndarray, np.ndarray] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.communes = list(self.communes)
        self.containers = list(self.containers)
        # A code met twice (a bin removed then put back) keeps one row per position here;
        # ``by_container`` adds them up, ``container_index`` finds the last.
        self._container_row = {code: i for i, code in enumerate(self.containers)}
        self.cells = np.zeros((len(KPIS), len(STREAMS), len(self.communes)))
        self._per_container = np.zeros((len(CONTAINER_KPIS), max(len(self.containers), 16)))
        self._today = np.zeros(len(KPIS))
        self._today_levels = (math.nan, math.nan)

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

    def container_index(self, code: str) -> int:
        """Index of a container, adding it when first seen (replay meets bins as installed)."""
        row = self._container_row.get(code)
        if row is not None:
            return row
        row = len(self.containers)
        if row == self._per_container.shape[1]:  # doubling: replay installs bins one by one
            self._per_container = np.concatenate(
                [self._per_container, np.zeros_like(self._per_container)], axis=1
            )
        self.containers.append(code)
        self._container_row[code] = row
        return row

    def add(
        self,
        kpi: str,
        stream_idx: np.ndarray,
        commune_idx: np.ndarray,
        values: np.ndarray | float,
        containers: np.ndarray | None = None,
    ) -> None:
        """Add per-bin values of one KPI (arrays of the same length, or one value per bin).

        ``containers`` (indices from ``container_index`` or the construction order) also
        credits each container, for the KPIs of ``CONTAINER_KPIS``.
        """
        count = np.shape(stream_idx)[0]
        if count == 0:
            return  # adds nothing (a day's total only ever gains +0.0, which leaves it as is)
        k = _K[kpi]
        np.add.at(self.cells[k], (stream_idx, commune_idx), values)
        # np.sum's pairwise sum, by np.add.reduce without its wrappers (a scalar as its copies)
        spread = np.full(count, values) if np.ndim(values) == 0 else values
        self._today[k] += float(np.add.reduce(spread))
        if containers is not None and kpi in _C:
            np.add.at(self._per_container[_C[kpi]], containers, values)

    def add_tour(self, stream: int, commune_idx: np.ndarray, **totals: float) -> None:
        """Share a tour's totals (truck_km=…, driving_hours=…) among the communes of its stops."""
        if commune_idx.size == 0:
            shares, communes = np.ones(1), np.zeros(1, dtype=int)  # an empty tour: first commune
        else:
            # np.unique's communes and counts, by counting (the same integers, without a sort)
            counts = np.bincount(commune_idx)
            communes = np.flatnonzero(counts)
            counts = counts[communes]
            shares = counts / counts.sum()
        # every KPI at once: the same products, each cell and day total added to once
        rows = np.array([_K[kpi] for kpi in totals])
        values = np.array(list(totals.values()), dtype=float)
        self.cells[rows[:, None], stream, communes] += np.multiply.outer(values, shares)
        self._today[rows] += values

    def measure_levels(self, fill_share: np.ndarray) -> None:
        """Today's levels, as shares of capacity per container (once a day, at a fixed moment)."""
        if fill_share.size:
            self._today_levels = (
                float(fill_share.mean()),
                float(np.count_nonzero(fill_share > FULL_SHARE) / fill_share.size),
            )

    def note_emptied(self, label: str, containers: np.ndarray, litres: np.ndarray) -> None:
        """The containers emptied on day ``label`` and their litres: a candidate typical day."""
        count = int(containers.size)
        if count == 0:
            return
        self._working_days += 1
        self._mean_emptied += (count - self._mean_emptied) / self._working_days
        if self._typical is None or abs(count - self._mean_emptied) < abs(
            self._typical[1].size - self._mean_emptied
        ):
            self._typical = (label, np.array(containers, dtype=int), np.array(litres, dtype=float))

    def close_day(self, label: str) -> None:
        """End a simulated day: keep its totals (and levels, if measured) as a row."""
        self.days.append((label, self._today))
        self.levels.append(self._today_levels)
        self._today = np.zeros(len(KPIS))
        self._today_levels = (math.nan, math.nan)

    def result(self) -> WasteKpis:
        """The final KPIs."""
        typical = None
        if self._typical is not None:
            label, rows, litres = self._typical
            order = np.argsort(rows, kind="stable")
            typical = TypicalDay(
                label,
                tuple(self.containers[r] for r in rows[order]),
                litres[order],
                self._working_days,
                self._mean_emptied,
            )
        return WasteKpis(
            tuple(self.communes),
            self.cells.copy(),
            list(self.days),
            tuple(self.containers),
            self._per_container[:, : len(self.containers)].copy(),
            list(self.levels),
            typical,
        )


def _finish(
    raw: Mapping[str, float], tonnes_by_stream: Sequence[float] | None = None
) -> dict[str, float]:
    out = {name: float(raw[name]) for name in KPIS if name != "fill_at_emptying_sum"}
    collections = raw["collections"]
    out["mean_fill_at_emptying"] = (
        float(raw["fill_at_emptying_sum"] / collections) if collections else 0.0
    )
    trips = raw["trips"]
    out["km_per_trip"] = float(raw["truck_km"] / trips) if trips else 0.0
    out["stops_per_trip"] = float(collections / trips) if trips else 0.0
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
    """The KPIs of one run, readable in total, per stream, commune, container and day."""

    communes: tuple[str, ...]
    cells: np.ndarray
    day_rows: list[tuple[str, np.ndarray]]
    containers: tuple[str, ...] = ()
    """Container codes, in the order of ``container_cells`` (a simulation's ``Bins`` order)."""
    container_cells: np.ndarray = field(default_factory=lambda: np.zeros((len(CONTAINER_KPIS), 0)))
    """Shape (``CONTAINER_KPIS``, containers)."""
    day_levels: list[tuple[float, float]] = field(default_factory=list)
    """Per day row: (mean fill, share above 80 %), NaN when not measured."""
    typical_day: TypicalDay | None = None
    """The containers emptied on a typical working day (None if nothing was emptied)."""

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

    def container_array(self, kpi: str) -> np.ndarray:
        """One of ``CONTAINER_KPIS`` per container, aligned with ``containers`` (a copy)."""
        if kpi not in _C:
            raise KeyError(f"{kpi!r} is not kept per container; these are: {CONTAINER_KPIS}")
        values: np.ndarray = self.container_cells[_C[kpi]].copy()
        return values

    def by_container(self) -> dict[str, dict[str, float]]:
        """Per container code: collections, tonnes, overflow_events and overflow_bin_hours."""
        out: dict[str, dict[str, float]] = {}
        for i, code in enumerate(self.containers):
            row = out.setdefault(code, dict.fromkeys(CONTAINER_KPIS, 0.0))
            for name, k in _C.items():
                row[name] += float(self.container_cells[k, i])
        return out

    def by_day(self) -> list[dict[str, object]]:
        """KPIs per simulated day (``day`` is its ISO date).

        Where levels were measured, each row also has ``mean_fill`` and ``share_above_80``
        (shares in 0–1; see the module docstring).
        """
        rows: list[dict[str, object]] = []
        levels = self.day_levels or [(math.nan, math.nan)] * len(self.day_rows)
        for (label, values), (fill, above) in zip(self.day_rows, levels, strict=True):
            row: dict[str, object] = {"day": label}
            row.update(_finish({name: values[k] for name, k in _K.items()}))
            if not math.isnan(fill):
                row["mean_fill"] = fill
                row["share_above_80"] = above
            rows.append(row)
        return rows


def monte_carlo(
    run: Callable[[int], WasteKpis], seed: int, replications: int
) -> dict[str, Estimate]:
    """Run ``run(seed)`` for each replication seed; every total KPI as mean and 95 % CI."""
    return replicate(lambda child: run(child).totals(), seed, replications)
