"""The ``asset_state`` view: one row per bin, beacon, site and service, as its events left it.

Kind, code, sub-kind (waste stream, site kind or service kind), zone, commune, position
(Lambert-93 x, y), the key current fields of each kind, whether it is retired, its version
and the time of its last event. Every event of those four aggregates is applied, so the row's
version must be the previous one plus one: a gap or a repeat stops the projection (it would
mean an event was missed or applied twice). Citizens are not assets and have no row here.

A bin's ``overflow_count`` counts overflow episodes as the aggregate does
(:mod:`domain.overflows`), with the episode still open in ``overflowing_since`` (its first
sign) and ``overflow_last_sign_at``. Facts in world-time order are counted from the row alone;
a late sign or emptying, which may land inside an episode already counted or split one, is
counted again from the bin's marks: the working table ``bin_overflow_marks`` keeps the instant
of every emptying and every sign of overflowing (reports, 100 % readings), read only then.

A site's meter follows the aggregate's arithmetic in world time: a reading dated between two
earlier-recorded ones changes neither the last index nor the consumption (the energy from the
one before to the one after is the same, only shared differently), one dated before the
first adds the energy up to it. A corrected or retracted fact rebuilds the asset's row from
its facts (a retracted one still counts in its version).
Not responsible for time series (the other views) nor for history (the event store).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain import Beacon, Bin, Service, Site, ValleyAggregate
from domain.overflows import OVERFLOW_FILL_PERCENT, count_episodes, open_since
from twin.projections.base import CannotApply, Handler, Notes, Page, Projection, id_text
from twin.projections.rows import Db, KeyedRows
from twin.projections.sql import Column, Table

ASSET_STATE = Table(
    "asset_state",
    (
        Column("aggregate_id", "text"),
        Column("kind", "text"),
        Column("code", "text"),
        Column("subkind", "text"),  # bin: waste stream; site: site kind; service: service kind
        Column("zone_code", "text"),  # beacons
        Column("commune_insee", "text"),
        Column("x_l93", "real"),
        Column("y_l93", "real"),
        Column("capacity", "int"),  # bin: litres; service: places
        Column("fill_percent", "real"),
        Column("fill_measured_at", "instant"),
        Column("emptied_count", "int"),
        Column("emptied_mass_kg", "real"),
        Column("last_emptied_at", "instant"),
        Column("overflow_count", "int"),  # episodes (domain.overflows), not reports
        Column("overflowing_since", "instant"),  # first sign of the episode still open
        Column("overflow_last_sign_at", "instant"),  # its newest sign
        Column("sensor_device_id", "text"),
        Column("battery_percent", "real"),  # a bin's sensor or a beacon
        Column("battery_at", "instant"),  # when that level was measured (late ones are history)
        Column("sensor_fault_count", "int"),
        Column("footfall_total", "int"),
        Column("counted_until", "instant"),
        Column("meter_index_kwh", "real"),  # the index read last in world time
        Column("meter_read_at", "instant"),  # when
        Column("meter_first_index_kwh", "real"),  # the index read first in world time
        Column("meter_first_at", "instant"),  # when
        Column("consumption_kwh", "real"),
        Column("meter_replacements", "int"),
        Column("occupancy", "int"),  # sites: people counted on the site
        Column("occupancy_at", "instant"),
        Column("retired", "bool"),
        Column("created_at", "instant"),
        Column("last_event_at", "instant"),
        Column("version", "int"),
    ),
    key=("aggregate_id",),
    indexes=(("kind", "code"), ("commune_insee",)),
    fixed=("kind", "code", "subkind", "created_at"),
)
_BLANK = dict.fromkeys(ASSET_STATE.names)
BIN_OVERFLOW_MARKS = Table(
    "bin_overflow_marks",
    (Column("bin_id", "text"), Column("at", "instant"), Column("mark", "text")),
    key=("bin_id", "at", "mark"),
)
EMPTIED, SIGN = "emptied", "sign"  # the two kinds of mark
# What a fill reading changes (most of the log): such rows are updated in these columns only.
_FILL_COLUMNS = ("fill_percent", "fill_measured_at", "version", "last_event_at")


class _AssetPage(Page):
    def __init__(self, db: Db, notes: Notes) -> None:
        self.rows = KeyedRows(db, ASSET_STATE, hot=_FILL_COLUMNS)
        ids = notes.originator_ids()
        self.rows.load([id_text(aggregate_id) for aggregate_id in ids])
        # The same rows by the id's integer, for the fill readings' fast path.
        self.by_int = {u.int: row for u in ids if (row := self.rows.get(id_text(u))) is not None}
        self.hot_dirty = self.rows.hot_dirty
        self.db = db
        # Marks of this page, written at flush (a set: a mark recorded twice is one row).
        self.new_marks: set[tuple[str, Any, str]] = set()
        # (emptyings, signs), sorted, of the bins a late fact made this page read: kept in step.
        self.marks: dict[str, tuple[list[Any], list[Any]]] = {}

    def flush(self) -> None:
        self.rows.flush()
        self.db.upsert(BIN_OVERFLOW_MARKS, sorted(self.new_marks))

    # ---- the two moves every event makes ----------------------------------------------
    def _create(self, event: Any, kind: str, **fields: Any) -> None:
        key = id_text(event.originator_id)
        if self.rows.get(key) is not None:
            raise CannotApply(f"{kind} {event.code} ({key}) is created a second time")
        if event.originator_version != ValleyAggregate.INITIAL_VERSION:
            raise CannotApply(
                f"{kind} {event.code} is created at version {event.originator_version}"
            )
        row = dict(_BLANK)
        row.update(
            aggregate_id=key,
            kind=kind,
            code=event.code,
            commune_insee=event.commune_insee,
            x_l93=event.x_l93,
            y_l93=event.y_l93,
            retired=False,
            created_at=event.timestamp,
            last_event_at=event.timestamp,
            version=event.originator_version,
            **fields,
        )
        self.rows.put(key, row)
        self.by_int[event.originator_id.int] = row

    def _next(self, event: Any) -> dict[str, Any]:
        key = id_text(event.originator_id)
        row = self.rows.get(key)
        if row is None:
            raise CannotApply(f"aggregate {key} has no row: its creation event was never applied")
        if event.originator_version != row["version"] + 1:
            raise CannotApply(
                f"{row['kind']} {row['code']} is at version {row['version']}; "
                f"an event of version {event.originator_version} cannot follow it"
            )
        row["version"] = event.originator_version
        row["last_event_at"] = _newest(row["last_event_at"], event.timestamp)
        self.rows.put(key, row)
        return row

    def touch(self, event: Any) -> None:
        """An event that changes none of the columns here: version and time only."""
        self._next(event)

    def retire(self, event: Any) -> None:
        self._next(event)["retired"] = True

    def move(self, event: Any) -> None:
        row = self._next(event)
        row.update(x_l93=event.x_l93, y_l93=event.y_l93, commune_insee=event.commune_insee)
        if "zone_code" in event.__dict__:
            row["zone_code"] = event.zone_code

    # ---- bins ---------------------------------------------------------------------------
    def bin_installed(self, event: Any) -> None:
        self._create(
            event,
            "bin",
            subkind=event.stream,
            capacity=event.capacity_l,
            emptied_count=0,
            emptied_mass_kg=0.0,
            overflow_count=0,
            sensor_fault_count=0,
        )

    def fill_measured(self, event: Any) -> None:
        # Most of the log is fill readings: _next inlined, falling back to it to explain.
        row = self.by_int.get(event.originator_id.int)
        if row is None or event.originator_version != row["version"] + 1:
            row = self._next(event)
        else:
            row["version"] = event.originator_version
            row["last_event_at"] = _newest(row["last_event_at"], event.timestamp)
            self.hot_dirty.add(row["aggregate_id"])
        measured, at = row["fill_measured_at"], event.timestamp
        # A late reading is history; a reading and a lift at one instant leave the bin empty
        # whichever came first (the aggregate's rule).
        if measured is None or at > measured or (at == measured and row["last_emptied_at"] != at):
            row["fill_percent"] = event.fill_percent
            row["fill_measured_at"] = at
        if event.fill_percent >= OVERFLOW_FILL_PERCENT:  # a sign of overflowing
            self._overflow_sign(row, event.timestamp)
            self.rows.put(row["aggregate_id"], row)  # more than the hot columns changed

    def emptied(self, event: Any) -> None:
        row = self._next(event)
        self._overflow_emptying(row, event.timestamp)
        row["emptied_count"] += 1
        row["emptied_mass_kg"] += event.mass_kg
        row["last_emptied_at"] = _newest(row["last_emptied_at"], event.timestamp)
        if _is_newest(row["fill_measured_at"], event.timestamp):
            row["fill_percent"] = 0.0  # as the aggregate does: an emptied bin is empty
            row["fill_measured_at"] = event.timestamp

    def overflow(self, event: Any) -> None:
        self._overflow_sign(self._next(event), event.timestamp)

    # ---- overflow episodes (domain.overflows) -------------------------------------------
    def _overflow_sign(self, row: dict[str, Any], at: Any) -> None:
        self._mark(row, at, SIGN)
        last_emptied = row["last_emptied_at"]
        if last_emptied is not None and at <= last_emptied:
            self._recount(row)  # late: its stretch between emptyings may be counted already
            return
        since = row["overflowing_since"]
        if since is None:
            row["overflow_count"] += 1
            row["overflowing_since"] = row["overflow_last_sign_at"] = at
        else:
            row["overflowing_since"] = min(since, at)
            row["overflow_last_sign_at"] = max(row["overflow_last_sign_at"], at)

    def _overflow_emptying(self, row: dict[str, Any], at: Any) -> None:
        """Before the row's ``last_emptied_at`` takes the emptying into account."""
        self._mark(row, at, EMPTIED)
        last_emptied, since = row["last_emptied_at"], row["overflowing_since"]
        if last_emptied is not None and at < last_emptied:
            self._recount(row)  # late: it may split an episode already counted
        elif since is not None and since <= at:
            if row["overflow_last_sign_at"] <= at:
                row["overflowing_since"] = row["overflow_last_sign_at"] = None  # it ends
            else:
                self._recount(row)  # signs on both sides of it: the episode splits
        # else: no episode open, or all its signs come after this emptying: nothing changes

    def _mark(self, row: dict[str, Any], at: Any, mark: str) -> None:
        key = row["aggregate_id"]
        self.new_marks.add((key, at, mark))
        known = self.marks.get(key)
        if known is not None:
            instants = known[0] if mark == EMPTIED else known[1]
            place = bisect_left(instants, at)
            if place == len(instants) or instants[place] != at:
                instants.insert(place, at)

    def _recount(self, row: dict[str, Any]) -> None:
        """Count the bin's episodes again from all its marks (this page's included)."""
        key = row["aggregate_id"]
        known = self.marks.get(key)
        if known is None:
            emptyings: set[datetime] = set()
            signs: set[datetime] = set()
            dialect = self.db.dialect
            read = dialect.reader(BIN_OVERFLOW_MARKS)
            statement = dialect.keyed_select(BIN_OVERFLOW_MARKS, "bin_id", 1)
            for params in dialect.key_chunks([key]):
                for raw in self.db.fetch(statement, params):
                    _, at, mark = read(raw)
                    (emptyings if mark == EMPTIED else signs).add(at)
            for bin_id, at, mark in self.new_marks:
                if bin_id == key:
                    (emptyings if mark == EMPTIED else signs).add(at)
            known = self.marks[key] = (sorted(emptyings), sorted(signs))
        emptyings_sorted, signs_sorted = known
        row["overflow_count"] = count_episodes(emptyings_sorted, signs_sorted)
        since = open_since(emptyings_sorted, signs_sorted)
        row["overflowing_since"] = since
        row["overflow_last_sign_at"] = None if since is None else signs_sorted[-1]

    def sensor_attached(self, event: Any) -> None:
        self._next(event)["sensor_device_id"] = event.device_id

    def sensor_detached(self, event: Any) -> None:
        self._next(event)["sensor_device_id"] = None

    def sensor_fault(self, event: Any) -> None:
        self._next(event)["sensor_fault_count"] += 1

    def battery(self, event: Any) -> None:
        row = self._next(event)
        if _is_newest(row["battery_at"], event.timestamp):
            row["battery_percent"] = event.battery_percent
            row["battery_at"] = event.timestamp

    # ---- beacons ------------------------------------------------------------------------
    def beacon_installed(self, event: Any) -> None:
        self._create(event, "beacon", zone_code=event.zone_code, footfall_total=0)

    def footfall(self, event: Any) -> None:
        row = self._next(event)
        row["footfall_total"] += event.count
        row["counted_until"] = _newest(row["counted_until"], event.timestamp)  # a late one: history

    # ---- sites --------------------------------------------------------------------------
    def site_registered(self, event: Any) -> None:
        self._create(
            event, "site", subkind=event.site_kind, consumption_kwh=0.0, meter_replacements=0
        )

    def energy(self, event: Any) -> None:
        self._meter_mark(self._next(event), event.timestamp, event.index_kwh, event.index_kwh)

    def meter_replaced(self, event: Any) -> None:
        row = self._next(event)
        self._meter_mark(row, event.timestamp, event.final_index_kwh, event.new_index_kwh)
        row["meter_replacements"] += 1

    @staticmethod
    def _meter_mark(row: dict[str, Any], at: datetime, index_in: float, index_out: float) -> None:
        """A reading (index in = index out) or a replacement (the old meter's final index in,
        the new one's first out), placed in world time as the aggregate places it."""
        if row["meter_read_at"] is None:
            row["meter_first_index_kwh"], row["meter_first_at"] = index_in, at
        elif at >= row["meter_read_at"]:  # in order: the energy since the last reading
            row["consumption_kwh"] += index_in - row["meter_index_kwh"]
        elif at < row["meter_first_at"]:  # before the first: the energy up to that one
            row["consumption_kwh"] += row["meter_first_index_kwh"] - index_out
            row["meter_first_index_kwh"], row["meter_first_at"] = index_in, at
            return
        else:  # between two: the same energy, but a replacement's jump is not consumption
            row["consumption_kwh"] += index_in - index_out
            return
        row["meter_index_kwh"], row["meter_read_at"] = index_out, at

    def occupancy(self, event: Any) -> None:
        row = self._next(event)
        if _is_newest(row["occupancy_at"], event.timestamp):
            row["occupancy"] = event.occupancy
            row["occupancy_at"] = event.timestamp

    # ---- services -----------------------------------------------------------------------
    def service_opened(self, event: Any) -> None:
        self._create(event, "service", subkind=event.service_kind, capacity=event.capacity)

    def capacity(self, event: Any) -> None:
        self._next(event)["capacity"] = event.capacity


def _is_newest(current: Any, at: Any) -> bool:
    # Facts may arrive late: the row keeps the newest value, as the aggregate does.
    return current is None or at >= current


def _newest(current: Any, at: Any) -> Any:
    return at if current is None or at > current else current


def _event_classes(aggregate_class: type[ValleyAggregate]) -> list[type[Any]]:
    """The event classes declared in an aggregate's body (what its log can hold).

    The library's metaclass also gives each aggregate class its own ``Event`` and ``Created``
    bases; no event is ever recorded with those topics.
    """
    return [
        value
        for name, value in vars(aggregate_class).items()
        if isinstance(value, type)
        and issubclass(value, Aggregate.Event)
        and name not in ("Event", "Created")
    ]


def _handlers() -> dict[type[Any], Handler]:
    page = _AssetPage
    handlers: dict[type[Any], Handler] = {
        Bin.Installed: page.bin_installed,
        Bin.FillLevelMeasured: page.fill_measured,
        Bin.Emptied: page.emptied,
        Bin.OverflowReported: page.overflow,
        Bin.SensorAttached: page.sensor_attached,
        Bin.SensorDetached: page.sensor_detached,
        Bin.SensorFaultReported: page.sensor_fault,
        Bin.SensorBatteryReported: page.battery,
        Bin.Moved: page.move,
        Bin.Removed: page.retire,
        Beacon.Installed: page.beacon_installed,
        Beacon.FootfallCounted: page.footfall,
        Beacon.BatteryReported: page.battery,
        Beacon.Moved: page.move,
        Beacon.Decommissioned: page.retire,
        Site.Registered: page.site_registered,
        Site.EnergyMetered: page.energy,
        Site.MeterReplaced: page.meter_replaced,
        Site.OccupancyCounted: page.occupancy,
        Site.Closed: page.retire,
        Service.Opened: page.service_opened,
        Service.CapacityChanged: page.capacity,
        Service.Closed: page.retire,
    }
    # Every other event of these aggregates (schedules, opening hours, places, sessions, and
    # any added later) still moves the row's version and last event time: applying all of
    # them is what lets the version check catch a missed or repeated event.
    for aggregate_class in (Bin, Beacon, Site, Service):
        for event_class in _event_classes(aggregate_class):
            handlers.setdefault(event_class, page.touch)
    return handlers


class AssetState(Projection):
    """Current state of every asset."""

    name = "asset_state"
    # 2: battery and occupancy dated, so that a late one never overwrites a newer;
    # 3: overflows counted as episodes (domain.overflows), with their marks; late footfall;
    # 4: meter readings placed in world time (late ones), amended facts applied as amended
    version = 4
    description = "current state of every bin, beacon, site and service"
    tables = (ASSET_STATE, BIN_OVERFLOW_MARKS)
    page_class = _AssetPage
    handlers = _handlers()

    def retracted_handler(self) -> Handler | None:
        """A retracted fact moves the row's version as the aggregate's, and changes nothing."""
        return _AssetPage.touch

    def forget(self, db: Db, original: Any, facts: Sequence[Any]) -> Sequence[Any]:
        """The asset's row and overflow marks, rebuilt from all its facts: its state is theirs."""
        asset_id = id_text(original.originator_id)
        db.delete(ASSET_STATE, {"aggregate_id": asset_id})
        db.delete(BIN_OVERFLOW_MARKS, {"bin_id": asset_id})
        return facts
