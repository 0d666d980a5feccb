"""Spatial answers checked against brute force over the real geometry."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import pytest
import shapely

from domain import Bin
from tests.conftest import at
from twin import SpatialIndex, ValleyTwin, load_geography, open_twin, plan_inventory

SEED = 3


@pytest.fixture(scope="module")
def valley(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValleyTwin]:
    twin = open_twin(f"sqlite:///{tmp_path_factory.mktemp('valley') / 'twin.sqlite'}")
    twin.add_missing(plan_inventory(load_geography(), SEED))
    yield twin
    twin.close()


@pytest.fixture(scope="module")
def index(valley: ValleyTwin) -> SpatialIndex:
    spatial = SpatialIndex()
    spatial.catch_up(valley)
    return spatial


def all_bins(valley: ValleyTwin) -> list[Bin]:
    assets = plan_inventory(load_geography(), SEED)
    return [a for a in assets if isinstance(a, Bin)]


def random_points(count: int) -> list[tuple[float, float]]:
    rng = random.Random(11)
    geography = load_geography()
    minx, miny, maxx, maxy = geography.outline.bounds
    return [(rng.uniform(minx, maxx), rng.uniform(miny, maxy)) for _ in range(count)]


@pytest.mark.slow
def test_index_holds_every_placed_asset(index: SpatialIndex, valley: ValleyTwin) -> None:
    counts = valley.count_by_kind()
    assert len(index) == counts["bin"] + counts["beacon"] + counts["site"] + counts["service"]


@pytest.mark.slow
@pytest.mark.parametrize("stream", [None, "glass", "residual"])
def test_nearest_bins_match_brute_force(
    index: SpatialIndex, valley: ValleyTwin, stream: str | None
) -> None:
    bins = [b for b in all_bins(valley) if stream is None or b.stream == stream]
    for x, y in random_points(25):
        expected = sorted(math.hypot(b.x_l93 - x, b.y_l93 - y) for b in bins)[:5]
        found = index.nearest(x, y, k=5, kind="bin", stream=stream)
        assert [d for _, d in found] == pytest.approx(expected)
        assert all(stream is None or a.stream == stream for a, _ in found)


@pytest.mark.slow
def test_within_radius_matches_brute_force(index: SpatialIndex, valley: ValleyTwin) -> None:
    bins = all_bins(valley)
    for x, y in random_points(10):
        expected = sorted(b.code for b in bins if math.hypot(b.x_l93 - x, b.y_l93 - y) <= 1500)
        found = index.within(x, y, 1500, kind="bin")
        assert sorted(a.code for a, _ in found) == expected
        assert [d for _, d in found] == sorted(d for _, d in found)


@pytest.mark.slow
def test_inside_commune_matches_the_real_boundary(index: SpatialIndex, valley: ValleyTwin) -> None:
    geography = load_geography()
    bins = all_bins(valley)
    for commune in geography.communes:
        expected = sorted(
            b.code for b in bins if shapely.Point(b.x_l93, b.y_l93).within(commune.boundary)
        )
        assert sorted(a.code for a in index.inside(commune, kind="bin")) == expected
        assert all(a.commune_insee == commune.insee for a in index.inside(commune, kind="bin"))


def test_index_follows_moves_and_removals_recorded_later(tmp_path) -> None:  # type: ignore[no-untyped-def]
    geography = load_geography()
    twin = open_twin(f"sqlite:///{tmp_path / 'twin.sqlite'}")
    try:
        here, commune = geography.locate(3.5489, 43.6535)
        there, _ = geography.locate(3.5600, 43.6480)
        twin.add(
            Bin.install(
                code="B-A",
                stream="glass",
                capacity_l=3000,
                position=here,
                commune_insee=commune.insee,
                at=at(),
            ),
            Bin.install(
                code="B-B",
                stream="glass",
                capacity_l=3000,
                position=there,
                commune_insee=commune.insee,
                at=at(),
            ),
        )
        index = SpatialIndex()
        index.catch_up(twin)
        assert [a.code for a, _ in index.nearest(here.x, here.y, k=1)] == ["B-A"]
        twin.change(Bin, "B-A", lambda b: b.move(there, commune.insee, at(1)))
        twin.change(Bin, "B-B", lambda b: b.remove("broken", at(1)))
        assert index.catch_up(twin) == 2
        ((nearest, distance),) = index.nearest(there.x, there.y, k=1)
        assert (nearest.code, distance) == ("B-A", 0.0)
        assert len(index) == 1
    finally:
        twin.close()
