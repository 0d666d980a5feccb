"""Benchmark: durable ingest against raw SQLite and against one save per message.

Run with ``python bench/ingest.py`` (``--quick`` for a short run). One run, the same synthetic
readings throughout (fixed seed; ``bin.fill`` messages round-robin over a few thousand bins
with time advancing, as a fleet of sensors reports), each measured on its own copy of one
store in which the bins are already installed with their sensors:

(a) raw ``sqlite3`` ``executemany`` of the very rows the twin writes (the bin's event and the
    message's receipt, encoded by the twin's mapper) into the store's own ``stored_events``
    table, in transactions of ingest's batch size, WAL and the twin's synchronous setting;
(b) the naive path: per message, decode it, check its receipt, load the bin, apply the
    command and save bin and receipt in one ``Application.save``;
(c) end-to-end durable ingest: an :class:`IngestServer` in this process and a separate
    adapter process (the SDK's runner, SQLite outbox and ZeroMQ DEALER, CURVE on) sending
    over tcp://127.0.0.1, timed until every message is acknowledged;
(d) latency from send to acknowledgement at an offered load of 5,000 messages/s, from a
    paced sender in a separate process.

Events are stored rows (two per message). Prints the machine's facts, each figure, the
ratios and PASS/MISS per target; exits 0 whatever the figures. Not a test: the machine is
shared and figures move with its load, which is printed too.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The adapter side imports only what a gateway has: the SDK and the wire protocol.
from adapters.sdk import Adapter, AdapterManifest, AdapterRunner, Outbox, Reading, message_id  # noqa: E402
from adapters.wire import AbstractTransport, ZmqTransport, load_keypair  # noqa: E402

SOURCE = "bench-gateway"
SEED = 20240601
REPORT_EVERY_H = 12  # each sensor reports twice a day; the fleet's messages interleave
TARGET_VS_RAW = 0.40
TARGET_VS_NAIVE = 4.0
TARGET_P99_MS = 100.0
OFFERED_RATE = 5_000
_CHUNK = 500  # readings queued per durable outbox write, as the adapter service does
_TICK_S = 0.005  # the paced sender queues what became due every 5 ms (one outbox write)
_WARM_UP_S = 2.0  # (d) also reports messages sent after this, once ingest has loaded the bins


# ---- the synthetic fleet (shared by the bench and its adapter processes) --------------------
def bin_code(number: int) -> str:
    return f"BENCH-{number:04d}"


def sensor_of(number: int) -> str:
    return f"A840{number:012X}"


def synthetic_readings(bins: int, count: int, start_ms: int, seed: int = SEED) -> list[Reading]:
    """``count`` fill readings, round-robin over ``bins`` sensors, time advancing."""
    rng = random.Random(seed)
    step_ms = REPORT_EVERY_H * 3_600_000 // bins
    fills = [rng.uniform(0, 40) for _ in range(bins)]
    readings = []
    for index in range(count):
        number = index % bins
        fills[number] += rng.uniform(0, 9)
        if fills[number] > 100:  # collected: starts again near empty
            fills[number] = rng.uniform(0, 8)
        observed = datetime.fromtimestamp((start_ms + index * step_ms) / 1000, UTC)
        readings.append(
            Reading(
                sensor_of(number),
                bin_code(number),
                "bin.fill",
                observed,
                {"fill_percent": round(fills[number], 1)},
            )
        )
    return readings


class _BenchAdapter(Adapter):
    """The readings are made by :func:`synthetic_readings`; payload parsing is not measured."""

    manifest = AdapterManifest(
        "bench", "synthetic fill sensor", ("bin.fill",), "push", "bench", "benchmark only"
    )

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        raise NotImplementedError


class _StampingTransport(AbstractTransport):
    """The real transport, noting when each message id was first sent and first answered."""

    def __init__(self, inner: AbstractTransport) -> None:
        import msgpack

        self.inner = inner
        self.unpack = msgpack.unpackb
        self.sent: dict[str, float] = {}
        self.answered: dict[str, float] = {}

    def send(self, frame: bytes) -> None:
        self.inner.send(frame)
        self.sent.setdefault(self.unpack(frame)["id"], time.perf_counter())

    def receive(self, timeout_s: float) -> bytes | None:
        frame = self.inner.receive(timeout_s)
        if frame is not None:
            now = time.perf_counter()
            self.answered.setdefault(self.unpack(frame)["id"], now)
        return frame

    def reset(self) -> None:
        self.inner.reset()

    def close(self) -> None:
        self.inner.close()


def adapter_process(params: dict[str, Any]) -> dict[str, Any]:
    """The body of the separate adapter process; returns what it measured."""
    keys = Path(params["keys"])
    transport = _StampingTransport(
        ZmqTransport(
            params["endpoint"],
            client_keys=load_keypair(keys / "adapter.key_secret"),
            server_public_key=load_keypair(keys / "ingest.key").public,
        )
    )
    windows = params.get("windows")
    runner = AdapterRunner(
        _BenchAdapter({}),
        transport,
        Outbox(Path(params["outbox"])),
        SOURCE,
        **({} if windows is None else {"windows_in_flight": windows}),
    )
    readings = synthetic_readings(params["bins"], params["count"], params["start_ms"])
    ids = [message_id(SOURCE, reading) for reading in readings]
    due: dict[str, float] = {}
    started = time.perf_counter()
    deadline = started + params["timeout_s"]
    queued = 0
    rate = params.get("rate")
    next_tick = started
    while time.perf_counter() < deadline:
        now = time.perf_counter()
        wanted = queued
        if rate is None:  # as fast as ingest answers, as the adapter service replays a file
            if runner.in_flight < runner.max_in_flight:
                wanted = queued + _CHUNK
        elif now >= next_tick:  # readings arrive at the offered rate
            wanted = int((now - started) * rate) + 1
            next_tick = now + _TICK_S
        wanted = min(wanted, len(readings))
        if wanted > queued:
            runner.queue(readings[queued:wanted])
            for index in range(queued, wanted):
                due[ids[index]] = started + index / rate if rate else now
            queued = wanted
        if rate is None:
            window_open = queued < len(readings) and runner.in_flight < runner.max_in_flight
            runner.pump(timeout_s=0.0 if window_open else 0.05)
        else:
            runner.pump(
                timeout_s=max(0.0, next_tick - time.perf_counter())
                if queued < len(readings)
                else 0.01
            )
        if queued == len(readings) and runner.outbox.pending() == 0:
            break
    finished = time.perf_counter()
    runner.transport.close()
    runner.outbox.close()
    send_to_ack = [
        transport.answered[m] - transport.sent[m] for m in ids if m in transport.answered
    ]
    due_to_ack = [
        transport.answered[m] - due[m] for m in ids if m in transport.answered and m in due
    ]
    sends = [transport.sent[m] for m in ids if m in transport.sent]
    warm = [
        transport.answered[m] - transport.sent[m]
        for m in ids
        if m in transport.answered and transport.sent[m] >= started + _WARM_UP_S
    ]
    return {
        "seconds": finished - started,
        "count": len(readings),
        "answered": len(transport.answered),
        "send_seconds": (max(sends) - min(sends)) if sends else 0.0,
        "send_to_ack_ms": _percentiles(send_to_ack),
        "due_to_ack_ms": _percentiles(due_to_ack),
        "warm_send_to_ack_ms": _percentiles(warm),
        "stats": runner.stats.as_dict(),
    }


def _percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    ordered = sorted(seconds)
    pick = lambda q: ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000  # noqa: E731
    return {"p50": pick(0.50), "p99": pick(0.99), "max": ordered[-1] * 1000}


# ---- the bench process ----------------------------------------------------------------------
@dataclass
class Plan:
    bins: int
    messages: int
    naive_messages: int
    naive_budget_s: float
    latency_seconds: float
    rate: int
    start_ms: int
    windows: int | None = None  # the SDK's windows_in_flight; None: its default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (fewer messages)")
    parser.add_argument("--bins", type=int, default=3_000)
    parser.add_argument(
        "--messages", type=int, help="messages for (a) and (c); default 60,000 (quick: 12,000)"
    )
    parser.add_argument(
        "--latency-seconds", type=float, help="length of the paced run (d); default 10 (quick: 4)"
    )
    parser.add_argument(
        "--rate", type=int, default=OFFERED_RATE, help="offered load of (d), messages/s"
    )
    parser.add_argument(
        "--windows",
        type=int,
        help="the adapter's windows in flight (AdapterRunner windows_in_flight); default: the SDK's",
    )
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the store measured (default sqlite: a file in a temporary folder)",
    )
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="the PostgreSQL server for --store postgres (a schema per measure, dropped after)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(adapter_process(json.loads(args.child))))
        return
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    plan = Plan(
        bins=args.bins,
        messages=args.messages or (12_000 if args.quick else 60_000),
        naive_messages=3_000 if args.quick else 12_000,
        naive_budget_s=5.0 if args.quick else 15.0,
        latency_seconds=args.latency_seconds or (4.0 if args.quick else 10.0),
        rate=args.rate,
        start_ms=int((now - timedelta(days=60)).timestamp() * 1000),
        windows=args.windows,
    )
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        stores = (
            PostgresStores(args.postgres)
            if args.store == "postgres"
            else SQLiteStores(Path(scratch))
        )
        try:
            run(plan, Path(scratch), stores)
        finally:
            stores.close()


def run(plan: Plan, scratch: Path, stores: Stores) -> None:
    from twin.ingest_server import ServerSettings

    batch_max = ServerSettings().batch_max
    wait_ms = ServerSettings().batch_wait_s * 1000
    print(
        f"Valley Twin ingest benchmark on {stores.name}: {plan.bins:,} bins, {plan.messages:,} "
        f"bin.fill messages round-robin (seed {SEED}), ingest batch_max {batch_max}, "
        f"batch_wait {wait_ms:g} ms"
    )
    started = time.perf_counter()
    bins = stores.install(plan)
    print(stores.facts())
    print(
        f"setup: {plan.bins:,} bins installed with sensors in {time.perf_counter() - started:.1f} s; "
        "each measure runs on its own copy of that store; events = stored rows (2 per message)\n"
    )
    readings = synthetic_readings(plan.bins, plan.messages, plan.start_ms)

    raw = measure_raw(stores, "a", bins, readings, batch_max)
    print(
        f"(a) raw executemany             {raw['rows']:>8,} rows    {raw['seconds']:7.2f} s "
        f"{raw['rate']:>10,.0f} events/s   ({batch_max} messages = {2 * batch_max} rows per transaction)"
    )
    naive = measure_naive(stores, "b", readings[: plan.naive_messages], plan.naive_budget_s)
    print(
        f"(b) naive, one save per message {naive['rows']:>8,} rows    {naive['seconds']:7.2f} s "
        f"{naive['rate']:>10,.0f} events/s   ({naive['messages']:,} messages, in process, no network)"
    )
    inner = measure_in_process(stores, "e", readings, batch_max)
    print(
        f"(e) ingest in process           {inner['rows']:>8,} rows    {inner['seconds']:7.2f} s "
        f"{inner['rate']:>10,.0f} events/s   (IngestProcessor.process on batches of {batch_max}, "
        f"assets loaded first; {inner['cpu_us']:.0f} us of CPU a message)"
    )
    e2e = measure_end_to_end(stores, scratch, plan, "c", rate=None, count=plan.messages)
    print(
        f"(c) end-to-end durable ingest   {e2e['rows']:>8,} rows    {e2e['seconds']:7.2f} s "
        f"{e2e['rate']:>10,.0f} events/s   (adapter process, outbox, CURVE, tcp; "
        f"batches mean {e2e['batch']:.0f}, commit p50 {e2e['commit_p50']:.1f} ms)"
    )
    raw_at_batch = measure_raw(stores, "a2", bins, readings, max(1, round(e2e["batch"])))
    print(
        f"    (a) again at (c)'s mean batch of {max(1, round(e2e['batch']))}: {raw_at_batch['rate']:,.0f} events/s "
        f"(information; the target uses batch_max)"
    )
    latency_count = int(plan.rate * plan.latency_seconds)
    paced = measure_end_to_end(stores, scratch, plan, "d", rate=plan.rate, count=latency_count)
    child = paced["child"]
    achieved = child["count"] / child["send_seconds"] if child["send_seconds"] else 0.0
    s2a, d2a = child["send_to_ack_ms"], child["due_to_ack_ms"]
    print(
        f"(d) latency at {plan.rate:,} msg/s offered for {plan.latency_seconds:g} s: sent {achieved:,.0f} msg/s, "
        f"{child['answered']:,}/{child['count']:,} acknowledged, {paced['rate'] / 2:,.0f} msg/s committed"
    )
    print(
        f"    send->ack  p50 {s2a.get('p50', float('nan')):6.1f} ms  p99 {s2a.get('p99', float('nan')):6.1f} ms  "
        f"max {s2a.get('max', float('nan')):6.1f} ms"
    )
    print(
        f"    due->ack   p50 {d2a.get('p50', float('nan')):6.1f} ms  p99 {d2a.get('p99', float('nan')):6.1f} ms  "
        f"max {d2a.get('max', float('nan')):6.1f} ms  (includes time waiting in the outbox)"
    )
    warm = child["warm_send_to_ack_ms"]
    print(
        f"    send->ack  p50 {warm.get('p50', float('nan')):6.1f} ms  p99 {warm.get('p99', float('nan')):6.1f} ms  "
        f"max {warm.get('max', float('nan')):6.1f} ms  (sent after the first {_WARM_UP_S:g} s: bins cached)"
    )

    print("\ntargets")
    vs_raw = e2e["rate"] / raw["rate"]
    vs_naive = e2e["rate"] / naive["rate"]
    p99 = s2a.get("p99", float("inf"))
    all_acked = child["answered"] == child["count"]
    verdict = lambda ok: "PASS" if ok else "MISS"  # noqa: E731
    print(
        f"  (c)/(a) = {vs_raw:6.1%}   target >= {TARGET_VS_RAW:.0%}          {verdict(vs_raw >= TARGET_VS_RAW)}"
    )
    print(
        f"  (c)/(b) = {vs_naive:6.1f}x  target >= {TARGET_VS_NAIVE:g}x           "
        f"{verdict(vs_naive >= TARGET_VS_NAIVE)}"
    )
    print(
        f"  (d) p99 = {p99:6.1f} ms target < {TARGET_P99_MS:g} ms at {plan.rate:,} msg/s "
        f"{verdict(p99 < TARGET_P99_MS and all_acked and achieved >= 0.95 * plan.rate)}"
        f"{'' if achieved >= 0.95 * plan.rate else f' (offered load not reached: {achieved:,.0f} msg/s)'}"
    )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def install_fleet(path: Path | str, plan: Plan) -> dict[int, Any]:
    """Install the bins with their sensors in the SQLite file ``path`` (or the store at the URL
    ``path``); return them (in memory, at their stored version)."""
    from domain import Bin, Position
    from twin import open_twin

    installed = datetime.fromtimestamp(plan.start_ms / 1000, UTC) - timedelta(days=1)
    rng = random.Random(SEED + 1)
    twin = open_twin(path if isinstance(path, str) else f"sqlite:///{path}")
    bins = {}
    for number in range(plan.bins):
        bin_ = Bin.install(
            code=bin_code(number),
            stream=rng.choice(["glass", "packaging", "paper"]),
            capacity_l=3_000,
            position=Position(745_000 + rng.uniform(0, 20_000), 6_275_000 + rng.uniform(0, 20_000)),
            commune_insee="34114",
            at=installed,
            depth_cm=180.0,
        )
        bin_.attach_sensor(sensor_of(number), installed + timedelta(hours=1))
        bins[number] = bin_
    values = list(bins.values())
    for first in range(0, len(values), 500):
        twin.save(*values[first : first + 500])
    twin.close()
    return bins


def copy_store(base: Path, target: Path) -> None:
    with sqlite3.connect(base) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    source.close()
    copy.close()


def machine_facts(base: Path) -> str:
    import zmq

    from twin import open_twin
    from twin.config import SQLITE_JOURNAL_MODE, SQLITE_SYNCHRONOUS

    twin = open_twin(f"sqlite:///{base}")
    pool = twin.factory.datastore.pool  # type: ignore[attr-defined]
    connection = pool.get_connection(is_writer=False)
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode")
    journal = cursor.fetchone()[0]
    cursor.execute("PRAGMA synchronous")
    synchronous = cursor.fetchone()[0]
    pool.put_connection(connection)
    twin.close()
    version = importlib.metadata.version
    return (
        f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
        f"{platform.system()} {platform.release()}\n"
        f"software: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, eventsourcing "
        f"{version('eventsourcing')}, pyzmq {version('pyzmq')} (libzmq {zmq.zmq_version()}), "
        f"msgpack {version('msgpack')}\n"
        f"store: journal_mode={journal} synchronous={synchronous} (twin.config: "
        f"SQLITE_JOURNAL_MODE={SQLITE_JOURNAL_MODE!r}, SQLITE_SYNCHRONOUS={SQLITE_SYNCHRONOUS!r}, "
        "set on every connection)"
    )


def stored_rows(
    bins: dict[int, Any], readings: list[Reading], received_at: datetime
) -> list[tuple[Any, ...]]:
    """The rows the twin writes for these readings: the bin's event, then the receipt."""
    import copy

    from domain import Bin
    from twin import ValleyTwin
    from twin.receipts import MessageReceipt, receipt_id

    twin = ValleyTwin(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})  # only for its mapper
    fleet = {number: copy.deepcopy(bin_) for number, bin_ in bins.items()}
    by_code = {bin_.code: bin_ for bin_ in fleet.values()}
    rows = []
    for reading in readings:
        bin_: Bin = by_code[reading.asset]
        bin_.measure_fill_level(
            reading.body["fill_percent"], reading.observed_at, device_id=reading.device
        )
        mid = message_id(SOURCE, reading)
        receipt = MessageReceipt.applied(
            receipt_id(SOURCE, mid), SOURCE, mid, reading.kind, reading.device, received_at
        )
        for event in (*bin_.collect_events(), *receipt.collect_events()):
            stored = twin.mapper.to_stored_event(event)
            rows.append(
                (stored.originator_id, stored.originator_version, stored.topic, stored.state)
            )
    twin.close()
    return rows


def measure_raw(
    stores: Stores, label: str, bins: dict[int, Any], readings: list[Reading], batch: int
) -> dict[str, Any]:
    rows = stored_rows(bins, readings, datetime.now(UTC))
    url = stores.fresh(label)
    seconds = stores.raw_insert(url, rows, 2 * batch)
    return {"rows": len(rows), "seconds": seconds, "rate": len(rows) / seconds}


def wire_frames(readings: list[Reading]) -> list[bytes]:
    """The readings as the adapter sends them: one wire message each."""
    from adapters.wire import Envelope, encode

    return [
        encode(
            Envelope(
                message_id(SOURCE, r), SOURCE, r.device, r.asset, r.kind, r.observed_at, r.body
            )
        )
        for r in readings
    ]


def measure_naive(
    stores: Stores, label: str, readings: list[Reading], budget_s: float
) -> dict[str, Any]:
    from adapters.wire import decode
    from domain import Bin
    from twin import open_twin
    from twin.receipts import MessageReceipt, receipt_id

    frames = wire_frames(readings)
    twin = open_twin(stores.fresh(label))
    done = 0
    started = time.perf_counter()
    for frame in frames:
        received_at = datetime.now(UTC)
        envelope = decode(frame, received_at)
        receipt = receipt_id(envelope.source, envelope.message_id)
        if twin.exists(receipt):
            continue
        bin_ = twin.get(Bin, envelope.asset)
        bin_.measure_fill_level(
            envelope.body["fill_percent"], envelope.observed_at, device_id=envelope.device
        )
        twin.save(
            bin_,
            MessageReceipt.applied(
                receipt,
                envelope.source,
                envelope.message_id,
                envelope.kind,
                envelope.device,
                received_at,
            ),
        )
        done += 1
        if time.perf_counter() - started > budget_s:
            break
    seconds = time.perf_counter() - started
    twin.close()
    return {"messages": done, "rows": 2 * done, "seconds": seconds, "rate": 2 * done / seconds}


def measure_in_process(
    stores: Stores, label: str, readings: list[Reading], batch: int
) -> dict[str, Any]:
    """Ingest's own work without the network: decode, rules, dedupe, its batch writer."""
    from twin import load_geography, open_twin
    from twin.ingest import Incoming, IngestProcessor

    frames = wire_frames(readings)
    url = stores.fresh(label)
    twin = open_twin(url)
    processor = IngestProcessor(twin, load_geography())
    processor.warm_up()  # as `twin ingest` does before it listens
    before = stores.count(url)
    cpu, started = time.process_time(), time.perf_counter()
    for first in range(0, len(frames), batch):
        processor.process([Incoming(frame) for frame in frames[first : first + batch]])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    twin.close()
    rows = stores.count(url) - before
    return {
        "rows": rows,
        "seconds": seconds,
        "rate": rows / seconds,
        "cpu_us": cpu / len(frames) * 1e6,
    }


def measure_end_to_end(
    stores: Stores, scratch: Path, plan: Plan, label: str, rate: int | None, count: int
) -> dict[str, Any]:
    from adapters.wire import create_keypair
    from twin import load_geography, open_twin
    from twin.ingest import IngestProcessor
    from twin.ingest_server import AllowList, IngestServer, ServerSettings

    keys = scratch / f"keys-{label}"
    create_keypair(keys, "ingest")
    public, _ = create_keypair(keys, "adapter")
    (keys / "allowed").write_text(
        f"{load_keypair(public).public.decode()} {SOURCE}\n", encoding="utf-8"
    )
    url = stores.fresh(label)
    twin = open_twin(url)
    before = stores.count(url)
    processor = IngestProcessor(twin, load_geography())
    processor.warm_up()  # as `twin ingest` does before it listens
    server = IngestServer(
        processor,
        ServerSettings(endpoint="tcp://127.0.0.1:*"),
        load_keypair(keys / "ingest.key_secret"),
        AllowList(keys / "allowed"),
    )
    stop_ingest = server.serve_in_thread()
    params = {
        "endpoint": server.bound_endpoint,
        "keys": str(keys),
        "outbox": str(scratch / f"{label}.outbox"),
        "bins": plan.bins,
        "count": count,
        "start_ms": plan.start_ms,
        "rate": rate,
        "windows": plan.windows,
        "timeout_s": 120 if rate is None else plan.latency_seconds + 30,
    }
    try:
        process = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(params)],
            capture_output=True,
            text=True,
            timeout=params["timeout_s"] + 60,
            check=False,
        )
    finally:
        stop_ingest()
        twin.close()
    if process.returncode != 0:
        raise RuntimeError(f"adapter process failed: {process.stderr.strip()[-2000:]}")
    child = json.loads(process.stdout)
    rows = stores.count(url) - before
    stats = processor.stats.as_dict()
    if stats["committed"] != count or rows != 2 * count:
        print(
            f"    warning ({label}): {stats['committed']:,} committed, {rows:,} rows for {count:,} messages; "
            f"rejected {stats['rejected_by_reason']}",
            file=sys.stderr,
        )
    return {
        "rows": rows,
        "seconds": child["seconds"],
        "rate": rows / child["seconds"],
        "child": child,
        "batch": stats["batch_size"].get("mean", 0.0),
        "commit_p50": stats["commit_latency_ms"].get("p50", 0.0),
    }


class Stores:
    """Where the measures run: a fresh copy of the installed fleet for each, and raw inserts."""

    name = ""

    def install(self, plan: Plan) -> dict[int, Any]:
        raise NotImplementedError

    def fresh(self, label: str) -> str:
        """The URL of a store holding the installed fleet and nothing else."""
        raise NotImplementedError

    def count(self, url: str) -> int:
        raise NotImplementedError

    def raw_insert(self, url: str, rows: list[tuple[Any, ...]], per_transaction: int) -> float:
        """Seconds to insert ``rows`` with the driver's ``executemany``, durably committed."""
        raise NotImplementedError

    def facts(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        """Remove what the bench created outside its scratch folder."""


class SQLiteStores(Stores):
    name = "SQLite"

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.base = scratch / "base.sqlite"

    def install(self, plan: Plan) -> dict[int, Any]:
        return install_fleet(self.base, plan)

    def fresh(self, label: str) -> str:
        path = self.scratch / f"{label}.sqlite"
        copy_store(self.base, path)
        return f"sqlite:///{path}"

    def count(self, url: str) -> int:
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            (count,) = db.execute("SELECT count(*) FROM stored_events").fetchone()
        db.close()
        return int(count)

    def raw_insert(self, url: str, rows: list[tuple[Any, ...]], per_transaction: int) -> float:
        from twin.config import SQLITE_SYNCHRONOUS, SQLITE_SYNCHRONOUS_LEVEL

        db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        assert db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
        db.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        assert db.execute("PRAGMA synchronous").fetchone()[0] == SQLITE_SYNCHRONOUS_LEVEL
        (ddl,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'stored_events'").fetchone()
        assert "PRIMARY KEY (originator_id, originator_version)" in ddl, ddl  # the library's table
        started = time.perf_counter()
        for first in range(0, len(rows), per_transaction):
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO stored_events VALUES (?,?,?,?)",
                [(r[0].hex, *r[1:]) for r in rows[first : first + per_transaction]],
            )
            db.execute("COMMIT")
        seconds = time.perf_counter() - started
        db.close()
        return seconds

    def facts(self) -> str:
        return machine_facts(self.base)


class PostgresStores(Stores):
    """A schema per measure on the server, the fleet installed in each, all dropped at the end."""

    name = "PostgreSQL"
    table = "valleytwin_events"  # the library's events table of the application ValleyTwin

    def __init__(self, server: str) -> None:
        self.server = server
        self.run = f"bench_ingest_{os.getpid()}"
        self.schemas: list[str] = []
        self.plan: Plan | None = None

    def _url(self, schema: str) -> str:
        return f"{self.server}{'&' if '?' in self.server else '?'}schema={schema}"

    def _schema(self, label: str) -> str:
        import psycopg
        from psycopg import sql

        schema = f"{self.run}_{label}"
        with psycopg.connect(self.server, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )
            connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        self.schemas.append(schema)
        return schema

    def install(self, plan: Plan) -> dict[int, Any]:
        self.plan = plan
        return install_fleet(self._url(self._schema("base")), plan)

    def fresh(self, label: str) -> str:
        assert self.plan is not None
        url = self._url(self._schema(label))
        install_fleet(url, self.plan)  # the same seed: the same bins, the same ids
        return url

    def count(self, url: str) -> int:
        import psycopg
        from psycopg import sql

        schema = url.rsplit("schema=", 1)[1]
        with psycopg.connect(self.server) as connection:
            row = connection.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(self.table)
                )
            ).fetchone()
        assert row is not None
        return int(row[0])

    def raw_insert(self, url: str, rows: list[tuple[Any, ...]], per_transaction: int) -> float:
        import psycopg
        from psycopg import sql

        schema = url.rsplit("schema=", 1)[1]
        statement = sql.SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)"
        ).format(sql.Identifier(schema), sql.Identifier(self.table))
        with psycopg.connect(self.server) as connection:
            started = time.perf_counter()
            for first in range(0, len(rows), per_transaction):
                with connection.transaction(), connection.cursor() as cursor:
                    cursor.executemany(statement, rows[first : first + per_transaction])
            seconds = time.perf_counter() - started
        return seconds

    def facts(self) -> str:
        import psycopg

        with psycopg.connect(self.server) as connection:
            version = connection.execute("SHOW server_version").fetchone()
            synchronous = connection.execute("SHOW synchronous_commit").fetchone()
            fsync = connection.execute("SHOW fsync").fetchone()
        assert version and synchronous and fsync
        metadata = importlib.metadata.version
        return (
            f"machine: {os.cpu_count()} cores, load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, {platform.system()} {platform.release()}\n"
            f"software: Python {platform.python_version()}, PostgreSQL {version[0]}, psycopg "
            f"{metadata('psycopg')} ({psycopg.pq.__impl__} implementation), eventsourcing "
            f"{metadata('eventsourcing')}, pyzmq {metadata('pyzmq')}, msgpack {metadata('msgpack')}\n"
            f"store: synchronous_commit={synchronous[0]} fsync={fsync[0]} (a commit is on disk "
            "before it is acknowledged)"
        )

    def close(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.server, autocommit=True) as connection:
            for schema in self.schemas:
                connection.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


if __name__ == "__main__":
    main()
