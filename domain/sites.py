"""The Site aggregate: public buildings, lighting cabinets, remarkable sites, activity zones.

Geometry is held as WKT in Lambert-93 metres and checked with shapely; its representative
point is decided once, at registration. Not responsible for projecting coordinates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

import shapely
from shapely.errors import ShapelyError

from domain._aggregate import ValleyAggregate
from domain._checks import member, number_in_range, text, utc_instant, whole_number
from domain.errors import InvalidValueError, OutOfOrderError, OutOfRangeError
from domain.ids import normalise_code
from domain.values import Position, SiteKind

MAX_METER_INDEX_KWH = 1e12
MAX_OCCUPANCY = 1_000_000
MAX_LIGHT_POINTS = 10_000
MAX_POINT_POWER_W = 2_000.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_SPAN = re.compile(r"^(?P<open>[0-2]\d:[0-5]\d)-(?P<close>[0-2]\d:[0-5]\d)$")


def _clock_time(field: str, value: object) -> str:
    if not isinstance(value, str) or not _CLOCK.match(value):
        raise InvalidValueError("must be a clock time HH:MM", field, value)
    return value


def _opening_hours(value: object) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise InvalidValueError("must map weekdays to lists of HH:MM-HH:MM", "hours", value)
    hours: dict[str, list[str]] = {}
    for day, spans in value.items():
        if day not in WEEKDAYS:
            raise InvalidValueError(f"weekday must be one of {', '.join(WEEKDAYS)}", "hours", day)
        if not isinstance(spans, list | tuple):
            raise InvalidValueError("must be a list of HH:MM-HH:MM", f"hours.{day}", spans)
        checked = []
        for span in spans:
            match = _SPAN.match(span) if isinstance(span, str) else None
            if match is None:
                raise InvalidValueError("must be HH:MM-HH:MM", f"hours.{day}", span)
            _clock_time(f"hours.{day}", match["open"])
            _clock_time(f"hours.{day}", match["close"])
            if match["close"] <= match["open"]:
                raise OutOfRangeError("must close after it opens", f"hours.{day}", span)
            checked.append(span)
        hours[day] = checked
    return hours


class Site(ValleyAggregate):
    """A place the twin follows: a building, a lighting cabinet, a tourist site, a zone."""

    KIND = "site"
    DATED = ("occupancy",)  # set by late-allowed facts: kept with their times
    # When the meter was last read (its index or a replacement); a class-level default, not an
    # annotation, so that it is no field of any event and a snapshot taken before it existed
    # still loads (as "not known yet"). Private: the state a site shows is unchanged.
    if TYPE_CHECKING:
        _meter_read_at: datetime | None
    _meter_read_at = None

    class Registered(ValleyAggregate.Created):
        code: str
        name: str
        site_kind: str
        geometry_wkt: str
        x_l93: float
        y_l93: float
        commune_insee: str
        light_points: int
        point_power_w: float

    def __init__(
        self,
        code: str,
        name: str,
        site_kind: str,
        geometry_wkt: str,
        x_l93: float,
        y_l93: float,
        commune_insee: str,
        light_points: int,
        point_power_w: float,
    ) -> None:
        self.code = code
        self.name = name
        self.site_kind = site_kind
        self.geometry_wkt = geometry_wkt
        self.x_l93 = x_l93
        self.y_l93 = y_l93
        self.commune_insee = commune_insee
        self.light_points = light_points
        self.point_power_w = point_power_w
        self.meter_index_kwh: float | None = None
        self.consumption_kwh = 0.0
        self.meter_replacements = 0
        self.occupancy: int | None = None
        self.lighting_schedule: dict[str, Any] | None = None
        self.opening_hours: dict[str, list[str]] = {}
        self.retired = False

    @classmethod
    def register(
        cls,
        *,
        code: str,
        name: str,
        site_kind: str,
        geometry_wkt: str,
        commune_insee: str,
        at: datetime,
        light_points: int = 0,
        point_power_w: float = 0.0,
    ) -> Self:
        """Register a site with its geometry (WKT, Lambert-93 metres)."""
        kind = member("site_kind", site_kind, SiteKind)
        try:
            geometry = shapely.from_wkt(geometry_wkt)
        except (ShapelyError, TypeError):
            raise InvalidValueError("must be WKT geometry", "geometry_wkt", geometry_wkt) from None
        if geometry.is_empty or not geometry.is_valid:
            raise InvalidValueError(
                "must be a valid, non-empty geometry", "geometry_wkt", geometry_wkt
            )
        anchor = geometry.representative_point()
        position = Position.checked(anchor.x, anchor.y)
        points = whole_number("light_points", light_points, high=MAX_LIGHT_POINTS)
        if kind is SiteKind.LIGHTING_CABINET and points == 0:
            raise OutOfRangeError(
                "a lighting cabinet serves at least one light point", "light_points", points
            )
        return cls._begin(
            cls.Registered,
            at,
            code=normalise_code("code", code),
            name=text("name", name),
            site_kind=kind.value,
            geometry_wkt=geometry.wkt,
            x_l93=position.x,
            y_l93=position.y,
            commune_insee=text("commune_insee", commune_insee, max_length=5),
            light_points=points,
            point_power_w=number_in_range("point_power_w", point_power_w, 0.0, MAX_POINT_POWER_W),
        )

    class EnergyMetered(ValleyAggregate.Event):
        # A meter read late (a backfill, a delayed upload) lands among the others in world
        # time: it must fit between its neighbours there (see ``meter_energy``).
        LATE_ALLOWED = True
        CORRECTABLE = {
            "index_kwh": lambda field, value: number_in_range(
                field, value, 0.0, MAX_METER_INDEX_KWH
            )
        }
        index_kwh: float

        def apply(self, aggregate: Site) -> None:
            aggregate._add_meter_mark(self.timestamp, self.index_kwh, self.index_kwh)

    @property
    def meter_read_at(self) -> datetime | None:
        """When the meter was last read (an index or a replacement); None before."""
        return self._meter_read_at

    def reads_late(self, at: datetime) -> bool:
        """Whether an index dated ``at`` would land before the newest one (its neighbours in
        world time are then needed to judge it: :class:`MeterNeighbours`)."""
        return self._meter_read_at is not None and at < self._meter_read_at

    def meter_energy(
        self, index_kwh: float, at: datetime, neighbours: MeterNeighbours | None = None
    ) -> None:
        """Record a cumulative meter index: not below the index read before it nor above the
        one read after it in world time (a replacement aside). A late index (``reads_late``)
        comes with its ``neighbours``, found in the site's history by the caller: the site
        keeps only its first and newest marks, so that it stays small however long its
        meter has been read."""
        index = number_in_range("index_kwh", index_kwh, 0.0, MAX_METER_INDEX_KWH)
        at = utc_instant("at", at)
        if self.reads_late(at):
            if neighbours is None:
                raise OutOfOrderError(
                    "a late meter index is judged against the indexes around it; "
                    "record it through the twin, which finds them",
                    "at",
                    at.isoformat(),
                )
            neighbours.check(index)
        elif self.meter_index_kwh is not None and index < self.meter_index_kwh:
            MeterNeighbours(before=self._newest_mark(), after=None).check(index)
        self._record(self.EnergyMetered, at, index_kwh=index)

    class MeterReplaced(ValleyAggregate.Event):
        final_index_kwh: float
        new_index_kwh: float

        def apply(self, aggregate: Site) -> None:
            aggregate._add_meter_mark(self.timestamp, self.final_index_kwh, self.new_index_kwh)
            aggregate.meter_replacements += 1

    def replace_meter(self, final_index_kwh: float, new_index_kwh: float, at: datetime) -> None:
        """Record a meter swap, after every index read so far: the old meter's last index
        and the new meter's first."""
        final = number_in_range("final_index_kwh", final_index_kwh, 0.0, MAX_METER_INDEX_KWH)
        new = number_in_range("new_index_kwh", new_index_kwh, 0.0, MAX_METER_INDEX_KWH)
        at = utc_instant("at", at)
        if self.reads_late(at):
            assert self._meter_read_at is not None
            raise OutOfOrderError(
                f"a meter replacement follows every index read: the last one is dated "
                f"{self._meter_read_at.isoformat()}",
                "at",
                at.isoformat(),
            )
        if self.meter_index_kwh is not None and final < self.meter_index_kwh:
            raise OutOfRangeError(
                f"final index is below the last reading {self.meter_index_kwh}",
                "final_index_kwh",
                final,
            )
        self._record(self.MeterReplaced, at, final_index_kwh=final, new_index_kwh=new)

    # ---- the meter's first and newest marks in world time -----------------------------------
    def _newest_mark(self) -> MeterMark | None:
        if self.meter_index_kwh is None or self._meter_read_at is None:
            return None
        return MeterMark(self._meter_read_at, self.meter_index_kwh, self.meter_index_kwh)

    def _add_meter_mark(self, at: datetime, index_in: float, index_out: float) -> None:
        # Consumption is the sum, over marks consecutive in world time, of the next one's
        # index coming in minus this one's going out. A mark after the newest adds its step
        # from the newest; one before the first adds the step to the first; one between two
        # (a late reading, in = out) changes nothing, its neighbours having been checked.
        first = self.__dict__.get("_meter_first")  # [epoch s, in, out]: plain JSON numbers
        if self._meter_read_at is None or at >= self._meter_read_at:
            if self.meter_index_kwh is not None:
                self.consumption_kwh += index_in - self.meter_index_kwh
            self.meter_index_kwh = index_out
            self._meter_read_at = at
            if first is None:
                self.__dict__["_meter_first"] = [at.timestamp(), index_in, index_out]
        elif first is not None and at.timestamp() < first[0]:
            self.consumption_kwh += first[1] - index_out
            self.__dict__["_meter_first"] = [at.timestamp(), index_in, index_out]

    def _check_correction(
        self, original: Any, changes: Mapping[str, Any], context: object = None
    ) -> None:
        if isinstance(original, Site.EnergyMetered):
            if not isinstance(context, MeterNeighbours):
                raise OutOfOrderError(
                    "a corrected meter index is judged against the indexes around it; "
                    "correct it through the twin, which finds them",
                    "index_kwh",
                    changes["index_kwh"],
                )
            context.check(changes["index_kwh"])

    class OccupancyCounted(ValleyAggregate.Event):
        LATE_ALLOWED = True
        CORRECTABLE = {
            "occupancy": lambda field, value: whole_number(field, value, high=MAX_OCCUPANCY)
        }
        occupancy: int

        def apply(self, aggregate: Site) -> None:
            if aggregate._newest("occupancy", self.timestamp):
                aggregate.occupancy = self.occupancy

    def count_occupancy(self, occupancy: int, at: datetime) -> None:
        """Record how many people are on the site."""
        count = whole_number("occupancy", occupancy, high=MAX_OCCUPANCY)
        self._record(self.OccupancyCounted, at, occupancy=count)

    class LightingScheduleChanged(ValleyAggregate.Event):
        schedule: dict[str, Any]

        def apply(self, aggregate: Site) -> None:
            aggregate.lighting_schedule = self.schedule

    def change_lighting_schedule(
        self,
        at: datetime,
        *,
        dim_percent: float = 100.0,
        dim_from: str | None = None,
        dim_to: str | None = None,
        off_from: str | None = None,
        off_to: str | None = None,
    ) -> None:
        """Set dimming (level and window) and part-night switch-off of a lighting cabinet."""
        if self.site_kind != SiteKind.LIGHTING_CABINET:
            raise InvalidValueError(
                "only a lighting cabinet has a lighting schedule", "site_kind", self.site_kind
            )
        schedule: dict[str, Any] = {
            "dim_percent": number_in_range("dim_percent", dim_percent, 0.0, 100.0)
        }
        for field, value in (("dim", (dim_from, dim_to)), ("off", (off_from, off_to))):
            start, end = value
            if (start is None) != (end is None):
                raise InvalidValueError(
                    "give both ends of the window or neither", f"{field}_from", start
                )
            schedule[f"{field}_from"] = (
                None if start is None else _clock_time(f"{field}_from", start)
            )
            schedule[f"{field}_to"] = None if end is None else _clock_time(f"{field}_to", end)
        self._record(self.LightingScheduleChanged, at, schedule=schedule)

    class OpeningHoursChanged(ValleyAggregate.Event):
        hours: dict[str, list[str]]

        def apply(self, aggregate: Site) -> None:
            aggregate.opening_hours = self.hours

    def change_opening_hours(self, hours: dict[str, list[str]], at: datetime) -> None:
        """Set opening hours as weekday → list of ``HH:MM-HH:MM`` spans."""
        self._record(self.OpeningHoursChanged, at, hours=_opening_hours(hours))

    class Closed(ValleyAggregate.Event):
        RETIRES = True  # nothing may follow it: checked against every fact, late ones too
        reason: str

        def apply(self, aggregate: Site) -> None:
            aggregate.retired = True

    def close(self, reason: str, at: datetime) -> None:
        """Close the site for good."""
        self._record(self.Closed, at, reason=text("reason", reason))


@dataclass(frozen=True)
class MeterMark:
    """A meter fact in world time: the index coming in and going out (equal for a reading;
    the old meter's final and the new one's first for a replacement)."""

    at: datetime
    index_in: float
    index_out: float


@dataclass(frozen=True)
class MeterNeighbours:
    """The meter facts just before and just after an index in world time."""

    before: MeterMark | None
    after: MeterMark | None

    def check(self, index: float) -> None:
        """Refuse an index that would make the meter's index fall in world time."""
        if self.before is not None and index < self.before.index_out:
            raise OutOfRangeError(
                f"meter index decreased below {self.before.index_out} (read at "
                f"{self.before.at.isoformat()}); record a meter replacement first",
                "index_kwh",
                index,
            )
        if self.after is not None and index > self.after.index_in:
            raise OutOfRangeError(
                f"meter index above the later reading {self.after.index_in} (read at "
                f"{self.after.at.isoformat()})",
                "index_kwh",
                index,
            )
