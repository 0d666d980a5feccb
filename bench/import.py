"""Benchmark: ``twin import`` of a CSV of readings against raw SQLite of the same rows.

Run with ``python bench/import.py`` (1,000,000 ``bin.fill`` readings over 3,000 bins; ``--quick``
for 50,000). One run, the same synthetic fleet and readings as ``bench/ingest.py`` (fixed seed),
each measured on its own copy of one store in which the bins are installed with their sensors:

(a) raw ``sqlite3`` ``executemany`` of the rows the twin writes for these readings (the bin's
    event and the message's receipt, encoded by the twin's mapper) into the store's own
    ``stored_events`` table, in transactions of ingest's batch size, with the twin's WAL and
    synchronous settings;
(b) ``twin import``'s path from the file: read and check the CSV, order the facts, then
    ingest's validation, domain rules, dedupe and durable batches.

Prints the machine's facts, both figures and their ratio against the target (0.4); exits 0
whatever the figures. Not a test: the machine is shared and figures move with its load.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import (  # noqa: E402 - the repository is put on the path first
    SEED,
    Plan,
    SQLiteStores,
    measure_raw,
    synthetic_readings,
)

TARGET_VS_RAW = 0.40
BATCH = 1_000  # ingest's batch, which the raw writer's transactions match


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 readings instead of 1,000,000")
    parser.add_argument("--readings", type=int, help="how many readings (overrides --quick)")
    args = parser.parse_args()
    readings = args.readings or (50_000 if args.quick else 1_000_000)
    start = datetime(2024, 6, 1, tzinfo=UTC)
    plan = Plan(
        bins=3_000,
        messages=readings,
        naive_messages=0,
        naive_budget_s=0.0,
        latency_seconds=0.0,
        rate=0,
        start_ms=int(start.timestamp() * 1000),
    )
    with tempfile.TemporaryDirectory(prefix="valley-twin-bench-import-") as scratch:
        run(plan, Path(scratch))


def run(plan: Plan, scratch: Path) -> None:
    from twin import import_facts, load_geography, open_twin, read_facts

    stores = SQLiteStores(scratch)
    bins = stores.install(plan)
    print(stores.facts())
    print(
        f"fleet: {plan.bins:,} bins with sensors; {plan.messages:,} bin.fill readings (seed {SEED})"
    )
    readings = synthetic_readings(plan.bins, plan.messages, plan.start_ms)
    path = scratch / "readings.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["asset", "observed_at", "device", "fill_percent"])
        for reading in readings:
            stamp = reading.observed_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            writer.writerow([reading.asset, stamp, reading.device, reading.body["fill_percent"]])

    raw = measure_raw(stores, "raw", bins, readings, BATCH)
    print(
        f"(a) raw sqlite3 executemany   {raw['rows']:>10,} rows  {raw['seconds']:8.2f} s  "
        f"{raw['rate']:>9,.0f} rows/s"
    )

    twin = open_twin(stores.fresh("import"))
    geography = load_geography()
    clock_now = datetime.fromtimestamp(plan.start_ms / 1000, UTC) + timedelta(days=365)
    started = time.perf_counter()
    facts = read_facts(path, "bin.fill")
    read_s = time.perf_counter() - started
    summary = import_facts(twin, geography, facts, "bench-import", clock=lambda: clock_now)
    seconds = time.perf_counter() - started
    twin.close()
    assert summary.recorded == plan.messages, summary.as_dict()
    rows = 2 * summary.recorded  # the bin's event and the receipt, as in (a)
    rate = rows / seconds
    print(
        f"(b) twin import of the CSV     {rows:>10,} rows  {seconds:8.2f} s  {rate:>9,.0f} rows/s "
        f"({summary.recorded / seconds:,.0f} readings/s; reading the file {read_s:.2f} s)"
    )
    ratio = rate / raw["rate"]
    verdict = "PASS" if ratio >= TARGET_VS_RAW else "MISS"
    print(f"import / raw executemany = {ratio:.2f}  (target >= {TARGET_VS_RAW:.2f}: {verdict})")


if __name__ == "__main__":
    main()
