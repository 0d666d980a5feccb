"""Benchmark: the analysts' queries and the exports on the seeded valley.

Run with ``python bench/analysis.py`` (builds the seeded inventory, seed 42, in a fresh embedded
store and records ``--days`` days of traffic straight through the application: two fill readings
a day per bin, a battery report a day, hourly footfall per beacon, a daily meter index per
lighting cabinet), or ``python bench/analysis.py --store URL`` to measure an existing store (one
``twin demo --store sqlite:///$PWD/demo.sqlite --no-report`` built, say).

Times, in the same run:

* ``valley_state`` now and halfway through the traffic: one read of the log, folded;
* the same instant answered asset by asset with ``ValleyTwin.state_at`` (bisection over each
  asset's events, snapshots every 100), which is what the fold replaces;
* ``time_series`` of every bin's fill, ``asset_history`` of one bin;
* each export format, with its size.

Prints medians of ``--repeats`` runs (one run for the asset-by-asset comparison). Not a test:
figures depend on the machine, and this one is shared.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain import Beacon, Bin, Site  # noqa: E402
from twin import ValleyTwin, load_geography, open_twin, plan_inventory  # noqa: E402
from twin.analysis import asset_history, time_series, valley_state  # noqa: E402
from twin.asof import ASSET_KINDS, kind_topics, valley_as_of  # noqa: E402
from twin.export import export_valley  # noqa: E402
from twin.inventory import COMMISSIONED_AT  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable

TRAFFIC_FROM = datetime(2024, 5, 1, tzinfo=UTC)


def record_traffic(twin: ValleyTwin, days: int) -> int:
    """Record simple, deterministic traffic for every bin, beacon and lighting cabinet."""
    planned = plan_inventory(load_geography(), 42)
    twin.add_missing(planned)
    events = 0
    batch = []
    for asset in planned:
        aggregate = twin.repository.get(asset.id)
        for day in range(days):
            midnight = TRAFFIC_FROM + timedelta(days=day)
            if isinstance(aggregate, Bin):
                for half in (0, 12):
                    aggregate.measure_fill_level(
                        (day * 7 + half) % 100, midnight + timedelta(hours=half)
                    )
                aggregate.report_sensor_battery(
                    100.0 - day * 0.1, midnight + timedelta(hours=13), device_id=f"D-{asset.code}"
                )
            elif isinstance(aggregate, Beacon):
                for hour in range(24):
                    start = midnight + timedelta(hours=hour)
                    aggregate.count_footfall(start, start + timedelta(hours=1), (hour * 13) % 50)
            elif isinstance(aggregate, Site) and aggregate.site_kind == "lighting_cabinet":
                aggregate.meter_energy(1000.0 + day * 60.0, midnight + timedelta(hours=6))
        events += len(aggregate.pending_events)
        batch.append(aggregate)
        if len(batch) >= 200:
            twin.save(*batch)
            batch = []
    if batch:
        twin.save(*batch)
    return events


def median_s(action: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="measure this store instead of building one")
    parser.add_argument(
        "--days", type=int, default=14, help="days of traffic to record (default 14)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.store or f"sqlite:///{Path(scratch) / 'bench.sqlite'}"
        twin = open_twin(url)
        try:
            if args.store is None:
                started = time.perf_counter()
                recorded = record_traffic(twin, args.days)
                print(
                    f"built the seeded valley and {recorded:,} events of traffic in "
                    f"{time.perf_counter() - started:.1f} s"
                )
            measure(twin, Path(scratch), args.repeats)
        finally:
            twin.close()


def measure(twin: ValleyTwin, scratch: Path, repeats: int) -> None:
    version = importlib.metadata.version
    print(
        f"python {platform.python_version()}, eventsourcing {version('eventsourcing')}, "
        f"pandas {version('pandas')}, {platform.machine()}, median of {repeats} runs"
    )
    now = valley_state(twin)
    events = twin.domain_events(topics=kind_topics(ASSET_KINDS), page_size=5_000)
    traffic = [e.timestamp for e in events if e.timestamp > COMMISSIONED_AT]
    halfway = min(traffic) + (max(traffic) - min(traffic)) / 2 if traffic else COMMISSIONED_AT
    log = sum(1 for _ in twin.notifications(0, 10_000_000))
    print(f"{len(now):,} assets, {log:,} notifications in the log; halfway {halfway.isoformat()}")
    report("valley_state now", median_s(lambda: valley_state(twin), repeats))
    report("valley_state halfway", median_s(lambda: valley_state(twin, at=halfway), repeats))
    ids = [asset.aggregate.id for asset in valley_as_of(twin)]
    started = time.perf_counter()
    for aggregate_id in ids:
        twin.state_at(aggregate_id, halfway)
    report(
        "state_at asset by asset, halfway",
        time.perf_counter() - started,
        f"({len(ids):,} bisections)",
    )
    report(
        "time_series of every bin's fill",
        median_s(lambda: time_series(twin, "bin", None, None), repeats),
    )
    code = now.loc[now["kind"] == "bin", "code"].iloc[0]
    report("asset_history of one bin", median_s(lambda: asset_history(twin, code), repeats))
    for fmt in ("csv", "geojson", "ngsi-ld"):
        path = scratch / f"valley.{fmt}"
        seconds = median_s(lambda fmt=fmt, path=path: export_valley(twin, fmt, path), repeats)
        report(f"export {fmt}", seconds, f"{path.stat().st_size / 1e6:6.2f} MB")


def report(what: str, seconds: float, note: str = "") -> None:
    print(f"{what + ':':<36} {seconds:7.3f} s  {note}".rstrip())


if __name__ == "__main__":
    main()
