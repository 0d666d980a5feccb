"""Integrated selection and routing (issue 13): must-go bins, optional stops with prizes."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from domain.values import Position
from simulation.parameters.waste import density_kg_per_l
from simulation.waste import Bins, ProjectedInflow, RecordedInflow, simulate
from simulation.waste.fitting import constant_models
from simulation.waste.planning import FleetRouter, Routed, default_fleets, insertion_detour_km
from simulation.waste.policies import DayView, Integrated, Selection, prize_km

MONDAY, SATURDAY = date(2024, 1, 1), date(2024, 1, 6)
DEPOT, TIP = Position(0.0, 0.0), Position(10_000.0, 0.0)
VILLAGE = (2_000.0, 6_000.0)
NOWHERE = np.nan


def test_the_prize_is_the_share_of_a_later_trip_times_how_far_through_its_cycle() -> None:
    x, y = np.array([0.0, 0.0]), np.array([5_000.0, 5_000.0])
    fleets = default_fleets()
    prize = prize_km(
        x,
        y,
        ["residual", "glass"],
        today_l=np.array([300.0, 1_500.0]),
        due_l=np.array([600.0, 3_000.0]),
        fleets=fleets,
        depot=DEPOT,
        tip=TIP,
        circuity=1.3,
        neighbours=np.array([10.0, 40.0]),
    )
    trip_km = 1.3 * (5_000.0 + np.hypot(10_000.0, 5_000.0) + 10_000.0) / 1000.0
    # residual: 10 bins around it share the trip (a load would hold 87: 15 m³ of body over
    # 600 L compacted from 100 to 350 kg/m³); half-way through its cycle.
    residual_body_l = 600.0 * density_kg_per_l("residual") * 1000.0 / 350.0
    assert 15_000.0 / residual_body_l > 10
    assert prize[0] == pytest.approx(trip_km / 10 * 0.5)
    # glass: 40 columns around, but a crane truck's uncompacted 15 m³ hold 5 of 3,000 L.
    assert prize[1] == pytest.approx(trip_km / 5 * 0.5)
    # scale weighs it all; without neighbours the load is the sharing
    assert prize_km(
        x, y, ["residual", "glass"], np.array([300.0, 1_500.0]), np.array([600.0, 3_000.0]),
        fleets=fleets, depot=DEPOT, tip=TIP, circuity=1.3, scale=2.0,
    )[1] == pytest.approx(2 * trip_km / 5 * 0.5)  # fmt: skip


def _stops(*offsets_m: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([VILLAGE[0] + d for d in offsets_m])
    return x, np.full(len(offsets_m), VILLAGE[1])


def _route(router: FleetRouter, prize: list[float]) -> Routed:
    x, y = _stops(0.0, 150.0, 15_000.0)
    volume = np.full(3, 500.0)
    return router.route(
        "residual",
        MONDAY,
        x,
        y,
        volume,
        volume * density_kg_per_l("residual"),
        np.full(3, 660.0),
        prize_km=np.array(prize),
    )


@pytest.mark.slow  # OR-Tools: its import and one solve
def test_the_solver_takes_the_may_go_stop_next_door_and_leaves_the_far_one() -> None:
    router = FleetRouter(depot=DEPOT, tip=TIP, solution_limit=None)
    routed = _route(router, [NOWHERE, 2.0, 2.0])
    assert routed.served.tolist() == [True, True, False] and router.exact_days == 1
    # without the far stop's prize the tour is the same: its 39 km detour is worth only 2 km
    alone = router.route(
        "residual", MONDAY, *_stops(0.0, 150.0), np.full(2, 500.0), np.full(2, 50.0),
        np.full(2, 660.0),
    )  # fmt: skip
    assert routed.km == pytest.approx(alone.km)


@pytest.mark.slow  # SciPy's k-d tree and convex hull
def test_the_large_day_path_takes_a_may_go_stop_when_its_detour_is_below_its_prize() -> None:
    x, y = _stops(0.0, 150.0, 15_000.0)
    detour = insertion_detour_km(x, y, np.array([True, False, False]), 1.3)
    assert detour[1] == pytest.approx(2 * 0.15 * 1.3) and detour[2] == pytest.approx(39.0)
    router = FleetRouter(depot=DEPOT, tip=TIP, exact_up_to=1, large_days="nearest-neighbour")
    routed = _route(router, [NOWHERE, 2.0, 2.0])
    assert routed.served.tolist() == [True, True, False] and router.heuristic_days == 1
    estimated = FleetRouter(depot=DEPOT, tip=TIP, exact_up_to=1)
    assert _route(estimated, [NOWHERE, 2.0, 2.0]).served.tolist() == [True, True, False]


class _Chooser:
    """A selecting policy that returns a fixed selection every day."""

    horizon = 1

    def __init__(self, must: list[bool], prize: list[float]) -> None:
        self.selection = Selection(np.array(must), np.array(prize))

    def choose(self, view: DayView) -> np.ndarray:
        return self.selection.must

    def select(self, view: DayView) -> Selection:
        return self.selection


class _CountingRouter(FleetRouter):
    calls = 0

    def route(self, *args, **kwargs) -> Routed:  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().route(*args, **kwargs)


def _three_bins() -> tuple[Bins, object, RecordedInflow]:
    x, y = _stops(0.0, 150.0, 15_000.0)
    bins = Bins.build(["A", "B", "C"], ["residual"] * 3, ["34114"] * 3, [660.0] * 3, x, y)
    models = constant_models(bins.codes, bins.streams, bins.communes, [660.0] * 3, [50.0] * 3)
    return bins, models, RecordedInflow(np.full((3, 5), 50.0))


def _one_day(policy: _Chooser, router: FleetRouter):  # type: ignore[no-untyped-def]
    bins, models, inflow = _three_bins()
    return simulate(
        bins, policy, inflow, models, router, start=MONDAY, days=1, seed=0,
        initial_levels_l=np.array([600.0, 400.0, 400.0]),
    )  # fmt: skip


def test_a_stream_with_only_may_go_bins_is_not_dispatched() -> None:
    router = _CountingRouter(depot=DEPOT, tip=TIP)
    totals = _one_day(_Chooser([False] * 3, [50.0, 50.0, 50.0]), router).totals()
    assert router.calls == 0 and totals["truck_km"] == 0 and totals["collections"] == 0


@pytest.mark.slow  # OR-Tools
def test_may_go_stops_the_solver_leaves_out_are_not_unserved() -> None:
    router = FleetRouter(depot=DEPOT, tip=TIP)
    kpis = _one_day(_Chooser([True, False, False], [NOWHERE, 2.0, 2.0]), router)
    totals = kpis.totals()
    assert totals["collections"] == 2 and totals["unserved_stops"] == 0
    assert [row["collections"] for row in kpis.by_container().values()] == [1, 1, 0]


def _view(day: date, levels: list[float], streams: tuple[str, ...], x: list[float]) -> DayView:
    n = len(levels)
    return DayView(
        day,
        np.array(levels),
        np.full(n, 100.0),
        streams,
        ("34114",) * n,
        np.array(x),
        np.zeros(n),
        np.full((n, 8), 10.0),
        np.full(n, 0.05),
        0.0,
    )


def test_integrated_selects_must_go_and_prizes_only_where_a_truck_goes() -> None:
    policy = Integrated(risk=0.05, horizon=8, min_fill=0.3, depot=DEPOT, tip=TIP)
    # residual: 0 overflows before tomorrow (must), 1 is due within the week (may),
    # 2 is too empty; packaging: 3 is due soon, but no packaging bin must go: no prize.
    streams = ("residual", "residual", "residual", "packaging")
    view = _view(MONDAY, [95.0, 60.0, 10.0, 60.0], streams, [0.0, 100.0, 200.0, 0.0])
    selection = policy.select(view)
    assert selection.must.tolist() == [True, False, False, False]
    assert selection.optional.tolist() == [False, True, False, False]
    assert 0 < selection.prize_km[1] < np.inf and np.isnan(selection.prize_km[[0, 2, 3]]).all()
    assert policy.choose(view).tolist() == [True, False, False, False]
    assert not policy.select(_view(SATURDAY, [99.0], ("residual",), [0.0])).must.any()


@pytest.mark.slow  # a fortnight with OR-Tools, twice
def test_same_seed_same_numbers() -> None:
    rng = np.random.default_rng(3)
    n = 24
    x, y = VILLAGE[0] + rng.uniform(0, 2_000, n), VILLAGE[1] + rng.uniform(0, 2_000, n)
    streams = ["residual"] * 16 + ["packaging"] * 8
    capacity = [660.0] * 16 + [3_000.0] * 8
    bins = Bins.build([f"B{i}" for i in range(n)], streams, ["34114"] * n, capacity, x, y)
    rate = [110.0] * 16 + [350.0] * 8
    models = constant_models(bins.codes, bins.streams, bins.communes, capacity, rate, cv=0.3)

    def run(seed: int) -> dict[str, float]:
        return simulate(
            bins, Integrated(depot=DEPOT, tip=TIP), ProjectedInflow(models), models,
            FleetRouter(depot=DEPOT, tip=TIP), start=MONDAY, days=14, seed=seed,
        ).totals()  # fmt: skip

    first = run(7)
    assert first == run(7) and first["collections"] > 0 and first["unserved_stops"] == 0
    assert first != run(8)
