from __future__ import annotations

import math

import pytest
import shapely

from twin import InvalidInputError, OutsideValleyError, load_geography


def test_the_28_real_communes_with_their_populations_and_areas() -> None:
    geography = load_geography()
    assert len(geography.communes) == 28
    assert sum(c.population for c in geography.communes) == 41_320
    assert sum(c.area_km2 for c in geography.communes) == pytest.approx(482.29, abs=0.01)
    gignac = geography.commune("34114")
    assert (gignac.name, gignac.population) == ("Gignac", 6650)
    assert gignac.area_km2 == pytest.approx(29.87, abs=0.01)
    assert geography.commune_named("la boissière").insee == "34035"


def test_communes_tile_the_territory_without_overlap() -> None:
    geography = load_geography()
    union = geography.outline
    assert union.geom_type == "Polygon"
    assert union.area == pytest.approx(sum(c.boundary.area for c in geography.communes), rel=1e-9)


@pytest.mark.parametrize(
    ("lon", "lat", "insee"),
    [
        (3.5494, 43.7335, "34261"),  # Saint-Guilhem-le-Désert, the abbey
        (3.5489, 43.6535, "34114"),  # Gignac
        (3.4950, 43.6350, "34239"),  # Saint-André-de-Sangonis
        (3.7050, 43.6500, "34163"),  # Montarnaud
    ],
)
def test_known_places_fall_in_their_commune(lon: float, lat: float, insee: str) -> None:
    position, commune = load_geography().locate(lon, lat)
    assert commune.insee == insee
    assert shapely.Point(position.x, position.y).within(commune.boundary)


def test_projection_is_lambert93_and_round_trips() -> None:
    geography = load_geography()
    position = geography.to_l93(3.0, 46.5)  # the projection's origin
    assert (position.x, position.y) == (
        pytest.approx(700_000, abs=0.01),
        pytest.approx(6_600_000, abs=0.01),
    )
    there = geography.to_l93(3.55, 43.65)
    lon, lat = geography.to_wgs84(there.x, there.y)
    assert (lon, lat) == (pytest.approx(3.55, abs=1e-9), pytest.approx(43.65, abs=1e-9))


def test_distance_is_metric_not_degrees() -> None:
    geography = load_geography()
    a, b = geography.to_l93(3.55, 43.65), geography.to_l93(3.56, 43.65)
    # 0.01° of longitude at 43.65° N is about 805 m.
    assert math.hypot(a.x - b.x, a.y - b.y) == pytest.approx(805, rel=0.01)


def test_points_outside_the_valley_or_the_globe_are_rejected() -> None:
    geography = load_geography()
    with pytest.raises(OutsideValleyError, match="lon=3.88"):
        geography.locate(3.88, 43.61)  # Montpellier
    with pytest.raises(InvalidInputError, match="lat=95"):
        geography.locate(3.5, 95)
    with pytest.raises(InvalidInputError, match="lon=nan"):
        geography.locate(float("nan"), 43.6)
