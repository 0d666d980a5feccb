"""Benchmark of the waste engine: a year of a valley-sized set of bins under four policies.

Usage: ``python bench/simulation.py [--quick] [--days N] [--bins-json FILE] [--exact-up-to N]``

The valley is synthesised in plain Python with a fixed seed (the simulation may not import the
twin): the 28 communes' populations from ../shared/data/ccvh_communes.csv when present (else
seeded ones), centres scattered within about 15 km of the depot, containers per stream in
proportion to population with the twin's inventory ratios, inflow per container from the
Citeo volumes per inhabitant. ``--bins-json`` takes a list of
``{"code","stream","commune","capacity_l","x","y","litres_per_day"}`` instead.

Printed: simulated bin-days per second per policy, the same for a naive SimPy model (one
process per bin waking every hour) measured on a shorter horizon, the ratio for the slowest
policy (named, with the router's share of its wall time, and the ratio without it), total wall
time, the routing share of it (OR-Tools days vs estimated days) and tracemalloc peaks for 90 vs
365 days. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import random
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


def fleets() -> dict[str, fp.Fleet]:
    """Trucks per stream for this valley (assumed)."""
    return default_fleets({"residual": 12, "biowaste": 3, "packaging": 4, "paper": 2, "glass": 3})


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


def run_policy(bins: Bins, models, policy, days: int, exact_up_to: int, limit: int):  # type: ignore[no-untyped-def]
    router = FleetRouter(fleets(), exact_up_to=exact_up_to, solution_limit=limit)
    started = time.perf_counter()
    kpis = simulate(
        bins, policy, ProjectedInflow(models), models, router, start=START, days=days, seed=SEED
    )
    return kpis, time.perf_counter() - started, router


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
    args = parser.parse_args()
    days = args.days or (90 if args.quick else 365)
    rows = (
        json.loads(args.bins_json.read_text())
        if args.bins_json
        else synth_valley(0.1 if args.quick else 1.0)
    )
    bins = Bins.build(
        [r["code"] for r in rows],
        [r["stream"] for r in rows],
        [r["commune"] for r in rows],
        [r["capacity_l"] for r in rows],
        [r["x"] for r in rows],
        [r["y"] for r in rows],
    )
    models = constant_models(
        bins.codes,
        bins.streams,
        bins.communes,
        bins.capacity_l,
        [r["litres_per_day"] for r in rows],
        cv=0.3,
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
        f"numpy {np.__version__}, simpy {simpy.__version__}"
    )
    print(
        f"valley: {len(bins)} bins in {len(set(bins.communes))} communes, {days} days, seed {SEED}; "
        f"routing: OR-Tools (solution limit {args.solution_limit}) up to {args.exact_up_to} stops a day, continuous approximation above"
    )
    policies = {
        "fixed": fixed_by_commune(sorted(set(bins.communes))),
        "threshold": Threshold(0.8),
        "predictive": Predictive(),
        "integrated": Integrated(
            fleets=fleets()
        ),  # its prizes and look-ahead on the fleet it routes with
    }
    total_wall = routing_wall = 0.0
    rates, walls, routings = {}, {}, {}
    for name, policy in policies.items():
        kpis, wall, router = run_policy(
            bins, models, policy, days, args.exact_up_to, args.solution_limit
        )
        t = kpis.totals()
        total_wall += wall
        routing_wall += router.seconds
        rates[name] = len(bins) * days / wall
        walls[name], routings[name] = wall, router.seconds
        print(
            f"{name:>10}: {rates[name]:>10,.0f} bin-days/s  wall {wall:6.2f} s (routing {router.seconds:5.2f} s: "
            f"{router.exact_days} OR-Tools / {router.heuristic_days} estimated stream-days)  "
            f"km {t['truck_km']:,.0f}  collections {t['collections']:,.0f}  t {t['tonnes']:,.0f}  "
            f"fill {t['mean_fill_at_emptying']:.2f}  overflows {t['overflow_events']:,.0f} "
            f"({t['overflow_bin_hours']:,.0f} bin-h)  unserved {t['unserved_stops']:,.0f}  cost {t['cost_eur']:,.0f} EUR"
        )
    naive_days = 7 if not args.quick else 14
    naive = naive_bin_days_per_s(rows, naive_days)
    print(
        f"{'naive':>10}: {naive:>10,.0f} bin-days/s  (one SimPy process per bin, hourly, {naive_days} days, scaled)"
    )
    slowest = min(rates, key=rates.__getitem__)
    print(
        f"ratio engine / naive: {rates[slowest] / naive:,.0f}x for the slowest policy, {slowest} "
        f"(target >= 20x); the router takes {routings[slowest] / walls[slowest]:.0%} of its "
        f"{walls[slowest]:.2f} s; without it "
        f"{len(bins) * days / (walls[slowest] - routings[slowest]) / naive:,.0f}x"
    )
    print(
        f"{len(policies)} policies: {total_wall:.1f} s wall, of which routing {routing_wall:.1f} s "
        "(target well under 60 s)"
    )
    peaks = {}
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
