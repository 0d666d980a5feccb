"""Groningen's underground containers: select-then-route against integrated selection and routing.

**Source.** N. A. Wouda, M. Aerts-Veenstra, N. van Foreest, *An integrated selection and routing
policy for urban waste collection*, arXiv:2409.13386 (2024), and its authors' case page
(routinglab.tech/cases/groningen-waste-collection). What was taken from them (``PUBLISHED``):
a city of about 240,000 residents; 850 clusters holding 1,120 underground containers; one
depot; four collection vehicles on daily shifts. Baseline: each morning, the 250 clusters
expected to fill up soonest are selected, then routed: service level 99.9 %, clusters 48.9 %
full on average when emptied, 251.2 km a day, 6.8 h per route. Integrated selection and
routing (ISR: prizes for urgency, a prize-collecting routing problem): 146 km a day (−41 %),
3.8 h per route (−44 %), the same 99.9 % service level, and a quarter fewer vehicles.

**Assumed** (not in what could be read of the source), each a named constant below: the
city as a square of ``SIDE_KM`` with the clusters spread uniformly and the depot, where trucks
also unload, ``DEPOT_OFFSET_KM`` from its centre; 5 m³ containers (270 clusters of two, 580
of one, which makes 1,120); collection on working days; each cluster's mean deposit rate
proportional to its capacity times a lognormal factor (σ ``RATE_SIGMA``), the day's deposits
gamma with cv ``DAILY_CV``; the engine's 18 t compacting truck and stop, tip and cost figures
(``simulation.parameters.fleet``) with an urban ``SPEED_KMH`` and an ``SHIFT_H`` shift.
The figures are **set on the baseline alone**: the total deposits, so that 250 clusters a
working day come out about 48.9 % full (a volume balance), and ``SIDE_KM``, ``SPEED_KMH`` and
``SERVICE_MIN``, so that the baseline's routes come near the published km and hours. The
integrated policy's figures are then predictions, not fits.

Both policies see the same levels (the paper's policies estimate them from deposit counts;
here both know them exactly), the same deposits (same seed) and the same fleet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np

from domain.values import Position
from simulation.parameters import fleet as fp
from simulation.routing import Stop, plan_tours
from simulation.waste import Bins, Integrated, ProjectedInflow, Routed, simulate
from simulation.waste.fitting import constant_models

if TYPE_CHECKING:
    from simulation.waste import DayView, Policy

__all__ = [
    "PUBLISHED",
    "Comparison",
    "RecordingRouter",
    "SoonestFull",
    "city",
    "compare",
]

PUBLISHED: dict[str, dict[str, float]] = {
    "baseline": {
        "km_per_day": 251.2,
        "hours_per_route": 6.8,
        "service_level": 0.999,
        "fill_at_emptying": 0.489,
        "clusters_per_day": 250.0,
        "vehicles": 4.0,
    },
    "integrated": {
        "km_per_day": 146.0,
        "hours_per_route": 3.8,
        "service_level": 0.999,
        "vehicles": 3.0,
    },
}
"""The published figures (source in the module docstring); ISR's vehicles: "25 % fewer"."""

CLUSTERS = 850
DOUBLE_CLUSTERS = 270  # clusters of two containers: 850 + 270 = 1,120 containers [source]
SELECTED_PER_DAY = 250  # the baseline's daily selection [source]
TRUCKS = 4  # [source]
FILL_AT_EMPTYING = 0.489  # the baseline's, used to calibrate the deposits [source]

CONTAINER_L = 5_000.0  # assumed: the usual Dutch underground residual container, 5 m³
SIDE_KM = 10.0  # assumed: Groningen's built-up area, about 100 km² (baseline: 224 km a day)
DEPOT_OFFSET_KM = 2.0  # assumed: the depot (and unloading point) 2 km east of the centre
RATE_SIGMA = 0.5  # assumed: spread of the clusters' mean deposit rates (lognormal σ)
DAILY_CV = 0.5  # assumed: day-to-day variation of a cluster's deposits (gamma cv)
SPEED_KMH = 30.0  # assumed: a truck's mean speed in town
SHIFT_H = 8.0  # assumed: a Dutch working day; the source's routes take up to 6.8 h
SERVICE_MIN = 4.0  # assumed: minutes to lift and empty one cluster by crane
WORKING_DAYS_PER_WEEK = 5  # assumed: collection Monday to Friday

STREAM = "residual"
START = date(2024, 1, 1)  # a Monday


#: Assumed: a three-axle crane truck with a compacting body, as Dutch cities use for
#: underground containers: 22 m³ compacted to 450 kg/m³, 10 t payload (the engine's 18 t
#: rural truck, 15 m³ at 350 kg/m³, could not carry the baseline's 80 t a day in 4 × 3 loads).
TRUCK = fp.Truck(body_volume_m3=22.0, payload_kg=10_000.0, compaction_density_kg_m3=450.0)


def fleet() -> fp.Fleet:
    """Four crane trucks, urban speed, an 8 h shift (tip time and costs: engine defaults)."""
    return fp.Fleet(trucks=TRUCKS, truck=TRUCK, speed_kmh=SPEED_KMH, shift_h=SHIFT_H)


@dataclass(frozen=True)
class City:
    """The rebuilt setting: clusters, their deposit models, the depot."""

    bins: Bins
    mean_l_per_day: np.ndarray
    depot: Position
    initial_levels_l: np.ndarray


def city(seed: int = 2024) -> City:
    """850 clusters in a ``SIDE_KM`` square, deposits calibrated on the baseline's 48.9 %."""
    rng = np.random.default_rng(seed)
    side_m = SIDE_KM * 1000.0
    x, y = rng.uniform(0.0, side_m, CLUSTERS), rng.uniform(0.0, side_m, CLUSTERS)
    containers = np.ones(CLUSTERS)
    containers[rng.choice(CLUSTERS, DOUBLE_CLUSTERS, replace=False)] = 2
    capacity = containers * CONTAINER_L
    factor = rng.lognormal(0.0, RATE_SIGMA, CLUSTERS)
    # Volume balance: SELECTED_PER_DAY clusters on each working day, FILL_AT_EMPTYING full on
    # average, carry away a week's deposits.
    weekly_l = WORKING_DAYS_PER_WEEK * SELECTED_PER_DAY * FILL_AT_EMPTYING * capacity.mean()
    rate = capacity * factor
    rate *= weekly_l / 7.0 / rate.sum()
    codes = [f"G{i:03d}" for i in range(CLUSTERS)]
    bins = Bins.build(codes, [STREAM] * CLUSTERS, ["groningen"] * CLUSTERS, capacity, x, y)
    depot = Position(side_m / 2 + DEPOT_OFFSET_KM * 1000.0, side_m / 2)
    # Start part-way through the cycle (levels spread as under the baseline) to shorten warm-up.
    initial = capacity * rng.uniform(0.0, FILL_AT_EMPTYING, CLUSTERS)
    return City(bins, rate, depot, initial)


@dataclass(frozen=True)
class SoonestFull:
    """The source's baseline: on working days, the ``k`` clusters expected to fill up soonest.

    Expected days to full: the room left over the mean daily deposits of the forecast.
    """

    k: int = SELECTED_PER_DAY
    horizon: int = 8
    round_days: frozenset[int] = frozenset(range(WORKING_DAYS_PER_WEEK))

    def choose(self, view: DayView) -> np.ndarray:
        """The ``k`` clusters with the fewest expected days left before they are full."""
        chosen = np.zeros(len(view.stream), dtype=bool)
        if view.day.weekday() not in self.round_days:
            return chosen
        rate = np.maximum(view.forecast_l.mean(axis=1), 1e-9)
        days_left = (view.capacity_l - view.levels_l) / rate
        chosen[np.argsort(days_left, kind="stable")[: self.k]] = True
        return chosen


@dataclass
class RecordingRouter:
    """Routes each day with ``simulation.routing.plan_tours`` and keeps what the plan drove.

    The engine's ``FleetRouter`` reports a day's km and driving hours; the source compares
    hours per route and vehicles, so this router keeps, per day, the routes (trucks out), their
    km and their shift hours (depot to depot, service and unloads included).
    """

    fleet: fp.Fleet
    depot: Position
    circuity: float = fp.ROAD_CIRCUITY
    days: dict[date, tuple[int, float, float]] = field(default_factory=dict)
    """Per day: routes, km, shift hours."""

    def route(
        self,
        stream: str,
        day: date,
        x: np.ndarray,
        y: np.ndarray,
        volume_l: np.ndarray,
        mass_kg: np.ndarray,
        capacity_l: np.ndarray,
        prize_km: np.ndarray | None = None,
    ) -> Routed:
        """Plan the day (a finite ``prize_km`` makes a stop optional) and record its routes."""
        prize = np.full(len(x), np.nan) if prize_km is None else np.asarray(prize_km, dtype=float)
        stops = [
            Stop(
                str(i),
                float(x[i]),
                float(y[i]),
                float(volume_l[i]),
                float(mass_kg[i]),
                SERVICE_MIN,
                float(prize[i]) if np.isfinite(prize[i]) else None,
            )
            for i in range(len(x))
        ]
        plan = plan_tours(stops, self.fleet, self.depot, self.depot, circuity=self.circuity)
        served = np.ones(len(x), dtype=bool)
        served[[int(s) for s in plan.unserved]] = False
        km, hours = plan.km, sum(t.hours for t in plan.tours)
        routes, old_km, old_h = self.days.get(day, (0, 0.0, 0.0))
        self.days[day] = (routes + len(plan.tours), old_km + km, old_h + hours)
        fuel = km * self.fleet.truck.fuel_l_per_100km / 100.0
        cost = (
            hours * self.fleet.crew_eur_per_h
            + km * self.fleet.truck_eur_per_km
            + fuel * self.fleet.diesel_eur_per_l
        )
        return Routed(
            served, km, km / self.fleet.speed_kmh, fuel, fuel * self.fleet.co2_kg_per_l, cost
        )


@dataclass(frozen=True)
class Comparison:
    """One policy's figures over the measured working days, in the source's terms."""

    km_per_day: float
    hours_per_route: float
    service_level: float
    """Share of cluster-hours not overflowing."""
    overflow_events: int
    fill_at_emptying: float
    clusters_per_day: float
    vehicles: float
    """Most routes (trucks out) on any measured day."""
    mean_routes: float
    unserved_stops: int

    def change(self, other: Comparison, name: str) -> float:
        """Relative change of figure ``name`` from ``other`` to this one."""
        base = float(getattr(other, name))
        return float(getattr(self, name)) / base - 1.0


def run(
    policy: Policy, setting: City, *, weeks: int = 2, warmup_weeks: int = 1, seed: int = 7
) -> Comparison:
    """Simulate ``warmup_weeks + weeks`` from ``START`` and measure the last ``weeks``."""
    bins = setting.bins
    models = constant_models(
        bins.codes, bins.streams, bins.communes, bins.capacity_l, setting.mean_l_per_day, DAILY_CV
    )
    router = RecordingRouter(fleet(), setting.depot)
    days = 7 * (warmup_weeks + weeks)
    kpis = simulate(
        bins,
        policy,
        ProjectedInflow(models),
        models,
        router,
        start=START,
        days=days,
        seed=seed,
        initial_levels_l=setting.initial_levels_l,
    )
    first = START + timedelta(days=7 * warmup_weeks)
    rows = [r for r in kpis.by_day() if date.fromisoformat(str(r["day"])) >= first]
    measured = {d: v for d, v in router.days.items() if d >= first}
    working = [d for d in measured if d.weekday() < WORKING_DAYS_PER_WEEK]
    routes = sum(measured[d][0] for d in working)
    km = sum(measured[d][1] for d in working)
    hours = sum(measured[d][2] for d in working)
    collections = _total(rows, "collections")
    fill = _total(rows, "collections", "mean_fill_at_emptying")
    overflow_h = _total(rows, "overflow_bin_hours")
    working_days = WORKING_DAYS_PER_WEEK * weeks
    return Comparison(
        km_per_day=km / working_days,
        hours_per_route=hours / routes if routes else 0.0,
        service_level=1.0 - overflow_h / (24.0 * len(bins) * 7 * weeks),
        overflow_events=int(_total(rows, "overflow_events")),
        fill_at_emptying=fill / collections if collections else 0.0,
        clusters_per_day=collections / working_days,
        vehicles=float(max((measured[d][0] for d in working), default=0)),
        mean_routes=routes / working_days,
        unserved_stops=int(_total(rows, "unserved_stops")),
    )


def _total(rows: list[dict[str, object]], key: str, times: str | None = None) -> float:
    """Sum of a by-day figure (times another one of the same row, when given)."""
    total = 0.0
    for row in rows:
        value = float(str(row[key]))
        total += value * float(str(row[times])) if times is not None else value
    return total


def integrated(setting: City) -> Integrated:
    """The engine's integrated policy, its prizes priced with this city's fleet and depot."""
    return Integrated(fleets={STREAM: fleet()}, depot=setting.depot, tip=setting.depot)


def compare(
    *, weeks: int = 2, warmup_weeks: int = 1, seed: int = 7, city_seed: int = 2024
) -> dict[str, Comparison]:
    """The baseline and the integrated policy on the same city, deposits and fleet."""
    setting = city(city_seed)
    return {
        "baseline": run(SoonestFull(), setting, weeks=weeks, warmup_weeks=warmup_weeks, seed=seed),
        "integrated": run(
            integrated(setting), setting, weeks=weeks, warmup_weeks=warmup_weeks, seed=seed
        ),
    }
