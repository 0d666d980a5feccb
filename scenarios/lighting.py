"""A lighting scenario: LED retrofit, dimming and part-night switch-off against today's stock.

The cabinets come from the twin's seeded inventory (or from a store's log with ``[history]``),
in the communes the scenario selects. Today's stock is taken as it is registered (discharge
lamps with their ballast losses, burning from sunset to sunrise, or the schedules the log
records); the scenario replaces every lamp by an LED if ``led`` and puts every cabinet on the
scenario's schedule. Night lengths come from the sun's course at the valley's latitude, so the
figures are computed, not sampled: a lighting run has no randomness and no confidence
interval. Investment (luminaires, cabinet controllers) is weighed against the yearly savings
with ``scenarios.economics.appraise``.

Not responsible for the astronomy or the kWh arithmetic (``simulation.energy``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import shapely

from domain import Site
from scenarios._subject_run import PlaceOnMap, SubjectRun
from scenarios.economics import appraise
from simulation import LightingSchedule, cabinets_from_events, estimate, led_retrofit
from simulation.energy import lighting_kwh_per_night
from simulation.parameters.energy import EnergyTariff
from twin import event_topics, load_geography, open_twin, plan_inventory

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from scenarios.schema import Scenario

__all__ = ["lighting_replication", "run_lighting"]


def lighting_replication(scenario: Scenario, seed: int) -> dict[str, float]:
    """The lighting KPIs; ``seed`` is unused (nothing is random), kept for the sweep's tasks."""
    return {name: e.mean for name, e in run_lighting(scenario).kpis.items()}


def run_lighting(
    scenario: Scenario, progress: Callable[[int, int], None] | None = None
) -> SubjectRun:
    """Today's and the scenario's lighting over the horizon; KPIs, nightly series, cabinets."""
    settings = scenario.lighting
    assert settings is not None  # validation gives a lighting scenario its settings
    events, origin = _events(scenario)
    positions = _cabinet_positions(events)
    communes = scenario.inventory.communes
    today = [
        c for c in cabinets_from_events(events) if communes is None or c.commune_insee in communes
    ]
    if not today:
        raise ValueError(f"{scenario.source}: no lighting cabinet in the scenario's communes")
    schedule = LightingSchedule(
        settings.dim_percent if settings.dim_from is not None else 100.0,
        settings.dim_from,
        settings.dim_to,
        settings.off_from,
        settings.off_to,
    )
    changed = [led_retrofit(c, settings.led_power_w) if settings.led else c for c in today]
    if settings.changes_schedule:  # otherwise each cabinet keeps the schedules its log records
        changed = [c.with_schedule(schedule) for c in changed]
    start, nights = scenario.run.start, scenario.run.horizon_days
    before = np.array([lighting_kwh_per_night(c, start, nights) for c in today])
    after = np.array([lighting_kwh_per_night(c, start, nights) for c in changed])
    tariff = EnergyTariff(settings.price_eur_per_kwh, settings.co2_kg_per_kwh)
    kwh, kwh_before = float(after.sum()), float(before.sum())
    full_power_kw = sum(c.power_kw for c in changed)
    figures = {
        "electricity_kwh": kwh,
        "electricity_cost_eur": kwh * tariff.price_eur_per_kwh,
        "co2_kg": kwh * tariff.co2_kg_per_kwh,
        "kwh_saved": kwh_before - kwh,
        "eur_saved": (kwh_before - kwh) * tariff.price_eur_per_kwh,
        "co2_saved_kg": (kwh_before - kwh) * tariff.co2_kg_per_kwh,
        "full_power_hours": kwh / full_power_kw if full_power_kw else 0.0,
        "light_points": float(sum(c.light_points for c in changed)),
    }
    if progress is not None:
        progress(1, 1)
    series = tuple(
        {"day": (start + timedelta(days=night)).isoformat(), "electricity_kwh": float(value)}
        for night, value in enumerate(after.sum(axis=0))
    )
    places = tuple(
        PlaceOnMap(c.code, c.code, *positions[c.code], c.commune_insee, float(row.sum()))
        for c, row in zip(changed, after, strict=True)
        if c.code in positions
    )
    points = sum(c.light_points for c in changed)
    investment = (points * settings.led_eur_per_point if settings.led else 0.0) + (
        len(changed) * settings.controller_eur_per_cabinet if settings.changes_schedule else 0.0
    )
    yearly_savings = figures["eur_saved"] * 365.0 / nights
    economics = (
        appraise(
            investment,
            yearly_savings,
            running_eur_per_year=0.0,
            lifetime_years=settings.lifetime_years,
            discount_rate=settings.discount_rate,
            investment_what=_investment_words(
                settings.led, settings.changes_schedule, points, len(changed)
            ),
            savings_what="on the electricity bill, against today's lamps burning all night",
            who="the new lighting",
        )
        if investment > 0
        else None
    )
    return SubjectRun(
        kpis={name: estimate([value]) for name, value in figures.items()},
        replication_seeds=(),
        series=series,
        places=places,
        place_value="kWh over the period",
        origin=origin,
        economics=economics,
    )


def _investment_words(led: bool, schedule: bool, points: int, cabinets: int) -> str:
    parts = []
    if led:
        parts.append(f"{points} LED luminaires fitted")
    if schedule:
        parts.append(f"a dimming and switch-off controller in each of {cabinets} cabinets")
    return " and ".join(parts)


def _events(scenario: Scenario) -> tuple[list[object], str]:
    """The registrations (and schedule changes) the cabinets are read from, and their origin."""
    if scenario.history is not None:
        topics = event_topics(Site.Registered, Site.LightingScheduleChanged, Site.Closed)
        twin = open_twin(scenario.history.store)
        try:
            return list(twin.facts(topics=topics)), scenario.history.store
        finally:
            twin.close()
    seed = scenario.inventory.seed
    assert seed is not None  # validation requires it without a history
    assets = plan_inventory(load_geography(), seed)
    return [
        e for a in assets if isinstance(a, Site) for e in a.collect_events()
    ], f"inventory seed {seed}"


def _cabinet_positions(events: Iterable[object]) -> dict[str, tuple[float, float]]:
    """Lambert-93 position of every registered site (its geometry's centroid), by code."""
    out = {}
    for event in events:
        if isinstance(event, Site.Registered):
            centre = shapely.from_wkt(event.geometry_wkt).centroid
            out[event.code] = (float(centre.x), float(centre.y))
    return out
