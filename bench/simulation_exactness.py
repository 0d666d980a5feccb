"""Fingerprint of the waste engine's results on the bench valley, to check a speed-up is exact.

Usage: ``python bench/simulation_exactness.py [--days N] [--policies a,b] [--large N] [--out FILE] [--against FILE]``

Runs ``bench/simulation.py``'s four policies on its valley (and with ``--large N`` on its large
case of N containers too, named ``large-<policy>``) and records every KPI total and
per-stream figure (``repr`` of the floats) and a SHA-256 of every array the run kept (cells per
KPI, stream and commune; each day's row and levels; each container's figures; the typical day),
with the wall and CPU time. ``--against`` compares with a fingerprint written before: every difference
is printed and the exit status is 1. Not a test (a year of the valley takes a minute or more).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulation.waste import WasteKpis  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_simulation", ROOT / "bench" / "simulation.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def fingerprint(kpis: WasteKpis) -> dict[str, object]:
    """``repr`` of every total and per-stream figure, and a digest of every array the run kept."""

    def digest(*arrays: np.ndarray) -> str:
        h = hashlib.sha256()
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    typical = kpis.typical_day
    return {
        "totals": {k: repr(v) for k, v in kpis.totals().items()},
        "by_stream": {s: {k: repr(v) for k, v in r.items()} for s, r in kpis.by_stream().items()},
        "cells": digest(kpis.cells),
        "days": digest(*(values for _, values in kpis.day_rows)),
        "day_labels": digest(np.array([label for label, _ in kpis.day_rows])),
        "day_levels": digest(np.array(kpis.day_levels, dtype=float)),
        "containers": digest(kpis.container_cells),
        "typical": "none"
        if typical is None
        else digest(np.array([typical.day]), np.array(typical.codes), typical.litres)
        + f" {typical.working_days} {typical.mean_emptied!r}",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--policies", default="fixed,threshold,predictive,integrated")
    parser.add_argument("--large", type=int, default=0, help="also the bench's large case of N")
    parser.add_argument("--out", type=Path, default=None, help="write the fingerprint here")
    parser.add_argument("--against", type=Path, default=None, help="compare with this one")
    args = parser.parse_args()
    rows = bench.synth_valley(1.0)
    cases = [("", rows, 1)]
    if args.large:
        cases.append(("large-", bench.synth_large(rows, args.large), -(-args.large // len(rows))))
    found: dict[str, dict[str, object]] = {}
    for prefix, case, scale in cases:
        bins, models = bench.bins_and_models(case)
        made = bench.policies(bins, scale)
        for name in args.policies.split(","):
            cpu = time.process_time()
            kpis, wall, _ = bench.run_policy(bins, models, made[name], args.days, 0, 30, scale)
            cpu = time.process_time() - cpu
            found[prefix + name] = {"days": args.days, **fingerprint(kpis)}
            print(f"{prefix + name:>16}: wall {wall:6.2f} s, CPU {cpu:6.2f} s")
    if args.out:
        args.out.write_text(json.dumps(found, indent=1, sort_keys=True))
    if args.against is None:
        return 0
    reference = json.loads(args.against.read_text())
    differences = [
        f"{name}: {key}: {reference[name].get(key)!r} -> {value!r}"
        for name, figures in found.items()
        for key, value in figures.items()
        if name in reference and reference[name].get(key) != value
    ]
    print("\n".join(differences) or "identical to the reference, bit for bit")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
