"""The valley's reporting devices as the read models know them: which should report, how often,
when each last did, and the hours it had data in.

A device is the asset that reports through it: a container's fill-level sensor, a beacon (a
BLE scanner counting footfall), a site's energy meter, a site's door counter. Everything is
read from the read models (``asset_state``, ``bin_fill_hourly``, ``footfall_scanner_hourly``,
``energy_meter_marks``), never by replaying the log, so the whole valley is read in a few
queries; the views must be caught up for the answer to be current (``twin projections run``,
or :func:`twin.projections.catch_up`). Not responsible for judging the figures
(:mod:`twin.health`, :mod:`twin.alerts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from twin.errors import InvalidInputError
from twin.projections import PROJECTIONS, view_store
from twin.projections.assets import ASSET_STATE
from twin.projections.energy import ENERGY_MARKS
from twin.projections.fill import BIN_FILL_HOURLY
from twin.projections.footfall import FOOTFALL_SCANNER_HOURLY
from twin.projections.timebins import hour_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from twin.application import ValleyTwin
    from twin.projections.rows import Db
    from twin.projections.sql import Dialect, Table

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class DeviceKind:
    """A kind of reporting device, how often it is expected to report, and why that often."""

    name: str
    label: str
    asset_kind: str  # the kind of asset it reports about (``asset_state.kind``)
    expected_interval: timedelta  # a reading is due at least this often, delivery included
    why: str
    keeps_hours: bool  # whether a read model keeps the hours it reported in (for gaps)


FILL_SENSOR = DeviceKind(
    "fill_sensor",
    "fill-level sensors on containers",
    "bin",
    timedelta(hours=12),
    "the valley's ultrasonic sensors (Milesight EM310-UDL, Dragino LDDS75 on LoRaWAN) are set "
    "to report twice a day, as the live demo's feed does (fill_every_hours = 12): a drop-off "
    "column changes by a few points in 12 h, and a battery lasts years at that rate",
    True,
)
BLE_SCANNER = DeviceKind(
    "ble_scanner",
    "beacons (BLE footfall scanners)",
    "beacon",
    timedelta(minutes=20),
    "the ble-footfall adapter counts 15-minute intervals (interval_s = 900), empty ones as 0, "
    "and closes each 60 s after it ends (grace_s = 60); 20 min leaves the gateway time to send",
    True,
)
ENERGY_METER = DeviceKind(
    "energy_meter",
    "energy meters (lighting cabinets, public buildings)",
    "site",
    timedelta(hours=25),
    "meters give one cumulative index a day (the simulated feed reads them at 06:00 UTC, as a "
    "smart meter's daily index is published once a day); one more hour for the gateway's poll",
    True,
)
DOOR_COUNTER = DeviceKind(
    "door_counter",
    "door counters (third places, coworking)",
    "site",
    timedelta(hours=24),
    "a door counter posts while people pass; a third place is closed at night but open every "
    "day, so a day without a count is the first silence worth a look",
    False,  # no read model keeps occupancy over time: freshness only, no gaps
)
DEVICE_KINDS: tuple[DeviceKind, ...] = (FILL_SENSOR, BLE_SCANNER, ENERGY_METER, DOOR_COUNTER)
METERED_SITE_KINDS = frozenset({"lighting_cabinet", "public_building"})
COUNTED_SITE_KINDS = frozenset({"third_place", "coworking"})
# Projections whose tables are read here.
VIEWS = ("asset_state", "bin_fill_hourly", "footfall_hourly", "energy_daily")


@dataclass(frozen=True)
class Device:
    """One asset expected to report through one kind of device, as the read models know it."""

    kind: DeviceKind
    asset_id: str
    code: str
    commune_insee: str | None
    subkind: str | None
    expected_since: datetime  # when it was installed (or, for a sensor, first heard of)
    last_reading_at: datetime | None  # its newest reading, whatever its date of arrival
    data_hours: tuple[datetime, ...]  # UTC hours with a reading, from ``hours_since`` on, sorted
    battery_percent: float | None
    battery_at: datetime | None
    fault_count: int
    row: dict[str, Any]  # its ``asset_state`` row, for callers that need more

    def silent_for(self, now: datetime) -> timedelta | None:
        """How long since its newest reading (None if it never reported)."""
        return None if self.last_reading_at is None else now - self.last_reading_at


def read_devices(twin: ValleyTwin, hours_since: datetime) -> list[Device]:
    """Every device expected to report, with the hours it had data in from ``hours_since``."""
    if hours_since.tzinfo is None:
        raise InvalidInputError("hours_since", hours_since.isoformat(), "a timezone-aware instant")
    store = view_store(twin)
    store.ensure([PROJECTIONS[name] for name in VIEWS])
    start = hour_of(hours_since)
    with store.read() as db:
        dialect = store.dialect
        assets = select_rows(db, dialect, ASSET_STATE, "1 = 1", ())
        live = [row for row in assets if not row["retired"]]
        bins = [r for r in live if r["kind"] == "bin" and r["sensor_device_id"] is not None]
        beacons = [r for r in live if r["kind"] == "beacon"]
        meters = [
            r
            for r in live
            if r["kind"] == "site"
            and (r["subkind"] in METERED_SITE_KINDS or r["meter_read_at"] is not None)
        ]
        counters = [
            r
            for r in live
            if r["kind"] == "site"
            and (r["subkind"] in COUNTED_SITE_KINDS or r["occupancy_at"] is not None)
        ]
        fill = _fill_hours(db, dialect, start)
        first_heard = _first_heard(db, dialect, bins, fill, start)
        footfall = _keyed_hours(
            db,
            dialect,
            FOOTFALL_SCANNER_HOURLY,
            "zone_code",
            sorted({r["zone_code"] for r in beacons if r["zone_code"] is not None}),
            "hour",
            start,
            owner="beacon_id",
        )
        energy = _keyed_hours(
            db, dialect, ENERGY_MARKS, "site_id", [r["aggregate_id"] for r in meters], "at", start
        )
    devices = [_fill_sensor(row, fill.get(row["aggregate_id"]), first_heard) for row in bins]
    devices += [
        _device(
            BLE_SCANNER,
            row,
            row["created_at"],
            _newest(row["counted_until"], row["battery_at"]),
            footfall.get(row["aggregate_id"], []),
        )
        for row in beacons
    ]
    devices += [
        _device(
            ENERGY_METER,
            row,
            row["created_at"],
            row["meter_read_at"],
            energy.get(row["aggregate_id"], []),
        )
        for row in meters
    ]
    devices += [
        _device(DOOR_COUNTER, row, row["created_at"], row["occupancy_at"], []) for row in counters
    ]
    return devices


def select_rows(
    db: Db, dialect: Dialect, table: Table, where: str, params: Sequence[Any]
) -> list[dict[str, Any]]:
    """The rows of a view table matching an SQL condition, as dicts of Python values."""
    names = table.names
    columns = ", ".join(f'"{n}"' for n in names)
    read = dialect.reader(table)
    statement = f"SELECT {columns} FROM {dialect.table(table.name)} WHERE {where}"
    return [dict(zip(names, read(raw), strict=True)) for raw in db.fetch(statement, params)]


def instant_parameter(dialect: Dialect, table: Table, column: str, value: datetime) -> Any:
    """``value`` as the database compares it with ``column``, and its placeholder."""
    return dialect.writer(table, [column])([value])[0]


def _fill_hours(db: Db, dialect: Dialect, start: datetime) -> dict[str, list[dict[str, Any]]]:
    """Each bin's hourly rows with readings, from ``start`` on, oldest first."""
    mark = dialect.typed_placeholder(BIN_FILL_HOURLY.column("hour"))
    rows = select_rows(
        db,
        dialect,
        BIN_FILL_HOURLY,
        f'"hour" >= {mark} AND "readings" > 0',
        (instant_parameter(dialect, BIN_FILL_HOURLY, "hour", start),),
    )
    by_bin: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r["hour"]):
        by_bin.setdefault(row["bin_id"], []).append(row)
    return by_bin


def _first_heard(
    db: Db,
    dialect: Dialect,
    bins: Sequence[dict[str, Any]],
    fill: dict[str, list[dict[str, Any]]],
    start: datetime,
) -> dict[str, datetime]:
    """When a sensor was first heard of, for the sensors heard of only after ``start``.

    A container is installed long before a sensor is fitted to it: its silence before then
    is no gap. Asked only of the bins whose first reading from ``start`` on is not at
    ``start`` itself (one keyed look-up each, on the table's primary key).
    """
    first: dict[str, datetime] = {}
    mark = dialect.typed_placeholder(BIN_FILL_HOURLY.column("hour"))
    before = instant_parameter(dialect, BIN_FILL_HOURLY, "hour", start)
    statement = (
        f"SELECT 1 FROM {dialect.table(BIN_FILL_HOURLY.name)} "
        f'WHERE "bin_id" = {dialect.placeholder} AND "hour" < {mark} LIMIT 1'
    )
    for row in bins:
        rows = fill.get(row["aggregate_id"])
        if (
            rows
            and rows[0]["hour"] > start
            and not db.fetch(statement, (row["aggregate_id"], before))
        ):
            first[row["aggregate_id"]] = rows[0]["fill_last_at"] or rows[0]["hour"]
    return first


def _keyed_hours(
    db: Db,
    dialect: Dialect,
    table: Table,
    key: str,
    keys: Sequence[str],
    when: str,
    start: datetime,
    owner: str | None = None,
) -> dict[str, list[datetime]]:
    """The UTC hours, from ``start`` on, in which each owner (``owner`` column, else ``key``)
    has a row, sorted; read by ``key`` (the leading column of an index) in chunks."""
    mark = dialect.typed_placeholder(table.column(when))
    since = instant_parameter(dialect, table, when, start)
    owner = owner or key
    hours: dict[str, set[datetime]] = {}
    for chunk in dialect.key_chunks(list(keys)):
        if dialect.name == "sqlite":
            condition = f'"{key}" IN ({", ".join("?" * len(chunk))}) AND "{when}" >= {mark}'
            params: tuple[Any, ...] = (*chunk, since)
        else:
            condition = f'"{key}" = ANY(%s) AND "{when}" >= {mark}'
            params = (*chunk, since)
        for row in select_rows(db, dialect, table, condition, params):
            hours.setdefault(row[owner], set()).add(hour_of(row[when]))
    return {name: sorted(found) for name, found in hours.items()}


def _fill_sensor(
    row: dict[str, Any], rows: list[dict[str, Any]] | None, first_heard: dict[str, datetime]
) -> Device:
    rows = rows or []
    newest = max((r["fill_last_at"] for r in rows if r["fill_last_at"] is not None), default=None)
    if row["fill_measured_at"] is not None and row["fill_measured_at"] != row["last_emptied_at"]:
        newest = _newest(newest, row["fill_measured_at"])  # (an emptying is no reading)
    newest = _newest(newest, row["battery_at"])
    since = first_heard.get(row["aggregate_id"], row["created_at"])
    return _device(FILL_SENSOR, row, since, newest, [r["hour"] for r in rows])


def _device(
    kind: DeviceKind,
    row: dict[str, Any],
    since: datetime,
    newest: datetime | None,
    hours: Sequence[datetime],
) -> Device:
    return Device(
        kind=kind,
        asset_id=row["aggregate_id"],
        code=row["code"],
        commune_insee=row["commune_insee"],
        subkind=row["subkind"],
        expected_since=since,
        last_reading_at=newest,
        data_hours=tuple(hours),
        battery_percent=row["battery_percent"] if kind in (FILL_SENSOR, BLE_SCANNER) else None,
        battery_at=row["battery_at"] if kind in (FILL_SENSOR, BLE_SCANNER) else None,
        fault_count=(row["sensor_fault_count"] or 0) if kind is FILL_SENSOR else 0,
        row=row,
    )


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def gap_hours(device: Device, start: datetime, end: datetime) -> tuple[int, int]:
    """(hours expected, hours with no data where data was expected) over [start, end).

    Whole UTC hours only, from the later of ``start`` and when the device was expected to
    report. An hour is covered when a reading fell in it or in the expected interval before it
    (a sensor reporting every 12 h covers the 12 hours from each reading: only the hours past
    that are missing data).
    """
    first = _hour_ceiling(max(start, device.expected_since))
    last = hour_of(end)
    if first >= last:
        return 0, 0
    expected = int((last - first) / HOUR)
    span = max(device.kind.expected_interval, HOUR)
    covered = 0
    reach = first  # hours before this are counted already
    for hour in device.data_hours:
        begin, until = max(hour, reach, first), min(hour + span, last)
        if until > begin:
            covered += int((_hour_ceiling(until) - hour_of(begin)) / HOUR)
            reach = _hour_ceiling(until)
    return expected, expected - covered


def _hour_ceiling(instant: datetime) -> datetime:
    floor = hour_of(instant)
    return floor if floor == instant else floor + HOUR
