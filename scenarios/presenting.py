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

import math
from datetime import date
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from scenarios._report_text import NBSP, number
from scenarios.economics import RolloutCosts, base_prices
from scenarios.report import Assumption, BinOnMap, ReportInput
from scenarios.runner import ScenarioResult, prepare, usual_rounds
from simulation import Stop, default_fleets, plan_tours
from simulation.parameters import fleet as fp
from simulation.parameters import waste as wp
from simulation.parameters.waste import density_kg_per_l
from simulation.waste import service_minutes

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from scenarios.schema import Scenario
    from simulation import Bins, Estimate, WasteKpis

__all__ = ["report_input", "typical_day_words", "typical_tours", "waste_assumptions"]

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
    scenario = result.scenario
    kind = scenario.policy.kind if scenario.policy is not None else ""
    if scenario.rollout is not None:
        costs = scenario.rollout.costs
        sensors = scenario.rollout.sensors if scenario.rollout.sensors is not None else result.bins
    else:
        costs, sensors = RolloutCosts(), 0 if kind in ("", "fixed") else result.bins
    return ReportInput(
        **common,
        bins=on_map,
        tours=tours,
        tours_day=typical_day_words(kpis) if tours else "",
        seed=scenario.run.seed,
        policy=kind,
        assumptions=waste_assumptions(scenario, result.origin, costs),
        prices=base_prices(fp.TRUCK_EUR_PER_KM, wp.OVERFLOW_PENALTY_EUR.value, sensors, costs),
        by_stream=result.by_stream(),
        comparison=_comparison(result),
    )


def _comparison(result: ScenarioResult) -> str:
    """How the run was made comparable beyond horizon and seed: its equal-service tuning, when
    its result says so (``ScenarioResult.comparison``, read if present, never required)."""
    words = getattr(result, "comparison", "")
    if isinstance(words, str) and "equal service" in words and "not at equal service" not in words:
        return words
    value = getattr(result.scenario.run, "equal_service", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"equal service at {number(float(value))} overflows per 1 000 container-weeks"
    return ""


_WEEKDAY_SHORT = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _eur(value: float, unit: str = "€") -> str:
    return f"{number(value)}{NBSP}{unit}"


def waste_assumptions(
    scenario: Scenario, origin: str = "", costs: RolloutCosts | None = None
) -> list[Assumption]:
    """The figures that decide a waste scenario's answer, read from the parameters modules (never
    retyped): fleet per stream and trucks, depot, tip, costs, diesel, CO2, overflow penalty,
    treatment per tonne, the policy and the inflow model, and the sensors' prices."""
    fleets = default_fleets(dict(scenario.fleet))
    costs = costs or RolloutCosts()
    out: list[Assumption] = []

    def truck(t: fp.Truck) -> str:
        kind = (
            "crane truck, no compaction"
            if t.compaction_density_kg_m3 is None
            else (f"refuse truck compacting to {number(t.compaction_density_kg_m3, 0)}{NBSP}kg/m³")
        )
        return (
            f"{kind}, {number(t.body_volume_m3, 0)}{NBSP}m³ body, "
            f"{number(t.payload_kg / 1000, 1)}{NBSP}t payload"
        )

    fleet_words = "; ".join(
        f"{stream}: {f.trucks} × {truck(f.truck)}" for stream, f in sorted(fleets.items())
    )
    overridden = f" ([fleet] of the file: {dict(scenario.fleet)})" if scenario.fleet else ""
    out.append(
        Assumption(
            "Fleet per stream",
            fleet_words,
            "truck counts assumed (simulation.waste.default_fleets)"
            + overridden
            + "; trucks per [TE2015] in simulation.parameters.fleet",
        )
    )
    any_fleet = next(iter(fleets.values()))
    out.append(
        Assumption(
            "Shift, speed, roads",
            f"{number(any_fleet.shift_h, 0)}{NBSP}h shift, at most "
            f"{any_fleet.max_loads_per_shift} tip visits; {number(any_fleet.speed_kmh, 0)}{NBSP}km/h; "
            f"road = {number(fp.ROAD_CIRCUITY, 1)} × straight line; "
            f"{number(fp.SERVICE_MIN_WHEELED_BIN, 0)}{NBSP}min a wheeled bin, "
            f"{number(fp.SERVICE_MIN_COLUMN, 0)}{NBSP}min a column, "
            f"{number(fp.TIP_SERVICE_MIN, 0)}{NBSP}min at the tip",
            "assumed (simulation.parameters.fleet)",
        )
    )
    depot, tip = fp.DEPOT, fp.TIP
    haul = (
        math.dist((depot.position.x, depot.position.y), (tip.position.x, tip.position.y))
        * fp.ROAD_CIRCUITY
        / 1000
    )
    out.append(
        Assumption(
            "Depot", f"{depot.name}, {depot.address}", "[CCVH]; position estimated to about 1 km"
        )
    )
    out.append(
        Assumption(
            "Tip",
            f"{tip.name}, {tip.address}: {number(haul, 1)}{NBSP}km of road from the depot",
            "[SCH]; position estimated to about 1 km",
        )
    )
    out.append(
        Assumption(
            "Crew cost",
            f"{fp.CREW_SIZE} agents × {_eur(fp.AGENT_EUR_PER_H, '€/h')} = "
            f"{_eur(any_fleet.crew_eur_per_h, '€')} per shift hour",
            "assumed: municipal agent's pay with charges",
        )
    )
    out.append(
        Assumption(
            "Truck cost per km, fuel excluded",
            _eur(any_fleet.truck_eur_per_km, "€/km"),
            "assumed: write-off and maintenance (varied in the sensitivity table)",
        )
    )
    out.append(
        Assumption(
            "Diesel",
            f"{number(fp.FUEL_L_PER_100KM, 0)}{NBSP}L/100{NBSP}km at "
            f"{_eur(any_fleet.diesel_eur_per_l, '€/L')}",
            "assumed: rural collection duty; pump prices 2023–24",
        )
    )
    out.append(
        Assumption(
            "CO2 of diesel",
            f"{number(any_fleet.co2_kg_per_l)}{NBSP}kg CO2e/L",
            "Arrêté du 26 avril 2017 (well to wheel)",
        )
    )
    out.append(
        Assumption(
            "Overflow penalty",
            f"{_eur(wp.OVERFLOW_PENALTY_EUR.value, '€')} per overflow + "
            f"{_eur(wp.OVERFLOW_PENALTY_EUR_PER_HOUR.value, '€')} per hour it lasts",
            wp.OVERFLOW_PENALTY_EUR.source,
        )
    )
    out.append(
        Assumption(
            "Treatment cost per tonne",
            "; ".join(
                f"{stream} {_eur(f.value, '€/t')}" for stream, f in wp.COST_EUR_PER_TONNE.items()
            ),
            "ADEME Référentiel national des coûts (2012), partly assumed",
        )
    )
    out.append(
        Assumption(
            "Fill sensors (sensor-driven policies)",
            f"{_eur(costs.sensor_eur)} a sensor + {_eur(costs.installation_eur_per_sensor)} "
            f"to fit it, {costs.gateways} gateways at {_eur(costs.gateway_eur)}, "
            f"{_eur(costs.subscription_eur_per_sensor_year, '€')} a sensor a year, "
            f"{costs.lifetime_years} years' life, discounted at "
            f"{number(100 * costs.discount_rate, 1)}{NBSP}%",
            "assumed (scenarios.economics.RolloutCosts; [rollout] overrides them)",
        )
    )
    out.append(
        Assumption("Collection policy", _policy_words(scenario), "the scenario file's [policy]")
    )
    inflow = f"{origin}; " if origin else ""
    out.append(
        Assumption(
            "Waste thrown in each container",
            f"{inflow}day-to-day spread (coefficient of variation) "
            f"{number(scenario.inventory.inflow_cv, 2)} where not fitted",
            "simulation.waste.fitting: mean × season × weekday × gamma noise, per container",
        )
    )
    return out


def _policy_words(scenario: Scenario) -> str:
    p = scenario.policy
    if p is None:
        return "none"
    if p.kind == "fixed":
        rounds = usual_rounds(scenario)  # without planning the bins: words only
        parts = []
        for stream, r in sorted(rounds.items()):
            days = "+".join(_WEEKDAY_SHORT[d] for d in sorted(r.weekdays))
            every = "every week" if r.every_weeks == 1 else f"every {r.every_weeks} weeks"
            parts.append(f"{stream} {days} {every}")
        return (
            "fixed rounds: "
            + "; ".join(parts)
            + " (a stream's villages spread over the week where one day cannot hold them)"
        )
    if p.kind == "calendar":
        level = getattr(p, "service_level", None)
        target = f" set to a {number(100 * level, 1)}{NBSP}% service level" if level else ""
        return f"calendar: each container's own fixed round{target}"
    if p.kind == "threshold":
        return f"threshold: empty a container once {number(100 * p.threshold, 0)}{NBSP}% full"
    if p.kind == "predictive":
        return (
            f"predictive: overflow risk {number(100 * p.risk, 0)}{NBSP}%, forecast "
            f"{p.horizon_days} days, may-go within {number(p.detour_m, 0)}{NBSP}m "
            f"if ≥ {number(100 * p.min_fill, 0)}{NBSP}% full"
        )
    if p.kind == "integrated":
        return (
            f"integrated: must-go at {number(100 * p.risk, 0)}{NBSP}% overflow risk; may-go due "
            f"within {p.horizon_days} days and ≥ {number(100 * p.min_fill, 0)}{NBSP}% full, "
            f"optional stops (prize × {number(p.prize_scale, 1)})"
        )
    return p.kind


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
