"""Parameter sweeps: every grid point × replication as an independent task, run anywhere.

A sweep (``scenarios.loader.load_sweep``) is a grid of validated scenarios. ``run_sweep`` turns
it into one task per (point, replication) — a top-level function and plain, picklable data —
and hands the tasks to an executor: ``LocalExecutor`` (a process pool on this machine, or this
very process with ``workers=1``) or ``DaskExecutor`` (a Dask distributed cluster reached by its
scheduler's address; ``dask`` is imported only then). A replication's seed comes from its
point's seed with ``simulation.replication_seeds`` and results are gathered by (point,
replication), never by order of completion, so a point's estimates are those of
``run_scenario`` of that point alone, whichever executor ran them and however many workers.

Equal service (``tune_to_service``, ``compare_at_equal_service``): each policy's one knob
(``KNOB_BY_KIND``: calendar → ``service_level``, threshold → ``threshold``, predictive and
integrated → ``risk``) bisected over short runs with a fixed seed until its overflow rate
(events per 1,000 container-weeks) comes closest to a target, so policies are compared on km,
hours, cost and CO2 at the same service. ``run_scenario`` does it first for a file with
``[run] equal_service``; the result's ``comparison`` says which comparison it is.

Not responsible for reading or validating the grid (``scenarios.loader``), for the report's
page (``scenarios.report``; this module only turns results into its inputs and writes
``sweep.csv``/``sweep.json``), for a rollout's cost-benefit or a point's day-by-day detail
(``run_scenario`` of that point gives both), nor for starting a Dask cluster.
"""

from __future__ import annotations

import concurrent.futures
import csv
import datetime as dt
import functools
import json
import math
import os
import signal
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from scenarios.childcare import childcare_replication
from scenarios.errors import SweepError
from scenarios.footfall import footfall_replication
from scenarios.lighting import lighting_replication
from scenarios.report import ReportInput, kpi_order
from scenarios.runner import Prepared, build_policy, prepare
from simulation import (
    FleetRouter,
    ProjectedInflow,
    default_fleets,
    estimate,
    replication_seeds,
    simulate,
)

if TYPE_CHECKING:
    from pathlib import Path

    from scenarios.loader import Sweep, SweepPoint
    from scenarios.runner import ScenarioResult
    from scenarios.schema import PolicySettings, Scenario
    from simulation import Estimate

__all__ = [
    "KNOB_BY_KIND",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "PointResult",
    "SweepResult",
    "Tuning",
    "at_equal_service",
    "compare_at_equal_service",
    "report_inputs",
    "run_sweep",
    "service_rate",
    "tune_to_service",
    "write_sweep_tables",
]

Progress = Callable[[int, int], None]
"""``progress(tasks done, tasks in all)``, called in the caller's process after each task."""
R = TypeVar("R")
DASK_CONNECT_TIMEOUT_S = 10.0


# --- one task --------------------------------------------------------------------------------


def _one_replication(scenario: Scenario, seed: int, batch: str = "") -> dict[str, float]:
    """One replication of ``scenario`` seeded with ``seed``: every total KPI, plain floats.

    The one place that knows how a scenario runs (waste collection as ``run_scenario`` does; the
    other subjects by their own one-replication functions, which their runners use too): the
    executors only move scenarios, seeds and dicts of floats.
    """
    if scenario.subject != "waste":
        return _subject_replication(scenario, seed)
    key = _preparation_key(scenario)
    prepared = (
        _prepared(key, batch) if _hashable(key) else prepare(key)
    )  # unhashable: slower, still right
    if len(prepared.bins) == 0:
        raise ValueError(f"{scenario.source}: no bins match the scenario's communes and streams")
    kpis = simulate(
        prepared.bins,
        build_policy(scenario, prepared),
        ProjectedInflow(prepared.models),
        prepared.models,
        FleetRouter(fleets=default_fleets(dict(scenario.fleet))),
        start=scenario.run.start,
        days=scenario.run.horizon_days,
        seed=seed,
        initial_levels_l=prepared.initial_levels_l,
    )
    return {name: float(value) for name, value in kpis.totals().items()}


def _subject_replication(scenario: Scenario, seed: int) -> dict[str, float]:
    run = {
        "lighting": lighting_replication,
        "footfall": footfall_replication,
        "childcare": childcare_replication,
    }[scenario.subject]
    return {name: float(value) for name, value in run(scenario, seed).items()}


def _preparation_key(scenario: Scenario) -> Scenario:
    """``scenario`` without what ``prepare`` does not read, so the points of a policy sweep share bins.

    Only fields known to be irrelevant to the bins are blanked (words, policy, seed, counts,
    fleet, focus); anything else stays in the key, so a new field can cost a cache miss, never
    a wrong hit.
    """
    return replace(
        scenario,
        title="",
        question="",
        policy=None,
        fleet=(),
        focus=(),
        rollout=None,
        run=replace(scenario.run, seed=0, replications=1),
    )


def _hashable(key: Scenario) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


@functools.lru_cache(maxsize=8)
def _prepared(key: Scenario, batch: str) -> Prepared:
    # Preparing bins (planning the inventory or reading a store) costs more than a replication,
    # so each process prepares a point once. The batch id keeps one sweep's cache from serving
    # the next: a long-lived Dask worker must not answer from a store read an hour ago.
    return prepare(key)


# --- executors -------------------------------------------------------------------------------


class Executor(Protocol):
    """Runs ``fn(*task)`` for every task; results in the tasks' order, whatever the completion order."""

    @property
    def name(self) -> str:
        """Where the tasks run, in words (for the CLI and ``sweep.json``)."""
        ...

    def map(
        self,
        fn: Callable[..., R],
        tasks: Sequence[tuple[Any, ...]],
        progress: Progress | None = None,
    ) -> list[R]:
        """``[fn(*task) for task in tasks]``, run wherever the executor runs things."""
        ...


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group: the parent alone decides what to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass(frozen=True)
class LocalExecutor:
    """A pool of ``workers`` processes on this machine (default: one per CPU).

    ``workers=1``, or a single task, runs in this process, which is what tests and debuggers
    want. Ctrl-C cancels the tasks not yet started and waits for the running ones (a single
    replication each), then re-raises ``KeyboardInterrupt``.
    """

    workers: int | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")

    @property
    def name(self) -> str:
        """``local, N workers``."""
        workers = self.workers or os.cpu_count() or 1
        return f"local, {workers} worker{'s' if workers > 1 else ''}"

    def map(
        self,
        fn: Callable[..., R],
        tasks: Sequence[tuple[Any, ...]],
        progress: Progress | None = None,
    ) -> list[R]:
        """Run every task; see the class."""
        workers = min(self.workers or os.cpu_count() or 1, len(tasks))
        if workers <= 1:
            results = []
            for task in tasks:
                results.append(fn(*task))
                if progress is not None:
                    progress(len(results), len(tasks))
            return results
        out: list[Any] = [None] * len(tasks)
        with concurrent.futures.ProcessPoolExecutor(
            workers, initializer=_ignore_interrupts
        ) as pool:
            try:
                where = {pool.submit(fn, *task): i for i, task in enumerate(tasks)}
                for done, future in enumerate(concurrent.futures.as_completed(where), start=1):
                    out[where[future]] = future.result()
                    if progress is not None:
                        progress(done, len(tasks))
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return out


@dataclass(frozen=True)
class DaskExecutor:
    """The workers of a Dask distributed cluster, reached at its scheduler's ``address``.

    Every worker must be able to import this project (``pip install 'valley-twin[dask]'`` on
    each machine) and, for a scenario with a ``[history]``, to reach its store. ``dask`` is
    imported only when tasks are sent; no Dask, or no scheduler answering within ``timeout``
    seconds, is a ``SweepError``. Ctrl-C cancels every task still on the cluster.
    """

    address: str
    timeout: float = DASK_CONNECT_TIMEOUT_S

    @property
    def name(self) -> str:
        """``dask at tcp://…``."""
        return f"dask at {self.address}"

    def map(
        self,
        fn: Callable[..., R],
        tasks: Sequence[tuple[Any, ...]],
        progress: Progress | None = None,
    ) -> list[R]:
        """Run every task on the cluster; see the class."""
        try:
            from dask.distributed import Client, as_completed
        except ImportError as error:
            raise SweepError(
                f"a sweep on a Dask cluster needs dask[distributed] ({error}): "
                "pip install 'valley-twin[dask]'"
            ) from error
        try:
            client = Client(self.address, timeout=self.timeout, set_as_default=False)
        except (OSError, ValueError, TimeoutError) as error:
            raise SweepError(
                f"cannot reach the Dask scheduler at {self.address!r} ({error}); is `dask scheduler` "
                "running there, and is the address tcp://host:port?"
            ) from error
        futures: list[Any] = []
        try:
            # pure=False: no hashing of the arguments; the tasks are distinct by construction.
            futures = client.map(fn, *zip(*tasks, strict=True), pure=False) if tasks else []
            where = {future.key: i for i, future in enumerate(futures)}
            out: list[Any] = [None] * len(tasks)
            for done, future in enumerate(as_completed(futures, loop=client.loop), start=1):
                out[where[future.key]] = future.result()
                if progress is not None:
                    progress(done, len(tasks))
            return out
        except BaseException:
            if futures:
                client.cancel(futures)
            raise
        finally:
            client.close()


# --- the sweep -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointResult:
    """One grid point's outcome: every total KPI as an Estimate over its replications."""

    point: SweepPoint
    kpis: Mapping[str, Estimate]
    replication_seeds: tuple[int, ...]


@dataclass(frozen=True)
class SweepResult:
    """Every point's estimates, where they ran and how long the sweep took."""

    sweep: Sweep
    points: tuple[PointResult, ...]
    executor: str
    seconds: float

    def rows(self) -> list[dict[str, Any]]:
        """One row per (point, KPI): ``point``, the swept values, ``kpi``, mean, low, high, n."""
        order = kpi_order(report_inputs(self))
        return [
            {
                "point": p.point.name,
                **{path: _plain(v) for path, v in p.point.values},
                "kpi": kpi,
                "mean": e.mean,
                "low": e.low,
                "high": e.high,
                "n": e.replications,
            }
            for p in self.points
            for kpi in order
            if (e := p.kpis.get(kpi)) is not None
        ]

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready values (NaN as None): the grid, each point's estimates and seeds."""
        s = self.sweep
        return {
            "title": s.title,
            "question": s.question,
            "source": s.source,
            "parameters": list(s.parameters),
            "executor": self.executor,
            "seconds": round(self.seconds, 3),
            "points": [
                {
                    "name": p.point.name,
                    "values": {path: _plain(v) for path, v in p.point.values},
                    "seed": p.point.scenario.run.seed,
                    "replication_seeds": list(p.replication_seeds),
                    "kpis": {
                        k: {f: _finite(x) for f, x in e.as_dict().items()}
                        for k, e in p.kpis.items()
                    },
                }
                for p in self.points
            ],
        }


def run_sweep(
    sweep: Sweep, executor: Executor | None = None, *, progress: Progress | None = None
) -> SweepResult:
    """Run every replication of every point of ``sweep`` on ``executor`` (default: local pool).

    ``progress(done, total)`` is called after each task. Raises ``SweepError`` when the
    executor cannot run, ``KeyboardInterrupt`` (after cancelling what had not started) on Ctrl-C.
    """
    executor = executor or LocalExecutor()
    started = time.perf_counter()
    batch = uuid.uuid4().hex
    seeds = [
        tuple(replication_seeds(p.scenario.run.seed, p.scenario.run.replications))
        for p in sweep.points
    ]
    tasks = [
        (p.scenario, seed, batch)
        for p, own in zip(sweep.points, seeds, strict=True)
        for seed in own
    ]
    totals = executor.map(_one_replication, tasks, progress)
    points, first = [], 0
    for point, own in zip(sweep.points, seeds, strict=True):
        runs, first = totals[first : first + len(own)], first + len(own)
        points.append(PointResult(point, _estimates(point, runs), own))
    return SweepResult(sweep, tuple(points), executor.name, time.perf_counter() - started)


def _estimates(point: SweepPoint, runs: Sequence[Mapping[str, float]]) -> dict[str, Estimate]:
    # As simulation.replicate does for run_scenario: same values, same order, same Estimates.
    names = list(runs[0])
    for number, run in enumerate(runs[1:], start=2):
        if list(run) != names:
            raise ValueError(
                f"{point.name}: replication {number} returned KPIs {sorted(run)}, "
                f"the first {sorted(names)}"
            )
    return {name: estimate([run[name] for run in runs]) for name in names}


# --- what the report is made of --------------------------------------------------------------


def report_inputs(result: SweepResult) -> list[ReportInput]:
    """One report entry per point, named ``p01``… and titled by its values; the first is the reference."""
    return [
        ReportInput(
            name=p.point.name,
            title=p.point.label(),  # the page reads "threshold = 0.7 drives 14 % fewer km than…"
            question=result.sweep.question,
            kpis=p.kpis,
            focus=p.point.scenario.focus,
        )
        for p in result.points
    ]


def write_sweep_tables(folder: Path, result: SweepResult) -> tuple[Path, Path]:
    """Write ``sweep.csv`` (one row per point × KPI) and ``sweep.json`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    table, document = folder / "sweep.csv", folder / "sweep.json"
    columns = ["point", *result.sweep.parameters, "kpi", "mean", "low", "high", "n"]
    with table.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for row in result.rows():
            writer.writerow({k: _cell(v) for k, v in row.items()})
    text = json.dumps(result.as_dict(), indent=2, ensure_ascii=False, allow_nan=False)
    document.write_text(text + "\n", encoding="utf-8")
    return table, document


def _plain(value: Any) -> Any:
    """A TOML value as JSON has it (dates and times as ISO text)."""
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _finite(value: float) -> float | None:
    # Strict JSON has no NaN (one replication: no interval).
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _cell(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


# --- equal service: each policy's one knob tuned to the same overflow rate -------------------

KNOB_BY_KIND: dict[str, tuple[str, float, float, bool]] = {
    "calendar": ("service_level", 0.5, 0.9999, True),
    "threshold": ("threshold", 0.3, 1.0, False),
    "predictive": ("risk", 0.0001, 0.5, True),
    "integrated": ("risk", 0.0001, 0.5, True),
}
"""Each tunable kind's knob: (policy key, lowest, highest, searched on a log scale).

For ``calendar`` the log scale is that of ``1 − service_level`` (the risk it allows)."""
TUNING_STEPS = 8
"""Bisection steps of ``tune_to_service`` (each one short run): a knob to about 1/256 of its range."""


def service_rate(overflow_events: float, containers: int, days: int) -> float:
    """Overflow events per 1,000 container-weeks."""
    return 1000.0 * overflow_events / (containers * days / 7.0) if containers and days else math.nan


@dataclass(frozen=True)
class Tuning:
    """A policy's knob tuned to an overflow rate: the tuned scenario and every try."""

    scenario: Scenario
    knob: str
    value: float
    target: float
    achieved: float
    """The rate of the chosen try (one replication, the scenario's horizon and first seed)."""
    tries: tuple[tuple[float, float], ...]
    """(knob value, overflow events per 1,000 container-weeks) of each short run, in order."""

    @property
    def comparison(self) -> str:
        """In words, for a report: which comparison the figures belong to."""
        return (
            f"equal service at {self.target:g} overflows per 1,000 container-weeks "
            f"({self.knob} = {self.value:.4g}, tuned to {self.achieved:.2f} on one "
            f"{self.scenario.run.horizon_days}-day run)"
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain values."""
        return {
            "knob": f"policy.{self.knob}",
            "value": self.value,
            "target_overflows_per_1000_container_weeks": self.target,
            "achieved": self.achieved,
            "tries": [{"value": v, "rate": r} for v, r in self.tries],
        }


def tune_to_service(
    scenario: Scenario, rate: float, prepared: Prepared | None = None, *, steps: int = TUNING_STEPS
) -> Tuning:
    """Bisect the scenario's policy knob so its overflow rate comes closest to ``rate``.

    ``rate`` is in overflow events per 1,000 container-weeks. Each try is one replication over
    the scenario's horizon with its first replication seed (common random numbers: every try
    and every policy sees the same draws), so the search is short and deterministic. The knob
    (``KNOB_BY_KIND``) is searched on its range, on a log scale for probabilities; the try
    closest to ``rate`` is kept, one at or under it on a tie. The returned scenario has the
    knob set and ``equal_service`` cleared (running it runs the tuned policy as is).
    """
    policy = scenario.policy
    if policy is None or policy.kind not in KNOB_BY_KIND:
        kind = None if policy is None else policy.kind
        raise ValueError(
            f"{scenario.source}: no knob to tune for policy kind {kind!r} "
            f"(tunable: {list(KNOB_BY_KIND)})"
        )
    knob, low, high, log = KNOB_BY_KIND[policy.kind]
    prepared = prepared if prepared is not None else prepare(scenario)
    seed = replication_seeds(scenario.run.seed, 1)[0]
    days = scenario.run.horizon_days
    fleets = default_fleets(dict(scenario.fleet))

    def value_at(u: float) -> float:  # u in [0, 1], the overflow rate growing with u
        if policy.kind == "calendar":  # 1 − service_level from 1e-4 (u = 0) to 0.5 (u = 1)
            return 1.0 - math.exp(math.log(1 - high) + u * (math.log(1 - low) - math.log(1 - high)))
        if log:
            return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        return low + u * (high - low)

    def rate_at(value: float) -> tuple[float, bool]:
        """The overflow rate at ``value``, and whether the fleet left planned stops unserved."""
        tuned = replace(scenario, policy=_with_knob(policy, knob, value))
        kpis = simulate(
            prepared.bins,
            build_policy(tuned, prepared),
            ProjectedInflow(prepared.models),
            prepared.models,
            FleetRouter(fleets=fleets),
            start=scenario.run.start,
            days=days,
            seed=seed,
            initial_levels_l=prepared.initial_levels_l,
        )
        totals = kpis.totals()
        return (
            service_rate(totals["overflow_events"], len(prepared.bins), days),
            totals["unserved_stops"] > 0,
        )

    tries: list[tuple[float, float]] = []
    short: dict[float, bool] = {}
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        value = value_at(mid)
        got, short[value] = rate_at(value)
        tries.append((value, got))
        # More service asks more visits; past what the fleet can carry, stops go unserved and
        # overflows rise again, so the rate is not monotone in the knob. A try the fleet could
        # not serve says "less work", whatever its rate.
        if got > rate and not short[value]:
            hi = mid
        else:
            lo = mid
    best = min(tries, key=lambda t: (short[t[0]], abs(t[1] - rate), t[1] > rate))
    tuned = replace(
        scenario,
        policy=_with_knob(policy, knob, best[0]),
        run=replace(scenario.run, equal_service=None),
    )
    return Tuning(tuned, knob, best[0], rate, best[1], tuple(tries))


def _with_knob(policy: PolicySettings, knob: str, value: float) -> PolicySettings:
    changes: dict[str, Any] = {knob: value}
    return replace(policy, **changes)


def at_equal_service(scenario: Scenario, rate: float) -> Scenario:
    """``scenario`` set to be tuned to ``rate`` overflows per 1,000 container-weeks when run.

    A ``fixed`` policy has no knob: it is replaced by a ``calendar`` with the default
    frequencies (its title says so), the baseline a collectivity tunes to a service level.
    """
    policy = scenario.policy
    if policy is None:
        raise ValueError(f"{scenario.source}: a {scenario.subject} scenario has no policy to tune")
    if policy.kind == "fixed":
        scenario = replace(
            scenario,
            title=f"{scenario.title} (as a calendar per container)",
            policy=replace(policy, kind="calendar", rounds=()),
        )
    return replace(scenario, run=replace(scenario.run, equal_service=rate))


def compare_at_equal_service(
    scenarios: Sequence[Scenario], rate: float, *, progress: Progress | None = None
) -> list[ScenarioResult]:
    """Each scenario tuned to ``rate`` overflows per 1,000 container-weeks, then run whole.

    What ``twin scenario compare --equal-service RATE`` would print: every result's
    ``comparison`` says "equal service at …" with its knob's tuned value.
    """
    from scenarios.runner import run_scenario

    return [run_scenario(at_equal_service(s, rate), progress=progress) for s in scenarios]
