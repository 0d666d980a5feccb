"""Daily collection tours: which truck empties which bins, in which order, and what it costs.

A day's work is a list of :class:`Stop` (a bin or column to empty, where it is, what it
holds, how long it takes). :func:`plan_tours` turns it into a :class:`DayPlan` with
OR-Tools' vehicle routing solver:

* every tour starts at the depot, ends with an unload at the tip and drives back to the
  depot; a truck may also go to the tip in the middle of its shift to unload and come back
  for more (at most ``fleet.max_loads_per_shift`` loads, the last one included);
* between two unloads a truck carries at most its payload (kg) and its body volume (L),
  where a load takes ``Truck.body_litres`` — its mass over the compaction density for a
  compacting body, its loose volume otherwise;
* a shift — driving at ``fleet.speed_kmh``, service at each stop, ``fleet.tip_service_min``
  per unload, and the drive back to the depot — never exceeds ``fleet.shift_h``;
* a stop that cannot be fitted is left out with a penalty (an OR-Tools disjunction) and
  reported in ``DayPlan.unserved``. Leaving a stop out costs far more than any detour, so
  stops are only dropped when the fleet cannot take them, unless a stop's
  ``drop_penalty_km`` says it is only worth that many km of extra driving.

**Objective.** Fewest trucks first, then fewest km: a crew's shift costs more than the
km it saves (see ``tour_costs``). The solver minimises road metres (plus the drive back
from the tip per truck used); its local search moves stops between tours but seldom
empties one. So when the totals of a plan show that one truck fewer could do its work (its
hours, less one truck's drive out and back, fit in one shift fewer; its loads in one
truck's loads fewer), it is planned again with one truck fewer, and the result is kept if
it leaves no more stops unserved. That costs another solve only on such days
(``fewest_trucks=False`` solves once).

**Distances** are road metres. Without a road graph they are the straight-line Lambert-93
distance multiplied by ``circuity`` (``simulation.parameters.fleet.ROAD_CIRCUITY``, 1.3,
documented there); with one, the caller hands a matrix of road metres and ``circuity``
must be 1.0, so that road distances are never scaled by mistake.

**Determinism.** The solver runs on one thread from a deterministic first solution
(parallel cheapest insertion) and, by default, improves it by greedy descent until no move
of its local search neighbourhoods shortens the plan: it stops at that local optimum, not at
a wall-clock time. Distances and times enter the model as integers (metres and seconds,
rounded up, so that the reported figures never exceed what the model allowed), and
OR-Tools' routing search on one thread is deterministic — the tests plan the same days
twice and compare — so the same input gives the same tours on any machine with the same
OR-Tools version. Asking for ``solution_limit=N`` continues with guided local search for N
solutions: a few % fewer km for several times the time, equally reproducible.
``time_limit_s`` is only a guard against a pathological instance: when it ends the search,
the plan may depend on the machine's speed, and ``DayPlan.stopped_by`` says so. There is
therefore no ``seed``: nothing here is random.

**Large days.** Above ``max_stops_per_solve`` stops (400 by default) the day is swept
around the depot: stops are taken in angular order (starting after the widest empty angle,
so a village is not split) in sectors of half that many; each sector is routed with the
trucks still free, together with the stops of the previous sector's tours that were not
full (under 90 % of the shift, or of their last load), which are carried on rather than
sent out half empty. Stops nobody could take are tried once more, together, with the
trucks left. This "cluster first, route second" fallback is cheaper (the solver's effort
grows faster than linearly with the number of stops) but can use more trucks or km than
routing the whole day at once.

Not responsible for deciding which bins to empty (the collection policies do), nor for the
road graph, nor for recording what was driven as events. Breaks, traffic, time windows and
queues at the tip are not modelled.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from domain import Position
    from simulation.parameters.fleet import Fleet

__all__ = ["DayPlan", "Stop", "Tour", "plan_tours", "tour_costs"]

#: Stops routed in one solve before the sector fallback (sectors of half as many) takes over.
MAX_STOPS_PER_SOLVE = 400

_DEPOT, _TIP = 0, 1  # rows of the location matrix; stops follow from row 2
# What ended a search, from the most to the least reproducible.
_VERDICTS = ("nothing_to_do", "local_optimum", "solution_limit", "time_limit")
# In the sector fallback, a tour this close to its shift or its capacity is full.
_FULL = 0.9


@dataclass(frozen=True)
class Stop:
    """One container to empty: where it is (Lambert-93 m), what it holds, how long it takes.

    ``volume_l`` is the loose volume of waste in it and ``mass_kg`` its mass; ``service_min``
    the time spent at the stop. ``drop_penalty_km``, when given, makes the stop optional:
    it is collected only if that costs fewer than that many extra km of road.
    """

    bin_id: str
    x: float
    y: float
    volume_l: float
    mass_kg: float
    service_min: float
    drop_penalty_km: float | None = None

    def __post_init__(self) -> None:
        for name in ("x", "y", "volume_l", "mass_kg", "service_min"):
            value = getattr(self, name)
            if not math.isfinite(value) or (name not in ("x", "y") and value < 0):
                raise ValueError(
                    f"stop {self.bin_id!r}: {name} must be finite and ≥ 0, not {value!r}"
                )
        if self.drop_penalty_km is not None and not (
            math.isfinite(self.drop_penalty_km) and self.drop_penalty_km >= 0
        ):
            raise ValueError(
                f"stop {self.bin_id!r}: drop_penalty_km must be ≥ 0, not {self.drop_penalty_km!r}"
            )


@dataclass(frozen=True)
class Tour:
    """One truck's shift: the stops in the order driven, and what it drove and carried.

    ``stop_hours[i]`` is when service at ``stop_ids[i]`` begins, in hours after the truck left
    the depot. ``unloads_after`` counts the stops collected before each unload at the tip; its
    last element is ``len(stop_ids)`` (the final unload before driving back). ``km`` and
    ``hours`` run from leaving the depot to coming back; ``volume_l`` is the loose volume
    collected, ``mass_kg`` its mass.
    """

    truck: int
    stop_ids: tuple[str, ...]
    stop_hours: tuple[float, ...]
    unloads_after: tuple[int, ...]
    km: float
    hours: float
    volume_l: float
    mass_kg: float


@dataclass(frozen=True)
class DayPlan:
    """A day's tours and the stops left unserved (in input order).

    ``stopped_by`` says what ended the search: ``"local_optimum"`` or ``"solution_limit"``
    (both reproducible), ``"time_limit"`` (may depend on the machine), or ``"nothing_to_do"``
    (no stop, no truck, or a shift too short to reach the tip). With the sector fallback it
    is the least reproducible verdict of its solves.
    """

    tours: tuple[Tour, ...]
    unserved: tuple[str, ...]
    stopped_by: str = "nothing_to_do"

    @property
    def km(self) -> float:
        """Road km of all tours."""
        return sum(tour.km for tour in self.tours)


def plan_tours(
    stops: Sequence[Stop],
    fleet: Fleet,
    depot: Position,
    tip: Position,
    *,
    circuity: float,
    distances_m: Sequence[Sequence[float]] | np.ndarray | None = None,
    solution_limit: int | None = None,
    time_limit_s: float = 30.0,
    fewest_trucks: bool = True,
    max_stops_per_solve: int = MAX_STOPS_PER_SOLVE,
) -> DayPlan:
    """Plan one day's tours for ``stops`` with ``fleet``, from ``depot``, unloading at ``tip``.

    Args:
        stops: the containers to empty; their ``bin_id`` must be distinct.
        fleet: trucks, shift, speed, tip time (see ``simulation.parameters.fleet``).
        depot: where shifts start and end (Lambert-93).
        tip: where trucks unload (Lambert-93).
        circuity: road metres per straight-line metre; must be 1.0 with ``distances_m``.
        distances_m: optional road distances in metres, a square matrix over
            ``[depot, tip, *stops]`` in that order (need not be symmetric).
        solution_limit: ``None`` (default) stops at the first local optimum; a number
            continues with guided local search for that many solutions.
        time_limit_s: guard on the wall-clock time of one solve (see the module's notes on
            determinism).
        fewest_trucks: when the plan uses more trucks than a lower bound, plan again with
            one truck fewer, and keep the result if it leaves no more stops unserved (see
            the module's notes); ``False`` solves once.
        max_stops_per_solve: above this, route by angular sectors of half as many stops
            (see the module's notes).

    Returns:
        The tours (one per truck used, numbered from 0) and the unserved stops.

    Raises:
        ValueError: duplicate bin ids, a bad matrix, a circuity below 1 or a circuity other
            than 1 with a road matrix.
    """
    if not (math.isfinite(circuity) and circuity >= 1.0):
        raise ValueError(f"circuity must be ≥ 1, not {circuity!r}")
    ids = [stop.bin_id for stop in stops]
    if len(set(ids)) != len(ids):
        raise ValueError("bin ids of the stops must be distinct")
    if distances_m is not None:
        if circuity != 1.0:
            raise ValueError("circuity applies to straight lines only: pass 1.0 with a road matrix")
        matrix = np.asarray(distances_m, dtype=float)
        if matrix.shape != (len(stops) + 2, len(stops) + 2):
            raise ValueError(
                f"distances_m must be {len(stops) + 2}×{len(stops) + 2} over [depot, tip, *stops], "
                f"not {matrix.shape}"
            )
        if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
            raise ValueError("distances_m must hold finite distances ≥ 0")
    else:
        points = np.array([[depot.x, depot.y], [tip.x, tip.y]] + [[s.x, s.y] for s in stops])
        matrix = circuity * np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    if not stops:
        return DayPlan((), ())
    search = _Search(solution_limit, time_limit_s, fewest_trucks)
    if len(stops) <= max_stops_per_solve:
        tours, unserved, stopped_by = _solve_day(
            list(stops), list(range(len(stops))), fleet, fleet.trucks, matrix, search
        )
        return DayPlan(tuple(tours), tuple(unserved), stopped_by)
    return _plan_by_sectors(list(stops), fleet, matrix, depot, max_stops_per_solve, search)


def tour_costs(plan: DayPlan, fleet: Fleet) -> dict[str, float]:
    """What a plan costs, as plain numbers.

    Keys: ``tours``, ``stops``, ``unserved``, ``truck_km``, ``shift_hours`` (crew time, depot
    to depot), ``driving_hours`` (km at ``fleet.speed_kmh``), ``tonnes``, ``fuel_l``,
    ``co2_kg``, ``crew_eur`` (shift hours × crew cost per hour), ``truck_eur`` (km × truck
    cost per km, fuel excluded), ``fuel_eur`` and ``cost_eur`` (their sum).
    """
    km = sum(tour.km for tour in plan.tours)
    hours = sum(tour.hours for tour in plan.tours)
    fuel_l = km * fleet.truck.fuel_l_per_100km / 100.0
    crew_eur = hours * fleet.crew_eur_per_h
    truck_eur = km * fleet.truck_eur_per_km
    fuel_eur = fuel_l * fleet.diesel_eur_per_l
    return {
        "tours": float(len(plan.tours)),
        "stops": float(sum(len(tour.stop_ids) for tour in plan.tours)),
        "unserved": float(len(plan.unserved)),
        "truck_km": km,
        "shift_hours": hours,
        "driving_hours": km / fleet.speed_kmh,
        "tonnes": sum(tour.mass_kg for tour in plan.tours) / 1000.0,
        "fuel_l": fuel_l,
        "co2_kg": fuel_l * fleet.co2_kg_per_l,
        "crew_eur": crew_eur,
        "truck_eur": truck_eur,
        "fuel_eur": fuel_eur,
        "cost_eur": crew_eur + truck_eur + fuel_eur,
    }


# --- One solve ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Search:
    solution_limit: int | None
    time_limit_s: float
    fewest_trucks: bool


def _solve_day(
    stops: list[Stop],
    rows: list[int],
    fleet: Fleet,
    trucks: int,
    matrix: np.ndarray,
    search: _Search,
) -> tuple[list[Tour], list[str], str]:
    """Route with up to ``trucks`` trucks, then with fewer while that serves as much."""
    tours, unserved, verdict = _solve(stops, rows, fleet, trucks, matrix, search)
    if not search.fewest_trucks:
        return tours, unserved, verdict
    row_of = {stop.bin_id: 2 + row for stop, row in zip(stops, rows, strict=True)}
    optional = {stop.bin_id for stop in stops if stop.drop_penalty_km is not None}
    while len(tours) > 1 and _may_spare_a_truck(tours, stops, row_of, matrix, fleet):
        fewer, dropped, again = _solve(stops, rows, fleet, len(tours) - 1, matrix, search)
        if len(set(dropped) - optional) > len(set(unserved) - optional):
            break
        tours, unserved, verdict = fewer, dropped, max(verdict, again, key=_VERDICTS.index)
    return tours, unserved, verdict


def _may_spare_a_truck(
    tours: list[Tour], stops: list[Stop], row_of: dict[str, int], matrix: np.ndarray, fleet: Fleet
) -> bool:
    """Whether one truck fewer could do these tours' work, as far as totals can tell.

    The work of the tours, less one truck's drive out to its first stop and back from the
    tip, must fit in the other shifts, and their loads in the other trucks' loads.
    """
    metres_per_h = fleet.speed_kmh * 1000.0
    spared_h = (
        max(float(matrix[_DEPOT, row_of[t.stop_ids[0]]]) for t in tours)
        + float(matrix[_TIP, _DEPOT])
    ) / metres_per_h
    if sum(t.hours for t in tours) - spared_h > (len(tours) - 1) * fleet.shift_h:
        return False
    served = [stop for stop in stops if stop.bin_id in {b for t in tours for b in t.stop_ids}]
    truck = fleet.truck
    loads = max(
        sum(s.mass_kg for s in served) / truck.payload_kg,
        sum(truck.body_litres(s.volume_l, s.mass_kg) for s in served)
        / (truck.body_volume_m3 * 1000.0),
    )
    return loads <= (len(tours) - 1) * fleet.max_loads_per_shift


def _solve(
    stops: list[Stop],
    rows: list[int],
    fleet: Fleet,
    trucks: int,
    matrix: np.ndarray,
    search: _Search,
) -> tuple[list[Tour], list[str], str]:
    """Route ``stops`` (rows ``rows`` of ``matrix``, after depot and tip) with ``trucks`` trucks.

    Nodes: 0 the depot (every start), 1 the tip (every end), then the stops, then optional
    copies of the tip where a truck may unload mid-shift (as in OR-Tools' reload example:
    each copy takes back up to a full load through the dimension's slack).
    """
    truck = fleet.truck
    n = len(stops)
    mass_cap = math.floor(truck.payload_kg)
    body_cap = math.floor(truck.body_volume_m3 * 1000.0)
    mass = [math.ceil(stop.mass_kg) for stop in stops]
    body = [math.ceil(truck.body_litres(stop.volume_l, stop.mass_kg)) for stop in stops]
    total_loads = max(sum(mass) / mass_cap, sum(body) / body_cap)
    reloads = min(trucks * (fleet.max_loads_per_shift - 1), math.ceil(total_loads))
    locations = [_DEPOT, _TIP] + [2 + row for row in rows] + [_TIP] * reloads
    nodes = len(locations)

    sub = matrix[np.ix_(locations, locations)]
    metres = np.ceil(sub).astype(np.int64)
    metres[2 + n :, :] += 1  # an unload that serves nothing costs something, so it is dropped
    metres_per_s = fleet.speed_kmh / 3.6
    service_s = [0.0, 0.0] + [stop.service_min * 60.0 for stop in stops]
    service_s += [fleet.tip_service_min * 60.0] * reloads
    seconds = np.ceil(sub / metres_per_s).astype(np.int64)
    seconds += np.ceil(np.array(service_s))[:, None].astype(np.int64)
    shift_s = math.floor(fleet.shift_h * 3600.0)
    back_m = float(matrix[_TIP, _DEPOT])
    last_s = shift_s - math.ceil(fleet.tip_service_min * 60.0) - math.ceil(back_m / metres_per_s)
    if trucks == 0 or last_s < 0:  # no truck, or not even time to unload and drive back
        return [], [stop.bin_id for stop in stops], "nothing_to_do"

    # OR-Tools takes half a second to import: loaded when a day is routed, not with the package.
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    manager = pywrapcp.RoutingIndexManager(nodes, trucks, [0] * trucks, [1] * trucks)
    model = pywrapcp.RoutingModel(manager)
    arc = model.RegisterTransitMatrix(metres.tolist())
    model.SetArcCostEvaluatorOfAllVehicles(arc)
    model.SetFixedCostOfAllVehicles(math.ceil(back_m))  # the drive back from the tip

    for name, demand, capacity in (("mass", mass, mass_cap), ("body", body, body_cap)):
        values = [0, 0] + demand + [-capacity] * reloads
        model.AddDimension(model.RegisterUnaryTransitVector(values), capacity, capacity, True, name)
        dimension = model.GetDimensionOrDie(name)
        for node in range(2, 2 + n):
            dimension.SlackVar(manager.NodeToIndex(node)).SetValue(0)
    model.AddDimension(model.RegisterTransitMatrix(seconds.tolist()), 0, shift_s, True, "time")
    clock = model.GetDimensionOrDie("time")
    for vehicle in range(trucks):
        clock.CumulVar(model.End(vehicle)).SetMax(last_s)

    must = 100 * (int(metres.max()) + 1) * 4  # above any detour, extra unload trip included
    for i, stop in enumerate(stops):
        optional = stop.drop_penalty_km
        penalty = must if optional is None else math.floor(optional * 1000.0)
        model.AddDisjunction([manager.NodeToIndex(2 + i)], penalty)
    for node in range(2 + n, nodes):
        model.AddDisjunction([manager.NodeToIndex(node)], 0)

    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    )
    if search.solution_limit is None:
        parameters.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
        )
    else:
        parameters.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
        parameters.solution_limit = search.solution_limit
    parameters.time_limit.FromMilliseconds(max(1, round(search.time_limit_s * 1000.0)))
    started = time.monotonic()
    solution = model.SolveWithParameters(parameters)
    elapsed = time.monotonic() - started
    status = model.status()
    if solution is None:  # disjunctions make "serve nothing" feasible: this is a failure
        raise RuntimeError(
            f"the routing solver found no plan for {n} stops (status {status}, {elapsed:.1f} s)"
        )
    if (
        status == routing_enums_pb2.RoutingSearchStatus.ROUTING_FAIL_TIMEOUT
        or elapsed >= 0.95 * search.time_limit_s
    ):
        stopped_by = "time_limit"
    elif search.solution_limit is None:
        stopped_by = "local_optimum"
    else:
        stopped_by = "solution_limit"

    tours: list[Tour] = []
    served: set[int] = set()
    for vehicle in range(trucks):
        index = model.Start(vehicle)
        previous = 0
        hours_s = 0.0
        km_m = 0.0
        order: list[int] = []
        arrivals: list[float] = []
        unloads: list[int] = []
        while True:
            index = solution.Value(model.NextVar(index))
            node = manager.IndexToNode(index)
            km_m += float(sub[previous, node])
            hours_s += service_s[previous] + float(sub[previous, node]) / metres_per_s
            if 2 <= node < 2 + n:
                order.append(node - 2)
                arrivals.append(hours_s / 3600.0)
            elif node >= 2 + n and order and (not unloads or unloads[-1] != len(order)):
                unloads.append(len(order))
            previous = node
            if model.IsEnd(index):
                break
        if not order:
            continue
        if not unloads or unloads[-1] != len(order):
            unloads.append(len(order))
        hours_s += fleet.tip_service_min * 60.0 + back_m / metres_per_s
        km_m += back_m
        served.update(order)
        tours.append(
            Tour(
                truck=len(tours),
                stop_ids=tuple(stops[i].bin_id for i in order),
                stop_hours=tuple(arrivals),
                unloads_after=tuple(unloads),
                km=km_m / 1000.0,
                hours=hours_s / 3600.0,
                volume_l=sum(stops[i].volume_l for i in order),
                mass_kg=sum(stops[i].mass_kg for i in order),
            )
        )
    unserved = [stop.bin_id for i, stop in enumerate(stops) if i not in served]
    return tours, unserved, stopped_by


# --- Large days -----------------------------------------------------------------------------


def _plan_by_sectors(
    stops: list[Stop],
    fleet: Fleet,
    matrix: np.ndarray,
    depot: Position,
    max_stops: int,
    search: _Search,
) -> DayPlan:
    """Sweep around the depot: route a sector, keep its full tours, carry the rest onwards."""
    angles = np.arctan2([s.y - depot.y for s in stops], [s.x - depot.x for s in stops])
    order = sorted(range(len(stops)), key=lambda i: (float(angles[i]), stops[i].bin_id))
    sorted_angles = [float(angles[i]) for i in order]
    gaps = [
        (sorted_angles[(k + 1) % len(order)] - sorted_angles[k]) % (2 * math.pi)
        for k in range(len(order))
    ]
    cut = max(range(len(gaps)), key=lambda k: (gaps[k], -k)) + 1  # start after the widest gap
    order = order[cut:] + order[:cut]
    half = max(1, max_stops // 2)
    # Tours that are not full are carried on to the next sector: no need to spare trucks there.
    sector_search = dataclasses.replace(search, fewest_trucks=False)

    tours: list[Tour] = []
    unserved: list[int] = []
    verdicts: list[str] = []
    carried: list[int] = []
    position = 0
    while position < len(order):
        batch = carried + order[position : position + half]
        position += half
        last = position >= len(order)
        found, dropped, verdict = _solve_day(
            [stops[i] for i in batch],
            batch,
            fleet,
            fleet.trucks - len(tours),
            matrix,
            search if last else sector_search,
        )
        verdicts.append(verdict)
        index_of = {stops[i].bin_id: i for i in batch}
        unserved += [index_of[bin_id] for bin_id in dropped]
        full = [last or _is_full(t, stops, index_of, fleet) for t in found]
        keep = [t for t, is_full in zip(found, full, strict=True) if is_full]
        carried = [
            index_of[b]
            for t, is_full in zip(found, full, strict=True)
            if not is_full
            for b in t.stop_ids
        ]
        if len(carried) > half:  # too much to carry: keep every tour
            keep, carried = found, []
        tours += _renumber(keep, len(tours))
    if unserved and len(tours) < fleet.trucks:  # one more try with the trucks left
        retry = sorted(unserved)[:max_stops]
        found, dropped, verdict = _solve_day(
            [stops[i] for i in retry], retry, fleet, fleet.trucks - len(tours), matrix, search
        )
        verdicts.append(verdict)
        tours += _renumber(found, len(tours))
        still = set(dropped) | {stops[i].bin_id for i in sorted(unserved)[max_stops:]}
    else:
        still = {stops[i].bin_id for i in unserved}
    return DayPlan(
        tuple(tours),
        tuple(stop.bin_id for stop in stops if stop.bin_id in still),
        max(verdicts, key=_VERDICTS.index),
    )


def _is_full(tour: Tour, stops: list[Stop], index_of: dict[str, int], fleet: Fleet) -> bool:
    """Whether a tour used (nearly) its whole shift, or all its loads with the last one full."""
    if tour.hours >= _FULL * fleet.shift_h:
        return True
    if len(tour.unloads_after) < fleet.max_loads_per_shift:
        return False
    start = tour.unloads_after[-2] if len(tour.unloads_after) > 1 else 0
    last = [stops[index_of[b]] for b in tour.stop_ids[start:]]
    truck = fleet.truck
    return (
        sum(s.mass_kg for s in last) >= _FULL * truck.payload_kg
        or sum(truck.body_litres(s.volume_l, s.mass_kg) for s in last)
        >= _FULL * truck.body_volume_m3 * 1000.0
    )


def _renumber(tours: list[Tour], first: int) -> list[Tour]:
    return [dataclasses.replace(tour, truck=first + k) for k, tour in enumerate(tours)]
