"""A childcare scenario: a crèche's places against the families asking for one, over years.

The crèche is one of the twin's inventory (its places by default, plus ``extra_places``);
requests arrive as a Poisson stream, a child keeps a place for an exponential stay of mean
``mean_stay_years``, and a family waits for a place (``simulation.run_service``, an M/M/c queue
in SimPy). The queue starts empty ``warmup_years`` before the scenario's start, so the
measured period sees a waiting list as it would be in steady use. Each replication has its
own seed. The yearly running cost of the places is the money figure; a crèche emits little
CO2 that depends on its number of places, so none is reported.

Not responsible for the queueing itself (``simulation.services``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from scenarios._subject_run import PlaceOnMap, SubjectRun, replicate_scenario
from scenarios.schema import known_creches
from simulation import ServiceModel, run_service
from simulation.parameters.services import CHILDCARE, HOURS_PER_DAY, HOURS_PER_YEAR
from simulation.services import Exponential
from twin import load_geography

if TYPE_CHECKING:
    from collections.abc import Callable

    from scenarios.schema import Scenario
    from simulation.services import ServiceRun

__all__ = ["childcare_model", "childcare_replication", "run_childcare"]

SERIES_EVERY_DAYS = 7
"""The waiting list is drawn weekly: a 10-year chart of daily points says nothing more."""


def childcare_model(scenario: Scenario) -> ServiceModel:
    """The queue the scenario describes: places, requests, stays, warm-up and horizon."""
    settings = scenario.childcare
    assert settings is not None  # validation gives a childcare scenario its settings
    today = settings.places if settings.places is not None else known_creches()[settings.creche]
    requests = settings.requests_per_year
    if requests is None:  # the assumed defaults' ratio of yearly requests to places
        requests = today * CHILDCARE.requests_per_year / CHILDCARE.places
    warmup_hours = settings.warmup_years * HOURS_PER_YEAR
    return ServiceModel(
        name=settings.creche,
        servers=today + settings.extra_places,
        arrivals_per_hour=requests / HOURS_PER_YEAR,
        service=Exponential(settings.mean_stay_years * HOURS_PER_YEAR),
        horizon_hours=warmup_hours + scenario.run.horizon_days * HOURS_PER_DAY,
        warmup_hours=warmup_hours,
        waiting_list_limit=settings.waiting_list_limit,
        sample_every_hours=SERIES_EVERY_DAYS * HOURS_PER_DAY,
    )


def childcare_replication(scenario: Scenario, seed: int) -> dict[str, float]:
    """One replication's KPIs: the crèche's queue run with ``seed``."""
    settings = scenario.childcare
    assert settings is not None
    model = childcare_model(scenario)
    years = scenario.run.horizon_days / 365.25
    return _figures(
        run_service(model, seed), model.servers, settings.cost_eur_per_place_year * years
    )


def run_childcare(
    scenario: Scenario, progress: Callable[[int, int], None] | None = None
) -> SubjectRun:
    """Every replication of the crèche's queue; KPIs with CIs, one run's waiting list, the crèche."""
    settings = scenario.childcare
    assert settings is not None
    model = childcare_model(scenario)
    estimates, seeds = replicate_scenario(childcare_replication, scenario, progress)
    return SubjectRun(
        kpis=estimates,
        replication_seeds=seeds,
        series=_waiting_list(run_service(model, seeds[0]), model, scenario),
        places=(_creche_on_map(settings.creche, model.servers),),
        place_value="places",
        origin=f"crèche {settings.creche}: {model.servers} places, "
        f"{model.arrivals_per_hour * HOURS_PER_YEAR:.1f} requests a year, "
        f"{settings.warmup_years:g} years of warm-up",
    )


def _figures(run: ServiceRun, places: int, cost_per_place: float) -> dict[str, float]:
    return {
        "requests": float(run.arrivals),
        "mean_wait_days": run.mean_wait_hours / HOURS_PER_DAY,
        "p95_wait_days": run.p95_wait_hours / HOURS_PER_DAY,
        "share_waited": run.share_waited,
        "mean_waiting_list": run.mean_waiting_list,
        "max_waiting_list": float(run.max_waiting_list),
        "utilisation": run.utilisation,
        "turned_away_share": run.turned_away_share,
        "places": float(places),
        "running_cost_eur": places * cost_per_place,
    }


def _waiting_list(
    run: ServiceRun, model: ServiceModel, scenario: Scenario
) -> tuple[dict[str, object], ...]:
    """Families waiting, weekly over the measured period, dated from the scenario's start."""
    return tuple(
        {
            "day": (scenario.run.start + timedelta(hours=hours - model.warmup_hours)).isoformat(),
            "waiting_list": float(waiting),
        }
        for hours, waiting in run.waiting_list
        if model.warmup_hours <= hours <= model.horizon_hours
    )


def _creche_on_map(code: str, places: int) -> PlaceOnMap:
    commune = load_geography().commune(code.removeprefix("CRECHE-"))
    centre = commune.boundary.representative_point()
    return PlaceOnMap(
        code,
        f"Crèche de {commune.name}",
        float(centre.x),
        float(centre.y),
        commune.insee,
        float(places),
    )
