"""From a scenario's result to what its report shows: plain data for :mod:`scenarios.report`.

Each container on the map carries its own collections and overflow events over the
representative replication (``WasteKpis.by_container``), so the map shows which bins a policy
leaves overflowing, not only in which commune. The tours drawn are those of the run's typical
day (``WasteKpis.typical_day``: a working day whose number of emptied containers is close to
the mean of the run's working days; the rule is in ``simulation.waste.kpis``): its emptied
containers are routed again per stream with ``simulation.plan_tours`` (OR-Tools), with the
scenario's fleet, from the depot to the tip as ``FleetRouter`` routes them, each tour drawn
as one Lambert-93 polyline depot → stops → tip (→ stops → tip …) → depot. The simulation may
have priced that day with its continuous approximation (no tours): these tours are a drawing
of the same work, not the figures it was counted with. Not responsible for drawing.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from scenarios.report import BinOnMap, ReportInput
from scenarios.runner import ScenarioResult, prepare
from simulation import Stop, default_fleets, plan_tours
from simulation.parameters import fleet as fp
from simulation.parameters.waste import density_kg_per_l
from simulation.waste import service_minutes

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from simulation import Bins, Estimate, WasteKpis

__all__ = ["report_input", "typical_day_words", "typical_tours"]

Polyline = list[tuple[float, float]]

# Not strftime's %A/%B: those follow the process's locale, the page is in English.
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class _Common(TypedDict):
    """The fields of ``ReportInput`` every kind of run fills, typed as there."""

    name: str
    title: str
    question: str
    kpis: Mapping[str, Estimate]
    by_day: Sequence[Mapping[str, object]]
    focus: Sequence[str]
    economics: Mapping[str, float | str | None] | None
    start: str
    horizon_days: int


def report_input(name: str, result: ScenarioResult) -> ReportInput:
    """The report's view of one scenario run (``name`` identifies it in files and ids)."""
    common: _Common = {
        "name": name,
        "title": result.scenario.title,
        "question": result.scenario.question,
        "kpis": result.kpis,
        "by_day": result.by_day(),
        "focus": tuple(result.scenario.focus),
        "economics": result.economics.as_dict() if result.economics else None,
        "start": result.scenario.run.start.isoformat(),
        "horizon_days": result.scenario.run.horizon_days,
    }
    kpis = result.representative
    if kpis is None:  # a lighting, footfall or childcare run: its places, no containers or tours
        return ReportInput(**common, places=result.places, place_value=result.place_value)
    bins = result.containers if result.containers is not None else prepare(result.scenario).bins
    per_container = kpis.by_container()
    on_map = []
    columns = (bins.codes, bins.streams, bins.communes, bins.x, bins.y)
    for code, stream, commune, x, y in zip(*columns, strict=True):
        own = per_container.get(code, {})
        on_map.append(
            BinOnMap(
                code,
                float(x),
                float(y),
                stream,
                commune,
                collections=own.get("collections", 0.0),
                overflow_events=own.get("overflow_events", 0.0),
            )
        )
    tours = typical_tours(kpis, bins, dict(result.scenario.fleet))
    return ReportInput(
        **common, bins=on_map, tours=tours, tours_day=typical_day_words(kpis) if tours else ""
    )


def typical_day_words(kpis: WasteKpis) -> str:
    """The typical day in words: "Tuesday 14 May 2024, 37 containers emptied (mean 35)"."""
    typical = kpis.typical_day
    if typical is None:
        return ""
    day = date.fromisoformat(typical.day)
    return (
        f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}, "
        f"{len(typical.codes)} containers emptied "
        f"(mean {typical.mean_emptied:.0f} over {typical.working_days} working days)"
    )


def typical_tours(
    kpis: WasteKpis, bins: Bins, trucks: Mapping[str, int] | None = None
) -> list[Polyline]:
    """The tours of the run's typical day as Lambert-93 polylines (empty if nothing was emptied).

    ``trucks`` overrides ``simulation.default_fleets`` per stream, as a scenario's ``[fleet]``.
    Stops the fleet cannot take in one day are left out of the drawing.
    """
    typical = kpis.typical_day
    if typical is None:
        return []
    row = {code: i for i, code in enumerate(bins.codes)}
    emptied = zip(typical.codes, typical.litres, strict=True)
    known = [(row[c], litres) for c, litres in emptied if c in row]
    if not known:
        return []
    idx = np.array([i for i, _ in known], dtype=int)
    litres = np.array([v for _, v in known], dtype=float)
    streams = np.asarray(bins.streams, dtype=object)[idx]
    fleets = default_fleets(trucks)
    service = service_minutes(bins.capacity_l[idx])
    depot, tip = fp.DEPOT.position, fp.TIP.position
    out: list[Polyline] = []
    for stream in sorted(set(streams)):  # a fixed order: the same drawing every time
        mine = np.flatnonzero(streams == stream)
        stops = [
            Stop(
                str(k),  # by position: a bin emptied twice that day is two stops
                float(bins.x[idx[k]]),
                float(bins.y[idx[k]]),
                float(litres[k]),
                float(litres[k]) * density_kg_per_l(stream),
                float(service[k]),
            )
            for k in mine
        ]
        plan = plan_tours(stops, fleets[stream], depot, tip, circuity=fp.ROAD_CIRCUITY)
        position = {s.bin_id: (s.x, s.y) for s in stops}
        for tour in plan.tours:
            line: Polyline = [(depot.x, depot.y)]
            done = 0
            for unload in tour.unloads_after:
                line += [position[s] for s in tour.stop_ids[done:unload]]
                line.append((tip.x, tip.y))
                done = unload
            line.append((depot.x, depot.y))
            out.append(line)
    return out
