"""Energy of the valley's public lighting and buildings: modelled, and as recorded by meters.

Street lights burn from sunset to sunrise, computed per night at the valley's latitude with
NOAA's solar-position formulas; a lighting cabinet's power is its light points times their
power (plus ballast losses for discharge lamps), reduced by dimming windows and cut by
part-night switch-off windows set on local clocks (Europe/Paris, daylight-saving time
included). Public buildings use a consumption per m². Both give kWh, € and CO2 per site,
commune and year. From a log of meter readings, the recorded consumption per site and day is
recovered exactly, so a replay reproduces the recorded energy.

Everything here is a deterministic function of its inputs: no SimPy, no randomness. Not
responsible for where the figures come from (``simulation/parameters/energy.py``) nor for
storing anything.
"""

from __future__ import annotations

import bisect
import calendar
import functools
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from domain import Site, SiteKind
from simulation.parameters.energy import (
    BALLAST_LOSS_FRACTION,
    BUILDING_KWH_PER_M2_YEAR,
    LED_POWER_FACTOR,
    SUNSET_SUN_ALTITUDE_DEG,
    VALLEY_LATITUDE_DEG,
    VALLEY_LONGITUDE_DEG,
    VALLEY_TIMEZONE,
    EnergyTariff,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from uuid import UUID

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_J2000 = date(2000, 1, 1)  # with hour 12 UTC: the epoch J2000.0 of the solar formulas

# --- The sun ---------------------------------------------------------------------------------


def _solar_terms(day: date, hour_utc: float) -> tuple[float, float]:
    """Equation of time (minutes) and declination (radians) at an instant.

    NOAA's solar calculator algorithm (after Meeus, Astronomical Algorithms): accurate to
    well under a minute of sunrise or sunset between 1900 and 2100.
    """
    centuries = ((day - _J2000).days + (hour_utc - 12) / 24) / 36525
    mean_longitude = math.radians(
        (280.46646 + centuries * (36000.76983 + 0.0003032 * centuries)) % 360
    )
    anomaly = math.radians(357.52911 + centuries * (35999.05029 - 0.0001537 * centuries))
    eccentricity = 0.016708634 - centuries * (0.000042037 + 0.0000001267 * centuries)
    centre = (
        math.sin(anomaly) * (1.914602 - centuries * (0.004817 + 0.000014 * centuries))
        + math.sin(2 * anomaly) * (0.019993 - 0.000101 * centuries)
        + math.sin(3 * anomaly) * 0.000289
    )
    node = math.radians(125.04 - 1934.136 * centuries)
    apparent_longitude = math.radians(
        math.degrees(mean_longitude) + centre - 0.00569 - 0.00478 * math.sin(node)
    )
    mean_obliquity = (
        23
        + (26 + (21.448 - centuries * (46.815 + centuries * (0.00059 - centuries * 0.001813))) / 60)
        / 60
    )
    obliquity = math.radians(mean_obliquity + 0.00256 * math.cos(node))
    declination = math.asin(math.sin(obliquity) * math.sin(apparent_longitude))
    y = math.tan(obliquity / 2) ** 2
    eqtime = 4 * math.degrees(
        y * math.sin(2 * mean_longitude)
        - 2 * eccentricity * math.sin(anomaly)
        + 4 * eccentricity * y * math.sin(anomaly) * math.cos(2 * mean_longitude)
        - 0.5 * y * y * math.sin(4 * mean_longitude)
        - 1.25 * eccentricity * eccentricity * math.sin(2 * anomaly)
    )
    return eqtime, declination


def _sun_crossing(
    day: date, latitude: float, longitude: float, altitude: float, rising: bool
) -> datetime:
    """UTC instant the sun's centre crosses ``altitude`` on ``day`` (rising or setting)."""
    phi = math.radians(latitude)
    hour = 6.0 if rising else 18.0  # first guess; the terms are then taken at the event itself
    minutes = 0.0
    for _ in range(3):
        eqtime, declination = _solar_terms(day, hour)
        cos_ha = (math.sin(math.radians(altitude)) - math.sin(phi) * math.sin(declination)) / (
            math.cos(phi) * math.cos(declination)
        )
        if not -1.0 <= cos_ha <= 1.0:
            state = "never rises" if cos_ha > 1 else "never sets"
            raise ValueError(f"at latitude {latitude}° the sun {state} on {day.isoformat()}")
        hour_angle = math.degrees(math.acos(cos_ha))
        minutes = 720 - 4 * (longitude + (hour_angle if rising else -hour_angle)) - eqtime
        hour = minutes / 60
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=minutes)


def sunrise(
    day: date,
    latitude: float = VALLEY_LATITUDE_DEG,
    longitude: float = VALLEY_LONGITUDE_DEG,
    altitude: float = SUNSET_SUN_ALTITUDE_DEG,
) -> datetime:
    """Sunrise (UTC) on ``day`` at a place; longitude in degrees east."""
    return _sun_crossing(day, latitude, longitude, altitude, rising=True)


def sunset(
    day: date,
    latitude: float = VALLEY_LATITUDE_DEG,
    longitude: float = VALLEY_LONGITUDE_DEG,
    altitude: float = SUNSET_SUN_ALTITUDE_DEG,
) -> datetime:
    """Sunset (UTC) on ``day`` at a place; longitude in degrees east."""
    return _sun_crossing(day, latitude, longitude, altitude, rising=False)


def day_length_hours(
    day: date, latitude: float = VALLEY_LATITUDE_DEG, longitude: float = VALLEY_LONGITUDE_DEG
) -> float:
    """Hours from sunrise to sunset on ``day``."""
    return (sunset(day, latitude, longitude) - sunrise(day, latitude, longitude)) / HOUR


def night_hours(
    day: date, latitude: float = VALLEY_LATITUDE_DEG, longitude: float = VALLEY_LONGITUDE_DEG
) -> float:
    """Hours of the night that begins on ``day``: its sunset to the next day's sunrise."""
    return (sunrise(day + DAY, latitude, longitude) - sunset(day, latitude, longitude)) / HOUR


# --- Lighting cabinets -----------------------------------------------------------------------


def _clock(value: str | time | None) -> time | None:
    if value is None or isinstance(value, time):
        return value
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True, init=False)
class LightingSchedule:
    """When a cabinet's lights are dimmed (to ``dim_percent`` of full power) or switched off.

    Windows are local clock times; a window whose end is not after its start runs past
    midnight, and a window with equal ends is empty. Switch-off wins over dimming. Power is
    taken as proportional to the dimming level (assumed: LED drivers are close to linear).
    """

    dim_percent: float
    dim_from: time | None
    dim_to: time | None
    off_from: time | None
    off_to: time | None

    def __init__(
        self,
        dim_percent: float = 100.0,
        dim_from: time | str | None = None,
        dim_to: time | str | None = None,
        off_from: time | str | None = None,
        off_to: time | str | None = None,
    ) -> None:
        """Windows as ``datetime.time`` or ``"HH:MM"``; both ends of a window or neither."""
        if not 0.0 <= dim_percent <= 100.0:
            raise ValueError(f"dim_percent must be within 0–100, not {dim_percent}")
        ends = {"dim_from": dim_from, "dim_to": dim_to, "off_from": off_from, "off_to": off_to}
        for window in ("dim", "off"):
            if (ends[f"{window}_from"] is None) != (ends[f"{window}_to"] is None):
                raise ValueError(f"give both ends of the {window} window or neither")
        object.__setattr__(self, "dim_percent", float(dim_percent))
        for name, value in ends.items():
            object.__setattr__(self, name, _clock(value))

    @classmethod
    def from_event(cls, schedule: Mapping[str, Any]) -> LightingSchedule:
        """The schedule recorded by a ``Site.LightingScheduleChanged`` event."""
        return cls(
            dim_percent=float(schedule.get("dim_percent", 100.0)),
            dim_from=schedule.get("dim_from"),
            dim_to=schedule.get("dim_to"),
            off_from=schedule.get("off_from"),
            off_to=schedule.get("off_to"),
        )


FULL_NIGHT = LightingSchedule()


@dataclass(frozen=True)
class LightingCabinet:
    """A lighting cabinet and the light points it feeds.

    ``point_power_w`` is the lamp's rated power; ``ballast_loss`` the control gear's losses as a
    fraction of it (0 for LED, whose rating includes the driver). ``schedule`` applies until the
    first of ``schedule_changes`` (instant, schedule), each of which applies from its instant.
    Nights whose sunset falls outside [``active_from``, ``active_until``) cost nothing.
    """

    code: str
    commune_insee: str
    light_points: int
    point_power_w: float
    ballast_loss: float = BALLAST_LOSS_FRACTION
    schedule: LightingSchedule = FULL_NIGHT
    schedule_changes: tuple[tuple[datetime, LightingSchedule], ...] = ()
    active_from: datetime | None = None
    active_until: datetime | None = None

    @property
    def power_kw(self) -> float:
        """Power drawn at full light, in kW."""
        return self.light_points * self.point_power_w * (1 + self.ballast_loss) / 1000

    def with_schedule(self, schedule: LightingSchedule) -> LightingCabinet:
        """The same cabinet under one schedule for the whole period (a policy to compare)."""
        return replace(self, schedule=schedule, schedule_changes=())


def led_retrofit(
    cabinet: LightingCabinet, led_power_w: float | None = None, factor: float = LED_POWER_FACTOR
) -> LightingCabinet:
    """The cabinet with every point replaced by an LED of ``led_power_w`` (or ``factor`` × lamp)."""
    power = cabinet.point_power_w * factor if led_power_w is None else led_power_w
    if power < 0:
        raise ValueError(f"LED power must be non-negative, not {power}")
    return replace(cabinet, point_power_w=power, ballast_loss=0.0)


def cabinets_from_events(
    events: Iterable[object], ballast_loss: float = BALLAST_LOSS_FRACTION
) -> list[LightingCabinet]:
    """The lighting cabinets registered in a log, with their schedule history and closure.

    A registration does not say the lamps' technology: every cabinet gets ``ballast_loss``
    (discharge lamps by default; pass 0 for a fully LED stock, or retrofit afterwards).
    """
    registered: dict[UUID, LightingCabinet] = {}
    changes: dict[UUID, list[tuple[datetime, LightingSchedule]]] = defaultdict(list)
    closed: dict[UUID, datetime] = {}
    for event in events:
        if isinstance(event, Site.Registered) and event.site_kind == SiteKind.LIGHTING_CABINET:
            registered[event.originator_id] = LightingCabinet(
                code=event.code,
                commune_insee=event.commune_insee,
                light_points=event.light_points,
                point_power_w=event.point_power_w,
                ballast_loss=ballast_loss,
                active_from=event.timestamp,
            )
        elif isinstance(event, Site.LightingScheduleChanged):
            changes[event.originator_id].append(
                (event.timestamp, LightingSchedule.from_event(event.schedule))
            )
        elif isinstance(event, Site.Closed):
            closed[event.originator_id] = event.timestamp
    return [
        replace(cabinet, schedule_changes=tuple(changes[site]), active_until=closed.get(site))
        for site, cabinet in registered.items()
    ]


@dataclass(frozen=True)
class NightProfile:
    """Per night from ``first_night``: sunset (UTC), hours at full power, dimmed, switched off."""

    first_night: date
    sunsets: tuple[datetime, ...]
    full_hours: np.ndarray
    dimmed_hours: np.ndarray
    off_hours: np.ndarray

    @property
    def night_hours(self) -> np.ndarray:
        """Sunset-to-sunrise hours of each night."""
        return np.asarray(self.full_hours + self.dimmed_hours + self.off_hours, dtype=float)


def _local_windows(
    night: date, start: time | None, end: time | None, zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """UTC spans of a daily local window starting on the days around ``night`` (none if unset)."""
    windows: list[tuple[datetime, datetime]] = []
    if start is None or end is None or start == end:
        return windows  # no window, or an empty one (not a whole day)
    for offset in (-1, 0, 1):
        first = night + offset * DAY
        last = first if end > start else first + DAY
        begin = datetime.combine(first, start, tzinfo=zone).astimezone(UTC)
        finish = datetime.combine(last, end, tzinfo=zone).astimezone(UTC)
        if finish > begin:
            windows.append((begin, finish))
    return windows


def _overlap_hours(spans: list[tuple[datetime, datetime]], low: datetime, high: datetime) -> float:
    return sum(max(0.0, (min(b, high) - max(a, low)) / HOUR) for a, b in spans)


def _intersect(
    first: list[tuple[datetime, datetime]], second: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    return [(max(a, c), min(b, d)) for a, b in first for c, d in second if min(b, d) > max(a, c)]


@functools.lru_cache(maxsize=256)
def night_profile(
    first_night: date,
    nights: int,
    schedule: LightingSchedule = FULL_NIGHT,
    latitude: float = VALLEY_LATITUDE_DEG,
    longitude: float = VALLEY_LONGITUDE_DEG,
    timezone: str = VALLEY_TIMEZONE,
) -> NightProfile:
    """Full, dimmed and switched-off hours of ``nights`` nights under one schedule.

    A night is dated by its sunset (at the valley, the UTC and local dates of sunset agree).
    """
    zone = ZoneInfo(timezone)
    full, dimmed, off = np.zeros(nights), np.zeros(nights), np.zeros(nights)
    sunsets = []
    dim_active = schedule.dim_from is not None and schedule.dim_percent < 100.0
    for index in range(nights):
        night = first_night + index * DAY
        lit_from, lit_to = (
            sunset(night, latitude, longitude),
            sunrise(night + DAY, latitude, longitude),
        )
        sunsets.append(lit_from)
        total = (lit_to - lit_from) / HOUR
        off_spans = _local_windows(night, schedule.off_from, schedule.off_to, zone)
        off[index] = _overlap_hours(off_spans, lit_from, lit_to)
        if dim_active:
            dim_spans = _local_windows(night, schedule.dim_from, schedule.dim_to, zone)
            dimmed[index] = _overlap_hours(dim_spans, lit_from, lit_to) - _overlap_hours(
                _intersect(dim_spans, off_spans), lit_from, lit_to
            )
        full[index] = total - off[index] - dimmed[index]
    for array in (full, dimmed, off):
        array.flags.writeable = False
    return NightProfile(first_night, tuple(sunsets), full, dimmed, off)


# --- Figures and reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class EnergyFigure:
    """kWh with what they cost and emit."""

    kwh: float
    cost_eur: float
    co2_kg: float

    @classmethod
    def of(cls, kwh: float, tariff: EnergyTariff) -> EnergyFigure:
        """Price and carbon of ``kwh`` at ``tariff``."""
        return cls(kwh, kwh * tariff.price_eur_per_kwh, kwh * tariff.co2_kg_per_kwh)

    def __add__(self, other: EnergyFigure) -> EnergyFigure:
        return EnergyFigure(
            self.kwh + other.kwh, self.cost_eur + other.cost_eur, self.co2_kg + other.co2_kg
        )


ZERO = EnergyFigure(0.0, 0.0, 0.0)


@dataclass(frozen=True)
class EnergyRow:
    """One site's energy in one year, for one use (``lighting``, ``building`` or ``metered``)."""

    site: str
    commune_insee: str
    year: int
    use: str
    kwh: float
    cost_eur: float
    co2_kg: float

    @property
    def figure(self) -> EnergyFigure:
        """The row's kWh, € and CO2."""
        return EnergyFigure(self.kwh, self.cost_eur, self.co2_kg)


@dataclass(frozen=True)
class EnergyReport:
    """Energy rows, summed per site, commune, year or use on demand."""

    rows: tuple[EnergyRow, ...] = ()

    def _by(self, key: str) -> dict[Any, EnergyFigure]:
        sums: dict[Any, EnergyFigure] = {}
        for row in self.rows:
            sums[getattr(row, key)] = sums.get(getattr(row, key), ZERO) + row.figure
        return sums

    def by_site(self) -> dict[str, EnergyFigure]:
        """Totals per site code."""
        return self._by("site")

    def by_commune(self) -> dict[str, EnergyFigure]:
        """Totals per commune (INSEE code)."""
        return self._by("commune_insee")

    def by_year(self) -> dict[int, EnergyFigure]:
        """Totals per calendar year."""
        return self._by("year")

    def by_use(self) -> dict[str, EnergyFigure]:
        """Totals per use."""
        return self._by("use")

    def total(self) -> EnergyFigure:
        """Everything."""
        return sum((row.figure for row in self.rows), ZERO)

    def __add__(self, other: EnergyReport) -> EnergyReport:
        return EnergyReport(self.rows + other.rows)


def _rows_by_year(
    site: str, commune: str, use: str, kwh_by_year: Mapping[int, float], tariff: EnergyTariff
) -> list[EnergyRow]:
    rows = []
    for year, kwh in sorted(kwh_by_year.items()):
        figure = EnergyFigure.of(kwh, tariff)
        rows.append(EnergyRow(site, commune, year, use, figure.kwh, figure.cost_eur, figure.co2_kg))
    return rows


# --- Modelled consumption --------------------------------------------------------------------


def lighting_energy_for_hours(
    cabinet: LightingCabinet,
    burning_hours: float,
    dimmed_hours: float = 0.0,
    off_hours: float = 0.0,
    tariff: EnergyTariff | None = None,
) -> EnergyFigure:
    """The engineering estimate: power × hours, with ``dimmed_hours`` and ``off_hours`` out of them.

    ``dimmed_hours`` and ``off_hours`` are parts of ``burning_hours`` spent dimmed (at the
    cabinet's dimming level) or switched off.
    """
    if not 0 <= dimmed_hours + off_hours <= burning_hours:
        raise ValueError("dimmed and off hours must be parts of the burning hours")
    level = cabinet.schedule.dim_percent / 100
    equivalent = burning_hours - off_hours - dimmed_hours * (1 - level)
    return EnergyFigure.of(cabinet.power_kw * equivalent, tariff or EnergyTariff())


def _schedule_per_night(
    cabinet: LightingCabinet, sunsets: tuple[datetime, ...]
) -> list[LightingSchedule]:
    instants = [instant for instant, _ in cabinet.schedule_changes]
    schedules = [cabinet.schedule] + [schedule for _, schedule in cabinet.schedule_changes]
    return [schedules[bisect.bisect_right(instants, moment)] for moment in sunsets]


def lighting_kwh_per_night(
    cabinet: LightingCabinet,
    first_night: date,
    nights: int,
    latitude: float = VALLEY_LATITUDE_DEG,
    longitude: float = VALLEY_LONGITUDE_DEG,
    timezone: str = VALLEY_TIMEZONE,
) -> np.ndarray:
    """kWh of each night from ``first_night``, under the schedule in force at its sunset."""
    base = night_profile(first_night, nights, FULL_NIGHT, latitude, longitude, timezone)
    kwh = np.zeros(nights)
    chosen = _schedule_per_night(cabinet, base.sunsets)
    for schedule in set(chosen):
        profile = night_profile(first_night, nights, schedule, latitude, longitude, timezone)
        mask = np.array([item == schedule for item in chosen])
        level = schedule.dim_percent / 100
        kwh[mask] = cabinet.power_kw * (profile.full_hours + level * profile.dimmed_hours)[mask]
    active = np.array(
        [
            (cabinet.active_from is None or moment >= cabinet.active_from)
            and (cabinet.active_until is None or moment < cabinet.active_until)
            for moment in base.sunsets
        ]
    )
    return np.where(active, kwh, 0.0)


def lighting_energy(
    cabinets: Iterable[LightingCabinet],
    start: date,
    end: date,
    tariff: EnergyTariff | None = None,
    latitude: float = VALLEY_LATITUDE_DEG,
    longitude: float = VALLEY_LONGITUDE_DEG,
    timezone: str = VALLEY_TIMEZONE,
) -> EnergyReport:
    """Lighting energy of the nights from ``start`` to ``end`` (excluded), per cabinet and year.

    A night counts in the year of its sunset.
    """
    tariff = tariff or EnergyTariff()
    nights = (end - start).days
    if nights <= 0:
        raise ValueError(f"end {end} must be after start {start}")
    years = np.array([(start + index * DAY).year for index in range(nights)])
    rows: list[EnergyRow] = []
    for cabinet in cabinets:
        kwh = lighting_kwh_per_night(cabinet, start, nights, latitude, longitude, timezone)
        per_year = {int(year): float(kwh[years == year].sum()) for year in np.unique(years)}
        rows.extend(
            _rows_by_year(cabinet.code, cabinet.commune_insee, "lighting", per_year, tariff)
        )
    return EnergyReport(tuple(rows))


@dataclass(frozen=True)
class PublicBuilding:
    """A public building whose consumption follows its floor area."""

    code: str
    commune_insee: str
    floor_area_m2: float
    kwh_per_m2_year: float = BUILDING_KWH_PER_M2_YEAR


def building_energy(
    buildings: Iterable[PublicBuilding], start: date, end: date, tariff: EnergyTariff | None = None
) -> EnergyReport:
    """Buildings' energy from ``start`` to ``end`` (excluded), spread evenly over the days."""
    tariff = tariff or EnergyTariff()
    if end <= start:
        raise ValueError(f"end {end} must be after start {start}")
    shares: dict[int, float] = {}
    for year in range(start.year, end.year + 1):
        first, last = max(start, date(year, 1, 1)), min(end, date(year + 1, 1, 1))
        if last > first:
            shares[year] = (last - first).days / (366 if calendar.isleap(year) else 365)
    rows: list[EnergyRow] = []
    for building in buildings:
        annual = building.floor_area_m2 * building.kwh_per_m2_year
        per_year = {year: annual * share for year, share in shares.items()}
        rows.extend(
            _rows_by_year(building.code, building.commune_insee, "building", per_year, tariff)
        )
    return EnergyReport(tuple(rows))


# --- Recorded consumption --------------------------------------------------------------------


@dataclass
class _Meter:
    index: float | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class RecordedEnergy:
    """What the meters recorded: kWh per site (aggregate id) and local day, and in total.

    ``total_kwh`` is accumulated reading by reading in world-time order, as the ``Site``
    aggregate's ``consumption_kwh`` sums the same differences (equal to rounding).
    """

    daily_kwh: dict[UUID, dict[date, float]] = field(default_factory=dict)
    total_kwh: dict[UUID, float] = field(default_factory=dict)
    meter_replacements: dict[UUID, int] = field(default_factory=dict)
    sites: dict[UUID, tuple[str, str]] = field(default_factory=dict)

    def report(self, tariff: EnergyTariff | None = None) -> EnergyReport:
        """Recorded energy per site and year; sites not registered in the log are named by id."""
        tariff = tariff or EnergyTariff()
        rows: list[EnergyRow] = []
        for site, days in self.daily_kwh.items():
            code, commune = self.sites.get(site, (str(site), ""))
            per_year: dict[int, float] = defaultdict(float)
            for day, kwh in sorted(days.items()):
                per_year[day.year] += kwh
            rows.extend(_rows_by_year(code, commune, "metered", per_year, tariff))
        return EnergyReport(tuple(rows))


def recorded_energy(events: Iterable[object], timezone: str = VALLEY_TIMEZONE) -> RecordedEnergy:
    """Consumption per site and local day from ``EnergyMetered`` and ``MeterReplaced`` events.

    The energy between two readings of one meter is their index difference; it is counted on
    the local day holding the middle of the interval (a reading at midnight closes the day
    before). A replacement closes the old meter at its final index and opens the new one at
    its first. The first reading of a meter only sets its index. Indexes may come in any
    order (a late index lands between its neighbours): each site's meter facts are put in
    world-time order (log order among equal instants) before they are counted, so they are
    held in memory, one small tuple each. An index going down without a replacement is
    refused. Other events are not this function's business and are skipped.
    """
    zone = ZoneInfo(timezone)
    meters: dict[UUID, _Meter] = defaultdict(_Meter)
    result = RecordedEnergy()

    def count(site: UUID, kwh: float, until: datetime) -> None:
        meter = meters[site]
        assert meter.since is not None
        middle = (meter.since + (until - meter.since) / 2).astimezone(zone).date()
        days = result.daily_kwh.setdefault(site, {})
        days[middle] = days.get(middle, 0.0) + kwh
        result.total_kwh[site] = result.total_kwh.get(site, 0.0) + kwh

    facts: list[tuple[datetime, int, Site.EnergyMetered | Site.MeterReplaced]] = []
    for position, event in enumerate(events):
        if isinstance(event, Site.Registered):
            result.sites[event.originator_id] = (event.code, event.commune_insee)
        elif isinstance(event, Site.EnergyMetered | Site.MeterReplaced):
            facts.append((event.timestamp, position, event))
    facts.sort(key=lambda fact: (fact[0], fact[1]))
    for _, _, event in facts:
        if isinstance(event, Site.EnergyMetered):
            meter = meters[event.originator_id]
            if meter.index is not None:
                if event.index_kwh < meter.index:
                    raise ValueError(
                        f"site {event.originator_id}: index {event.index_kwh} at "
                        f"{event.timestamp.isoformat()} is below {meter.index} "
                        "with no meter replacement"
                    )
                count(event.originator_id, event.index_kwh - meter.index, event.timestamp)
            meter.index, meter.since = event.index_kwh, event.timestamp
        elif isinstance(event, Site.MeterReplaced):
            meter = meters[event.originator_id]
            if meter.index is not None:
                count(event.originator_id, event.final_index_kwh - meter.index, event.timestamp)
            meter.index, meter.since = event.new_index_kwh, event.timestamp
            result.meter_replacements[event.originator_id] = (
                result.meter_replacements.get(event.originator_id, 0) + 1
            )
    return result
