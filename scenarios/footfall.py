"""A footfall scenario: visitors of one site over the horizon, with or without a festival.

Arrivals come from the site's beacon counts fitted on a store's log (``[history]``: the
``fit_days`` before the start) or, for a site not yet counted, from its published yearly
visitors spread by the assumed hour and weekday shapes and the Hérault seasons
(``simulation.assumed_arrivals``). Each replication draws Poisson visitors per hour from its
own seed; people present follow from the mean stay, and the hours over the site's capacity
are counted. A ``[festival]`` multiplies the arrivals on its days. Waste left by visitors is
reported at the Pont du Diable's published rate per visitor unless the scenario sets its own.

Not responsible for the footfall arithmetic (``simulation.footfall``).
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from domain import Beacon
from scenarios._subject_run import PlaceOnMap, SubjectRun, replicate_scenario
from scenarios._subject_schema import PUBLISHED_VISITORS
from simulation import (
    OneOffEvent,
    assumed_arrivals,
    fit_arrivals,
    footfall_kpis,
    sample_visitors,
)
from simulation.footfall import footfall_counts, occupancy
from simulation.parameters.energy import VALLEY_TIMEZONE
from simulation.parameters.footfall import WASTE_KG_PER_VISITOR
from twin import event_topics, load_geography, open_twin
from twin.inventory import ACTIVITY_ZONE, REMARKABLE_SITES

if TYPE_CHECKING:
    from collections.abc import Callable

    from scenarios.schema import Scenario
    from simulation import ArrivalModel
    from simulation.footfall import HourlySeries

__all__ = ["footfall_replication", "run_footfall"]

DEFAULT_STAY_HOURS = 2.0
"""Assumed: a couple of hours, for a site with no published stay and none in the scenario."""


def footfall_replication(scenario: Scenario, seed: int) -> dict[str, float]:
    """One replication's KPIs: visitors drawn with ``seed``, peaks, hours over capacity, waste."""
    return _figures(scenario, _arrivals(scenario, seed))


def run_footfall(
    scenario: Scenario, progress: Callable[[int, int], None] | None = None
) -> SubjectRun:
    """Every replication of the site's visitors; KPIs with CIs, one run's days, the site."""
    settings = scenario.footfall
    assert settings is not None  # validation gives a footfall scenario its settings
    estimates, seeds = replicate_scenario(footfall_replication, scenario, progress)
    return SubjectRun(
        kpis=estimates,
        replication_seeds=seeds,
        series=_daily(_arrivals(scenario, seeds[0]), _stay_hours(scenario)),
        places=(_site_on_map(settings.site, estimates["visitors"].mean),),
        place_value="visitors over the period",
        origin=_arrival_model(scenario)[1],
    )


def _arrivals(scenario: Scenario, seed: int) -> HourlySeries:
    settings = scenario.footfall
    assert settings is not None
    festival = settings.festival
    events = (
        ()
        if festival is None
        else (
            OneOffEvent(festival.name, festival.first_day, festival.last_day, festival.multiplier),
        )
    )
    start = _local_midnight(scenario.run.start)  # a July scenario is the valley's July
    hours = scenario.run.horizon_days * 24
    model = _arrival_model(scenario)[0]
    return sample_visitors(model, start, hours, seed, settings.detection_ratio, events)


def _stay_hours(scenario: Scenario) -> float:
    settings = scenario.footfall
    assert settings is not None
    published = PUBLISHED_VISITORS.get(settings.site)
    return settings.stay_hours or (published.mean_stay_hours if published else DEFAULT_STAY_HOURS)


def _figures(scenario: Scenario, arrivals: HourlySeries) -> dict[str, float]:
    settings = scenario.footfall
    assert settings is not None
    per_visitor = settings.waste_kg_per_visitor
    figures = footfall_kpis(arrivals, settings.capacity, _stay_hours(scenario))
    figures["visitor_waste_kg"] = figures["visitors"] * (
        WASTE_KG_PER_VISITOR if per_visitor is None else per_visitor
    )
    return figures


def _daily(arrivals: HourlySeries, stay_hours: float) -> tuple[dict[str, object], ...]:
    """Visitors and the most people present at once, per local day, of one run."""
    present = occupancy(arrivals, stay_hours)
    visitors, peak = arrivals.daily(), _daily_max(present)
    return tuple(
        {"day": day.isoformat(), "visitors": visitors[day], "peak_present": peak.get(day, 0.0)}
        for day in sorted(visitors)
    )


def _daily_max(series: HourlySeries) -> dict[date, float]:
    zone = ZoneInfo(VALLEY_TIMEZONE)
    out: dict[date, float] = {}
    for hour, value in enumerate(series.values):
        day = series.instant(hour).astimezone(zone).date()
        out[day] = max(out.get(day, 0.0), float(value))
    return out


@functools.lru_cache(maxsize=16)
def _arrival_model(scenario: Scenario) -> tuple[ArrivalModel, str]:
    # Fitting on a store reads its log: once per scenario and process, not per replication.
    settings = scenario.footfall
    assert settings is not None
    if scenario.history is not None:
        return _fitted(scenario)
    published = PUBLISHED_VISITORS.get(settings.site)
    yearly = settings.visitors_per_year or (published.visitors_per_year if published else None)
    assert yearly is not None  # validation asks for visitors_per_year when none is published
    source = (
        "the scenario" if settings.visitors_per_year else published.source if published else "?"
    )
    model = assumed_arrivals(settings.site, yearly, settings.detection_ratio)
    return (
        model,
        f"{yearly:,.0f} visitors a year ({source}); hour, weekday and month shapes assumed",
    )


def _fitted(scenario: Scenario) -> tuple[ArrivalModel, str]:
    """The site's arrival model fitted on the ``fit_days`` of counts before the start."""
    assert scenario.history is not None and scenario.footfall is not None
    site, store = scenario.footfall.site, scenario.history.store
    begin = _local_midnight(scenario.run.start)
    since = begin - timedelta(days=scenario.history.fit_days)
    topics = event_topics(Beacon.Installed, Beacon.Moved, Beacon.FootfallCounted)
    twin = open_twin(store)
    try:
        counts = [
            c
            for c in footfall_counts(twin.facts(topics=topics))
            if c.zone == site and since <= c.start and c.end <= begin
        ]
    finally:
        twin.close()
    models = fit_arrivals(counts)
    if site not in models:
        raise ValueError(
            f"{scenario.source}: no footfall counts of {site} in {store} between "
            f"{since:%Y-%m-%d} and {begin:%Y-%m-%d} to fit arrivals on"
        )
    return models[
        site
    ], f"{store}, {len(counts)} counts of {site} fitted on {scenario.history.fit_days} days"


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(VALLEY_TIMEZONE)).astimezone(UTC)


def _site_on_map(code: str, visitors: float) -> PlaceOnMap:
    place = next(p for p in (*REMARKABLE_SITES, ACTIVITY_ZONE) if p.code == code)
    position, commune = load_geography().locate(place.lon, place.lat)
    return PlaceOnMap(code, place.name, position.x, position.y, commune.insee, visitors)
