"""Collection tours: hand-computed optima, capacities and shift kept, unserved stops, costs."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from domain import Position
from simulation.parameters.fleet import (
    CRANE_TRUCK,
    DEPOT,
    REFUSE_TRUCK,
    TIP,
    Fleet,
    Truck,
)
from simulation.routing import DayPlan, Stop, Tour, plan_tours, tour_costs

# A local origin in the valley, so positions look like Lambert-93 metres.
X0, Y0 = 740_000.0, 6_280_000.0
CENTRE = Position(X0, Y0)
SQRT2 = math.sqrt(2.0)


def stop(
    name: str,
    dx_m: float,
    dy_m: float,
    *,
    mass: float = 30.0,
    litres: float = 240.0,
    minutes: float = 2.0,
) -> Stop:
    return Stop(name, X0 + dx_m, Y0 + dy_m, litres, mass, minutes)


def corners() -> list[Stop]:
    """A 1 km square around the centre, listed in a crossing order (diagonals first)."""
    return [
        stop("NE", 500, 500),
        stop("SW", -500, -500),
        stop("NW", -500, 500),
        stop("SE", 500, -500),
    ]


def check_plan(
    plan: DayPlan, stops: list[Stop], fleet: Fleet, depot: Position, tip: Position, circuity: float
) -> None:
    """Recompute every tour from its stops and unloads, independently of the solver."""
    by_id = {s.bin_id: s for s in stops}
    served = [bin_id for tour in plan.tours for bin_id in tour.stop_ids]
    assert len(served) == len(set(served))
    assert sorted(served + list(plan.unserved)) == sorted(by_id)
    assert len(plan.tours) <= fleet.trucks
    assert [tour.truck for tour in plan.tours] == list(range(len(plan.tours)))
    speed_m_per_h = fleet.speed_kmh * 1000.0

    def leg(a: tuple[float, float], b: tuple[float, float]) -> float:
        return circuity * math.dist(a, b)

    for tour in plan.tours:
        assert tour.stop_ids and tour.unloads_after[-1] == len(tour.stop_ids)
        assert len(tour.unloads_after) <= fleet.max_loads_per_shift
        assert list(tour.unloads_after) == sorted(set(tour.unloads_after))
        here, metres, hours, start = (depot.x, depot.y), 0.0, 0.0, 0
        for end in tour.unloads_after:
            load = [by_id[b] for b in tour.stop_ids[start:end]]
            assert sum(s.mass_kg for s in load) <= fleet.truck.payload_kg + 1e-9
            body = sum(fleet.truck.body_litres(s.volume_l, s.mass_kg) for s in load)
            assert body <= fleet.truck.body_volume_m3 * 1000.0 + 1e-9
            for s in load:
                metres += leg(here, (s.x, s.y))
                hours += leg(here, (s.x, s.y)) / speed_m_per_h + s.service_min / 60.0
                here = (s.x, s.y)
            metres += leg(here, (tip.x, tip.y))
            hours += leg(here, (tip.x, tip.y)) / speed_m_per_h + fleet.tip_service_min / 60.0
            here, start = (tip.x, tip.y), end
        metres += leg(here, (depot.x, depot.y))
        hours += leg(here, (depot.x, depot.y)) / speed_m_per_h
        assert tour.km == pytest.approx(metres / 1000.0, rel=1e-9)
        assert tour.hours == pytest.approx(hours, rel=1e-9)
        assert tour.hours <= fleet.shift_h + 1e-9
        assert list(tour.stop_hours) == sorted(tour.stop_hours)
        assert tour.mass_kg == pytest.approx(sum(by_id[b].mass_kg for b in tour.stop_ids))
        assert tour.volume_l == pytest.approx(sum(by_id[b].volume_l for b in tour.stop_ids))


def test_square_tour_is_the_hand_computed_optimum() -> None:
    # Depot and tip at the centre: centre → corner (√2/2 km), three sides (3 km), corner →
    # centre (√2/2 km). Any other order crosses a diagonal (√2 km > 1 km).
    fleet = Fleet(trucks=1)
    plan = plan_tours(corners(), fleet, CENTRE, CENTRE, circuity=1.0)
    assert plan.unserved == () and len(plan.tours) == 1
    tour = plan.tours[0]
    assert tour.km == pytest.approx(3.0 + SQRT2, rel=1e-12)
    ring = ["NE", "NW", "SW", "SE"]
    first = ring.index(tour.stop_ids[0])
    around = ring[first:] + ring[:first]
    assert list(tour.stop_ids) in (around, [around[0]] + around[:0:-1])  # either direction
    driving_h = (3.0 + SQRT2) / 40.0
    assert tour.hours == pytest.approx(driving_h + 4 * 2 / 60 + 20 / 60, rel=1e-12)
    assert tour.stop_hours[0] == pytest.approx(SQRT2 / 2 / 40.0)
    assert tour.unloads_after == (4,)
    check_plan(plan, corners(), fleet, CENTRE, CENTRE, 1.0)


def test_circuity_scales_every_distance_and_a_road_matrix_is_taken_as_is() -> None:
    fleet = Fleet(trucks=1)
    straight = plan_tours(corners(), fleet, CENTRE, CENTRE, circuity=1.0)
    winding = plan_tours(corners(), fleet, CENTRE, CENTRE, circuity=1.3)
    assert winding.tours[0].km == pytest.approx(1.3 * straight.tours[0].km, rel=1e-12)
    assert winding.tours[0].stop_ids == straight.tours[0].stop_ids

    points = [(CENTRE.x, CENTRE.y)] * 2 + [(s.x, s.y) for s in corners()]
    road = [[1.3 * math.dist(a, b) for b in points] for a in points]
    given = plan_tours(corners(), fleet, CENTRE, CENTRE, circuity=1.0, distances_m=road)
    assert given == winding
    with pytest.raises(ValueError, match="circuity"):
        plan_tours(corners(), fleet, CENTRE, CENTRE, circuity=1.3, distances_m=road)
    with pytest.raises(ValueError, match="6×6"):
        plan_tours(corners(), fleet, CENTRE, CENTRE, circuity=1.0, distances_m=road[:5])


def test_a_full_truck_unloads_at_the_tip_and_comes_back_for_more() -> None:
    # Depot at 0, tip 10 km east; A 5 km east, B 5 km east and 1 km north; 60 kg each on a
    # 100 kg truck: depot → A (5) → tip (5) → B (√26) → tip (√26) → depot (10) km.
    fleet = Fleet(trucks=1, truck=Truck(payload_kg=100.0), max_loads_per_shift=2)
    stops = [stop("A", 5000, 0, mass=60), stop("B", 5000, 1000, mass=60)]
    tip = Position(X0 + 10_000, Y0)
    plan = plan_tours(stops, fleet, CENTRE, tip, circuity=1.0)
    assert plan.unserved == ()
    (tour,) = plan.tours
    km = 5 + 5 + 2 * math.sqrt(26) + 10
    assert tour.km == pytest.approx(km, rel=1e-12)
    assert tour.unloads_after == (1, 2)
    assert tour.hours == pytest.approx(km / 40 + 2 * 2 / 60 + 2 * 20 / 60, rel=1e-12)
    check_plan(plan, stops, fleet, CENTRE, tip, 1.0)

    one_load = dataclasses.replace(fleet, max_loads_per_shift=1)
    assert len(plan_tours(stops, one_load, CENTRE, tip, circuity=1.0).unserved) == 1


def test_stops_beyond_capacity_or_shift_are_reported_unserved() -> None:
    small = Fleet(trucks=1, truck=Truck(payload_kg=100.0), max_loads_per_shift=1)
    stops = [stop("A", 100, 0, mass=40), stop("B", 200, 0, mass=40), stop("C", 300, 0, mass=40)]
    plan = plan_tours(stops, small, CENTRE, CENTRE, circuity=1.0)
    assert len(plan.unserved) == 1 and sum(len(t.stop_ids) for t in plan.tours) == 2
    check_plan(plan, stops, small, CENTRE, CENTRE, 1.0)

    too_big = [stop("HEAVY", 100, 0, mass=150), stop("BULKY", 0, 100, mass=10, litres=20_000)]
    crane = Fleet(trucks=3, truck=CRANE_TRUCK)  # a body that does not compact: 15,000 L
    assert plan_tours(
        too_big,
        dataclasses.replace(crane, truck=Truck(payload_kg=100.0, compaction_density_kg_m3=None)),
        CENTRE,
        CENTRE,
        circuity=1.0,
    ).unserved == ("HEAVY", "BULKY")

    # 2 h shift, 20 min at the tip, 10 min per stop: 100 min for stops and driving, so 9
    # stops (10 would leave no time to drive the few hundred metres between them).
    short = Fleet(trucks=1, shift_h=2.0)
    many = [stop(f"S{i}", 10 * i, 0, minutes=10.0) for i in range(15)]
    plan = plan_tours(many, short, CENTRE, CENTRE, circuity=1.0)
    assert len(plan.tours[0].stop_ids) == 9 and len(plan.unserved) == 6
    check_plan(plan, many, short, CENTRE, CENTRE, 1.0)

    assert plan_tours(many, Fleet(trucks=0), CENTRE, CENTRE, circuity=1.0).unserved == tuple(
        s.bin_id for s in many
    )
    far_tip = Position(X0 + 200_000, Y0)  # not even time to drive to the tip and back
    assert plan_tours(many, short, CENTRE, far_tip, circuity=1.0).tours == ()


def random_day(seed: int, n: int) -> list[Stop]:
    """Bins in a few villages around the depot, with mixed sizes and service times."""
    rng = np.random.default_rng(seed)
    villages = rng.uniform(-8000, 8000, (6, 2))
    stops = []
    for i in range(n):
        vx, vy = villages[rng.integers(len(villages))]
        litres = float(rng.choice([240.0, 360.0, 1100.0]))
        stops.append(
            stop(
                f"B{i:03d}",
                vx + rng.normal(0, 300),
                vy + rng.normal(0, 300),
                litres=litres,
                mass=litres * float(rng.uniform(0.05, 0.15)),
                minutes=float(rng.uniform(1.0, 5.0)),
            )
        )
    return stops


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_days_keep_capacities_and_shift(seed: int) -> None:
    # A small truck and a short shift, so that capacity, reloads and the shift all bind.
    fleet = Fleet(
        trucks=2,
        truck=Truck(body_volume_m3=3.0, payload_kg=1000.0),
        shift_h=4.0,
        max_loads_per_shift=2,
    )
    stops = random_day(seed, 90)
    plan = plan_tours(stops, fleet, CENTRE, Position(X0 + 6000, Y0 - 4000), circuity=1.3)
    check_plan(plan, stops, fleet, CENTRE, Position(X0 + 6000, Y0 - 4000), 1.3)
    assert plan.stopped_by == "local_optimum"
    assert plan.unserved  # this day is more than two such trucks can do


@pytest.mark.slow
def test_same_day_twice_gives_the_same_plan() -> None:
    fleet = Fleet(trucks=3)
    stops = random_day(7, 80)
    first = plan_tours(stops, fleet, DEPOT.position, TIP.position, circuity=1.3)
    assert plan_tours(stops, fleet, DEPOT.position, TIP.position, circuity=1.3) == first
    longer = plan_tours(stops, fleet, DEPOT.position, TIP.position, circuity=1.3, solution_limit=60)
    assert (
        plan_tours(stops, fleet, DEPOT.position, TIP.position, circuity=1.3, solution_limit=60)
        == longer
    )
    assert longer.stopped_by == "solution_limit" and longer.km <= first.km + 1e-9


@pytest.mark.slow
def test_a_truck_is_spared_when_the_others_can_do_its_work() -> None:
    # Local search seldom empties a tour: on this day it stops at three 3 h tours where two
    # can serve every stop (with more km: a crew costs more than the km it saves).
    fleet = Fleet(trucks=4, shift_h=3.0)
    stops = random_day(19, 60)
    once = plan_tours(stops, fleet, CENTRE, CENTRE, circuity=1.3, fewest_trucks=False)
    fewest = plan_tours(stops, fleet, CENTRE, CENTRE, circuity=1.3)
    assert (len(once.tours), len(fewest.tours)) == (3, 2)
    assert once.unserved == fewest.unserved == ()
    check_plan(fewest, stops, fleet, CENTRE, CENTRE, 1.3)


def test_large_days_are_routed_by_sectors_within_the_same_rules() -> None:
    fleet = Fleet(trucks=4)
    stops = random_day(11, 60)
    plan = plan_tours(stops, fleet, CENTRE, CENTRE, circuity=1.3, max_stops_per_solve=20)
    check_plan(plan, stops, fleet, CENTRE, CENTRE, 1.3)
    assert plan.unserved == ()


def test_optional_stops_are_collected_only_when_worth_the_detour() -> None:
    fleet = Fleet(trucks=1)
    near = [stop("A", 500, 0), stop("B", 600, 0)]
    cheap = Stop("NEAR", X0 + 550, Y0 + 10, 240.0, 30.0, 2.0, drop_penalty_km=1.0)
    dear = Stop("FAR", X0 + 3000, Y0 + 3000, 240.0, 30.0, 2.0, drop_penalty_km=1.0)
    plan = plan_tours([*near, cheap, dear], fleet, CENTRE, CENTRE, circuity=1.0)
    assert plan.unserved == ("FAR",)


def test_costs_add_up_by_hand() -> None:
    fleet = Fleet(
        trucks=2,
        truck=Truck(fuel_l_per_100km=50.0),
        speed_kmh=40.0,
        crew_eur_per_h=50.0,
        truck_eur_per_km=1.5,
        diesel_eur_per_l=1.7,
        co2_kg_per_l=3.17,
    )
    plan = DayPlan(
        (
            Tour(0, ("a", "b"), (0.1, 0.2), (2,), 100.0, 6.0, 480.0, 1500.0),
            Tour(1, ("c",), (0.3,), (1,), 50.0, 4.0, 240.0, 500.0),
        ),
        ("d",),
    )
    costs = tour_costs(plan, fleet)
    assert costs == pytest.approx(
        {
            "tours": 2,
            "stops": 3,
            "unserved": 1,
            "truck_km": 150.0,
            "shift_hours": 10.0,
            "driving_hours": 150 / 40,
            "tonnes": 2.0,
            "fuel_l": 75.0,
            "co2_kg": 75 * 3.17,
            "crew_eur": 500.0,
            "truck_eur": 225.0,
            "fuel_eur": 127.5,
            "cost_eur": 852.5,
        }
    )
    assert plan.km == 150.0


def test_fleet_parameters_hold_together() -> None:
    assert REFUSE_TRUCK.body_litres(240.0, 35.0) == pytest.approx(100.0)  # 35 kg at 350 kg/m³
    assert REFUSE_TRUCK.body_litres(240.0, 200.0) == 240.0  # never more than loose
    assert CRANE_TRUCK.body_litres(3000.0, 600.0) == 3000.0
    for site in (DEPOT, TIP):
        assert Position.checked(site.position.x, site.position.y) == site.position
    depot_to_tip_km = (
        math.dist((DEPOT.position.x, DEPOT.position.y), (TIP.position.x, TIP.position.y)) / 1000
    )
    assert 8 < depot_to_tip_km < 16  # Gignac to Aspiran, as the crow flies
    with pytest.raises(ValueError):
        Fleet(trucks=-1)
    with pytest.raises(ValueError):
        Truck(payload_kg=0.0)
    with pytest.raises(ValueError, match="distinct"):
        plan_tours(
            [stop("A", 0, 0), stop("A", 1, 1)], Fleet(trucks=1), CENTRE, CENTRE, circuity=1.0
        )
