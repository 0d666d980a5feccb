"""Queries for analysts' notebooks: pandas DataFrames read from the twin's event log.

* :func:`asset_history` — one row per event of one asset: time, event type, fields flattened.
* :func:`time_series` — a measure (fill, footfall, energy, …) of a set of assets over a period,
  in tidy long format; :func:`pivot` turns it into one column per asset (or per group), binned
  by a pandas frequency if asked.
* :func:`valley_state` — one row per asset as of an instant: kind, code, commune, WGS84 lon/lat,
  Lambert-93 x/y and key current fields, folded from one read of the log (:mod:`twin.asof`).

Every time is a timezone-aware UTC ``pandas.Timestamp``. Positions are given both ways: lon/lat
(WGS84) for maps, x/y (Lambert-93 metres) for distances and areas. People stay out: citizens
are refused as references, a citizen's pseudonym in an overflow report is cut to its role
("citizen"), and the opaque references of people on a service's lists are dropped (counts are
kept). Not responsible for writing files (:mod:`twin.export`) nor for plotting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from domain import Beacon, Bin, Citizen, Service, Site, ValleyAggregate
from twin.asof import (
    ASSET_CLASSES,
    ASSET_KINDS,
    PAGE_SIZE,
    Instant,
    asset_events,
    asset_row,
    check_instant,
    check_kinds,
    kind_topics,
    row_fields,
    to_wgs84,
    valley_as_of,
)
from twin.errors import InvalidInputError
from twin.events import aggregate_event
from twin.geography import load_geography

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from uuid import UUID

    from eventsourcing.domain import DomainEventProtocol

    from twin.application import ValleyTwin

_BOOKKEEPING = {"originator_id", "originator_version", "timestamp", "originator_topic"}
# Opaque references to people (families on a waiting list, trainees): never in an analyst's frame.
_PERSONAL_FIELDS = {"request_ref", "participant_ref"}
# Beyond this many references, reading their kinds' topics once beats one history read each.
_HISTORIES_UP_TO = 200
SERIES_COLUMNS = ("time", "kind", "code", "group", "commune_insee", "field", "value")


@dataclass(frozen=True)
class Measure:
    """A quantity an asset kind records over time, read after each event that sets it."""

    kind: str
    events: tuple[type[Any], ...]
    read: Callable[[Any, Any], float | None]  # (event, aggregate after the event) -> value
    how: str  # how pivot() combines values in a bin: mean, sum or last
    unit: str
    delta: bool = False  # the value is the change since the previous reading (NaN for the first)
    interval: bool = False  # counted over an interval: dated at its start, its end in interval_end
    # One row per overflow episode at its first sign, from the bin's whole history (a late
    # emptying may split an episode, a late sign move its start: no single event says it).
    episodes: bool = False


MEASURES: dict[tuple[str, str], Measure] = {
    ("bin", "fill_percent"): Measure(
        "bin", (Bin.FillLevelMeasured, Bin.Emptied), lambda e, a: a.fill_percent, "mean", "%"
    ),
    ("bin", "emptied_mass_kg"): Measure("bin", (Bin.Emptied,), lambda e, a: e.mass_kg, "sum", "kg"),
    ("bin", "overflows"): Measure(
        "bin",
        (Bin.OverflowReported, Bin.FillLevelMeasured, Bin.Emptied),
        lambda e, a: 1.0,
        "sum",
        "episodes",
        episodes=True,
    ),
    ("bin", "battery_percent"): Measure(
        "bin", (Bin.SensorBatteryReported,), lambda e, a: e.battery_percent, "mean", "%"
    ),
    ("beacon", "footfall"): Measure(
        "beacon",
        (Beacon.FootfallCounted,),
        lambda e, a: float(e.count),
        "sum",
        "people",
        interval=True,
    ),
    ("beacon", "battery_percent"): Measure(
        "beacon", (Beacon.BatteryReported,), lambda e, a: e.battery_percent, "mean", "%"
    ),
    ("site", "index_kwh"): Measure(
        "site",
        (Site.EnergyMetered, Site.MeterReplaced),
        lambda e, a: a.meter_index_kwh,
        "last",
        "kWh",
    ),
    ("site", "consumption_kwh"): Measure(
        "site",
        (Site.EnergyMetered, Site.MeterReplaced),
        lambda e, a: a.consumption_kwh,
        "sum",
        "kWh",
        delta=True,
    ),
    ("site", "occupancy"): Measure(
        "site", (Site.OccupancyCounted,), lambda e, a: float(a.occupancy), "mean", "people"
    ),
    ("service", "waiting_list"): Measure(
        "service",
        (Service.PlaceRequested, Service.PlaceGranted),
        lambda e, a: float(len(a.waiting)),
        "last",
        "requests",
    ),
    ("service", "places_granted"): Measure(
        "service",
        (Service.PlaceGranted, Service.PlaceReleased),
        lambda e, a: float(len(a.granted)),
        "last",
        "places",
    ),
}
_GROUP_ATTRIBUTE = {
    "bin": "stream",
    "beacon": "zone_code",
    "site": "site_kind",
    "service": "service_kind",
}


# ---- one asset's history ------------------------------------------------------------------
def asset_history(twin: ValleyTwin, ref: str) -> pd.DataFrame:
    """Every event of one asset (by code or UUID), oldest first: time, version, event, fields.

    Dict fields are flattened as ``field.key`` (e.g. ``schedule.dim_percent``); events that
    place an asset get its WGS84 ``lon``/``lat`` next to the Lambert-93 ``x_l93``/``y_l93``.
    """
    aggregate_id = twin.resolve(ref)
    events = twin.history(aggregate_id)
    _refuse_citizen(events, ref)
    rows = []
    for event in events:
        row: dict[str, Any] = {
            "time": aggregate_event(event).timestamp,
            "version": event.originator_version,
            "event": type(event).__qualname__.rsplit(".", 1)[-1],
        }
        row.update(_event_fields(event))
        if "x_l93" in row:
            lon, lat = to_wgs84().transform(row["x_l93"], row["y_l93"])
            row["lon"], row["lat"] = round(float(lon), 6), round(float(lat), 6)
        rows.append(row)
    return _with_utc_times(pd.DataFrame(rows))


def _event_fields(event: DomainEventProtocol[UUID]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, value in vars(event).items():
        if name in _BOOKKEEPING or name in _PERSONAL_FIELDS:
            continue
        if name == "reported_by":
            value = value.split(":", 1)[0]  # "citizen:<pseudonym>" → "citizen"
        if isinstance(value, dict):
            fields.update({f"{name}.{key}": item for key, item in value.items()})
        else:
            fields[name] = value
    return fields


def _refuse_citizen(events: list[DomainEventProtocol[UUID]], ref: str) -> None:
    if events and isinstance(events[0], Citizen.Registered):
        raise InvalidInputError(
            "reference",
            ref,
            "the code of a bin, beacon, site or service (citizens are personal data)",
        )


# ---- time series ----------------------------------------------------------------------------
def time_series(
    twin: ValleyTwin,
    refs_or_kind: str | Iterable[str],
    start: Instant | None,
    end: Instant | None,
    field: str = "fill_percent",
) -> pd.DataFrame:
    """A measure of some assets over ``[start, end)`` (None: unbounded), one row per reading.

    ``start`` and ``end`` are timezone-aware datetimes (or pandas Timestamps) or ISO 8601 text.
    ``refs_or_kind`` is an asset kind (``"bin"``, ``"beacon"``, ``"site"``, ``"service"``: all
    of them), one asset code or UUID, or several. Columns: ``time`` (UTC), ``kind``, ``code``,
    ``group`` (the bin's stream, the beacon's zone, the site's or service's kind),
    ``commune_insee``, ``field``, ``value``. Footfall is counted over intervals: its ``time``
    is the interval's start (so an hour binned by day falls in the day it began) and an extra
    column ``interval_end`` gives its end. ``fill_percent`` includes the 0 % each emptying
    sets; ``consumption_kwh`` is the energy used since the previous index reading;
    ``overflows`` is one row (value 1) per overflow episode, dated at its first sign, as
    ``overflow_count`` counts them (:mod:`domain.overflows`).
    """
    lower, upper = check_instant(start, "start"), check_instant(end, "end")
    if lower is not None and upper is not None and upper <= lower:
        raise InvalidInputError(
            "end", upper.isoformat(), f"an instant after start {lower.isoformat()}"
        )
    ids, kinds = _select(twin, refs_or_kind)
    measures = {kind: _measure(kind, field) for kind in kinds}
    if ids is not None and len(ids) <= _HISTORIES_UP_TO:
        events: Iterable[DomainEventProtocol[UUID]] = asset_events(twin, ids)
    else:
        events = twin.facts(topics=kind_topics(kinds), page_size=PAGE_SIZE)
    wanted = None if ids is None else set(ids)
    states: dict[UUID, ValleyAggregate] = {}
    previous: dict[UUID, float | None] = {}
    rows: list[dict[str, Any]] = []
    for event in events:
        if wanted is not None and event.originator_id not in wanted:
            continue
        fact = aggregate_event(event)
        aggregate = fact.mutate(states.get(event.originator_id))
        assert aggregate is not None  # an aggregate's event returns the aggregate it changed
        states[event.originator_id] = aggregate
        measure = measures[aggregate.KIND]
        if measure.episodes or not isinstance(event, measure.events):
            continue
        value = measure.read(event, aggregate)
        if measure.delta:
            before = previous.get(event.originator_id)
            previous[event.originator_id] = value
            value = None if before is None or value is None else value - before
        when = event.interval_start if measure.interval else event.timestamp
        if (lower is not None and when < lower) or (upper is not None and when >= upper):
            continue
        row = {
            "time": when,
            "kind": aggregate.KIND,
            "code": aggregate.code,
            "group": getattr(aggregate, _GROUP_ATTRIBUTE[aggregate.KIND]),
            "commune_insee": aggregate.commune_insee,
            "field": field,
            "value": value,
        }
        if measure.interval:
            row["interval_end"] = event.timestamp
        rows.append(row)
    for aggregate in states.values():
        if isinstance(aggregate, Bin) and measures[aggregate.KIND].episodes:
            rows.extend(_episode_rows(aggregate, field, lower, upper))
    intervals = any(measure.interval for measure in measures.values())
    frame = pd.DataFrame(rows, columns=[*SERIES_COLUMNS, *(["interval_end"] if intervals else [])])
    frame["value"] = frame["value"].astype("float64")
    frame = _with_utc_times(frame).sort_values(["code", "time"], kind="stable", ignore_index=True)
    frame.attrs.update(
        field=field, how=next(iter(measures.values())).how, unit=next(iter(measures.values())).unit
    )
    return frame


def _episode_rows(
    bin_: Bin, field: str, lower: datetime | None, upper: datetime | None
) -> list[dict[str, Any]]:
    """A bin's overflow episodes begun in [lower, upper), one row each (where the bin is now)."""
    return [
        {
            "time": episode.began,
            "kind": bin_.KIND,
            "code": bin_.code,
            "group": bin_.stream,
            "commune_insee": bin_.commune_insee,
            "field": field,
            "value": 1.0,
        }
        for episode in bin_.overflow_episodes()
        if (lower is None or episode.began >= lower) and (upper is None or episode.began < upper)
    ]


def _select(
    twin: ValleyTwin, refs_or_kind: str | Iterable[str]
) -> tuple[list[UUID] | None, tuple[str, ...]]:
    """(ids, kinds): ids None means every asset of the kinds."""
    if isinstance(refs_or_kind, str):
        if refs_or_kind in ASSET_CLASSES:
            return None, (refs_or_kind,)
        refs: list[str] = [refs_or_kind]
    else:
        refs = list(refs_or_kind)
    if not refs:
        raise InvalidInputError("refs_or_kind", "[]", "an asset kind or at least one asset code")
    ids, kinds = [], []
    for ref in refs:
        aggregate_id = twin.resolve(ref)
        first = twin.recorder.select_events(aggregate_id, limit=1)
        event = twin.mapper.to_domain_event(first[0])
        _refuse_citizen([event], ref)
        kinds.append(_kind_of_event(event))
        ids.append(aggregate_id)
    return list(dict.fromkeys(ids)), tuple(dict.fromkeys(kinds))


def _kind_of_event(event: DomainEventProtocol[UUID]) -> str:
    for kind, cls in ASSET_CLASSES.items():
        if type(event).__qualname__.startswith(f"{cls.__name__}."):
            return kind
    raise InvalidInputError("reference", str(event.originator_id), "an asset of the valley")


def _measure(kind: str, field: str) -> Measure:
    try:
        return MEASURES[(kind, field)]
    except KeyError:
        known = ", ".join(name for k, name in MEASURES if k == kind)
        raise InvalidInputError("field", field, f"a measure of a {kind}: {known}") from None


def pivot(
    series: pd.DataFrame, by: str = "code", freq: str | None = None, how: str | None = None
) -> pd.DataFrame:
    """One column per ``by`` value (``code``, ``group`` or ``commune_insee``), indexed by time.

    With ``freq`` (a pandas frequency: ``"1h"``, ``"1D"``, ``"7D"``…) readings are binned and
    combined with ``how`` — by default the measure's own: mean for fill levels, sum for
    footfall and energy used, last for meter indexes and list lengths.
    """
    how = how or series.attrs.get("how", "mean")
    keys: list[Any] = [pd.Grouper(key="time", freq=freq) if freq else "time", by]
    grouped = series.groupby(keys)["value"]
    # A bin (or an instant) with no reading sums to NaN, not to a reassuring 0.
    combined = grouped.sum(min_count=1) if how == "sum" else grouped.agg(how)
    wide = combined.unstack(by)
    if freq is not None and not wide.empty:
        # Bins without any reading are rows of NaN, not missing rows: a regular time axis.
        wide = wide.reindex(
            pd.date_range(wide.index.min(), wide.index.max(), freq=freq, name="time")
        )
    wide.columns.name = by
    return wide


# ---- the valley as of an instant --------------------------------------------------------------
def valley_state(
    twin: ValleyTwin,
    at: Instant | None = None,
    kinds: Iterable[str] | str | None = None,
    known_at: Instant | None = None,
) -> pd.DataFrame:
    """One row per asset as it was at ``at`` (default: now), assets created later absent;
    ``known_at``: as the twin knew it at that recording instant.

    Columns: kind, code, name, commune_insee, commune, lon, lat (WGS84), x_l93, y_l93
    (Lambert-93), installed_at, updated_at, version, retired, then each kind's key fields
    (fill and stream for bins, footfall for beacons, energy and occupancy for sites, places
    for services); fields of other kinds are empty. Retired assets are kept, flagged.
    """
    geography = load_geography()
    rows = [
        asset_row(asset, geography) for asset in valley_as_of(twin, at, kinds, known_at=known_at)
    ]
    frame = _with_utc_times(pd.DataFrame(rows, columns=row_fields(check_kinds(kinds))))
    for column in _COUNT_COLUMNS.intersection(frame.columns):
        frame[column] = frame[column].astype(
            "Int64"
        )  # counts stay whole where other kinds leave gaps
    frame.attrs["at"] = None if at is None else pd.Timestamp(check_instant(at))
    return frame


_COUNT_COLUMNS = {
    "version",
    "capacity_l",
    "emptied_count",
    "overflow_count",
    "sensor_fault_count",
    "footfall_total",
    "footfall_last",
    "light_points",
    "occupancy",
    "capacity",
    "places_granted",
    "waiting_list",
    "sessions",
}
_TIME_COLUMNS = {
    "time",
    "interval_start",
    "interval_end",
    "installed_at",
    "updated_at",
    "fill_measured_at",
    "last_emptied_at",
    "footfall_from",
    "counted_until",
    "meter_read_at",
    "starts_at",
}


def _with_utc_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn every column of instants into timezone-aware UTC pandas timestamps."""
    for column in frame.columns:
        values = frame[column]
        if column in _TIME_COLUMNS or (
            values.dtype == object
            and any(isinstance(v, datetime) for v in values.dropna().head(20))
        ):
            # One resolution everywhere, so frames from different queries merge without casts.
            frame[column] = pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")
    return frame


__all__ = [
    "ASSET_KINDS",
    "MEASURES",
    "Measure",
    "asset_history",
    "pivot",
    "time_series",
    "valley_state",
]
