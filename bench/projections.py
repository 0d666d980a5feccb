"""Benchmark: rebuilding every projection from a log of a million events, against reading it.

Run with ``python bench/projections.py [--events N] [--store URL]``. It builds (or reuses,
from a cache) a store of at least N events (default 1,000,000) — a valley of 2,000 bins
reporting their fill every 15 minutes and emptied daily, 100 footfall scanners counting
hourly, 50 metered sites, citizens filing reports, acknowledging, resolving, submitting and
voting ideas, services granting places — written with the application's batch save in
transactions of about 10,000 events, interleaved in time as live traffic is. Then, in the
same run, alternating, each in a fresh process (for its peak memory), ``--repeat`` times
(default 2, the best of each compared: the machine is shared and runs vary by a fifth):

* (a) reading and decoding every event with the library's own reader — the recorder's
  ``select_notifications`` in pages and ``mapper.to_domain_event``, nothing else — in events/s;
* (b) rebuilding all seven projections from zero (``twin.projections.rebuild``) in events/s,
  and the ratio b / a (target: at least 50 %).

With ``--store postgresql://…`` the same runs on PostgreSQL (in the schema
``bench_projections_<N>`` unless the URL names one), and then the projections run in their
own process, following the log, while K ingest-like writer processes (K = 1, 2, 4) append
messages for ``--seconds`` each: every message is a bin's fill reading plus its ingest receipt,
committed in batches of ``--batch`` messages. It reports the writers' throughput and the
projections' lag behind the log's head (in log positions, sampled every 0.2 s, and in
seconds since the oldest event not yet applied was written, to that sampling).

Prints the machine (cores), library and server versions, durability and peak memory with the
figures. Not a test: figures depend on the machine, and this one is shared.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import multiprocessing
import os
import platform
import random
import resource
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import platformdirs  # noqa: E402

from domain import Beacon, Bin, Citizen, Position, Service, Site, ValleyAggregate  # noqa: E402
from twin import ValleyTwin, open_twin, store_config  # noqa: E402
from twin.projections import DEFAULT_PAGE_SIZE, PROJECTIONS, catch_up, follow, rebuild  # noqa: E402
from twin.receipts import MessageReceipt, receipt_id  # noqa: E402

T0 = datetime(2024, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
BINS, BEACONS, SITES, CITIZENS, SERVICES = 2_000, 100, 50, 200, 10
STEPS_PER_SAVE = 5  # ≈ 10,000 events per transaction
CENTRE = (746_023.0, 6_282_711.0)  # Gignac


# ---- the store -------------------------------------------------------------------------
def store_url(args: argparse.Namespace) -> str:
    """The store to use: the URL given (with a schema per size on PostgreSQL) or a cached file."""
    if args.store and args.store.startswith(("postgresql:", "postgres:")):
        parts = urlsplit(args.store)
        query = parse_qs(parts.query)
        query.setdefault("schema", [f"bench_projections_{args.events}"])
        return parts._replace(query=urlencode({k: v[0] for k, v in query.items()})).geturl()
    if args.store:
        return args.store
    cache = Path(platformdirs.user_cache_dir("valley-twin", appauthor=False))
    cache.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{cache / f'bench-projections-{args.events}.sqlite'}"


def ensure_schema(url: str) -> None:
    """Create the PostgreSQL schema named in the URL if it is missing."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return
    import psycopg

    schema = parse_qs(parts.query)["schema"][0]
    with psycopg.connect(parts._replace(query="").geturl(), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


def drop_store(url: str) -> None:
    """Throw a cached store away (``--fresh``)."""
    config = store_config(url)
    if config.sqlite_path is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{config.sqlite_path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    parts = urlsplit(url)
    schema = parse_qs(parts.query)["schema"][0]
    with psycopg.connect(parts._replace(query="").geturl(), autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _position(rng: random.Random) -> Position:
    return Position(CENTRE[0] + rng.uniform(-3_000, 3_000), CENTRE[1] + rng.uniform(-3_000, 3_000))


def build(twin: ValleyTwin, events: int, seed: int = 1) -> int:
    """Record a valley's traffic until the log holds at least ``events`` events; return its size."""
    rng = random.Random(seed)
    bins = [
        Bin.install(
            code=f"BB-{i:05d}",
            stream=("residual", "packaging", "glass")[i % 3],
            capacity_l=660,
            position=_position(rng),
            commune_insee="34114",
            at=T0,
        )
        for i in range(BINS)
    ]
    beacons = [
        Beacon.install(
            code=f"BBE-{i:03d}",
            zone_code=f"Z-{i % 12:02d}",
            position=_position(rng),
            commune_insee="34114",
            at=T0,
        )
        for i in range(BEACONS)
    ]
    sites = [
        Site.register(
            code=f"BS-{i:03d}",
            name=f"Site {i}",
            site_kind="public_building",
            geometry_wkt=f"POINT ({CENTRE[0] + i} {CENTRE[1] + i})",
            commune_insee="34114",
            at=T0,
        )
        for i in range(SITES)
    ]
    citizens = [
        Citizen.register(pseudonym=f"BC-{i:04d}", commune_insee="34114", at=T0)
        for i in range(CITIZENS)
    ]
    services = [
        Service.open(
            code=f"BSV-{i:02d}",
            name=f"Service {i}",
            service_kind="childcare",
            capacity=20,
            position=_position(rng),
            commune_insee="34114",
            at=T0,
        )
        for i in range(SERVICES)
    ]
    everything: list[ValleyAggregate] = [*bins, *beacons, *sites, *citizens, *services]
    twin.save(*everything)
    fill = [rng.uniform(0, 60) for _ in bins]
    index = [rng.uniform(1_000, 50_000) for _ in sites]
    open_reports: list[tuple[Citizen, str, int]] = []
    ideas: list[str] = []
    waiting: dict[int, list[str]] = {i: [] for i in range(SERVICES)}
    granted: dict[int, list[str]] = {i: [] for i in range(SERVICES)}
    recorded = twin.recorder.max_notification_id() or 0
    step = 0
    started = time.perf_counter()
    while recorded < events:
        step += 1
        now = T0 + step * STEP
        for i, bin_ in enumerate(bins):
            if i % 96 == step % 96:  # each bin emptied once a day, at its own time
                bin_.empty("R-BENCH", fill[i] * 2.0, now)
                fill[i] = 0.0
            fill[i] = min(100.0, fill[i] + rng.uniform(0.0, 2.0))
            bin_.measure_fill_level(round(fill[i], 2), now)
        if step % 4 == 0:  # hourly: footfall, energy, citizens, services
            for beacon in beacons:
                beacon.count_footfall(now - timedelta(hours=1), now, rng.randrange(0, 200))
            for i, site in enumerate(sites):
                index[i] += rng.uniform(0.0, 30.0)
                site.meter_energy(round(index[i], 3), now)
            for k in range(3):
                who = rng.randrange(CITIZENS)
                ref = f"R-{step}-{k}"
                citizens[who].file_report(
                    ref, "overflowing_bin", _position(rng), "sealed-text", now
                )
                open_reports.append((citizens[who], ref, step))
            still_open = []
            for citizen, ref, filed in open_reports:
                report = citizen.reports[ref]
                if report["status"] == "filed" and step - filed >= 4:
                    citizen.acknowledge_report(ref, now)
                elif report["status"] == "acknowledged" and step - filed >= 40:
                    citizen.resolve_report(ref, now)
                    continue
                still_open.append((citizen, ref, filed))
            open_reports = still_open
            author = citizens[rng.randrange(CITIZENS)]
            ideas.append(author.submit_idea(f"I-{step}", "sealed-title", "sealed-text", now))
            for voter in rng.sample(citizens, 5):
                idea = rng.choice(ideas)
                if idea not in voter.votes:
                    voter.vote_idea(idea, now)
            s = rng.randrange(SERVICES)
            request = f"Q-{step}"
            services[s].request_place(request, now)
            waiting[s].append(request)
            if len(granted[s]) < 20 and waiting[s]:
                ref = waiting[s].pop(0)
                services[s].grant_place(ref, now)
                granted[s].append(ref)
            if len(granted[s]) > 15:
                services[s].release_place(granted[s].pop(0), now)
        if step % STEPS_PER_SAVE == 0:
            twin.save(*everything)
            recorded = twin.recorder.max_notification_id() or 0
            rate = recorded / (time.perf_counter() - started)
            print(
                f"\r  building: {recorded:,} events ({rate:,.0f}/s)",
                end="",
                file=sys.stderr,
                flush=True,
            )
    twin.save(*everything)
    print(file=sys.stderr)
    return twin.recorder.max_notification_id() or 0


def prepare(url: str, events: int, fresh: bool) -> int:
    """Reuse the cached store when it is big enough, else build it; return its log size."""
    if fresh:
        drop_store(url)
    ensure_schema(url)
    twin = open_twin(url)
    try:
        size = twin.recorder.max_notification_id() or 0
        if size >= events:
            print(f"reusing the store: {size:,} events", file=sys.stderr)
            return size
        if size:
            twin.close()
            drop_store(url)
            ensure_schema(url)
            twin = open_twin(url)
        started = time.perf_counter()
        size = build(twin, events)
        print(
            f"built the store: {size:,} events in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        return size
    finally:
        twin.close()


# ---- the measurements, each in a fresh process -------------------------------------------
@dataclass
class Measured:
    events: int
    seconds: float
    peak_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _read_all(url: str, page_size: int) -> Measured:
    twin = open_twin(url)
    try:
        recorder, to_domain_event = twin.recorder, twin.mapper.to_domain_event
        started = time.perf_counter()
        events, after = 0, 0
        while page := recorder.select_notifications(after, page_size, inclusive_of_start=False):
            for notification in page:
                to_domain_event(notification)
            events += len(page)
            after = page[-1].id
        return Measured(events, time.perf_counter() - started, _peak_mb())
    finally:
        twin.close()


def _rebuild_all(url: str, page_size: int) -> Measured:
    twin = open_twin(url)
    try:
        started = time.perf_counter()
        last: list[int] = [0]
        rebuild(twin, None, lambda p: last.__setitem__(0, p.events), page_size=page_size)
        return Measured(last[0], time.perf_counter() - started, _peak_mb())
    finally:
        twin.close()


def _in_child(target: Any, *args: Any) -> Any:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(target, args)


# ---- PostgreSQL: projections in their own process, K ingest-like writers ---------------
def _follower(url: str, stop: Any, ready: Any) -> None:
    twin = open_twin(url)
    try:
        catch_up(twin)
        ready.set()
        follow(twin, stop=stop, interval=0.05)
    finally:
        twin.close()


def _writer(
    url: str, number: int, seconds: float, batch: int, start_at: float, result: Any, opening: Any
) -> None:
    """Ingest-like: every message a fill reading and its receipt, ``batch`` messages a commit."""
    # One at a time: the library's create_table (CREATE OR REPLACE FUNCTION) run by several
    # processes at once fails with "tuple concurrently updated" on PostgreSQL.
    with opening:
        twin = open_twin(url)
    try:
        rng = random.Random(number)
        bins = [twin.get(Bin, f"WB-{number}-{i:04d}") for i in range(200)]
        now = max(b.modified_on for b in bins)
        source = f"bench-{number}-{start_at:.0f}"  # message ids are unique per source
        messages = 0
        while time.time() < start_at:
            time.sleep(0.001)
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            now += timedelta(seconds=1)
            receipts: list[Any] = []
            for m in range(messages, messages + batch):
                bins[m % len(bins)].measure_fill_level(round(rng.uniform(0, 100), 2), now)
                receipts.append(
                    MessageReceipt.applied(
                        receipt_id(source, str(m)), source, str(m), "bin.fill", "DEV", now
                    )
                )
            twin.save(*bins, *receipts)
            messages += batch
        result.put((number, messages, time.perf_counter() - started))
    finally:
        twin.close()


def _lag(twin: ValleyTwin) -> tuple[int, int]:
    """(head, lowest projection position), read from the store as an operator would."""
    from twin.projections import view_store

    head = twin.recorder.max_notification_id() or 0
    tracked = view_store(twin).tracked()
    return head, min(tracked.get(p.tracking_name, 0) for p in PROJECTIONS.values())


def scaling(url: str, writers: list[int], seconds: float, batch: int) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    twin = open_twin(url)
    results = []
    try:
        for k in writers:  # bins of their own for each writer, installed once
            new = [
                Bin.install(
                    code=f"WB-{n}-{i:04d}",
                    stream="residual",
                    capacity_l=660,
                    position=Position(*CENTRE),
                    commune_insee="34114",
                    at=T0,
                )
                for n in range(k)
                for i in range(200)
                if not twin.exists(Bin.id_for(f"WB-{n}-{i:04d}"))
            ]
            if new:
                twin.save(*new)
        for k in writers:
            stop, ready = context.Event(), context.Event()
            follower = context.Process(target=_follower, args=(url, stop, ready))
            follower.start()
            ready.wait()
            queue, opening = context.Queue(), context.Lock()
            start_at = time.time() + 2.0 + k
            procs = [
                context.Process(
                    target=_writer, args=(url, n, seconds, batch, start_at, queue, opening)
                )
                for n in range(k)
            ]
            for proc in procs:
                proc.start()
            while time.time() < start_at:
                time.sleep(0.01)
            head0 = twin.recorder.max_notification_id() or 0
            samples: list[tuple[float, int, int]] = []
            while any(p.is_alive() for p in procs):
                head, position = _lag(twin)
                samples.append((time.time(), head, position))
                time.sleep(0.2)
            for proc in procs:
                proc.join()
            if any(proc.exitcode != 0 for proc in procs):
                stop.set()
                follower.join()
                raise RuntimeError(f"a writer failed with K={k} (see its traceback above)")
            written = [queue.get(timeout=60) for _ in procs]
            writers_done, head_end = time.time(), twin.recorder.max_notification_id() or 0
            deadline = time.time() + 600
            while _lag(twin)[1] < head_end and time.time() < deadline:
                time.sleep(0.05)
            drained = time.time() - writers_done
            stop.set()
            follower.join()
            messages = sum(w[1] for w in written)
            window = max(w[2] for w in written)
            lags = [head - position for _, head, position in samples]
            # Seconds behind: how long ago the oldest event not yet applied was written, i.e.
            # since the head first passed the projections' position (to the 0.2 s sampling).
            behind = []
            for when, head, position in samples:
                if position >= head:
                    behind.append(0.0)
                    continue
                passed = next(w for w, h, _ in samples if h > position)
                behind.append(when - passed)
            results.append(
                {
                    "writers": k,
                    "messages_per_s": messages / window,
                    "events_per_s": (head_end - head0) / window,
                    "lag_mean": statistics.fmean(lags) if lags else 0,
                    "lag_max": max(lags, default=0),
                    "behind_s_mean": statistics.fmean(behind) if behind else 0.0,
                    "behind_s_max": max(behind, default=0.0),
                    "drain_s": drained,
                }
            )
            r = results[-1]
            print(
                f"  K={k}: {r['messages_per_s']:,.0f} messages/s "
                f"({r['events_per_s']:,.0f} events/s) written; "
                f"projection lag mean {r['lag_mean']:,.0f} / max {r['lag_max']:,} positions, "
                f"≈{r['behind_s_mean']:.2f} s / {r['behind_s_max']:.2f} s behind; "
                f"caught up {r['drain_s']:.2f} s after the writers stopped",
                flush=True,
            )
    finally:
        twin.close()
    return results


# ---- report ------------------------------------------------------------------------------
def describe_machine(url: str) -> str:
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("eventsourcing", "psycopg")
        if _installed(name)
    )
    lines = [
        f"machine: {os.cpu_count()} cores, {platform.machine()}, "
        f"{platform.system()} {platform.release()}; "
        f"python {platform.python_version()}; {versions}",
    ]
    config = store_config(url)
    if config.sqlite_path is not None:
        lines.append(
            f"store: SQLite {sqlite3.sqlite_version} embedded (WAL, synchronous=FULL), "
            f"{config.display}"
        )
    else:
        import psycopg

        with psycopg.connect(urlsplit(url)._replace(query="").geturl()) as connection:
            server = connection.execute("SHOW server_version").fetchone()[0]
            sync = connection.execute("SHOW synchronous_commit").fetchone()[0]
        lines.append(f"store: PostgreSQL {server} (synchronous_commit={sync}), {config.display}")
    return "\n".join(lines)


def _installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="at least this many events in the log"
    )
    parser.add_argument(
        "--store", help="sqlite:///path or postgresql://… (default: a cached SQLite file)"
    )
    parser.add_argument("--fresh", action="store_true", help="build the store again even if cached")
    parser.add_argument(
        "--page-size", type=int, default=DEFAULT_PAGE_SIZE, help="events per page, both runs"
    )
    parser.add_argument(
        "--repeat", type=int, default=2, help="rebuilds (and reads around them) to take the best of"
    )
    parser.add_argument(
        "--writers", type=int, nargs="+", default=[1, 2, 4], help="PostgreSQL: K writer processes"
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="PostgreSQL: how long writers write, per K"
    )
    parser.add_argument(
        "--batch", type=int, default=500, help="PostgreSQL: messages per writer transaction"
    )
    parser.add_argument(
        "--scaling-only", action="store_true", help="PostgreSQL: only the K writers part"
    )
    args = parser.parse_args()
    url = store_url(args)
    print(describe_machine(url), flush=True)
    size = prepare(url, args.events, args.fresh)

    if args.scaling_only:
        _scaling_heading(args)
        scaling(url, args.writers, args.seconds, args.batch)
        return
    # Alternate the two, each in a fresh process, and compare the best of each: this machine
    # is shared, and the same read varies by a fifth from one run to the next.
    reads, rebuilds = [], []
    for _ in range(args.repeat):
        reads.append(_in_child(_read_all, url, args.page_size))
        rebuilds.append(_in_child(_rebuild_all, url, args.page_size))
    reads.append(_in_child(_read_all, url, args.page_size))
    read = max(reads, key=lambda m: m.rate)
    rebuilt = max(rebuilds, key=lambda m: m.rate)
    print(f"log: {size:,} positions, {read.events:,} events; page size {args.page_size:,}")
    print(
        f"(a) read + decode, library reader (select_notifications + mapper.to_domain_event): "
        f"best {read.rate:,.0f} events/s ({read.seconds:.1f} s; peak {read.peak_mb:,.0f} MB); "
        f"runs: {', '.join(f'{m.rate:,.0f}' for m in reads)}"
    )
    print(
        f"(b) rebuild of all {len(PROJECTIONS)} projections from zero: "
        f"best {rebuilt.rate:,.0f} events/s "
        f"({rebuilt.events:,} events in {rebuilt.seconds:.1f} s; peak {rebuilt.peak_mb:,.0f} MB); "
        f"runs: {', '.join(f'{m.rate:,.0f}' for m in rebuilds)}"
    )
    ratio = rebuilt.rate / read.rate
    median_ratio = statistics.median(m.rate for m in rebuilds) / statistics.median(
        m.rate for m in reads
    )
    print(
        f"ratio b / a: {ratio:.0%} best to best, {median_ratio:.0%} median to median "
        f"(target ≥ 50 %: {'met' if ratio >= 0.5 else 'NOT met'})",
        flush=True,
    )
    if not store_config(url).is_embedded:
        _scaling_heading(args)
        scaling(url, args.writers, args.seconds, args.batch)


def _scaling_heading(args: argparse.Namespace) -> None:
    print(
        f"projections in their own process, K ingest-like writers ({args.batch} messages per "
        f"transaction, a message = fill reading + receipt), {args.seconds:.0f} s each:",
        flush=True,
    )


if __name__ == "__main__":
    main()
