"""The engine's seam to routing: one stream's stops of one day in, served mask and totals out.

``FleetRouter`` hands the day to ``simulation.routing.plan_tours`` (OR-Tools) with one fleet per
stream, from the depot to the tip, and prices it with ``tour_costs``. Days with more stops than
``exact_up_to`` go to ``sweep_tours`` instead, a cheap estimate written here: stops sorted by
angle around the depot, cut into truckloads by mass and body volume, each load driven in
nearest-neighbour order from the depot (or the tip) to the tip, loads packed into shifts. It is
longer than an optimised tour (by roughly 10–25 %) but costs milliseconds; a run says how many
days each path took (``exact_days``/``sweep_days``) and the wall time spent (``seconds``).

Not responsible for choosing the bins (policies) nor for levels and overflows (the engine).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from simulation.parameters import fleet as fp
from simulation.routing import Stop, plan_tours

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import date

    from domain import Position

WHEELED_BIN_MAX_L = 1_700  # EN 840: four-wheeled bins up to 1,300–1,700 L; above, a column


@dataclass(frozen=True)
class Routed:
    """What one stream's day of collection drove and whom it served."""

    served: np.ndarray
    km: float
    hours: float
    fuel_l: float
    co2_kg: float
    cost_eur: float


class Router(Protocol):
    """Routes one stream's stops for one day."""

    def route(
        self,
        stream: str,
        day: date,
        x: np.ndarray,
        y: np.ndarray,
        volume_l: np.ndarray,
        mass_kg: np.ndarray,
        capacity_l: np.ndarray,
    ) -> Routed:
        """Tours for these stops."""
        ...


def default_fleets(trucks: Mapping[str, int] | None = None) -> dict[str, fp.Fleet]:
    """One fleet per stream (glass by crane truck without compaction); truck counts assumed."""
    counts = {
        "residual": 4,
        "packaging": 2,
        "glass": 1,
        "paper": 1,
        "biowaste": 2,
        **(trucks or {}),
    }
    return {
        stream: fp.Fleet(trucks=n, truck=fp.CRANE_TRUCK if stream == "glass" else fp.REFUSE_TRUCK)
        for stream, n in counts.items()
    }


@dataclass
class FleetRouter:
    """Routes with OR-Tools up to ``exact_up_to`` stops a day, with the sweep estimate above."""

    fleets: Mapping[str, fp.Fleet] = field(default_factory=default_fleets)
    depot: Position = fp.DEPOT.position
    tip: Position = fp.TIP.position
    circuity: float = fp.ROAD_CIRCUITY
    exact_up_to: int = 400
    solution_limit: int | None = None
    seconds: float = 0.0
    exact_days: int = 0
    sweep_days: int = 0

    def route(
        self,
        stream: str,
        day: date,
        x: np.ndarray,
        y: np.ndarray,
        volume_l: np.ndarray,
        mass_kg: np.ndarray,
        capacity_l: np.ndarray,
    ) -> Routed:
        """Tours for these stops (see the module docstring for which path)."""
        fleet = self.fleets[stream]
        service = np.where(
            capacity_l > WHEELED_BIN_MAX_L, fp.SERVICE_MIN_COLUMN, fp.SERVICE_MIN_WHEELED_BIN
        )
        started = time.perf_counter()
        try:
            if len(x) > self.exact_up_to:
                self.sweep_days += 1
                served, km, shift_h = sweep_tours(
                    x, y, volume_l, mass_kg, service, fleet, self.depot, self.tip, self.circuity
                )
            else:
                self.exact_days += 1
                stops = [
                    Stop(
                        str(i),
                        float(x[i]),
                        float(y[i]),
                        float(volume_l[i]),
                        float(mass_kg[i]),
                        float(service[i]),
                    )
                    for i in range(len(x))
                ]
                plan = plan_tours(
                    stops,
                    fleet,
                    self.depot,
                    self.tip,
                    circuity=self.circuity,
                    solution_limit=self.solution_limit,
                )
                served = np.ones(len(x), dtype=bool)
                served[[int(s) for s in plan.unserved]] = False
                km, shift_h = plan.km, sum(t.hours for t in plan.tours)
        finally:
            self.seconds += time.perf_counter() - started
        return _priced(served, km, shift_h, fleet)


def _priced(served: np.ndarray, km: float, shift_h: float, fleet: fp.Fleet) -> Routed:
    """The same prices as ``routing.tour_costs``: crew per shift hour, truck per km, diesel."""
    fuel = km * fleet.truck.fuel_l_per_100km / 100.0
    cost = (
        shift_h * fleet.crew_eur_per_h + km * fleet.truck_eur_per_km + fuel * fleet.diesel_eur_per_l
    )
    return Routed(served, km, km / fleet.speed_kmh, fuel, fuel * fleet.co2_kg_per_l, cost)


def sweep_tours(
    x: np.ndarray,
    y: np.ndarray,
    volume_l: np.ndarray,
    mass_kg: np.ndarray,
    service_min: np.ndarray,
    fleet: fp.Fleet,
    depot: Position,
    tip: Position,
    circuity: float,
) -> tuple[np.ndarray, float, float]:
    """Cheap tours: (served mask, road km, shift hours) — angular sweep, loads, nearest neighbour."""
    truck = fleet.truck
    body = np.array([truck.body_litres(v, m) for v, m in zip(volume_l, mass_kg, strict=True)])
    order = np.argsort(np.arctan2(y - depot.y, x - depot.x), kind="stable")
    loads: list[list[int]] = [[]]
    mass_sum = body_sum = 0.0
    for i in order:
        if loads[-1] and (
            mass_sum + mass_kg[i] > truck.payload_kg
            or body_sum + body[i] > truck.body_volume_m3 * 1000
        ):
            loads.append([])
            mass_sum = body_sum = 0.0
        loads[-1].append(int(i))
        mass_sum += float(mass_kg[i])
        body_sum += float(body[i])
    speed = fleet.speed_kmh * 1000.0 / circuity  # straight-line metres per hour
    back_m = math.dist((tip.x, tip.y), (depot.x, depot.y))
    back_h = back_m / speed
    tip_h = fleet.tip_service_min / 60.0
    served = np.zeros(len(x), dtype=bool)
    km = shift_h = 0.0
    trucks_used, loads_on_truck, truck_h = 0, 0, 0.0

    def leg(load: list[int], origin: Position) -> tuple[float, float]:
        metres = _nearest_neighbour_metres(x[load], y[load], origin, tip)
        return metres, metres / speed + float(service_min[load].sum()) / 60.0 + tip_h

    for load in loads:
        if trucks_used and 0 < loads_on_truck < fleet.max_loads_per_shift:
            metres, hours = leg(load, tip)
            if truck_h + hours + back_h <= fleet.shift_h:
                served[load] = True
                km, truck_h, loads_on_truck = km + metres, truck_h + hours, loads_on_truck + 1
                continue
        if loads_on_truck:  # the current truck drives back and ends its shift
            km, shift_h = km + back_m, shift_h + truck_h + back_h
            loads_on_truck, truck_h = 0, 0.0
        if trucks_used >= fleet.trucks:
            break
        trucks_used += 1
        metres, hours = leg(load, depot)
        if hours + back_h > fleet.shift_h:
            trucks_used -= 1  # a load no shift can take stays unserved; the truck stays free
            continue
        served[load] = True
        km, truck_h, loads_on_truck = km + metres, hours, 1
    if loads_on_truck:
        km, shift_h = km + back_m, shift_h + truck_h + back_h
    return served, km * circuity / 1000.0, shift_h


def _nearest_neighbour_metres(
    x: np.ndarray, y: np.ndarray, origin: Position, tip: Position
) -> float:
    """Straight-line metres from ``origin`` through every point (nearest first) to ``tip``."""
    left = np.ones(len(x), dtype=bool)
    cx, cy, metres = origin.x, origin.y, 0.0
    for _ in range(len(x)):
        d = np.where(left, np.hypot(x - cx, y - cy), np.inf)
        j = int(np.argmin(d))
        metres += float(d[j])
        left[j] = False
        cx, cy = float(x[j]), float(y[j])
    return metres + math.hypot(tip.x - cx, tip.y - cy)
