"""Open-data exports of the valley's assets: CSV (one row per asset) and GeoJSON (RFC 7946).

Both carry the same fields, those of :func:`twin.asof.asset_row`: no person appears in them
(services give counts of places, never who holds them). Coordinates are WGS84 lon/lat with six
decimals (about 10 cm), as RFC 7946 asks: no ``crs`` member, lon before lat, polygons' outer
rings counter-clockwise. Sites registered with an area (activity zones, remarkable sites) are
exported with that polygon; everything else is a point. Times are ISO 8601 in UTC with ``Z``.

Not responsible for choosing which assets are exported nor as of when (:mod:`twin.export.files`).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely.geometry import mapping

from domain import Site
from twin.asof import ASSET_KINDS, AssetAsOf, asset_row, row_fields, to_wgs84

if TYPE_CHECKING:
    from collections.abc import Sequence

    from twin.geography import Geography

DECIMALS = 6
# Per-asset fields that only say how the twin stores it: not for an open-data portal.
_INTERNAL = {"version", "retired"}


def iso_z(instant: datetime) -> str:
    """An instant as ISO 8601 in UTC, ``Z``-suffixed."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def plain(value: Any) -> Any:
    """A row value as it goes into a file."""
    return iso_z(value) if isinstance(value, datetime) else value


def columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The base columns, then those of each kind exported, in a fixed order."""
    kinds = [kind for kind in ASSET_KINDS if any(row["kind"] == kind for row in rows)]
    return [name for name in row_fields(kinds) if name not in _INTERNAL]


def rows_of(assets: Sequence[AssetAsOf], geography: Geography) -> list[dict[str, Any]]:
    """The exported rows of some assets."""
    return [asset_row(asset, geography) for asset in assets]


def write_csv(assets: Sequence[AssetAsOf], geography: Geography, handle: IO[str]) -> int:
    """Write one CSV row per asset (header first); return the number of rows."""
    rows = rows_of(assets, geography)
    writer = csv.DictWriter(
        handle, fieldnames=columns(rows), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({name: plain(value) for name, value in row.items()})
    return len(rows)


def geometry_wgs84(asset: AssetAsOf) -> dict[str, Any]:
    """The asset's GeoJSON geometry in WGS84: a site's own area, else its point."""
    aggregate = asset.aggregate
    if isinstance(aggregate, Site):
        shape = shapely.from_wkt(aggregate.geometry_wkt)
        if shape.geom_type != "Point":
            transformer = to_wgs84()

            def project(xy: np.ndarray) -> np.ndarray:
                lon, lat = transformer.transform(xy[:, 0], xy[:, 1])
                return np.round(np.column_stack([lon, lat]), DECIMALS)

            projected = shapely.orient_polygons(
                shapely.transform(shape, project), exterior_cw=False
            )
            geometry: dict[str, Any] = _lists(mapping(projected))
            return geometry
    lon, lat = to_wgs84().transform(aggregate.x_l93, aggregate.y_l93)
    return {
        "type": "Point",
        "coordinates": [round(float(lon), DECIMALS), round(float(lat), DECIMALS)],
    }


def geojson_collection(
    assets: Sequence[AssetAsOf], geography: Geography, at: datetime | None
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection: one Feature per asset, its fields as properties."""
    features = []
    for asset, row in zip(assets, rows_of(assets, geography), strict=True):
        properties = {
            name: plain(value)
            for name, value in row.items()
            if name not in _INTERNAL and name not in ("lon", "lat") and value is not None
        }
        features.append(
            {
                "type": "Feature",
                "id": row["code"],
                "geometry": geometry_wgs84(asset),
                "properties": properties,
            }
        )
    # "as_of" is a foreign member (RFC 7946 §6.1): readers ignore it, people want it.
    return {
        "type": "FeatureCollection",
        "as_of": None if at is None else iso_z(at),
        "features": features,
    }


def _lists(value: Any) -> Any:
    """shapely's mapping() gives tuples; JSON wants lists (json would cope, tests compare)."""
    if isinstance(value, tuple | list):
        return [_lists(item) for item in value]
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    return value
