"""Benchmark: loading a long-lived bin, and its state at a past instant, with and without snapshots.

Run with ``python bench/store.py``. Builds bins with 1,000, 10,000 and 100,000 fill
measurements in a fresh embedded SQLite store, then times, in the same run:

* loading its current state with snapshots (every 100 events) against a full replay;
* its state as of an instant early, in the middle and late in its history, with and without
  snapshots;
* how the time of "state as of an instant" grows with the length of the history: the ratio of
  each history's time to the 1,000-event bin's (the baseline of the same run). Flat means a
  ratio near 1 while the history grows a hundredfold;
* the same for bins where 10 % of the readings arrive late (each held back for 50 readings):
  the prefix recorded before the newest fact passed the instant comes from a snapshot, then
  only the facts recorded within the largest lateness seen are read (two bisections and one
  range read, see ``ValleyTwin.state_at``), so this too should stay flat.

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
        code=code,
        stream="residual",
        capacity_l=660,
        position=Position(752_000.0, 6_283_000.0),
        commune_insee="34114",
        at=T0,
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


def build_late_history(twin: ValleyTwin, code: str, readings: int) -> Bin:
    """A bin whose every tenth reading arrives 50 readings late."""
    bin_ = Bin.install(
        code=code,
        stream="residual",
        capacity_l=660,
        position=Position(752_000.0, 6_283_000.0),
        commune_insee="34114",
        at=T0,
    )
    held: list[int] = []
    for number in range(1, readings + 1):
        if number % 10 == 0:
            held.append(number)
        else:
            bin_.measure_fill_level(float(number % 101), T0 + timedelta(minutes=15 * number))
        while held and held[0] <= number - 50:
            late = held.pop(0)
            bin_.measure_fill_level(float(late % 101), T0 + timedelta(minutes=15 * late))
        if number % 1_000 == 0:
            twin.save(bin_)
    for late in held:
        bin_.measure_fill_level(float(late % 101), T0 + timedelta(minutes=15 * late))
    twin.save(bin_)
    return bin_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        settings = parse_store_url(f"sqlite:///{Path(scratch) / 'bench.sqlite'}").settings
        twin = ValleyTwin(env=settings)
        plain = ValleyTwinWithoutSnapshots(env=settings)
        print(
            f"python {platform.python_version()}, eventsourcing {importlib.metadata.version('eventsourcing')}, "
            f"SQLite embedded, snapshot every 100 events, median of {args.repeats} runs "
            f"(full replays of more than 10,000 events: 3 runs)"
        )
        print(f"{'events':>8} {'query':<22} {'snapshots ms':>13} {'replay ms':>10} {'speed-up':>9}")
        state_at_ms: dict[int, float] = {}
        for readings in args.sizes:
            started = time.perf_counter()
            bin_ = build_history(twin, f"BENCH-{readings}", readings)
            built = time.perf_counter() - started
            replay_repeats = args.repeats if readings <= 10_000 else 3
            cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
                "current state": (
                    lambda bin_id=bin_.id: twin.repository.get(bin_id),
                    lambda bin_id=bin_.id: plain.repository.get(bin_id),
                ),
            }
            for share, label in ((0.1, "early"), (0.5, "mid-history"), (0.9, "late")):
                reading = int(readings * share)
                instant = T0 + timedelta(minutes=15 * reading + 1)
                assert twin.state_at(bin_.id, instant).version == reading + 1  # type: ignore[union-attr]
                cases[f"state at {label}"] = (
                    lambda at=instant, bin_id=bin_.id: twin.state_at(bin_id, at),  # type: ignore[misc]
                    lambda at=instant, bin_id=bin_.id: plain.state_at(bin_id, at),  # type: ignore[misc]
                )
            for label, (fast, slow) in cases.items():
                fast_ms = median_ms(fast, args.repeats)
                slow_ms = median_ms(slow, replay_repeats)
                print(
                    f"{readings + 1:>8} {label:<22} {fast_ms:>13.2f} {slow_ms:>10.2f} {slow_ms / fast_ms:>8.1f}x"
                )
                if label == "state at mid-history":
                    state_at_ms[readings] = fast_ms
            print(f"{'':>8} (history of {readings + 1:,} events written in {built:.1f} s)")
        baseline = state_at_ms[args.sizes[0]]
        print(
            f"\nstate as of mid-history, with snapshots, against the {args.sizes[0] + 1:,}-event bin of this run:"
        )
        for readings, ms in state_at_ms.items():
            print(f"{readings + 1:>8} events: {ms:6.2f} ms  ({ms / baseline:4.2f}x the baseline)")
        print("\nthe same with 10 % of the readings arriving late (state at mid-history):")
        late_ms: dict[int, float] = {}
        for readings in args.sizes:
            bin_ = build_late_history(twin, f"LATE-{readings}", readings)
            instant = T0 + timedelta(minutes=15 * (readings // 2) + 1)
            folded = twin.state_at(bin_.id, instant)
            assert isinstance(folded, Bin) and folded.fill_percent == float((readings // 2) % 101)
            late_ms[readings] = median_ms(
                lambda at=instant, bin_id=bin_.id: twin.state_at(bin_id, at),
                args.repeats if readings <= 10_000 else 3,
            )
        late_baseline = late_ms[args.sizes[0]]
        for readings, ms in late_ms.items():
            print(
                f"{readings + 1:>8} events: {ms:8.2f} ms  ({ms / late_baseline:6.2f}x its baseline, "
                f"{ms / state_at_ms[readings]:6.1f}x the same bin without late facts)"
            )
        twin.close()
        plain.close()


if __name__ == "__main__":
    main()
