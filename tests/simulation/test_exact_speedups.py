"""Helpers written for speed give, bit for bit, what the code they replaced computed (issue 16).

The whole runs are checked by ``bench/simulation_exactness.py`` (every KPI of a year of the
bench valley under four policies) and, day by day, by ``test_fast_selection.py``; these tests
pin the helpers themselves, on the edge cases a seeded run seldom meets.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from simulation.waste.planning import HULL_FLOOR_M2, hull, insertion_detour_km
from simulation.waste.policies import _Neighbours


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
