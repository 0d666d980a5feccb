"""Benchmark of the waste engine: a year of the valley's bins, and of 10,000 containers, under four policies.

Usage: ``python bench/simulation.py [--quick] [--days N] [--bins-json FILE] [--exact-up-to N]
[--large N] [--repeat N]``

The valley is synthesised in plain Python with a fixed seed (the simulation may not import the
twin): the 28 communes' populations from ../shared/data/ccvh_communes.csv when present (else
seeded ones), centres scattered within about 15 km of the depot, containers per stream in
proportion to population with the twin's inventory ratios, inflow per container from the
Citeo volumes per inhabitant. ``--bins-json`` takes a list of
``{"code","stream","commune","capacity_l","x","y","litres_per_day"}`` instead.

The large case (``--large``, 10,000 containers by default; 0 skips it) is made from that
inventory, deterministically: the valley's containers are copied, in their order, as many
times as needed and the last copy cut at the count; each copy keeps its container's stream,
commune, capacity and inflow, gets the code suffixed ``-R1``, ``-R2``… and a position moved by a
normal jitter of 60 m on each axis (``random.Random(SEED + 1)``), so villages grow denser as if
their population had doubled or tripled. Its fleets are the valley's times the same factor
(containers ÷ the valley's, rounded up), so the trucks are as loaded as in the valley.

Printed: the machine (cores, load average), the versions, the once-per-process imports;
simulated bin-days per second and wall time per policy, the same for a naive SimPy model (one
process per bin waking every hour) measured in the same run on a shorter horizon after each
round of the policies, the ratio for the slowest policy (the median of the rounds' ratios,
named, with the router's share of its wall time, and the ratio without it) against its target
(50x), the large case's wall time per policy and of the three slowest
together run one after the other, and the same three run side by side in processes as the
product runs a comparison's policies (``scenarios.sweep.LocalExecutor``, one process per CPU,
the pool started inside the figure, module caches emptied first so each process starts cold as
a planner's would; their KPIs asserted identical, bit for bit, to the sequential run's). The 5 s
target is judged on the side-by-side figure: the comparison's wall time as a planner waits
for it. Then tracemalloc peaks for 90 vs 365 days.
``--repeat N`` runs each timed case N times and prints medians. Not a test: numbers depend on
the machine, and a shared one is noisy.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

import numpy as np
import simpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulation.parameters import fleet as fp  # noqa: E402
from simulation.parameters.waste import LITRES_PER_INHABITANT_DAY  # noqa: E402
from simulation.waste import (  # noqa: E402
    DEFAULT_ROUNDS,
    Bins,
    FixedSchedule,
    FleetRouter,
    Integrated,
    Predictive,
    ProjectedInflow,
    Round,
    Threshold,
    constant_models,
    default_fleets,
    simulate,
)

SEED = 2024
START = date(2024, 1, 1)
# stream: (inhabitants per container, capacity L) — the twin's inventory ratios
RULES = {
    "residual": (20, 660),
    "packaging": (90, 3000),
    "glass": (150, 3000),
    "paper": (250, 3000),
    "biowaste": (120, 400),
}
CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "ccvh_communes.csv"


def synth_valley(scale: float = 1.0) -> list[dict[str, object]]:
    """Containers of a synthetic valley (fixed seed); ``scale`` shrinks the population."""
    rng = random.Random(SEED)
    if CSV.exists():
        with CSV.open(encoding="utf-8") as f:
            communes = [(r["insee_code"], int(r["population_totale"])) for r in csv.DictReader(f)]
    else:
        communes = [(f"34{100 + k:03d}", int(rng.lognormvariate(7.0, 0.9))) for k in range(28)]
    depot = fp.DEPOT.position
    bins: list[dict[str, object]] = []
    for insee, population in communes:
        angle, radius = rng.uniform(0, 2 * math.pi), rng.uniform(1_000, 15_000)
        cx, cy = depot.x + radius * math.cos(angle), depot.y + radius * math.sin(angle)
        spread = 150 + 6 * math.sqrt(population)
        for stream, (per, capacity) in RULES.items():
            for k in range(max(1, round(population * scale / per))):
                bins.append(
                    {
                        "code": f"B-{insee}-{stream[:3].upper()}-{k:04d}",
                        "stream": stream,
                        "commune": insee,
                        "capacity_l": capacity,
                        "x": rng.gauss(cx, spread),
                        "y": rng.gauss(cy, spread),
                        "litres_per_day": per
                        * LITRES_PER_INHABITANT_DAY[stream].value
                        * rng.uniform(0.7, 1.3),
                    }
                )
    return bins


def fixed_by_commune(communes: list[str]) -> FixedSchedule:
    """Rounds spread over the week by commune, as a real calendar would."""
    by: dict[tuple[str, str], Round] = {}
    for k, commune in enumerate(sorted(communes)):
        by[("residual", commune)] = Round(frozenset({0, 3} if k % 2 == 0 else {1, 4}))
        by[("biowaste", commune)] = Round(frozenset({1, 4} if k % 2 == 0 else {0, 3}))
        by[("packaging", commune)] = Round(frozenset({k % 5}))
        by[("paper", commune)] = Round(frozenset({(k + 2) % 5}))
        by[("glass", commune)] = Round(frozenset({k % 5}), every_weeks=4, week_offset=k % 4)
    return FixedSchedule(dict(DEFAULT_ROUNDS), by)


VALLEY_TRUCKS = {"residual": 12, "biowaste": 3, "packaging": 4, "paper": 2, "glass": 3}
RATIO_TARGET = 50.0  # issue 16: the slowest policy ÷ the naive model
LARGE_TARGET_S = 5.0  # issue 16: 10,000 containers, a year, three policies
LARGE_JITTER_M = 60.0


def fleets(scale: int = 1) -> dict[str, fp.Fleet]:
    """Trucks per stream for this valley (assumed), ``scale`` times over."""
    return default_fleets({stream: n * scale for stream, n in VALLEY_TRUCKS.items()})


def synth_large(rows: list[dict[str, object]], count: int) -> list[dict[str, object]]:
    """``count`` containers copied from ``rows`` with jittered positions (see the module docstring)."""
    rng = random.Random(SEED + 1)
    large: list[dict[str, object]] = []
    for k in range(count):
        row, copy = rows[k % len(rows)], k // len(rows)
        if copy == 0:
            large.append(dict(row))
            continue
        large.append(
            {
                **row,
                "code": f"{row['code']}-R{copy}",
                "x": float(row["x"]) + rng.gauss(0.0, LARGE_JITTER_M),  # type: ignore[arg-type]
                "y": float(row["y"]) + rng.gauss(0.0, LARGE_JITTER_M),  # type: ignore[arg-type]
            }
        )
    return large


def naive_bin_days_per_s(rows: list[dict[str, object]], days: int) -> float:
    """One SimPy process per bin, waking every hour: add inflow, check overflow, empty at 10:00 if ≥ 80 %."""
    env = simpy.Environment()
    counters = {"overflows": 0, "collections": 0}

    def bin_process(capacity: float, per_hour: float):  # type: ignore[no-untyped-def]
        level, over = 0.0, False
        while True:
            yield env.timeout(1)
            level += per_hour
            if level > capacity and not over:
                counters["overflows"] += 1
                over = True
            if int(env.now) % 24 == 10 and level >= 0.8 * capacity:
                level, over = 0.0, False
                counters["collections"] += 1

    for r in rows:
        env.process(bin_process(float(r["capacity_l"]), float(r["litres_per_day"]) / 24))  # type: ignore[arg-type]
    started = time.perf_counter()
    env.run(until=days * 24)
    return len(rows) * days / (time.perf_counter() - started)


def run_policy(bins: Bins, models, policy, days: int, exact_up_to: int, limit: int, scale: int = 1):  # type: ignore[no-untyped-def]
    router = FleetRouter(fleets(scale), exact_up_to=exact_up_to, solution_limit=limit)
    started = time.perf_counter()
    kpis = simulate(
        bins, policy, ProjectedInflow(models), models, router, start=START, days=days, seed=SEED
    )
    return kpis, time.perf_counter() - started, router


def bins_and_models(rows: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    """The engine's ``Bins`` and constant fill models of these containers."""
    bins = Bins.build(
        *([r[k] for r in rows] for k in ("code", "stream", "commune", "capacity_l", "x", "y"))
    )  # type: ignore[arg-type]
    models = constant_models(
        bins.codes, bins.streams, bins.communes, bins.capacity_l,
        [r["litres_per_day"] for r in rows], cv=0.3,  # type: ignore[misc]
    )  # fmt: skip
    return bins, models


def policies(bins: Bins, scale: int = 1) -> dict[str, object]:
    """The four policies, the integrated one planning on the fleet it is routed with."""
    return {
        "fixed": fixed_by_commune(sorted(set(bins.communes))),
        "threshold": Threshold(0.8),
        "predictive": Predictive(),
        "integrated": Integrated(fleets=fleets(scale)),
    }


def timed_runs(rows, days: int, repeat: int, args, scale: int = 1, each_round=None):  # type: ignore[no-untyped-def]
    """``repeat`` rounds of every policy, each round followed by ``each_round()`` when given:
    per policy (median wall, median routing wall, last KPIs, last router, walls by round), and
    what ``each_round`` gave in each round."""
    bins, models = bins_and_models(rows)
    walls: dict[str, list[float]] = {}
    routings: dict[str, list[float]] = {}
    last = {}
    after = []
    for _ in range(repeat):
        for name, policy in policies(bins, scale).items():
            kpis, wall, router = run_policy(
                bins, models, policy, days, args.exact_up_to, args.solution_limit, scale
            )
            walls.setdefault(name, []).append(wall)
            routings.setdefault(name, []).append(router.seconds)
            last[name] = (kpis, router)
        if each_round is not None:
            after.append(each_round())
    found = {
        name: (
            statistics.median(walls[name]),
            statistics.median(routings[name]),
            *last[name],
            walls[name],
        )
        for name in walls
    }
    return bins, found, after


def kpis_digest(kpis) -> str:  # type: ignore[no-untyped-def]
    """A digest of every figure a run kept (the bytes of its arrays, the repr of the rest)."""
    h = hashlib.sha256()
    for array in (kpis.cells, kpis.container_cells, *(values for _, values in kpis.day_rows)):
        h.update(np.ascontiguousarray(array).tobytes())
    h.update(repr((kpis.communes, kpis.containers, [label for label, _ in kpis.day_rows])).encode())
    h.update(repr(kpis.day_levels).encode())
    typical = kpis.typical_day
    if typical is not None:
        h.update(repr((typical.day, typical.codes, typical.working_days)).encode())
        h.update(repr(typical.mean_emptied).encode() + typical.litres.tobytes())
    return h.hexdigest()


def policy_task(bins: Bins, models, name: str, days: int, exact_up_to: int, limit: int, scale: int):  # type: ignore[no-untyped-def]
    """One policy's run in a worker process: its KPIs' digest, its totals and its wall time."""
    kpis, wall, _router = run_policy(
        bins, models, policies(bins, scale)[name], days, exact_up_to, limit, scale
    )
    return kpis_digest(kpis), kpis.totals(), wall


def side_by_side(bins: Bins, models, names: list[str], days: int, args, scale: int):  # type: ignore[no-untyped-def]
    """The policies ``names`` run side by side as the product runs a comparison's
    (``scenarios.sweep.LocalExecutor``, one process per CPU): (wall time from starting the pool
    to the last result, the tasks' results in order, the executor's name)."""
    from scenarios.sweep import LocalExecutor  # the product's pool; imported here, once, untimed
    from simulation.waste import planning
    from simulation.waste import policies as policy_module

    # The processes are forked from this one: without its caches, each starts cold as a
    # planner's comparison does (the bins' neighbours, the hulls met before).
    policy_module._STATIC.clear()
    planning._HULLS.clear()
    executor = LocalExecutor()
    tasks = [
        (bins, models, name, days, args.exact_up_to, args.solution_limit, scale) for name in names
    ]
    started = time.perf_counter()
    found = executor.map(policy_task, tasks)
    return time.perf_counter() - started, found, executor.name


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the valley, 90 days")
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--bins-json", type=Path, default=None)
    parser.add_argument(
        "--exact-up-to",
        type=int,
        default=0,
        help="OR-Tools tours for days with at most N stops (default 0: the continuous approximation every day)",
    )
    parser.add_argument("--solution-limit", type=int, default=30)
    parser.add_argument(
        "--large", type=int, default=10_000, help="containers of the large case (0: none)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each timed case (medians printed)"
    )
    args = parser.parse_args()
    days = args.days or (90 if args.quick else 365)
    rows = (
        json.loads(args.bins_json.read_text())
        if args.bins_json
        else synth_valley(0.1 if args.quick else 1.0)
    )
    started = time.perf_counter()
    import scipy.spatial  # noqa: F401  # what the engine loads where used, timed apart once
    import scipy.special  # noqa: F401

    imports = time.perf_counter() - started
    import scipy

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load} (1, 5, 15 min)"
    )
    print(
        f"versions: python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, simpy {simpy.__version__}; SciPy's imports {imports:.2f} s "
        "(once per process, outside the figures)"
    )
    naive_days = 7 if not args.quick else 14
    # The naive model is measured after each round of the policies, so that each ratio is of
    # figures taken under the same load.
    bins, found, naives = timed_runs(
        rows, days, args.repeat, args, each_round=lambda: naive_bin_days_per_s(rows, naive_days)
    )
    print(
        f"valley: {len(bins)} bins in {len(set(bins.communes))} communes, {days} days, seed {SEED}; "
        f"routing: OR-Tools (solution limit {args.solution_limit}) up to {args.exact_up_to} stops a day, "
        f"continuous approximation above; medians of {args.repeat} run(s)"
    )
    total_wall = routing_wall = 0.0
    rates = {}
    for name, (wall, routing, kpis, router, walls) in found.items():
        t = kpis.totals()
        total_wall += wall
        routing_wall += routing
        rates[name] = len(bins) * days / wall
        print(
            f"{name:>10}: {rates[name]:>10,.0f} bin-days/s  wall {wall:6.2f} s "
            f"({', '.join(f'{w:.2f}' for w in walls)}; routing {routing:5.2f} s: "
            f"{router.exact_days} OR-Tools / {router.heuristic_days} estimated stream-days)  "
            f"km {t['truck_km']:,.0f}  collections {t['collections']:,.0f}  t {t['tonnes']:,.0f}  "
            f"fill {t['mean_fill_at_emptying']:.2f}  overflows {t['overflow_events']:,.0f} "
            f"({t['overflow_bin_hours']:,.0f} bin-h)  unserved {t['unserved_stops']:,.0f}  cost {t['cost_eur']:,.0f} EUR"
        )
    naive = statistics.median(naives)
    print(
        f"{'naive':>10}: {naive:>10,.0f} bin-days/s  ({', '.join(f'{v:,.0f}' for v in naives)}; "
        f"one SimPy process per bin, hourly, {naive_days} days, scaled)"
    )
    slowest = min(rates, key=rates.__getitem__)
    wall, routing = found[slowest][0], found[slowest][1]
    ratios = [
        len(bins) * days / w / v for w, v in zip(found[slowest][4], naives, strict=True)
    ]  # round by round
    ratio = statistics.median(ratios)
    print(
        f"ratio engine / naive: {ratio:,.1f}x for the slowest policy, {slowest} (median of the "
        f"rounds' {', '.join(f'{r:.1f}' for r in ratios)}; target >= {RATIO_TARGET:.0f}x: "
        f"{verdict(ratio >= RATIO_TARGET)}); the router takes {routing / wall:.0%} of its "
        f"{wall:.2f} s; without it {len(bins) * days / (wall - routing) / naive:,.1f}x"
    )
    print(f"{len(found)} policies: {total_wall:.1f} s wall, of which routing {routing_wall:.1f} s")
    if args.large and not args.bins_json:
        large_rows = synth_large(rows, args.large)
        scale = math.ceil(len(large_rows) / len(rows))
        large_bins, large, _ = timed_runs(large_rows, days, args.repeat, args, scale)
        print(
            f"large: {len(large_bins)} containers (the valley's copied, jittered {LARGE_JITTER_M:.0f} m), "
            f"fleets x{scale}, {days} days"
        )
        for name, (wall, routing, kpis, _router, walls) in large.items():
            t = kpis.totals()
            print(
                f"{name:>10}: wall {wall:6.2f} s ({', '.join(f'{w:.2f}' for w in walls)}; routing "
                f"{routing:5.2f} s)  {len(large_bins) * days / wall / naive:,.1f}x naive  "
                f"km {t['truck_km']:,.0f}  unserved {t['unserved_stops']:,.0f}"
            )
        three = sorted(large, key=lambda n: large[n][0])[-3:]
        three_wall = sum(large[n][0] for n in three)
        print(
            f"large, the three slowest ({', '.join(three)}) one after the other: {three_wall:.2f} s "
            f"wall (all four {sum(v[0] for v in large.values()):.2f} s)"
        )
        # Side by side, longest first (as a pool is best fed): the comparison a planner waits for.
        longest_first = three[::-1]
        large_models = bins_and_models(large_rows)[1]
        parallel = []
        for _ in range(args.repeat):
            wall, results, where = side_by_side(
                large_bins, large_models, longest_first, days, args, scale
            )
            for name, (digest, _totals, _wall) in zip(longest_first, results, strict=True):
                assert digest == kpis_digest(large[name][2]), f"{name}: side by side differs"
            parallel.append(wall)
            each = ", ".join(
                f"{n} {w:.2f} s" for n, (_d, _t, w) in zip(longest_first, results, strict=True)
            )
        side = statistics.median(parallel)
        print(
            f"large, the same three side by side ({where}, longest first; {each} in the last "
            f"round; KPIs identical to the sequential run's, bit for bit): {side:.2f} s wall "
            f"({', '.join(f'{w:.2f}' for w in parallel)}); target < {LARGE_TARGET_S:.0f} s, judged "
            f"on this figure, the comparison's wall time as a planner waits for it: "
            f"{verdict(side < LARGE_TARGET_S)}"
        )
    peaks = {}
    bins, models = bins_and_models(rows)
    for horizon in (90, 365) if not args.quick else (30, 90):
        tracemalloc.start()
        run_policy(bins, models, Threshold(0.8), horizon, args.exact_up_to, args.solution_limit)
        peaks[horizon] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(
        "peak memory (tracemalloc, threshold): "
        + ", ".join(f"{h} days {p / 1e6:.1f} MB" for h, p in peaks.items())
    )


if __name__ == "__main__":
    main()
