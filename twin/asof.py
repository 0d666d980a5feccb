"""The valley's assets as of an instant, folded from one read of the notification log.

``ValleyTwin.state_at`` answers for one aggregate by bisection over its stored events; asking
it for each of the valley's ~3,500 assets costs thousands of small reads. Here the log is
streamed once, only the topics of the asset kinds asked for, and each aggregate is folded with
the domain's own events up to the instant: every fact dated at or before it, whatever order
the facts arrived in (a late measurement never overwrites a newer one), so the result equals
``state_at`` asset by asset.

Alongside each aggregate the fold keeps a few times its state does not (when the battery or
the meter was last read, the start of the last footfall interval…), which exports need to date
their values. Citizens are not assets: this module never reads their events.

Not responsible for presenting states (:mod:`twin.analysis` makes DataFrames, :mod:`twin.export`
writes files) nor for projecting coordinates beyond the row helper below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from eventsourcing.utils import get_topic
from pyproj import Transformer

from domain import Beacon, Bin, Service, Site, ValleyAggregate
from twin.errors import InvalidInputError
from twin.events import aggregate_event
from twin.geography import LAMBERT_93, WGS84, Geography
from twin.present import parse_instant

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from uuid import UUID

    from eventsourcing.domain import DomainEventProtocol

    from twin.application import ValleyTwin

ASSET_CLASSES: dict[str, type[ValleyAggregate]] = {
    "bin": Bin,
    "beacon": Beacon,
    "site": Site,
    "service": Service,
}
ASSET_KINDS: tuple[str, ...] = tuple(ASSET_CLASSES)
# The aggregates that are assets: each has a position (``x_l93``, ``y_l93``), unlike a citizen.
Asset = Bin | Beacon | Site | Service
PAGE_SIZE = 5_000


def event_classes(aggregate_class: type[ValleyAggregate]) -> tuple[type[Any], ...]:
    """The event classes an aggregate class defines (its own, not the library's bases)."""
    return tuple(
        value
        for name, value in vars(aggregate_class).items()
        if isinstance(value, type)
        and issubclass(value, ValleyAggregate.Event | ValleyAggregate.Created)
        and name not in ("Event", "Created")
    )


def kind_topics(kinds: Iterable[str]) -> tuple[str, ...]:
    """The stored topics of every event of these asset kinds."""
    return tuple(get_topic(cls) for kind in kinds for cls in event_classes(ASSET_CLASSES[kind]))


def check_kinds(kinds: Iterable[str] | str | None) -> tuple[str, ...]:
    """Return the asset kinds asked for (all by default); refuse citizens and unknown kinds."""
    if kinds is None:
        return ASSET_KINDS
    asked = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    for kind in asked:
        if kind not in ASSET_CLASSES:
            expected = ", ".join(ASSET_KINDS)
            if kind == "citizen":
                expected += " (citizens are personal data, never part of the valley's state)"
            raise InvalidInputError("kind", kind, f"one of {expected}")
    return tuple(dict.fromkeys(asked))


Instant = datetime | str  # a timezone-aware datetime (pandas Timestamps are) or ISO 8601 text


def check_instant(instant: Instant | None, name: str = "at") -> datetime | None:
    """Return a timezone-aware instant in UTC (None stays None: now, i.e. everything recorded).

    Text is read as ISO 8601 with an offset (``2024-06-01T12:00:00Z``), as the CLI reads it.
    """
    if instant is None:
        return None
    if isinstance(instant, str):
        return parse_instant(instant)
    if not isinstance(instant, datetime) or instant.tzinfo is None:
        raise InvalidInputError(
            name, str(instant), "a timezone-aware instant, e.g. 2024-06-01T12:00:00Z"
        )
    if type(instant) is not datetime:
        # A pandas Timestamp (a datetime subclass): to the standard type, to the microsecond.
        instant = datetime(
            instant.year,
            instant.month,
            instant.day,
            instant.hour,
            instant.minute,
            instant.second,
            instant.microsecond,
            tzinfo=instant.tzinfo,
        )
    return instant.astimezone(UTC)


@dataclass
class AssetAsOf:
    """One asset as of an instant: the aggregate, and dated facts its state does not keep."""

    aggregate: Asset
    # Keys: reading_at, battery_at, fault_at, interval_start, metering_started, meter_read_at,
    # occupancy_at, schedule_at.
    times: dict[str, datetime] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """bin, beacon, site or service."""
        return self.aggregate.KIND

    def _newest(self, name: str, when: datetime) -> None:
        # A late fact (arrived after a newer one) is history, as in the aggregate.
        if name not in self.times or when >= self.times[name]:
            self.times[name] = when

    def observe(self, event: DomainEventProtocol[UUID]) -> None:
        """Remember when the facts exports date were last observed."""
        when = aggregate_event(event).timestamp
        if isinstance(event, Bin.FillLevelMeasured):
            self._newest("reading_at", when)  # a sensor's reading; an emptying also sets the fill
        elif isinstance(event, Bin.SensorBatteryReported | Beacon.BatteryReported):
            self._newest("battery_at", when)
        elif isinstance(event, Bin.SensorFaultReported):
            self._newest("fault_at", when)
        elif isinstance(event, Beacon.FootfallCounted):
            # The newest interval's start (a late interval is history, as in the aggregate).
            if when == getattr(self.aggregate, "counted_until", None):
                self.times["interval_start"] = event.interval_start
        elif isinstance(event, Site.EnergyMetered | Site.MeterReplaced):
            # A meter index may arrive late too: the first and the newest in world time.
            started = self.times.get("metering_started")
            self.times["metering_started"] = when if started is None else min(started, when)
            self._newest("meter_read_at", when)
        elif isinstance(event, Site.OccupancyCounted):
            self._newest("occupancy_at", when)
        elif isinstance(event, Site.LightingScheduleChanged):
            self.times["schedule_at"] = when


def fold_events(
    events: Iterable[DomainEventProtocol[UUID]], at: datetime | None = None
) -> dict[UUID, AssetAsOf]:
    """Fold events (in log order) into assets as of ``at``; facts dated later are left out."""
    assets: dict[UUID, AssetAsOf] = {}
    for event in events:
        fact = aggregate_event(event)
        if at is not None and fact.timestamp > at:
            continue  # a fact dated later; a late fact after it may still be dated earlier
        current = assets.get(event.originator_id)
        if current is None:
            aggregate: ValleyAggregate | None = fact.mutate(None)
            assert isinstance(aggregate, Asset)
            current = assets[event.originator_id] = AssetAsOf(aggregate)
        else:
            cast("ValleyAggregate.Event", fact).fold_onto(current.aggregate)
        current.observe(event)
    return assets


def valley_as_of(
    twin: ValleyTwin,
    at: Instant | None = None,
    kinds: Iterable[str] | str | None = None,
    known_at: Instant | None = None,
) -> list[AssetAsOf]:
    """Every asset of these kinds existing at ``at`` (default: now), ordered by kind and code,
    corrections applied; ``known_at``: as the twin knew it at that recording instant."""
    instant = check_instant(at)
    known = None if known_at is None else check_instant(known_at)
    chosen = check_kinds(kinds)
    assets = fold_events(
        twin.facts(topics=kind_topics(chosen), known_at=known, page_size=PAGE_SIZE), instant
    )
    order = {kind: number for number, kind in enumerate(ASSET_KINDS)}
    return sorted(assets.values(), key=lambda a: (order[a.kind], a.aggregate.code))


def asset_events(twin: ValleyTwin, ids: Sequence[UUID]) -> Iterator[DomainEventProtocol[UUID]]:
    """The facts of a few aggregates as they now stand, each history read on its own (cheaper
    than the log)."""
    for aggregate_id in ids:
        yield from twin.facts_of(aggregate_id)


BASE_FIELDS: tuple[str, ...] = (
    "kind",
    "code",
    "name",
    "commune_insee",
    "commune",
    "lon",
    "lat",
    "x_l93",
    "y_l93",
    "installed_at",
    "updated_at",
    "version",
    "retired",
)
# Each kind's own fields in asset_row, in order: a table of assets has these columns even when
# no asset of the kind existed at the instant asked.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "bin": (
        "stream",
        "capacity_l",
        "fill_percent",
        "fill_measured_at",
        "last_emptied_at",
        "emptied_count",
        "emptied_mass_kg",
        "overflow_count",
        "sensor_device_id",
        "battery_percent",
        "sensor_fault_count",
    ),
    "beacon": (
        "zone_code",
        "footfall_total",
        "footfall_last",
        "footfall_from",
        "counted_until",
        "battery_percent",
    ),
    "site": (
        "site_kind",
        "light_points",
        "point_power_w",
        "meter_index_kwh",
        "consumption_kwh",
        "meter_read_at",
        "occupancy",
    ),
    "service": ("service_kind", "capacity", "places_granted", "waiting_list", "sessions"),
}


def row_fields(kinds: Iterable[str]) -> list[str]:
    """The columns of a table of assets of these kinds: the base fields, then each kind's."""
    fields = list(BASE_FIELDS)
    for kind in kinds:
        fields.extend(name for name in KIND_FIELDS[kind] if name not in fields)
    return fields


@cache
def to_wgs84() -> Transformer:
    """Lambert-93 → WGS84 lon/lat, for whole arrays of points at once."""
    return Transformer.from_crs(LAMBERT_93, WGS84, always_xy=True)


def asset_row(asset: AssetAsOf, geography: Geography) -> dict[str, Any]:
    """An asset's key current fields as plain values (datetimes stay datetimes).

    Lists of people's references (a service's waiting list, its granted places, session
    enrolments) are reduced to counts here, so no caller can leak them.
    """
    aggregate = asset.aggregate
    lon, lat = to_wgs84().transform(aggregate.x_l93, aggregate.y_l93)
    commune = _commune_name(geography, aggregate.commune_insee)
    row: dict[str, Any] = {
        "kind": aggregate.KIND,
        "code": aggregate.code,
        "name": getattr(aggregate, "name", None),
        "commune_insee": aggregate.commune_insee,
        "commune": commune,
        "lon": round(float(lon), 6),
        "lat": round(float(lat), 6),
        "x_l93": aggregate.x_l93,
        "y_l93": aggregate.y_l93,
        "installed_at": aggregate.created_on,
        "updated_at": aggregate.modified_on,
        "version": aggregate.version,
        "retired": aggregate.retired,
    }
    if isinstance(aggregate, Bin):
        row |= {
            "stream": aggregate.stream,
            "capacity_l": aggregate.capacity_l,
            "fill_percent": aggregate.fill_percent,
            "fill_measured_at": aggregate.fill_measured_at,
            "last_emptied_at": aggregate.last_emptied_at,
            "emptied_count": aggregate.emptied_count,
            "emptied_mass_kg": aggregate.emptied_mass_kg,
            "overflow_count": aggregate.overflow_count,
            "sensor_device_id": aggregate.sensor_device_id,
            "battery_percent": aggregate.sensor_battery_percent,
            "sensor_fault_count": aggregate.sensor_fault_count,
        }
    elif isinstance(aggregate, Beacon):
        row |= {
            "zone_code": aggregate.zone_code,
            "footfall_total": aggregate.total_count,
            "footfall_last": aggregate.last_count,
            "footfall_from": asset.times.get("interval_start"),
            "counted_until": aggregate.counted_until,
            "battery_percent": aggregate.battery_percent,
        }
    elif isinstance(aggregate, Site):
        row |= {
            "site_kind": aggregate.site_kind,
            "light_points": aggregate.light_points,
            "point_power_w": aggregate.point_power_w,
            "meter_index_kwh": aggregate.meter_index_kwh,
            "consumption_kwh": aggregate.consumption_kwh,
            "meter_read_at": asset.times.get("meter_read_at"),
            "occupancy": aggregate.occupancy,
        }
    elif isinstance(aggregate, Service):
        row |= {
            "service_kind": aggregate.service_kind,
            "capacity": aggregate.capacity,
            "places_granted": len(aggregate.granted),
            "waiting_list": len(aggregate.waiting),
            "sessions": len(aggregate.sessions),
        }
    return row


def _commune_name(geography: Geography, insee: str) -> str | None:
    try:
        return geography.commune(insee).name
    except InvalidInputError:  # an asset recorded outside the 28 communes keeps its code only
        return None
