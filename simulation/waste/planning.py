"""The engine's seam to routing: one stream's stops of one day in, served mask and totals out.

``FleetRouter`` hands the day to ``simulation.routing.plan_tours`` (OR-Tools) with one fleet per
stream, from the depot to the tip, and prices it with ``tour_costs``. Days with more stops than
``exact_up_to`` go to ``nearest_neighbour_tours`` instead, a cheap heuristic written here: each
truck drives to the nearest stop left, to the tip when full, home when its shift would not
allow one more stop. Nearest-neighbour tours are typically some 20–25 % longer than optimised
ones (a classic result for random Euclidean instances), but cost milliseconds; a run says how
many days each path took (``exact_days``/``heuristic_days``) and the wall time spent
(``seconds``).

Not responsible for choosing the bins (policies) nor for levels and overflows (the engine).
"""

from __future__ import annotations

import hashlib
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


def service_minutes(capacity_l: np.ndarray) -> np.ndarray:
    """Minutes at each stop: a crane column above ``WHEELED_BIN_MAX_L``, else a wheeled bin."""
    column = np.asarray(capacity_l) > WHEELED_BIN_MAX_L
    return np.where(column, fp.SERVICE_MIN_COLUMN, fp.SERVICE_MIN_WHEELED_BIN)


@dataclass(frozen=True)
class Routed:
    """What one stream's day of collection drove and whom it served."""

    served: np.ndarray
    km: float
    hours: float
    fuel_l: float
    co2_kg: float
    cost_eur: float
    tours: int = 0
    """Trips: trucks that left the depot that day (0 from a router that does not count them)."""


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
        prize_km: np.ndarray | None = None,
    ) -> Routed:
        """Tours for these stops; a stop with a finite ``prize_km`` is optional (see FleetRouter).

        The engine passes ``prize_km`` only on days with optional stops, so a router that never
        meets a selecting policy may leave the argument out.
        """
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
    """Routes with OR-Tools up to ``exact_up_to`` stops a day, with the nearest-neighbour heuristic above."""

    fleets: Mapping[str, fp.Fleet] = field(default_factory=default_fleets)
    depot: Position = fp.DEPOT.position
    tip: Position = fp.TIP.position
    circuity: float = fp.ROAD_CIRCUITY
    exact_up_to: int = 400
    solution_limit: int | None = None
    large_days: str = "estimate"  # or "nearest-neighbour": explicit tours, ~10x slower
    seconds: float = 0.0
    exact_days: int = 0
    heuristic_days: int = 0

    def __post_init__(self) -> None:
        if self.large_days not in LARGE_DAY_METHODS:
            raise ValueError(
                f"large_days must be one of {sorted(LARGE_DAY_METHODS)}, not {self.large_days!r}"
            )

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
        """Tours for these stops (see the module docstring for which path).

        ``prize_km``: NaN for a mandatory stop, else the km of detour an optional stop is worth.
        On the OR-Tools path it is the stop's ``drop_penalty_km``, so the solver takes it only
        when its detour costs less; on the large-day path an optional stop is taken when its
        insertion detour between its two nearest mandatory stops (``insertion_detour_km``) is
        below its prize, and dropped again if the fleet then could not take every mandatory
        stop. ``Routed.served`` is False for an optional stop left out.
        """
        fleet = self.fleets[stream]
        service = service_minutes(capacity_l)
        prize = np.full(len(x), np.nan) if prize_km is None else np.asarray(prize_km, dtype=float)
        optional = np.isfinite(prize)
        started = time.perf_counter()
        try:
            if len(x) > self.exact_up_to:
                self.heuristic_days += 1
                method = LARGE_DAY_METHODS[self.large_days]
                taken = ~optional
                if optional.any():
                    asked = np.flatnonzero(optional)  # a mandatory stop's detour is never read
                    detour = insertion_detour_km(x, y, ~optional, self.circuity, at=asked)
                    taken[asked] = detour < prize[asked]
                sub = np.flatnonzero(taken)
                part, km, shift_h = method(
                    x[sub], y[sub], volume_l[sub], mass_kg[sub], service[sub], fleet,
                    self.depot, self.tip, self.circuity,
                )  # fmt: skip
                if optional[sub].any() and not part[~optional[sub]].all():
                    sub = np.flatnonzero(~optional)  # the optional stops took mandatory room
                    part, km, shift_h = method(
                        x[sub], y[sub], volume_l[sub], mass_kg[sub], service[sub], fleet,
                        self.depot, self.tip, self.circuity,
                    )  # fmt: skip
                served = np.zeros(len(x), dtype=bool)
                served[sub[part]] = True
                tours = _trucks_out(volume_l[served], mass_kg[served], fleet)
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
                        float(prize[i]) if optional[i] else None,
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
                tours = len(plan.tours)
        finally:
            self.seconds += time.perf_counter() - started
        return _priced(served, km, shift_h, fleet, tours)


def insertion_detour_km(
    x: np.ndarray,
    y: np.ndarray,
    mandatory: np.ndarray,
    circuity: float,
    at: np.ndarray | None = None,
) -> np.ndarray:
    """Road km each stop adds when inserted between its two nearest mandatory stops.

    ``d(a, p) + d(p, b) − d(a, b)`` with ``a`` and ``b`` the two mandatory stops nearest to
    ``p`` (there and back to the one when only one is mandatory; infinite with none), times
    ``circuity``: a cheap stand-in for cheapest insertion into tours not yet drawn. ``at``:
    the indices of the stops asked about (all when not given), in the order of the answer;
    each stop's detour is the same whichever others are asked about with it.
    """
    anchors = np.flatnonzero(mandatory)
    if anchors.size == 0:
        return np.full(len(x) if at is None else len(at), np.inf)
    from scipy.spatial import cKDTree  # loaded where used: importing stays cheap

    points = np.column_stack((x, y))
    k = min(2, anchors.size)
    asked = points if at is None else points[at]
    dist, near = cKDTree(points[anchors]).query(asked, k=k)
    if k == 1:
        return 2.0 * circuity * np.asarray(dist, dtype=float) / 1000.0
    a, b = points[anchors[near[:, 0]]], points[anchors[near[:, 1]]]
    between = np.hypot(*(a - b).T)
    detour: np.ndarray = circuity * (dist[:, 0] + dist[:, 1] - between) / 1000.0
    return detour


def _trucks_out(volume_l: np.ndarray, mass_kg: np.ndarray, fleet: fp.Fleet) -> int:
    """Trucks a large day sends out: its loads (payload or body, whichever binds), at most the
    fleet — what ``estimated_tours`` assumes; for ``nearest_neighbour_tours`` a lower bound."""
    if volume_l.size == 0:
        return 0
    truck = fleet.truck
    body = in_order_sum(body_litres(truck, volume_l, mass_kg))
    loads = math.ceil(
        max(float(mass_kg.sum()) / truck.payload_kg, body / (truck.body_volume_m3 * 1000))
    )
    return min(fleet.trucks, max(1, loads))


def body_litres(truck: fp.Truck, volume_l: np.ndarray, mass_kg: np.ndarray) -> np.ndarray:
    """``Truck.body_litres`` of each stop, all at once (the same arithmetic, stop by stop)."""
    volume = np.asarray(volume_l, dtype=float)
    if truck.compaction_density_kg_m3 is None:
        return volume
    body: np.ndarray = np.minimum(
        volume, 1000.0 * np.asarray(mass_kg, dtype=float) / truck.compaction_density_kg_m3
    )
    return body


def in_order_sum(values: np.ndarray) -> float:
    """The sum of ``values`` added one after the other, first to last (as ``sum()`` adds them).

    NumPy's ``sum`` adds pairwise, which may differ in the last bit; the estimates below were
    written with ``sum()``, and their results (a count of loads, a comparison with the shift)
    are kept bit for bit.
    """
    return float(np.add.accumulate(values)[-1]) if len(values) else 0.0


def _priced(
    served: np.ndarray, km: float, shift_h: float, fleet: fp.Fleet, tours: int = 0
) -> Routed:
    """The same prices as ``routing.tour_costs``: crew per shift hour, truck per km, diesel."""
    fuel = km * fleet.truck.fuel_l_per_100km / 100.0
    cost = (
        shift_h * fleet.crew_eur_per_h + km * fleet.truck_eur_per_km + fuel * fleet.diesel_eur_per_l
    )
    return Routed(served, km, km / fleet.speed_kmh, fuel, fuel * fleet.co2_kg_per_l, cost, tours)


def nearest_neighbour_tours(
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
    """Cheap tours: (served mask, road km, shift hours) — nearest neighbour under capacity and shift.

    Each truck leaves the depot and keeps driving to the nearest stop not yet served; when the
    next stop would overfill the body or the payload it goes to the tip and carries on from
    there (up to ``max_loads_per_shift`` loads), and it stops taking stops when the next one
    would leave no time to reach the tip and drive home within the shift. The stops left when
    every truck is done are unserved.
    """
    truck = fleet.truck
    body = body_litres(truck, volume_l, mass_kg)
    metres_per_h = fleet.speed_kmh * 1000.0 / circuity  # straight-line metres per hour
    tip_h = fleet.tip_service_min / 60.0
    tip_home_h = math.dist((tip.x, tip.y), (depot.x, depot.y)) / metres_per_h
    served = np.zeros(len(x), dtype=bool)
    left = np.ones(len(x), dtype=bool)
    metres_total = shift_total = 0.0
    for _ in range(fleet.trucks):
        if not left.any():
            break
        cx, cy, hours, metres = depot.x, depot.y, 0.0, 0.0
        loads, load_kg, load_l = 1, 0.0, 0.0
        while left.any():
            distances = np.where(left, np.hypot(x - cx, y - cy), np.inf)
            j = int(np.argmin(distances))
            full = (
                load_kg + mass_kg[j] > truck.payload_kg
                or load_l + body[j] > truck.body_volume_m3 * 1000
            )
            if full:
                if loads >= fleet.max_loads_per_shift:
                    break
                to_tip = math.hypot(tip.x - cx, tip.y - cy)
                hours, metres = hours + to_tip / metres_per_h + tip_h, metres + to_tip
                cx, cy, loads, load_kg, load_l = tip.x, tip.y, loads + 1, 0.0, 0.0
                continue
            to_stop = float(np.hypot(x[j] - cx, y[j] - cy))
            then_tip = math.hypot(tip.x - x[j], tip.y - y[j])
            needed = (
                (to_stop + then_tip) / metres_per_h
                + float(service_min[j]) / 60.0
                + tip_h
                + tip_home_h
            )
            if hours + needed > fleet.shift_h:
                break
            hours += to_stop / metres_per_h + float(service_min[j]) / 60.0
            metres += to_stop
            cx, cy = float(x[j]), float(y[j])
            load_kg, load_l = load_kg + float(mass_kg[j]), load_l + float(body[j])
            served[j], left[j] = True, False
        if hours == 0.0:
            break  # not even one stop fits a whole shift: no other truck would do better
        to_tip = math.hypot(tip.x - cx, tip.y - cy)
        metres += to_tip + math.dist((tip.x, tip.y), (depot.x, depot.y))
        hours += to_tip / metres_per_h + tip_h + tip_home_h
        metres_total, shift_total = metres_total + metres, shift_total + hours
    return served, metres_total * circuity / 1000.0, shift_total


# The shortest tour through n points spread at random over an area A is about k·sqrt(n·A),
# k ≈ 0.7124 (Beardwood, Halton & Hammersley 1959; value of Applegate et al. 2006). Loads of
# many stops each, as here, add their line hauls to it (Daganzo, "The distance traveled to
# visit N points with a maximum of C stops per vehicle", Transportation Science 18(4), 1984).
TOUR_CONSTANT = 0.7124


def estimated_tours(
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
    """Continuous approximation: (served mask, road km, shift hours) without drawing the tours.

    The local part of the day's tours is the Beardwood–Halton–Hammersley length 0.7124·sqrt(n·A)
    over the convex hull of the stops; each load adds its line haul (from the depot or the tip out to the stops, and back to
    the tip), the last one the drive home. When that needs more truck-hours or loads than the
    fleet has, the fullest containers are served first and the rest stay unserved. Used for the
    long runs that compare policies; ``plan_tours`` draws real tours.
    """
    n = len(x)
    served = np.zeros(n, dtype=bool)
    if n == 0:
        return served, 0.0, 0.0
    truck = fleet.truck
    body = body_litres(truck, volume_l, mass_kg)
    metres_per_h = fleet.speed_kmh * 1000.0 / circuity
    order = np.argsort(-volume_l, kind="stable")  # fullest first when not all can be served
    cum_kg, cum_l, cum_service = (
        np.cumsum(mass_kg[order]),
        np.cumsum(body[order]),
        np.cumsum(service_min[order]),
    )
    out_m = float(np.mean(np.hypot(x - depot.x, y - depot.y)))
    to_tip_m = float(np.mean(np.hypot(x - tip.x, y - tip.y)))
    home_m = math.dist((tip.x, tip.y), (depot.x, depot.y))
    area = _hull_area(x, y)

    def needs(count: int) -> tuple[float, float, int]:
        loads = max(
            1,
            math.ceil(
                max(
                    cum_kg[count - 1] / truck.payload_kg,
                    cum_l[count - 1] / (truck.body_volume_m3 * 1000),
                )
            ),
        )
        trucks = min(fleet.trucks, loads)
        metres = (
            TOUR_CONSTANT * math.sqrt(count * area)
            + trucks * out_m
            + (loads - trucks) * to_tip_m  # out to the stops: from home, then from the tip
            + loads * to_tip_m
            + trucks * home_m  # each load to the tip; each truck home
        )
        hours = (
            metres / metres_per_h
            + cum_service[count - 1] / 60.0
            + loads * fleet.tip_service_min / 60.0
        )
        return metres, hours, loads

    count = n
    metres, hours, loads = needs(count)
    while count > 0 and (
        hours > fleet.trucks * fleet.shift_h or loads > fleet.trucks * fleet.max_loads_per_shift
    ):
        count = int(
            count
            * min(
                fleet.trucks * fleet.shift_h / hours,
                fleet.trucks * fleet.max_loads_per_shift / loads,
                0.99,
            )
        )
        if count:
            metres, hours, loads = needs(count)
    if count == 0:
        return served, 0.0, 0.0
    served[order[:count]] = True
    return served, metres * circuity / 1000.0, hours


def estimated_shift_hours(
    x: np.ndarray,
    y: np.ndarray,
    volume_l: np.ndarray,
    mass_kg: np.ndarray,
    service_min: np.ndarray,
    fleet: fp.Fleet,
    depot: Position,
    tip: Position,
    circuity: float,
) -> float:
    """Truck-hours to serve every one of these stops, by the continuous approximation.

    The same figures as ``estimated_tours`` for all the stops (local tour 0.7124·sqrt(n·A), each
    load's line haul, service and unloads), without capping them at the fleet: what a day's
    work would ask of the fleet (the integrated policy's look-ahead compares it with the fleet's
    shift hours). 0 with no stop.
    """
    n = len(x)
    if n == 0:
        return 0.0
    loads = shift_loads(fleet.truck, mass_kg, body_litres(fleet.truck, volume_l, mass_kg))
    return shift_hours(
        n,
        _hull_area(x, y),
        loads,
        float(np.mean(np.hypot(x - depot.x, y - depot.y))),
        float(np.mean(np.hypot(x - tip.x, y - tip.y))),
        float(np.sum(service_min)),
        fleet,
        depot,
        tip,
        circuity,
    )


def shift_loads(truck: fp.Truck, mass_kg: np.ndarray, body_l: np.ndarray) -> int:
    """Loads these stops make (payload or body, whichever binds; at least one)."""
    # np.sum, without its wrapper; the body's litres in order, as sum() added them
    return loads_of(truck, float(np.add.reduce(mass_kg)), in_order_sum(body_l))


def loads_of(truck: fp.Truck, mass_kg: float, body_l: float) -> int:
    """``shift_loads`` from the stops' total mass and body litres (non-decreasing in both,
    rounding included)."""
    return max(
        1, math.ceil(max(mass_kg / truck.payload_kg, body_l / (truck.body_volume_m3 * 1000)))
    )


def shift_hours(
    n: int,
    area_m2: float,
    loads: int,
    out_m: float,
    to_tip_m: float,
    service_min: float,
    fleet: fp.Fleet,
    depot: Position,
    tip: Position,
    circuity: float,
) -> float:
    """``estimated_shift_hours`` from its parts: ``n`` stops over a hull of ``area_m2``, their
    ``loads``, mean straight-line metres from the depot (``out_m``) and to the tip, and the
    minutes of service they take in all.

    Non-decreasing in ``area_m2`` (every step of it is, rounding included): the integrated
    policy's look-ahead bounds the hull's area before it pays for computing it.
    """
    trucks = min(max(fleet.trucks, 1), loads)
    metres = (
        TOUR_CONSTANT * math.sqrt(n * area_m2)
        + trucks * out_m
        + (2 * loads - trucks) * to_tip_m
        + trucks * math.dist((tip.x, tip.y), (depot.x, depot.y))
    )
    return (
        metres / (fleet.speed_kmh * 1000.0 / circuity)
        + service_min / 60.0
        + loads * fleet.tip_service_min / 60.0
    )


HULL_FLOOR_M2 = 250_000.0
"""The least area a day's stops are given (half a km²: a hamlet's streets)."""


def _hull_area(x: np.ndarray, y: np.ndarray) -> float:
    """Square metres of the convex hull of the points (a small floor for a line or a point)."""
    return hull(x, y)[0]


def hull(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray | None]:
    """``_hull_area`` and the hull's vertices (indices into the points, counter-clockwise).

    No vertices for fewer than three points or points on a line (the area is then the floor).
    """
    from scipy.spatial import ConvexHull, QhullError  # loaded where used: importing stays cheap

    if len(x) < 3:
        return HULL_FLOOR_M2, None
    points = np.column_stack((x, y))
    key = hashlib.blake2b(points.tobytes(), digest_size=16).digest()
    known = _HULLS.get(key)
    if known is not None:
        return known
    try:
        found = ConvexHull(points)
    except QhullError:
        return HULL_FLOOR_M2, None
    vertices = np.asarray(found.vertices)
    vertices.setflags(write=False)  # shared by every caller that asks about these points
    answer = (max(HULL_FLOOR_M2, float(found.volume)), vertices)  # a 2-D hull's volume is its area
    if len(_HULLS) >= _HULLS_KEPT:
        _HULLS.clear()
    _HULLS[key] = answer
    return answer


def hull_candidates(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points that may be vertices of their convex hull (all, in order, but
    those well inside): the Akl–Toussaint filter, for all the points at once.

    The points extreme in eight directions (x, y, x + y and x − y, each way) are hull
    vertices; a point inside the polygon they make by more than a rounding's width (1e-9 of
    the points' extent) is inside the hull and is left out, so the hull of the points kept is
    the hull of them all. With fewer than three distinct extremes (a point, a line) none is
    left out.
    """
    n = len(x)
    if n < 9:
        return np.arange(n)
    cx, cy = x - x[0], y - y[0]  # near the points: the cross products below lose no digits
    s, d = cx + cy, cx - cy
    # counter-clockwise: +x, +(x+y), +y, +(y−x), −x, −(x+y), −y, +(x−y)
    picks = [
        cx.argmax(), s.argmax(), cy.argmax(), d.argmin(),
        cx.argmin(), s.argmin(), cy.argmin(), d.argmax(),
    ]  # fmt: skip
    corners = [int(k) for i, k in enumerate(picks) if k != picks[i - 1]]
    if len(set(corners)) < 3:
        return np.arange(n)
    px, py = cx[corners], cy[corners]
    after = corners[1:] + corners[:1]
    ex, ey = cx[after] - px, cy[after] - py
    extent = max(float(cx[picks[0]] - cx[picks[4]]), float(cy[picks[2]] - cy[picks[6]]))
    tolerance = 1e-9 * extent * np.hypot(ex, ey) + (ex * py - ey * px)
    # strictly left of every edge, by more than the tolerance: inside
    cross = np.multiply.outer(ex, cy) - np.multiply.outer(ey, cx)
    inside = (cross > tolerance[:, None]).all(axis=0)
    return np.flatnonzero(~inside)


_HULLS: dict[bytes, tuple[float, np.ndarray]] = {}
"""Hulls computed lately, by a digest of their points (coordinates in order): a fixed round
asks about the same stops every week, and Qhull gives the same answer to the same points."""
_HULLS_KEPT = 64


LARGE_DAY_METHODS = {"estimate": estimated_tours, "nearest-neighbour": nearest_neighbour_tours}
