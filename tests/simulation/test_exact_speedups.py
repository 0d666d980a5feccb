"""Helpers written for speed give, bit for bit, what the code they replaced computed (issue 16).

The whole runs are checked by ``bench/simulation_exactness.py`` (every KPI of a year of the
bench valley under four policies) and, day by day, by ``test_fast_selection.py``; these tests
pin the helpers themselves, on the edge cases a seeded run seldom meets.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from simulation.waste import (
    Bins,
    FleetRouter,
    ProjectedInflow,
    Threshold,
    constant_models,
    simulate,
)
from simulation.waste.planning import (
    HULL_FLOOR_M2,
    default_fleets,
    estimated_shift_hours,
    hull,
    hull_candidates,
    insertion_detour_km,
    service_minutes,
)
from simulation.waste.policies import LEVELLING_SHARE, DayView, _Neighbours, _StreamWork


def _edge_case_points(rng: np.random.Generator) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Scattered bins of two streams, with pairs exactly 1,000 m apart and stacked ones."""
    scattered = rng.normal(0, 900, (300, 2)) + [720_000.0, 6_270_000.0]
    exact = np.array([[0.0, 0.0], [600.0, 800.0], [1000.0, 0.0], [0.0, 1000.000001]])
    stacked = np.repeat([[300.0, 300.0]], 3, axis=0)
    points = np.vstack([scattered, exact + [720_000.0, 6_270_000.0], stacked + 720_000.0])
    stream = rng.integers(0, 2, len(points))
    stream[300:] = 0
    return points, tuple(np.flatnonzero(stream == s) for s in range(2))


def test_neighbours_are_exactly_the_bins_a_tree_finds_within_the_distance() -> None:
    rng = np.random.default_rng(16)
    points, members = _edge_case_points(rng)
    within = 1000.0
    neighbours = _Neighbours.of_streams(points, members, within)
    for _ in range(30):
        for group in members:
            anchors = group[rng.random(len(group)) < 0.2]
            others = np.setdiff1d(group, anchors)
            if anchors.size == 0 or others.size == 0:
                continue
            dist, _ = cKDTree(points[anchors]).query(points[others], k=1)
            reached = np.zeros(len(points), dtype=bool)
            reached[neighbours.of(anchors)] = True
            assert np.array_equal(reached[others], dist <= within)
            assert not reached[np.setdiff1d(np.arange(len(points)), group)].any()  # one stream


def test_neighbours_at_exactly_the_distance_count_and_no_bin_is_its_own() -> None:
    points = np.array([[0.0, 0.0], [600.0, 800.0], [1000.000001, 0.0], [0.0, 0.0]])
    neighbours = _Neighbours.of_streams(points, (np.arange(4),), 1000.0)
    assert sorted(neighbours.of(np.array([1])).tolist()) == [0, 2, 3]  # 0: 1,000 m exactly
    assert sorted(neighbours.of(np.array([0])).tolist()) == [1, 3]  # not 2: a hair further
    assert neighbours.of(np.array([], dtype=int)).size == 0


def test_the_detour_of_the_stops_asked_about_is_their_detour_among_all() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0, 8_000, 500), rng.uniform(0, 8_000, 500)
    for mandatory_share in (0.0, 0.002, 0.5):
        mandatory = rng.random(500) < mandatory_share
        every = insertion_detour_km(x, y, mandatory, 1.3)
        asked = np.flatnonzero(~mandatory)[::3]
        assert np.array_equal(insertion_detour_km(x, y, mandatory, 1.3, at=asked), every[asked])


def test_a_hull_asked_about_again_is_the_one_qhull_gives() -> None:
    from scipy.spatial import ConvexHull

    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 5_000, 200), rng.uniform(0, 5_000, 200)
    first, again = hull(x, y), hull(x.copy(), y.copy())
    fresh = ConvexHull(np.column_stack((x, y)))
    assert first[0] == again[0] == max(HULL_FLOOR_M2, float(fresh.volume))
    assert again[1] is not None and np.array_equal(again[1], fresh.vertices)
    assert not again[1].flags.writeable  # shared: no caller may change it
    moved = hull(x, y + 1e-6)  # other points, another answer
    assert moved[0] != first[0] or not np.shares_memory(moved[1], first[1])


# --- vectorised helpers against their plain versions (hypothesis) ------------------------------

_coordinate = st.floats(-3_000.0, 3_000.0, allow_nan=False).map(lambda v: round(v, 1))


@st.composite
def _bins_and_marks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bins on a coarse grid (exact ties and stacked bins), anchors and a mask of bins near."""
    n = draw(st.integers(1, 60))
    points = np.array(draw(st.lists(st.tuples(_coordinate, _coordinate), min_size=n, max_size=n)))
    anchor = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    near = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))) & ~anchor
    return points + [720_000.0, 6_270_000.0], np.flatnonzero(anchor), near


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(_bins_and_marks(), st.sampled_from([0.0, 200.0, 1000.0, 5000.0]))
def test_the_bins_reached_from_either_side_are_those_the_anchors_lists_reach(
    case: tuple[np.ndarray, np.ndarray, np.ndarray], within: float
) -> None:
    points, anchors, near = case
    neighbours = _Neighbours.of_streams(points, (np.arange(len(points)),), within)
    plain = np.zeros(len(points), dtype=bool)
    plain[neighbours.of(anchors)] = True
    assert np.array_equal(neighbours.reached(anchors, near), plain & near)


@st.composite
def _scatter(draw: st.DrawFn) -> np.ndarray:
    """Points scattered, on a line, stacked, or on a coarse grid (many collinear)."""
    n = draw(st.integers(0, 400))
    seed = draw(st.integers(0, 2**32 - 1))
    shape = draw(st.sampled_from(["normal", "line", "stacked", "grid", "ring"]))
    rng = np.random.default_rng(seed)
    if shape == "normal":
        points = rng.normal(0.0, 800.0, (n, 2))
    elif shape == "line":
        t = rng.uniform(0.0, 1_000.0, n)
        points = np.column_stack((t, 0.5 * t))
    elif shape == "stacked":
        points = np.repeat(rng.normal(0.0, 10.0, (1, 2)), n, axis=0)
    elif shape == "grid":
        points = rng.integers(0, 6, (n, 2)) * 100.0
    else:
        angle = rng.uniform(0.0, 2 * np.pi, n)
        points = np.column_stack((np.cos(angle), np.sin(angle))) * 500.0
    return points + [720_000.0, 6_270_000.0]


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(_scatter())
def test_the_hull_of_the_candidates_is_the_hull_of_all_the_points(points: np.ndarray) -> None:
    from scipy.spatial import ConvexHull, QhullError

    x, y = points[:, 0], points[:, 1]
    kept = hull_candidates(x, y)
    assert np.array_equal(kept, np.unique(kept)) and kept.size <= len(x)
    try:
        every = ConvexHull(points)
    except (QhullError, ValueError):
        return  # fewer than three points or all on a line: nothing is left out that matters
    corners = set(map(tuple, points[every.vertices]))
    assert corners <= set(map(tuple, points[kept]))  # no vertex is left out
    area, vertices = hull(x[kept], y[kept])
    assert vertices is not None
    assert abs(area - max(HULL_FLOOR_M2, every.volume)) <= 1e-9 * area


def test_the_look_ahead_decides_with_the_candidates_hull_as_with_the_whole_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``_StreamWork.fits`` answers as ``estimated_shift_hours`` against the limit, bit for bit,
    for sets around the limit (the candidates' hull, with its slack, or else the whole hull)."""
    from simulation.parameters import fleet as fp
    from simulation.waste import policies

    filtered = []

    def counted(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        kept = hull_candidates(x, y)
        filtered.append(kept.size < len(x))
        return kept

    monkeypatch.setattr(policies, "hull_candidates", counted)

    rng = np.random.default_rng(16)
    fleet = default_fleets({"residual": 4})["residual"]
    count = 1_500
    points = rng.normal(0.0, 2_500.0, (count, 2)) + [720_000.0, 6_270_000.0]
    depot, tip = fp.DEPOT.position, fp.TIP.position
    out_m = np.hypot(points[:, 0] - depot.x, points[:, 1] - depot.y)
    to_tip_m = np.hypot(points[:, 0] - tip.x, points[:, 1] - tip.y)
    service = service_minutes(np.full(count, 660.0))
    volume = rng.uniform(100.0, 660.0, count)
    density = 0.1
    limit = LEVELLING_SHARE * fleet.trucks * fleet.shift_h
    answers = set()
    for size in range(20, count, 17):
        sub = np.sort(rng.choice(count, size, replace=False))
        work = _StreamWork(
            points, out_m, to_tip_m, service, fleet, density, depot, tip, fp.ROAD_CIRCUITY
        )
        work.day(volume)
        mass = volume[sub] * density
        hours = estimated_shift_hours(
            points[sub, 0], points[sub, 1], volume[sub], mass, service[sub],
            fleet, depot, tip, fp.ROAD_CIRCUITY,
        )  # fmt: skip
        assert work.fits(sub) == (hours <= limit)
        answers.add(hours <= limit)
    assert answers == {True, False}  # both sides of the limit were asked about
    assert any(filtered)  # and some were answered with the candidates' hull


def test_the_projection_draws_what_the_models_draw() -> None:
    from datetime import date, timedelta

    rng = np.random.default_rng(5)
    n = 50
    season = rng.uniform(0.6, 1.6, (n, 4))
    models = constant_models(
        [f"B{i}" for i in range(n)], ["residual"] * n, ["34000"] * n, np.full(n, 660.0),
        rng.uniform(5.0, 40.0, n), cv=rng.uniform(0.1, 0.5, n), season=season,
    )  # fmt: skip
    inflow = ProjectedInflow(models)
    cached, plain = np.random.default_rng(9), np.random.default_rng(9)
    day = date(2024, 1, 1)
    for k in range(120):  # two seasons, each weekday many times
        today = day + timedelta(days=k)
        assert np.array_equal(inflow.litres(k, today, cached), models.sample(today, plain))


def test_each_day_sees_the_forecast_the_models_give_and_may_not_change_it() -> None:
    from datetime import date

    rng = np.random.default_rng(6)
    n = 40
    models = constant_models(
        [f"B{i}" for i in range(n)], ["residual"] * n, ["34000"] * n, np.full(n, 660.0),
        rng.uniform(5.0, 40.0, n), cv=0.3, season=rng.uniform(0.6, 1.6, (n, 4)),
    )  # fmt: skip
    bins = Bins.build(
        models.codes, models.streams, models.communes, models.capacity_l,
        rng.uniform(0, 3_000, n), rng.uniform(0, 3_000, n),
    )  # fmt: skip
    seen: list[tuple[date, np.ndarray]] = []

    class Watching(Threshold):
        def choose(self, view: DayView) -> np.ndarray:
            assert not view.forecast_l.flags.writeable
            seen.append((view.day, view.forecast_l))
            return super().choose(view)

    simulate(
        bins, Watching(), ProjectedInflow(models), models, FleetRouter(exact_up_to=0),
        start=date(2024, 2, 20), days=30, seed=1,
    )  # fmt: skip
    assert len(seen) == 30
    for day, forecast in seen:  # across the change of season on 1 March
        assert np.array_equal(forecast, models.expected_days(day, Watching().horizon))


def test_the_bounds_of_a_suffix_hold_its_sums_and_give_its_extent() -> None:
    """``_Bounds`` of the stops from any point of an order on: each column's pairwise sum and
    the body's sum in order lie within them, and the extent is the one the stops span."""
    from simulation.waste.planning import in_order_sum
    from simulation.waste.policies import _Bounds

    rng = np.random.default_rng(17)
    for size in (1, 2, 3, 9, 130, 2_000):
        scale = rng.choice([1e-3, 1.0, 1e6], 5)
        table = rng.uniform(0.0, 1.0, (5, size)) * scale[:, None]
        table[:, rng.random(size) < 0.1] = 0.0  # empty bins weigh nothing
        x, y = rng.normal(720_000.0, 900.0, size), rng.normal(6_270_000.0, 900.0, size)
        bounds = _Bounds(table, x, y)
        for start in range(1, size, max(1, size // 50)):
            known = bounds.of_suffix(start)
            for column, (low, high) in zip(table, known.sums, strict=True):
                assert low <= float(np.add.reduce(column[start:])) <= high
                assert low <= in_order_sum(column[start:]) <= high
            assert known.width == float(np.max(x[start:])) - float(np.min(x[start:]))
            assert known.height == float(np.max(y[start:])) - float(np.min(y[start:]))


def test_the_fewest_to_move_are_those_the_plain_bisection_finds() -> None:
    """``_StreamWork.fewest_to_move`` (sums bounded, made only when needed) against a bisection
    over ``estimated_shift_hours`` of each suffix, on days around the limit."""
    from simulation.parameters import fleet as fp

    rng = np.random.default_rng(18)
    fleet = default_fleets({"residual": 3})["residual"]
    depot, tip = fp.DEPOT.position, fp.TIP.position
    limit = LEVELLING_SHARE * fleet.trucks * fleet.shift_h
    count = 900
    points = rng.normal(0.0, 2_500.0, (count, 2)) + [720_000.0, 6_270_000.0]
    out_m = np.hypot(points[:, 0] - depot.x, points[:, 1] - depot.y)
    to_tip_m = np.hypot(points[:, 0] - tip.x, points[:, 1] - tip.y)
    service = service_minutes(rng.choice([660.0, 3_000.0], count))
    density = 0.1
    moved = set()
    for size in range(150, count, 50):
        volume = rng.uniform(100.0, 660.0, count)
        order = rng.permutation(count)[:size]
        work = _StreamWork(
            points, out_m, to_tip_m, service, fleet, density, depot, tip, fp.ROAD_CIRCUITY
        )
        work.day(volume)

        def fits(sub: np.ndarray, volume: np.ndarray = volume) -> bool:
            hours = estimated_shift_hours(
                points[sub, 0], points[sub, 1], volume[sub], volume[sub] * density,
                service[sub], fleet, depot, tip, fp.ROAD_CIRCUITY,
            )  # fmt: skip
            return hours <= limit

        if fits(order):
            continue
        lo, hi = 1, size
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if fits(order[mid:]) else (mid + 1, hi)
        assert work.fewest_to_move(order) == lo
        moved.add(lo)
    assert len(moved) > 3  # days that fit after moving different numbers of stops


def test_a_fixed_schedule_follows_the_bins_it_is_asked_about() -> None:
    """The rounds found for one set of bins are not those of another (each set its own)."""
    from datetime import date

    from simulation.waste import FixedSchedule, Round

    monday = date(2024, 1, 1)
    schedule = FixedSchedule(
        {"residual": Round(frozenset({0})), "glass": Round(frozenset({1}))},
        {("glass", "B"): Round(frozenset({0}))},
    )

    def view(streams: tuple[str, ...], communes: tuple[str, ...]) -> DayView:
        n = len(streams)
        return DayView(
            monday, np.zeros(n), np.full(n, 660.0), streams, communes, np.arange(n, dtype=float),
            np.zeros(n), np.zeros((n, 1)), np.full(n, 0.3), 0.5,
        )  # fmt: skip

    first = view(("residual", "glass", "glass", "paper"), ("A", "A", "B", "A"))
    second = view(("glass", "residual"), ("A", "B"))
    for _ in range(2):
        assert schedule.choose(first).tolist() == [True, False, True, False]
        assert schedule.choose(second).tolist() == [False, True]
