"""Running a validated scenario: bins, inflow models, the policy over the horizon, KPIs with CIs.

Bins come from the twin's seeded inventory (``twin.inventory.plan_inventory``: a valley with no
past: each container its own expected inflow from the households it serves, drawn around its
commune's share with spread ``catchment_cv`` and heavier in season near the remarkable sites,
``simulation.waste.inflow.catchment_inflow``; day-to-day spread ``inflow_cv``) or from a
store's log (``[history] store``: bins standing at the start, inflow models fitted on the
``fit_days`` before it, starting levels as last read). Each replication is a projection
(``simulation.simulate`` with a ``ProjectedInflow``) seeded from the scenario's seed; every
total KPI is estimated over the replications (``simulation.monte_carlo``), and the first
replication is kept whole for its totals per stream, commune and day. With ``[run]
equal_service`` the policy's knob is first tuned to that overflow rate
(``scenarios.sweep.tune_to_service``) and the result's ``comparison`` says so.

A scenario of another subject is handed to its own runner (``scenarios.lighting``,
``scenarios.footfall``, ``scenarios.childcare``) and comes back as the same ``ScenarioResult``,
its daily series and map places in place of the waste run's details.

Not responsible for validation (``scenarios.schema``), reports or comparisons. Never touches
``adapters``; a store given by URL is only read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from domain import Bin
from scenarios.childcare import run_childcare
from scenarios.economics import Economics, evaluate
from scenarios.footfall import run_footfall
from scenarios.lighting import run_lighting
from scenarios.loader import load_scenario
from scenarios.schema import Scenario, known_communes
from simulation import (
    Bins,
    FillModels,
    FixedSchedule,
    FleetRouter,
    Predictive,
    ProjectedInflow,
    Threshold,
    default_fleets,
    derive_inflow,
    fit_fill_models,
    levels_at,
    monte_carlo,
    read_history,
    replication_seeds,
    simulate,
)
from simulation.parameters import fleet as fp
from simulation.parameters.waste import COLLECTION_HOUR
from simulation.waste import DEFAULT_ROUNDS, Integrated, Round, constant_models
from simulation.waste.inflow import Catchments, catchment_inflow
from simulation.waste.policies import WORKING_DAYS, Calendar
from simulation.waste.sectors import Sectoring, Stops, sector_rounds
from simulation.waste.sizing import SIZING_MARGIN, longest_gap_days, size_to_rounds
from twin import load_geography, open_twin, plan_inventory
from twin.inventory import REMARKABLE_SITES, RULE_BY_STREAM

if TYPE_CHECKING:
    from scenarios.report import PlaceOnMap
    from simulation import Estimate, History, WasteKpis
    from simulation.waste import Policy

__all__ = [
    "Annual",
    "Prepared",
    "ScenarioResult",
    "annual_cost",
    "AS_SET",
    "build_policy",
    "expected_litres_per_day",
    "plan_calendar",
    "prepare",
    "usual_rounds",
    "run_scenario",
]

Progress = Callable[[int, int], None]
AS_SET = "each policy as its scenario file sets it (not at equal service)"
"""``ScenarioResult.comparison`` of a waste run whose policy was not tuned to a service level."""


@dataclass(frozen=True)
class Prepared:
    """What every replication shares: the bins, their inflow models and starting levels."""

    bins: Bins
    models: FillModels
    initial_levels_l: np.ndarray
    origin: str
    """Where the bins came from, in words (for a report)."""


@dataclass(frozen=True)
class ScenarioResult:
    """The outcome of a scenario: every total KPI as an Estimate, one replication in detail."""

    scenario: Scenario
    kpis: Mapping[str, Estimate]
    representative: WasteKpis | None
    """The first replication of a waste run, whole (per stream, commune and day)."""
    replication_seeds: tuple[int, ...]
    bins: int
    bins_by_stream: Mapping[str, int]
    origin: str
    seconds: float
    commune_names: Mapping[str, str] = field(default_factory=dict)
    containers: Bins | None = None
    """The containers the run simulated (positions, streams, communes), for the map."""
    economics: Economics | None = None
    """The cost-benefit against ``[rollout] baseline``, for a scenario with a ``[rollout]``."""
    baseline_cost: Annual | None = None
    """The rollout's baseline, its cost in € a year (for a scenario with a ``[rollout]``)."""
    series: tuple[Mapping[str, object], ...] = ()
    """A lighting, footfall or childcare run's daily rows (``day`` and figures), from one run."""
    places: tuple[PlaceOnMap, ...] = ()
    """The cabinets, site or crèche of a lighting, footfall or childcare run, for the map."""
    place_value: str = ""
    """What a place's ``value`` is, in words."""
    comparison: str = ""
    """Which comparison the figures belong to, in words: ``AS_SET`` (the policy as its file sets
    it) or "equal service at X overflows per 1,000 container-weeks (…)" when ``[run]
    equal_service`` tuned its knob first (empty for the other subjects)."""
    tuning: Mapping[str, Any] | None = None
    """The equal-service tuning behind the figures (knob, value, each try), if any."""

    def focus(self) -> dict[str, Estimate]:
        """The KPIs the scenario says matter, in its order."""
        return {name: self.kpis[name] for name in self.scenario.focus}

    def by_stream(self) -> dict[str, dict[str, float]]:
        """Totals per stream of the representative replication (streams with bins only)."""
        if self.representative is None:
            return {}
        return {
            s: v for s, v in self.representative.by_stream().items() if s in self.bins_by_stream
        }

    def by_commune(self) -> dict[str, dict[str, float]]:
        """Totals per commune (INSEE code) of the representative replication."""
        return {} if self.representative is None else self.representative.by_commune()

    def by_day(self) -> list[dict[str, object]]:
        """The daily rows of one run (a waste run's KPIs per day, or the subject's series)."""
        if self.representative is not None:
            return self.representative.by_day()
        return [dict(row) for row in self.series]

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready values: identity, every KPI estimate, the detailed replication."""
        s = self.scenario
        return {
            "title": s.title,
            "question": s.question,
            "source": s.source,
            "subject": s.subject,
            "policy": s.policy.kind if s.policy is not None else None,
            "seed": s.run.seed,
            "replications": s.run.replications,
            "replication_seeds": list(self.replication_seeds),
            "start": s.run.start.isoformat(),
            "horizon_days": s.run.horizon_days,
            "comparison": self.comparison,
            "tuning": None if self.tuning is None else dict(self.tuning),
            "bins": self.bins,
            "origin": self.origin,
            "seconds": round(self.seconds, 3),
            "focus": list(s.focus),
            "kpis": {name: e.as_dict() for name, e in self.kpis.items()},
            "by_stream": self.by_stream(),
            "by_commune": {
                c: {"name": self.commune_names.get(c, c), **v} for c, v in self.by_commune().items()
            },
            "economics": None
            if self.economics is None
            else self.economics.as_dict()
            if self.representative is None
            else {
                **self.economics.as_dict(),
                "baseline": self.scenario.rollout.baseline if self.scenario.rollout else None,
                "baseline_cost_eur_per_year": None
                if self.baseline_cost is None
                else self.baseline_cost.as_dict(),
                "cost_eur_per_year": annual_cost(
                    self.kpis["cost_eur"], self.scenario.run.horizon_days
                ).as_dict(),
            },
        }


@dataclass(frozen=True)
class Annual:
    """A cost scaled to a year: mean and 95 % CI bounds, in €."""

    mean: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        """Plain values."""
        return {"mean": self.mean, "low": self.low, "high": self.high}


def annual_cost(estimate: Estimate, horizon_days: int) -> Annual:
    """An estimate over ``horizon_days`` scaled to 365 days (mean and CI bounds alike)."""
    k = 365.0 / horizon_days
    return Annual(estimate.mean * k, estimate.low * k, estimate.high * k)


def build_policy(scenario: Scenario, prepared: Prepared | None = None) -> Policy:
    """The simulation policy the scenario names, with its parameters.

    A ``calendar`` is planned on the prepared containers' expected inflow over the run
    (``prepared`` is prepared here when not given).
    """
    p = scenario.policy
    if p is None:
        raise ValueError(
            f"{scenario.source}: a {scenario.subject} scenario has no collection policy"
        )
    days = frozenset(p.round_days) if p.round_days is not None else WORKING_DAYS
    if p.kind == "fixed":
        usual = usual_rounds(scenario)
        prepared = prepared if prepared is not None else prepare(scenario)
        models = prepared.models
        sectoring = sector_scenario_rounds(
            scenario,
            prepared,
            [usual[s] for s in models.streams],
            days,
            expected_litres_per_day(scenario, prepared),
        )
        by_commune = {
            (stream, commune): r
            for stream, commune, r in zip(
                models.streams, models.communes, sectoring.rounds, strict=True
            )
        }
        return FixedSchedule(rounds=usual, by_commune=by_commune)
    if p.kind == "calendar":
        return plan_calendar(scenario, prepared if prepared is not None else prepare(scenario))
    if p.kind == "threshold":
        return Threshold(fill=p.threshold, round_days=days)
    if p.kind == "predictive":
        return Predictive(
            risk=p.risk,
            horizon=p.horizon_days,
            detour_m=p.detour_m,
            min_fill=p.min_fill,
            round_days=days,
        )
    if p.kind == "integrated":
        return Integrated(
            risk=p.risk,
            horizon=p.horizon_days,
            min_fill=p.min_fill,
            prize_scale=p.prize_scale,
            round_days=days,
            fleets=default_fleets(dict(scenario.fleet)),
            look_ahead=p.look_ahead,
        )
    raise ValueError(f"unknown policy kind {p.kind!r}")  # validation makes this unreachable


def usual_rounds(scenario: Scenario) -> dict[str, Round]:
    """A ``fixed`` scenario's round per stream before sectoring: the file's, else the usual."""
    p = scenario.policy
    assert p is not None and p.kind == "fixed"
    rounds = {s: Round(frozenset(r.weekdays), r.every_weeks) for s, r in p.rounds}
    return {**DEFAULT_ROUNDS, **rounds}


def plan_calendar(scenario: Scenario, prepared: Prepared) -> Calendar:
    """The ``calendar`` policy of ``scenario`` planned on ``prepared``'s containers.

    Each container's expected litres per day is its model's mean over the run's days (weekday
    and season factors included), so a run in summer plans a summer calendar.
    """
    p = scenario.policy
    assert p is not None and p.kind == "calendar"
    models = prepared.models
    rate = expected_litres_per_day(scenario, prepared)
    calendar = Calendar.plan(
        models.streams,
        models.communes,
        models.capacity_l,
        rate,
        models.cv,
        service_level=p.service_level,
        frequencies=p.frequencies,
    )
    days = frozenset(p.round_days) if p.round_days is not None else WORKING_DAYS
    sectoring = sector_scenario_rounds(scenario, prepared, list(calendar.rounds), days, rate)
    return replace(calendar, rounds=sectoring.rounds)


def expected_litres_per_day(scenario: Scenario, prepared: Prepared) -> np.ndarray:
    """Each container's expected litres a day: its model's mean over the run's days."""
    days = prepared.models.expected_days(scenario.run.start, scenario.run.horizon_days)
    rate: np.ndarray = days.mean(axis=1)
    return rate


def sector_scenario_rounds(
    scenario: Scenario,
    prepared: Prepared,
    rounds: Sequence[Round],
    days: frozenset[int],
    litres_per_day: np.ndarray,
) -> Sectoring:
    """Each container's fixed round moved with its village to a day its fleet can serve.

    ``simulation.waste.sectors``: on a few villages every round stays on its stream's usual
    day; on the whole valley the villages spread over the week as a service's sectors do.
    """
    models = prepared.models
    bins = prepared.bins
    return sector_rounds(
        rounds,
        models.streams,
        models.communes,
        Stops(
            np.asarray(bins.x), np.asarray(bins.y), np.asarray(models.capacity_l), litres_per_day
        ),
        default_fleets(dict(scenario.fleet)),
        depot=fp.DEPOT.position,
        tip=fp.TIP.position,
        circuity=fp.ROAD_CIRCUITY,
        working_days=days,
    )


def prepare(scenario: Scenario) -> Prepared:
    """The bins, inflow models and starting levels of a scenario (from inventory or history)."""
    if scenario.history is not None:
        return _from_history(scenario)
    return _from_inventory(scenario)


def run_scenario(scenario: Scenario, *, progress: Progress | None = None) -> ScenarioResult:
    """Run every replication of ``scenario``; ``progress(done, total)`` after each one."""
    if scenario.subject != "waste":
        return _run_subject(scenario, progress)
    started = time.perf_counter()
    prepared = prepare(scenario)
    if len(prepared.bins) == 0:
        raise ValueError(f"{scenario.source}: no bins match the scenario's communes and streams")
    tuning = None
    if scenario.run.equal_service is not None:
        from scenarios.sweep import tune_to_service  # the tuner runs scenarios: no import cycle

        tuning = tune_to_service(scenario, scenario.run.equal_service, prepared)
        scenario = tuning.scenario
    policy = build_policy(scenario, prepared)
    fleets = dict(scenario.fleet)
    total = scenario.run.replications
    runs: list[WasteKpis] = []

    def one(seed: int) -> WasteKpis:
        kpis = simulate(
            prepared.bins,
            policy,
            ProjectedInflow(prepared.models),
            prepared.models,
            FleetRouter(fleets=default_fleets(fleets)),
            start=scenario.run.start,
            days=scenario.run.horizon_days,
            seed=seed,
            initial_levels_l=prepared.initial_levels_l,
        )
        runs.append(kpis)
        if progress is not None:
            progress(len(runs), total)
        return kpis

    estimates = monte_carlo(one, scenario.run.seed, total)
    streams, counts = np.unique(np.asarray(prepared.bins.streams), return_counts=True)
    economics, baseline_cost = None, None
    if scenario.rollout is not None:
        baseline_cost = annual_cost(
            run_scenario(rollout_baseline(scenario)).kpis["cost_eur"], scenario.run.horizon_days
        )
        sensors = (
            scenario.rollout.sensors if scenario.rollout.sensors is not None else len(prepared.bins)
        )
        economics = evaluate(
            baseline_cost,
            annual_cost(estimates["cost_eur"], scenario.run.horizon_days),
            sensors,
            scenario.rollout.costs,
        )
    return ScenarioResult(
        scenario=scenario,
        kpis=estimates,
        representative=runs[0],
        replication_seeds=tuple(replication_seeds(scenario.run.seed, total)),
        bins=len(prepared.bins),
        containers=prepared.bins,
        bins_by_stream={str(s): int(n) for s, n in zip(streams, counts, strict=True)},
        origin=prepared.origin,
        seconds=time.perf_counter() - started,
        commune_names=known_communes(),
        economics=economics,
        baseline_cost=baseline_cost,
        comparison=tuning.comparison if tuning is not None else AS_SET,
        tuning=tuning.as_dict() if tuning is not None else None,
    )


def _run_subject(scenario: Scenario, progress: Progress | None) -> ScenarioResult:
    """A lighting, footfall or childcare scenario, by its own runner."""
    started = time.perf_counter()
    runner = {"lighting": run_lighting, "footfall": run_footfall, "childcare": run_childcare}[
        scenario.subject
    ]
    outcome = runner(scenario, progress)
    return ScenarioResult(
        scenario=scenario,
        kpis=outcome.kpis,
        representative=None,
        replication_seeds=outcome.replication_seeds,
        bins=0,
        bins_by_stream={},
        origin=outcome.origin,
        seconds=time.perf_counter() - started,
        commune_names=known_communes(),
        economics=outcome.economics,
        series=outcome.series,
        places=outcome.places,
        place_value=outcome.place_value,
    )


def rollout_baseline(scenario: Scenario) -> Scenario:
    """The baseline a rollout is weighed against, on the very same bins, seed and horizon.

    Its policy and fleet come from ``[rollout] baseline``; its run settings (seed,
    replications, start, horizon), inventory and history from ``scenario``, so the two differ
    only by how they collect (like is compared with like, common random numbers included).
    """
    assert scenario.rollout is not None
    base = load_scenario(scenario.rollout.baseline)
    return replace(
        base, run=scenario.run, inventory=scenario.inventory, history=scenario.history, rollout=None
    )


# --- where the bins come from ----------------------------------------------------------------


def _selected(scenario: Scenario, streams: Sequence[str], communes: Sequence[str]) -> np.ndarray:
    inv = scenario.inventory
    keep = np.ones(len(streams), dtype=bool)
    if inv.streams is not None:
        keep &= np.isin(np.asarray(streams, dtype=object), list(inv.streams))
    if inv.communes is not None:
        keep &= np.isin(np.asarray(communes, dtype=object), list(inv.communes))
    return keep


def _subset_bins(bins: Bins, keep: np.ndarray) -> Bins:
    idx = np.flatnonzero(keep)
    return Bins.build(
        [bins.codes[i] for i in idx],
        [bins.streams[i] for i in idx],
        [bins.communes[i] for i in idx],
        bins.capacity_l[idx],
        bins.x[idx],
        bins.y[idx],
    )


def _inventory_history(seed: int) -> History:
    assets = plan_inventory(load_geography(), seed)
    return read_history(e for a in assets if isinstance(a, Bin) for e in a.collect_events())


def _from_inventory(scenario: Scenario) -> Prepared:
    inv = scenario.inventory
    assert inv.seed is not None  # validation requires it without a history
    everything = Bins.from_history(_inventory_history(inv.seed))
    keep = _selected(scenario, everything.streams, everything.communes)
    bins = _subset_bins(everything, keep)
    # Drawn on the whole valley, then selected: a container's catchment is its commune's share.
    catchments = _catchments(everything, inv.seed, inv.catchment_cv)
    idx = np.flatnonzero(keep)
    rate, season = catchments.litres_per_day[idx], catchments.season[idx]
    origin = f"inventory seed {inv.seed}, catchments spread {inv.catchment_cv:g}"
    if inv.sizing == "to_rounds":
        bins, rate, season, sized = _sized_to_rounds(bins, rate, season)
        origin += (
            f", {sized['containers']} containers at {sized['points']} points sized to the "
            f"rounds ({sized['resized']} resized, {sized['with_extra']} given extra ones; "
            f"margin {SIZING_MARGIN:g})"
        )
    models = constant_models(
        bins.codes, bins.streams, bins.communes, bins.capacity_l, rate, inv.inflow_cv, season
    )
    levels = (
        _warm_levels(bins, models.expected(scenario.run.start), scenario.run.start)
        if inv.warm_start
        else np.zeros(len(bins))
    )
    return Prepared(bins, models, levels, origin)


def _sized_to_rounds(
    bins: Bins, rate: np.ndarray, season: np.ndarray
) -> tuple[Bins, np.ndarray, np.ndarray, dict[str, int]]:
    """The containers a collectivity would set up for the valley's usual rounds.

    Each point's container (or containers: extra ones stand at the same point and share its
    inflow) is chosen among the standard sizes so that its expected inflow over the longest gap
    between two of its stream's usual rounds (``DEFAULT_ROUNDS``, whatever the scenario's
    policy, so that every policy is compared on the same containers), in its busiest season,
    times ``SIZING_MARGIN`` fits (``simulation.waste.sizing.size_to_rounds``).
    """
    gaps = {stream: longest_gap_days(rnd) for stream, rnd in DEFAULT_ROUNDS.items()}
    peak = rate * season.max(axis=1)
    sizing = size_to_rounds(bins.streams, bins.capacity_l, peak, gaps)
    src = sizing.source
    sized = Bins.build(
        sizing.codes(bins.codes),
        [bins.streams[i] for i in src],
        [bins.communes[i] for i in src],
        sizing.capacity_l,
        bins.x[src],
        bins.y[src],
    )
    return sized, rate[src] * sizing.share, season[src], sizing.summary(bins.capacity_l)


def _catchments(bins: Bins, seed: int, cv: float) -> Catchments:
    """Each inventory container's own expected inflow (``catchment_inflow``), seeded."""
    geography = load_geography()
    sites = [geography.locate(p.lon, p.lat)[0] for p in REMARKABLE_SITES]
    return catchment_inflow(
        bins.codes,
        bins.streams,
        bins.communes,
        bins.x,
        bins.y,
        population={c.insee: c.population for c in geography.communes},
        litres_per_inhabitant_day={
            s: r.litres_per_inhabitant_day for s, r in RULE_BY_STREAM.items()
        },
        seed=seed,
        cv=cv,
        sites=[(p.x, p.y) for p in sites],
    )


WARM_START_MAX_FILL = 0.9
"""A warm start leaves no container above this share of its capacity (see ``_warm_levels``)."""


def _warm_levels(bins: Bins, rate: np.ndarray, start: date) -> np.ndarray:
    """Each bin's level had today's rounds emptied it on their last day before ``start``.

    Capped at ``WARM_START_MAX_FILL`` of capacity: a container that today's rounds would have
    let overflow before the start is taken as emptied on a call-out just before it, so no
    policy starts with overflows it could not have prevented.
    """
    share = COLLECTION_HOUR.value / 24.0
    since = {}
    for stream, rnd in DEFAULT_ROUNDS.items():
        gap = next((g for g in range(1, 7 * 8 + 1) if rnd.runs_on(start - timedelta(days=g))), 0)
        since[stream] = max(gap - share, 0.0)
    days = np.array([since.get(s, 0.0) for s in bins.streams])
    levels: np.ndarray = np.minimum(rate * days, WARM_START_MAX_FILL * bins.capacity_l)
    return levels


def _from_history(scenario: Scenario) -> Prepared:
    assert scenario.history is not None
    twin = open_twin(scenario.history.store)
    try:
        history = read_history(twin.facts())
    finally:
        twin.close()
    start = datetime.combine(scenario.run.start, datetime.min.time(), UTC)
    end = start + timedelta(days=scenario.run.horizon_days)
    standing = Bins.from_history(history, start, end)
    bins = _subset_bins(standing, _selected(scenario, standing.streams, standing.communes))
    # Fitted on what the log read from ``fit_days`` before the start to the run's end: a run
    # over days the store recorded (a look back at what the trucks did) faces the inflow of
    # those very days; a projection past the log's end has only the days before it (days
    # without readings do not count in the fit).
    fit_days = scenario.history.fit_days
    fit_from = start - timedelta(days=fit_days)
    models = fit_fill_models(
        derive_inflow(history, fit_from, fit_days + scenario.run.horizon_days), history
    )
    origin = (
        f"{scenario.history.store}, {history.events_read} events, fitted on what it read "
        f"from {fit_from:%d/%m/%Y} to {end - timedelta(days=1):%d/%m/%Y}"
    )
    return Prepared(bins, _reorder(models, bins.codes), levels_at(history, bins, start), origin)


def _reorder(models: FillModels, codes: Sequence[str]) -> FillModels:
    """The models of ``codes``, in that order."""
    row = {code: i for i, code in enumerate(models.codes)}
    idx = np.array([row[c] for c in codes], dtype=int)
    return FillModels(
        tuple(codes),
        tuple(models.streams[i] for i in idx),
        tuple(models.communes[i] for i in idx),
        models.capacity_l[idx],
        models.mean[idx],
        models.weekday[idx],
        models.season[idx],
        models.cv[idx],
        models.days_observed[idx],
        tuple(models.fitted_from[i] for i in idx),
    )
