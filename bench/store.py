"""Benchmark: loading a long-lived bin, and its state at a past instant, with and without snapshots.

Run with ``python bench/store.py``. Builds a bin with 10,000 fill measurements (and 1,000 for
comparison) in a fresh embedded SQLite store, then times, in the same run:

* loading its current state with snapshots (every 100 events) against a full replay;
* its state as of an instant in the middle of its history, with and without snapshots.

Prints median milliseconds over repeated runs and the ratios. Not a test: figures depend on
the machine, and this one is shared.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain import Bin, Position  # noqa: E402
from twin import ValleyTwin, parse_store_url  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class ValleyTwinWithoutSnapshots(ValleyTwin):
    """The same store read without snapshots: every load replays the whole history."""

    name = ValleyTwin.name
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}


def build_history(twin: ValleyTwin, code: str, readings: int) -> Bin:
    bin_ = Bin.install(
        code=code, stream="residual", capacity_l=660, position=Position(752_000.0, 6_283_000.0),
        commune_insee="34114", at=T0,
    )
    for number in range(1, readings + 1):
        bin_.measure_fill_level(float(number % 101), T0 + timedelta(minutes=15 * number))
        if number % 1_000 == 0:
            twin.save(bin_)
    twin.save(bin_)
    return bin_


def median_ms(action: Callable[[], object], repeats: int) -> float:
    action()  # warm caches and connections
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        settings = parse_store_url(f"sqlite:///{Path(scratch) / 'bench.sqlite'}").settings
        twin = ValleyTwin(env=settings)
        plain = ValleyTwinWithoutSnapshots(env=settings)
        print(f"python {platform.python_version()}, eventsourcing {importlib.metadata.version('eventsourcing')}, "
              f"SQLite embedded, snapshot every 100 events, median of {args.repeats} runs")
        print(f"{'events':>8} {'query':<22} {'snapshots ms':>13} {'replay ms':>10} {'speed-up':>9}")
        for readings in (1_000, 10_000):
            bin_ = build_history(twin, f"BENCH-{readings}", readings)
            middle = T0 + timedelta(minutes=15 * readings // 2 + 1)
            expected_middle = readings // 2 + 1
            assert twin.state_at(bin_.id, middle).version == expected_middle  # type: ignore[union-attr]
            assert plain.state_at(bin_.id, middle).version == expected_middle  # type: ignore[union-attr]
            cases = {
                "current state": (lambda: twin.repository.get(bin_.id), lambda: plain.repository.get(bin_.id)),
                "state at mid-history": (lambda: twin.state_at(bin_.id, middle), lambda: plain.state_at(bin_.id, middle)),
            }
            for label, (fast, slow) in cases.items():
                fast_ms, slow_ms = median_ms(fast, args.repeats), median_ms(slow, args.repeats)
                print(f"{readings + 1:>8} {label:<22} {fast_ms:>13.2f} {slow_ms:>10.2f} {slow_ms / fast_ms:>8.1f}x")
        twin.close()
        plain.close()


if __name__ == "__main__":
    main()
