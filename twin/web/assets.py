"""The map's rows: each asset's live state from the read models, placed in WGS84, with its mark.

One row per asset that is not retired, read from ``asset_state`` (and, for what the map sizes
assets by, ``footfall_scanner_hourly``, ``energy_daily`` and ``service_occupancy``). Each row
carries the band its colour or size comes from and a sentence saying it (the text alternative
to the colour), so the page's script only maps bands to styles. Positions are converted from
Lambert-93 once per asset and position, then cached. No personal data: a service shows its
occupancy, never who holds its places. Not responsible for keeping the views current (the
feed) nor for drawing (the page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from twin.asof import to_wgs84
from twin.devices import FILL_SENSOR
from twin.projections.assets import ASSET_STATE
from twin.projections.energy import ENERGY_DAILY
from twin.projections.footfall import FOOTFALL_SCANNER_HOURLY
from twin.projections.rows import Db
from twin.projections.services import SERVICE_OCCUPANCY
from twin.projections.timebins import VALLEY_TIME, local_day

# The read models the map and the asset pages read: the feed keeps these current.
MAP_VIEWS = (
    "asset_state",
    "bin_fill_hourly",
    "footfall_hourly",
    "energy_daily",
    "service_occupancy",
)
# A fill sensor is silent past its expected interval, the one `twin health` judges it by.
DEFAULT_SILENT_AFTER = FILL_SENSOR.expected_interval
# Fill bands: (lower bound in %, band name, what the legend says).
FILL_BANDS = ((100.0, "full", "100 % or more"), (80.0, "high", "80–99 %"), (50.0, "mid", "50–79 %"))
FILL_LOW = ("low", "0–49 %")
# Size bands of what beacons, sites and services are sized by: (lower bound, band).
SIZE_BANDS = {
    "footfall": ((500, "l"), (100, "m"), (1, "s")),  # devices counted today
    "kwh": ((50.0, "l"), (10.0, "m"), (0.001, "s")),  # kWh of the last full day
    "occupancy": ((0.9, "l"), (0.5, "m"), (0.0001, "s")),  # share of places taken
}
_COLUMNS = ", ".join(f'"{name}"' for name in ASSET_STATE.names)


@dataclass(frozen=True)
class MapSettings:
    """What decides an asset's mark."""

    silent_after: timedelta = DEFAULT_SILENT_AFTER


class Positions:
    """Lambert-93 → WGS84 per asset, computed once per (asset, position)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, float, float, float]] = {}

    def lon_lat(self, asset_id: str, x: float, y: float) -> tuple[float, float]:
        """The asset's lon/lat, converted again only if it moved."""
        known = self._cache.get(asset_id)
        if known is not None and known[0] == x and known[1] == y:
            return known[2], known[3]
        lon, lat = to_wgs84().transform(x, y)
        lon, lat = round(float(lon), 6), round(float(lat), 6)
        self._cache[asset_id] = (x, y, lon, lat)
        return lon, lat


def valley_clock(db: Db) -> datetime | None:
    """The newest world time any asset's facts reached: the map's "now" (None: no asset)."""
    (row,) = db.fetch(f'SELECT MAX("last_event_at") FROM {db.dialect.table(ASSET_STATE.name)}')
    if row[0] is None:
        return None
    read = db.dialect.from_db.get("instant")
    value = read(row[0]) if read is not None else row[0]
    return value if isinstance(value, datetime) else None


def read_asset_rows(db: Db, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """``asset_state`` rows as Python values: all of them, or those of these aggregate ids."""
    read = db.dialect.reader(ASSET_STATE)
    if ids is None:
        statement = f"SELECT {_COLUMNS} FROM {db.dialect.table(ASSET_STATE.name)}"
        raws = db.fetch(statement)
    else:
        raws = []
        for chunk in db.dialect.key_chunks(ids):
            statement = db.dialect.keyed_select(ASSET_STATE, "aggregate_id", len(chunk))
            raws.extend(db.fetch(statement, chunk))
    return [dict(zip(ASSET_STATE.names, read(raw), strict=True)) for raw in raws]


def _in_ids(db: Db, column: str, ids: list[str] | None) -> tuple[str, list[Any]]:
    if ids is None:
        return "", []
    marks = ", ".join([db.dialect.placeholder] * len(ids))
    return f' AND "{column}" IN ({marks})', list(ids)


def footfall_today(db: Db, now: datetime, ids: list[str] | None = None) -> dict[str, int]:
    """Devices counted by each beacon since the valley's local midnight before ``now``."""
    midnight = datetime.combine(local_day(now), time(0), tzinfo=VALLEY_TIME).astimezone(UTC)
    since = db.dialect.writer(FOOTFALL_SCANNER_HOURLY, ["hour"])([midnight])[0]
    extra, params = _in_ids(db, "beacon_id", ids)
    hour = db.dialect.typed_placeholder(FOOTFALL_SCANNER_HOURLY.column("hour"))
    rows = db.fetch(
        f'SELECT "beacon_id", SUM("devices") FROM {db.dialect.table(FOOTFALL_SCANNER_HOURLY.name)} '
        f'WHERE "hour" >= {hour}{extra} GROUP BY "beacon_id"',
        [since, *params],
    )
    return {str(beacon): int(total or 0) for beacon, total in rows}


def kwh_last_day(db: Db, now: datetime, ids: list[str] | None = None) -> dict[str, float]:
    """Each site's kWh over the last full local day before ``now`` (a lighting cabinet's night)."""
    yesterday = local_day(now) - timedelta(days=1)
    day = db.dialect.writer(ENERGY_DAILY, ["day"])([yesterday])[0]
    extra, params = _in_ids(db, "site_id", ids)
    day_mark = db.dialect.typed_placeholder(ENERGY_DAILY.column("day"))
    rows = db.fetch(
        f'SELECT "site_id", "kwh" FROM {db.dialect.table(ENERGY_DAILY.name)} '
        f'WHERE "day" = {day_mark}{extra}',
        [day, *params],
    )
    return {str(site): float(kwh or 0.0) for site, kwh in rows}


def service_occupancy(db: Db, ids: list[str] | None = None) -> dict[str, tuple[int, int]]:
    """(places taken, capacity) of each service: counts only."""
    extra, params = _in_ids(db, "service_id", ids)
    rows = db.fetch(
        f'SELECT "service_id", "occupied", "capacity" FROM {db.dialect.table(SERVICE_OCCUPANCY.name)} '
        f"WHERE 1 = 1{extra}",
        params,
    )
    return {str(service): (int(taken or 0), int(places or 0)) for service, taken, places in rows}


def _size_band(measure: str, value: float | None) -> str:
    if value is None:
        return "none"
    for lower, band in SIZE_BANDS[measure]:
        if value >= lower:
            return band
    return "zero"


def _fill_mark(
    row: dict[str, Any], now: datetime, settings: MapSettings
) -> tuple[str, str, float | None]:
    fill, measured = row["fill_percent"], row["fill_measured_at"]
    if row["sensor_device_id"] is None and measured is None:
        return "nosensor", "no fill sensor", None
    if measured is None or now - measured > settings.silent_after:
        since = (
            "never reported" if measured is None else f"silent since {measured:%Y-%m-%d %H:%M} UTC"
        )
        return "silent", f"sensor {since}", fill
    text = f"fill {fill:.0f} % at {measured:%Y-%m-%d %H:%M} UTC"
    for lower, band, _ in FILL_BANDS:
        if fill >= lower:
            return band, text, fill
    return FILL_LOW[0], text, fill


class AssetMarks:
    """Turns read-model rows into the map's rows (what ``/api/assets`` answers)."""

    def __init__(self, settings: MapSettings | None = None) -> None:
        self.settings = settings or MapSettings()
        self.positions = Positions()

    def rows(self, db: Db, now: datetime, ids: list[str] | None = None) -> list[dict[str, Any]]:
        """The map's rows of every asset (or of these aggregate ids), retired ones included
        with ``retired`` set so that a live page can take them off."""
        state = read_asset_rows(db, ids)
        footfall = footfall_today(db, now, ids)
        kwh = kwh_last_day(db, now, ids)
        services = service_occupancy(db, ids)
        return [self.mark(row, now, footfall, kwh, services) for row in state]

    def mark(
        self,
        row: dict[str, Any],
        now: datetime,
        footfall: dict[str, int],
        kwh: dict[str, float],
        services: dict[str, tuple[int, int]],
    ) -> dict[str, Any]:
        """One asset's map row."""
        key = row["aggregate_id"]
        lon, lat = self.positions.lon_lat(key, row["x_l93"], row["y_l93"])
        kind = row["kind"]
        value: float | None
        if kind == "bin":
            band, text, value = _fill_mark(row, now, self.settings)
        elif kind == "beacon":
            value = footfall.get(key, 0)
            band, text = _size_band("footfall", value), f"{value} devices counted today"
        elif kind == "site" and row["subkind"] == "lighting_cabinet":
            value = kwh.get(key)
            band = _size_band("kwh", value)
            text = "no reading for last night" if value is None else f"{value:.1f} kWh last night"
        elif kind == "site":
            value = row["occupancy"]
            band = _size_band("footfall", value)
            text = "no count" if value is None else f"{value} people counted on site"
        else:
            taken, places = services.get(key, (0, row["capacity"] or 0))
            value = taken / places if places else None
            band = _size_band("occupancy", value)
            text = f"{taken} of {places} places taken"
        return {
            "code": row["code"],
            "kind": kind,
            "subkind": row["subkind"],
            "commune_insee": row["commune_insee"],
            "lon": lon,
            "lat": lat,
            "band": band,
            "value": None if value is None else round(float(value), 3),
            "text": text,
            "battery_percent": row["battery_percent"],
            "last_event_at": _iso(row["last_event_at"]),
            "version": row["version"],
            "retired": bool(row["retired"]),
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
