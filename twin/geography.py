"""The valley's real geography: its 28 communes, and conversions between WGS84 and Lambert-93.

Coordinates come in and go out as WGS84 lon/lat; every distance and area is computed in
RGF93 / Lambert-93 (EPSG:2154). Boundaries and populations ship in ``twin/data`` (see its
ATTRIBUTION.md). Not responsible for indexing assets (see :mod:`twin.spatial`).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import shapely
from pyproj import Transformer
from shapely.geometry import Polygon, shape

from domain import Position
from twin.errors import InvalidInputError, OutsideValleyError

WGS84 = "EPSG:4326"
LAMBERT_93 = "EPSG:2154"


@dataclass(frozen=True)
class Commune:
    """A member commune of the Communauté de communes Vallée de l'Hérault."""

    insee: str
    name: str
    population: int
    boundary: Polygon  # Lambert-93 metres

    @property
    def area_km2(self) -> float:
        """Planimetric area in Lambert-93, in km²."""
        area: float = self.boundary.area  # shapely is untyped
        return area / 1e6

    def as_dict(self) -> dict[str, object]:
        """Plain values, as the CLI prints them."""
        return {
            "insee": self.insee,
            "name": self.name,
            "population": self.population,
            "area_km2": round(self.area_km2, 2),
        }


class Geography:
    """The 28 communes, a point-in-commune lookup and the WGS84 ↔ Lambert-93 projection."""

    def __init__(self, communes: list[Commune]) -> None:
        self.communes = sorted(communes, key=lambda c: c.insee)
        self._by_insee = {c.insee: c for c in self.communes}
        self._tree = shapely.STRtree([c.boundary for c in self.communes])
        for commune in self.communes:
            shapely.prepare(commune.boundary)
        self._to_l93 = Transformer.from_crs(WGS84, LAMBERT_93, always_xy=True)
        self._to_wgs84 = Transformer.from_crs(LAMBERT_93, WGS84, always_xy=True)
        self.outline = shapely.union_all([c.boundary for c in self.communes])

    def commune(self, insee: str) -> Commune:
        """Return the commune with this INSEE code."""
        try:
            return self._by_insee[insee]
        except KeyError:
            raise InvalidInputError(
                "insee", insee, "the INSEE code of one of the 28 communes"
            ) from None

    def commune_named(self, name_or_insee: str) -> Commune:
        """Return the commune with this INSEE code or name (case and accents as written)."""
        if name_or_insee in self._by_insee:
            return self._by_insee[name_or_insee]
        for commune in self.communes:
            if commune.name.casefold() == name_or_insee.casefold():
                return commune
        raise InvalidInputError(
            "commune", name_or_insee, "the name or INSEE code of one of the 28 communes"
        )

    def to_l93(self, lon: float, lat: float) -> Position:
        """Project a WGS84 lon/lat to Lambert-93 metres."""
        lon, lat = check_lon_lat(lon, lat)
        x, y = self._to_l93.transform(lon, lat)
        return Position(float(x), float(y))

    def to_wgs84(self, x: float, y: float) -> tuple[float, float]:
        """Return the WGS84 (lon, lat) of a Lambert-93 point."""
        lon, lat = self._to_wgs84.transform(x, y)
        return float(lon), float(lat)

    def commune_at(self, position: Position) -> Commune | None:
        """Return the commune containing the Lambert-93 point, or None outside the valley."""
        point = shapely.Point(position.x, position.y)
        for index in self._tree.query(point, predicate="intersects"):
            return self.communes[int(index)]
        return None

    def locate(self, lon: float, lat: float) -> tuple[Position, Commune]:
        """Project a lon/lat and name its commune; raise if it lies outside the valley."""
        position = self.to_l93(lon, lat)
        commune = self.commune_at(position)
        if commune is None:
            raise OutsideValleyError(lon, lat)
        return position, commune

    def boundary_wgs84(self, commune: Commune) -> Polygon:
        """Return a commune's boundary in lon/lat (for maps and GeoJSON)."""
        return shapely.transform(commune.boundary, self._to_wgs84.transform, interleaved=False)


def check_lon_lat(lon: object, lat: object) -> tuple[float, float]:
    """Return (lon, lat) as floats, or name the coordinate that is not a valid WGS84 value."""
    for field, value, limit in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidInputError(field, value, "a finite number of degrees")
        if abs(value) > limit:
            raise InvalidInputError(field, value, f"degrees between -{limit:g} and {limit:g}")
    return float(lon), float(lat)  # type: ignore[arg-type]


@cache
def load_geography() -> Geography:
    """Load the 28 communes shipped with the twin (cached: the data never changes at run time)."""
    data = files("twin") / "data"
    populations: dict[str, tuple[str, int]] = {}
    with (data / "ccvh_communes.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            populations[row["insee_code"]] = (row["name"], int(row["population_municipale"]))
    features = json.loads((data / "ccvh-communes.geojson").read_text(encoding="utf-8"))["features"]
    to_l93 = Transformer.from_crs(WGS84, LAMBERT_93, always_xy=True)
    communes = []
    for feature in features:
        insee = feature["properties"]["code"]
        _, population = populations[insee]
        boundary = shapely.transform(
            shape(feature["geometry"]), to_l93.transform, interleaved=False
        )
        communes.append(
            Commune(
                insee=insee,
                name=feature["properties"]["nom"],
                population=population,
                boundary=boundary,
            )
        )
    return Geography(communes)
