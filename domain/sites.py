"""The Site aggregate: public buildings, lighting cabinets, remarkable sites, activity zones.

Geometry is held as WKT in Lambert-93 metres and checked with shapely; its representative
point is decided once, at registration. Not responsible for projecting coordinates.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

import shapely
from shapely.errors import ShapelyError

from domain._aggregate import ValleyAggregate
from domain._checks import member, number_in_range, text, utc_instant, whole_number
from domain.errors import InvalidValueError, OutOfRangeError
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

    def meter_reading_before(self, at: datetime) -> tuple[float, datetime] | None:
        """The meter's index just before ``at`` in world time, with when it was read (after a
        replacement, the new meter's first index); None if no reading is older."""
        marks = self._meter_marks()
        position = bisect_left(marks, at.timestamp(), key=_mark_time)
        if position == 0:
            return None
        time, _, index_after = marks[position - 1]
        return index_after, datetime.fromtimestamp(time, UTC)

    def meter_energy(self, index_kwh: float, at: datetime) -> None:
        """Record a cumulative meter index, in world-time order or late: it may not be below
        the index read before it nor above the one read after it (a replacement aside)."""
        index = number_in_range("index_kwh", index_kwh, 0.0, MAX_METER_INDEX_KWH)
        self._check_meter_mark(utc_instant("at", at), index, index, "index_kwh")
        self._record(self.EnergyMetered, at, index_kwh=index)

    class MeterReplaced(ValleyAggregate.Event):
        final_index_kwh: float
        new_index_kwh: float

        def apply(self, aggregate: Site) -> None:
            aggregate._add_meter_mark(self.timestamp, self.final_index_kwh, self.new_index_kwh)
            aggregate.meter_replacements += 1

    def replace_meter(self, final_index_kwh: float, new_index_kwh: float, at: datetime) -> None:
        """Record a meter swap: the old meter's last index and the new meter's first."""
        final = number_in_range("final_index_kwh", final_index_kwh, 0.0, MAX_METER_INDEX_KWH)
        new = number_in_range("new_index_kwh", new_index_kwh, 0.0, MAX_METER_INDEX_KWH)
        self._check_meter_mark(utc_instant("at", at), final, new, "final_index_kwh")
        self._record(self.MeterReplaced, at, final_index_kwh=final, new_index_kwh=new)

    # ---- the meter's marks in world time ----------------------------------------------------
    # Each mark is [epoch seconds, index coming in, index going out]: a reading has one index,
    # a replacement the old meter's final and the new meter's first. Plain numbers, so that a
    # snapshot's JSON keeps them; derived from the events, never a field of one.
    def _meter_marks(self) -> list[list[float]]:
        marks: list[list[float]] | None = self.__dict__.get("_meter_marks_kwh")
        if marks is None:
            # First use, or a snapshot taken before the marks were kept: the last index is all
            # that is known of the meter's past.
            marks = []
            if self.meter_index_kwh is not None:
                read_at = self._meter_read_at or self.modified_on
                marks.append([read_at.timestamp(), self.meter_index_kwh, self.meter_index_kwh])
            self.__dict__["_meter_marks_kwh"] = marks
        return marks

    def _add_meter_mark(self, at: datetime, index_in: float, index_out: float) -> None:
        marks = self._meter_marks()
        time = at.timestamp()
        position = bisect_right(marks, time, key=_mark_time)
        before = marks[position - 1] if position > 0 else None
        after = marks[position] if position < len(marks) else None
        # Consumption is the sum, over consecutive marks, of the next one's index coming in
        # minus this one's going out; a mark between two changes it by what it adds.
        if before is not None:
            self.consumption_kwh += index_in - before[2]
        if after is not None:
            self.consumption_kwh += after[1] - index_out
        if before is not None and after is not None:
            self.consumption_kwh -= after[1] - before[2]
        marks.insert(position, [time, index_in, index_out])
        if after is None:
            self.meter_index_kwh = index_out
            self._meter_read_at = at

    def _check_meter_mark(
        self,
        at: datetime,
        index_in: float,
        index_out: float,
        field: str,
        leaving: float | None = None,
    ) -> None:
        """Refuse a mark that would make the index fall in world time; ``leaving``: the time of
        a mark being corrected, not its own neighbour."""
        marks = [m for m in self._meter_marks() if leaving is None or m[0] != leaving]
        time = at.timestamp()
        position = bisect_right(marks, time, key=_mark_time)
        if position > 0 and index_in < marks[position - 1][2]:
            before = marks[position - 1]
            raise OutOfRangeError(
                f"meter index decreased below {before[2]} (read at "
                f"{datetime.fromtimestamp(before[0], UTC).isoformat()}); record a meter "
                "replacement first",
                field,
                index_in,
            )
        if position < len(marks) and index_out > marks[position][1]:
            after = marks[position]
            raise OutOfRangeError(
                f"meter index above the later reading {after[1]} (read at "
                f"{datetime.fromtimestamp(after[0], UTC).isoformat()})",
                "index_kwh" if field == "index_kwh" else "new_index_kwh",
                index_out,
            )

    def _check_correction(self, original: Any, changes: Mapping[str, Any]) -> None:
        if isinstance(original, Site.EnergyMetered):
            index = changes["index_kwh"]
            self._check_meter_mark(
                original.timestamp,
                index,
                index,
                "index_kwh",
                leaving=original.timestamp.timestamp(),
            )

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


def _mark_time(mark: list[float]) -> float:
    return mark[0]
