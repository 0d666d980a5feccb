"""Parameter sweeps: every grid point × replication as an independent task, run anywhere.

A sweep (``scenarios.loader.load_sweep``) is a grid of validated scenarios. ``run_sweep`` turns
it into one task per (point, replication) — a top-level function and plain, picklable data —
and hands the tasks to an executor: ``LocalExecutor`` (a process pool on this machine, or this
very process with ``workers=1``) or ``DaskExecutor`` (a Dask distributed cluster reached by its
scheduler's address; ``dask`` is imported only then). A replication's seed comes from its
point's seed with ``simulation.replication_seeds`` and results are gathered by (point,
replication), never by order of completion, so a point's estimates are those of
``run_scenario`` of that point alone, whichever executor ran them and however many workers.

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
    from scenarios.schema import Scenario
    from simulation import Estimate

__all__ = [
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "PointResult",
    "SweepResult",
    "report_inputs",
    "run_sweep",
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
        build_policy(scenario),
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
