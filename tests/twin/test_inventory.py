from __future__ import annotations

import pytest
import shapely

from domain import Beacon, Bin, Service, Site
from twin import load_geography, plan_inventory, summarise
from twin.inventory import CONTAINER_RULES


@pytest.mark.slow
def test_same_seed_same_valley_other_seed_other_positions() -> None:
    geography = load_geography()
    first = [a.as_dict() for a in plan_inventory(geography, 1)]
    assert first == [a.as_dict() for a in plan_inventory(geography, 1)]
    other = [a.as_dict() for a in plan_inventory(geography, 2)]
    assert [a["code"] for a in first] == [a["code"] for a in other]
    assert [(a["x_l93"], a["y_l93"]) for a in first] != [(a["x_l93"], a["y_l93"]) for a in other]


def test_a_few_thousand_assets_of_every_kind() -> None:
    summary = summarise(plan_inventory(load_geography(), 1))
    assert 2_000 < summary["bin"] < 5_000
    assert summary["beacon"] >= 8 and summary["site"] > 28 and summary["service"] > 5
    assert all(summary[f"bin:{rule.stream.value}"] >= 28 for rule in CONTAINER_RULES)


@pytest.mark.slow
def test_containers_follow_population_and_stand_in_their_commune() -> None:
    geography = load_geography()
    assets = plan_inventory(geography, 1)
    for commune in geography.communes:
        residual = [
            a
            for a in assets
            if isinstance(a, Bin) and a.commune_insee == commune.insee and a.stream == "residual"
        ]
        assert len(residual) == max(1, round(commune.population / 20))
        assert all(shapely.Point(b.x_l93, b.y_l93).within(commune.boundary) for b in residual)


@pytest.mark.slow
def test_named_places_are_where_they_should_be() -> None:
    geography = load_geography()
    assets = {a.code: a for a in plan_inventory(geography, 1)}
    assert assets["SITE-SAINT-GUILHEM"].commune_insee == "34261"
    assert isinstance(assets["TIERS-LIEU-GALERIE-DIGITALE"], Site)
    assert isinstance(assets["DECHETERIE-34114"], Service)
    beacons = [a for a in assets.values() if isinstance(a, Beacon)]
    for beacon in beacons:
        commune = geography.commune(beacon.commune_insee)
        assert shapely.Point(beacon.x_l93, beacon.y_l93).within(commune.boundary)
    assert {b.zone_code for b in beacons} >= {
        "ZAE-CAMALCE",
        "SITE-SAINT-GUILHEM",
        "SITE-PONT-DU-DIABLE",
    }
