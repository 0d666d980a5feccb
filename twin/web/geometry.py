"""The map's frame: the 28 communes' real boundaries as SVG paths, drawn from WGS84.

Boundaries come from the twin's geography (Lambert-93), simplified to 25 m (a pixel of a
1,000-unit-wide map is about 40 m) and converted to lon/lat, then to map units by an
equirectangular projection scaled at the valley's mean latitude: at this size it is
indistinguishable from a conformal one, and the page's script places assets with the same
three numbers. Not responsible for the assets (:mod:`twin.web.assets`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import shapely

from twin.asof import to_wgs84
from twin.geography import Geography, load_geography

MAP_WIDTH = 1000.0
SIMPLIFY_M = 25.0


@dataclass(frozen=True)
class Frame:
    """lon/lat → map units: x = (lon - west) * scale_x, y = (north - lat) * scale_y."""

    west: float
    north: float
    scale_x: float
    scale_y: float
    height: float

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        """Map units of a WGS84 point."""
        return (lon - self.west) * self.scale_x, (self.north - lat) * self.scale_y


@dataclass(frozen=True)
class CommuneShape:
    """One commune as the map draws it."""

    insee: str
    name: str
    path: str  # SVG path data in map units
    label_x: float
    label_y: float


def _rings(geometry: Any) -> list[Any]:
    polygons = getattr(geometry, "geoms", [geometry])
    rings = []
    for polygon in polygons:
        rings.append(polygon.exterior)
        rings.extend(polygon.interiors)
    return rings


@cache
def valley_map() -> tuple[Frame, tuple[CommuneShape, ...]]:
    """The frame and the communes' shapes (computed once: the geography never changes)."""
    return _valley_map(load_geography())


def _valley_map(geography: Geography) -> tuple[Frame, tuple[CommuneShape, ...]]:
    outlines = []
    for commune in geography.communes:
        simple = shapely.simplify(commune.boundary, SIMPLIFY_M, preserve_topology=True)
        lonlat = shapely.transform(simple, to_wgs84().transform, interleaved=False)
        outlines.append((commune, lonlat))
    west, south, east, north = shapely.total_bounds([shape for _, shape in outlines])
    scale_x = MAP_WIDTH / (east - west)
    scale_y = scale_x / math.cos(math.radians((north + south) / 2))
    frame = Frame(
        float(west), float(north), float(scale_x), float(scale_y), float((north - south) * scale_y)
    )
    shapes = []
    for commune, lonlat in outlines:
        parts = []
        for ring in _rings(lonlat):
            points = [frame.xy(lon, lat) for lon, lat in ring.coords]
            parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in points) + "Z")
        label = lonlat.representative_point()
        label_x, label_y = frame.xy(label.x, label.y)
        shapes.append(CommuneShape(commune.insee, commune.name, "".join(parts), label_x, label_y))
    return frame, tuple(shapes)
