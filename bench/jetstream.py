"""Benchmark: NATS JetStream publish-with-ack and consume rates beside the twin's own ingest.

Run with ``python bench/jetstream.py`` (``--quick`` for a short run; needs ``nats-py``, the
``bench`` extra, and a NATS server with JetStream at ``--url``). One run, the same synthetic
``bin.fill`` wire messages throughout (built by ``bench/ingest.py``'s fleet and encoded by the
project's own encoder, ~172 bytes of msgpack each), each carrying its message id as
``Nats-Msg-Id`` so that JetStream de-duplicates a resend as the twin's receipts do:

(i)   the twin's ingest in process: :class:`IngestProcessor.process` on a fresh SQLite store
      (WAL, synchronous=FULL), in batches of ingest's ``batch_max``; messages/s committed;
(ii)  JetStream publish, one at a time, each waiting for its ack (a file-storage stream, R=1);
(iii) JetStream publish with up to N acks pending (``publish_async``), for each N asked;
(iv)  a durable pull consumer reading the stream in batches of ``batch_max``: every message
      acked (explicit policy, acks not waited for), then a second consumer acking each batch's
      last message and waiting for the server's confirmation (``ack_all`` policy, ``ack_sync``),
      as a shard worker would after its commit.

The NATS server's own CPU per message is read from ``/proc`` when it runs on this machine (the
client here is pure-Python asyncio and shares the two cores with it). With ``--watch-fsync`` a
last phase counts the server's fsync calls under ``strace`` while publishing, to show what the
server's sync policy does (the 2.9 server reports no sync setting through its API).

Prints the machine, versions, load, durability and the ratios; exits 0 whatever the figures.
Not a test: the machine is shared and figures move with its load. The stream it creates is
deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest as ingest_bench  # noqa: E402  (bench/ingest.py: the synthetic fleet and its store)

from adapters.sdk import message_id  # noqa: E402
from adapters.wire import Envelope, encode  # noqa: E402

SHARDS = 4  # subjects are per shard, as the edge would publish them


def shard_of(asset: str, shards: int) -> int:
    """A stable shard for an asset code: the same on every machine and in every release."""
    digest = hashlib.blake2b(asset.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


@dataclass(frozen=True)
class Frame:
    asset: str
    message_id: str
    raw: bytes


def make_frames(bins: int, count: int, start_ms: int) -> list[Frame]:
    """``count`` wire messages of the synthetic fleet, encoded by the project's encoder."""
    frames = []
    for reading in ingest_bench.synthetic_readings(bins, count, start_ms):
        mid = message_id(ingest_bench.SOURCE, reading)
        envelope = Envelope(
            mid,
            ingest_bench.SOURCE,
            reading.device,
            reading.asset,
            reading.kind,
            reading.observed_at,
            reading.body,
        )
        frames.append(Frame(reading.asset, mid, encode(envelope)))
    return frames


# ---- the NATS server's process, when it runs here ------------------------------------------
def server_pid(port: int) -> int | None:
    """The pid of the one nats-server process on this machine, if there is exactly one."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "nats-server":
                command = (entry / "cmdline").read_bytes().split(b"\0")
                if str(port).encode() in command or b"-p" not in command:
                    found.append(int(entry.name))
        except OSError:
            continue
    return found[0] if len(found) == 1 else None


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (0 when unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    name: str
    messages: int
    seconds: float
    client_cpu_s: float
    server_cpu_s: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def line(self) -> str:
        server = (
            f"server {self.server_cpu_s / self.messages * 1e6:5.1f} µs CPU/msg"
            if self.server_cpu_s
            else "server CPU unknown"
        )
        return (
            f"{self.name:<44} {self.messages:>7,} msgs {self.seconds:7.2f} s "
            f"{self.rate:>9,.0f} msg/s   client {self.client_cpu_s / self.messages * 1e6:5.1f} µs "
            f"CPU/msg, {server}{self.note}"
        )


class Meter:
    """Wall time and CPU of this process and of the NATS server over one phase."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def __enter__(self) -> Meter:
        self.started = time.perf_counter()
        self.cpu = time.process_time()
        self.server = cpu_seconds(self.pid)
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.client_cpu = time.process_time() - self.cpu
        self.server_cpu = cpu_seconds(self.pid) - self.server if self.pid else 0.0

    def phase(self, name: str, messages: int) -> Phase:
        return Phase(name, messages, self.seconds, self.client_cpu, self.server_cpu)


# ---- (i) the twin's ingest in process ------------------------------------------------------
def measure_twin_ingest(frames: list[Frame], bins: int, start_ms: int, scratch: Path) -> Phase:
    from twin import load_geography, open_twin
    from twin.ingest import Incoming, IngestProcessor
    from twin.ingest_server import ServerSettings

    plan = ingest_bench.Plan(
        bins=bins,
        messages=len(frames),
        naive_messages=0,
        naive_budget_s=0.0,
        latency_seconds=0.0,
        rate=0,
        start_ms=start_ms,
    )
    store = scratch / "ingest.sqlite"
    ingest_bench.install_fleet(store, plan)
    twin = open_twin(f"sqlite:///{store}")
    processor = IngestProcessor(twin, load_geography())
    batch_max = ServerSettings().batch_max
    incoming = [Incoming(frame.raw, peer=ingest_bench.SOURCE) for frame in frames]
    try:
        with Meter(None) as meter:
            for first in range(0, len(incoming), batch_max):
                replies = processor.process(incoming[first : first + batch_max])
                if any(reply is None or reply.status != "ack" for reply in replies):
                    raise RuntimeError(f"ingest did not acknowledge every message: {replies[:3]}")
    finally:
        twin.close()
    if processor.stats.committed != len(frames):
        raise RuntimeError(f"{processor.stats.committed:,} committed of {len(frames):,}")
    commit = processor.stats.as_dict()["commit_latency_ms"]
    phase = meter.phase(f"(i) twin ingest in process, batches of {batch_max}", len(frames))
    phase.note = (
        f"  (events and receipts committed; a batch's commit p50 {commit['p50']:.1f} ms, "
        f"max {commit['max']:.1f} ms)"
    )
    return phase


# ---- (ii)-(iv) JetStream ------------------------------------------------------------------
async def measure_jetstream(args: argparse.Namespace, frames: list[Frame]) -> dict[str, Any]:
    import nats
    from nats.js.api import (
        AckPolicy,
        ConsumerConfig,
        DeliverPolicy,
        RetentionPolicy,
        StorageType,
        StreamConfig,
    )

    from twin.ingest_server import ServerSettings

    batch_max = ServerSettings().batch_max
    pid = server_pid(args.port)
    nc = await nats.connect(args.url)
    token = uuid.uuid4().hex[:10]
    stream = f"VTBENCH_{token}"
    prefix = f"vtbench.{token}.ingest"
    jsm = nc.jsm()
    info = dict(nc._server_info)  # the INFO the server sent on connect
    account = await jsm.account_info()
    config = StreamConfig(
        name=stream,
        subjects=[f"{prefix}.>"],
        storage=StorageType.FILE,
        num_replicas=1,
        retention=RetentionPolicy.LIMITS,
        duplicate_window=120.0,  # the server's default, stated: resends within it are dropped
    )
    created = await jsm.add_stream(config)
    results: dict[str, Any] = {
        "server": info,
        "account": account,
        "stream": created.config,
        "pid": pid,
        "phases": [],
    }
    cursor = 0

    def take(count: int) -> list[Frame]:
        nonlocal cursor
        chosen = frames[cursor : cursor + count]
        cursor += count
        if len(chosen) < count:
            raise RuntimeError("not enough frames prepared")
        return chosen

    def subject(frame: Frame) -> str:
        return f"{prefix}.{shard_of(frame.asset, SHARDS)}"

    try:
        js = nc.jetstream()
        chosen = take(args.sync_messages)
        with Meter(pid) as meter:
            for frame in chosen:
                ack = await js.publish(
                    subject(frame), frame.raw, headers={"Nats-Msg-Id": frame.message_id}
                )
                if ack.duplicate:
                    raise RuntimeError("a fresh message was taken for a duplicate")
        results["phases"].append(
            meter.phase("(ii) publish, one at a time, ack awaited", len(chosen))
        )

        for pending in args.pending:
            js_async = nc.jetstream(publish_async_max_pending=pending)
            chosen = take(args.async_messages)
            with Meter(pid) as meter:
                futures = [
                    await js_async.publish_async(
                        subject(frame), frame.raw, headers={"Nats-Msg-Id": frame.message_id}
                    )
                    for frame in chosen
                ]
                acks = await asyncio.gather(*futures)
            if any(ack.duplicate for ack in acks) or len({ack.seq for ack in acks}) != len(acks):
                raise RuntimeError("acks missing or duplicated")
            results["phases"].append(
                meter.phase(f"(iii) publish_async, up to {pending:,} acks pending", len(chosen))
            )

        total = cursor
        for policy, name in (
            (AckPolicy.EXPLICIT, "(iv) pull consumer, every message acked"),
            (AckPolicy.ALL, "(iv) pull consumer, last of batch ack_sync"),
        ):
            durable = f"worker_{policy.value}"
            await jsm.add_consumer(
                stream,
                ConsumerConfig(
                    durable_name=durable,
                    ack_policy=policy,
                    deliver_policy=DeliverPolicy.ALL,
                    max_ack_pending=-1 if policy == AckPolicy.ALL else 20_000,
                    ack_wait=60.0,
                ),
            )
            subscription = await js.pull_subscribe_bind(durable, stream=stream)
            consumed = 0
            with Meter(pid) as meter:
                while consumed < total:
                    batch = await subscription.fetch(min(batch_max, total - consumed), timeout=10)
                    consumed += len(batch)
                    if policy == AckPolicy.ALL:
                        await batch[-1].ack_sync()
                    else:
                        for message in batch:
                            await message.ack()
                # Acks are not answered: the phase ends when the server has taken them all.
                state = await jsm.consumer_info(stream, durable)
                deadline = time.perf_counter() + 10
                while state.num_ack_pending and time.perf_counter() < deadline:
                    await asyncio.sleep(0.005)
                    state = await jsm.consumer_info(stream, durable)
            await subscription.unsubscribe()
            results["phases"].append(meter.phase(name, consumed))
            if state.num_ack_pending or state.num_pending:
                raise RuntimeError(f"consumer {durable} left {state.num_ack_pending} unacked")

        if args.watch_fsync:
            results["fsync"] = await watch_fsync(js, frames[cursor:], subject, pid)
    finally:
        await jsm.delete_stream(stream)
        await nc.close()
    return results


async def watch_fsync(js: Any, frames: list[Frame], subject: Any, pid: int | None) -> str:
    """Count the server's fsync-family calls while publishing, under strace."""
    if pid is None or shutil.which("strace") is None:
        return "not watched (no local nats-server process or no strace)"
    trace = Path(tempfile.mkdtemp(prefix="bench-js-")) / "strace.txt"
    tracer = subprocess.Popen(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,sync_file_range,write,pwrite64",
            "-o",
            str(trace),
        ]
        + ["-p", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    await asyncio.sleep(1.0)  # strace attaches to every thread
    started = time.perf_counter()
    for frame in frames:
        await js.publish(subject(frame), frame.raw, headers={"Nats-Msg-Id": frame.message_id})
    seconds = time.perf_counter() - started
    await asyncio.sleep(0.5)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=10)
    lines = trace.read_text().splitlines()
    shutil.rmtree(trace.parent, ignore_errors=True)
    syncs = sum(1 for line in lines if "sync" in line.split("(")[0])
    # The writes show strace was attached and watching the threads that store the messages.
    writes = sum(1 for line in lines if line.split("(")[0].split()[-1] in ("write", "pwrite64"))
    return (
        f"{syncs} fsync/fdatasync/sync_file_range calls and {writes:,} write calls by the server "
        f"while {len(frames):,} messages were published and acked one at a time over "
        f"{seconds:.1f} s (under strace)"
    )


# ---- report --------------------------------------------------------------------------------
def machine_facts(results: dict[str, Any], store_sync: str) -> str:
    version = importlib.metadata.version
    server = results["server"]
    stream = results["stream"]
    account = results["account"]
    return (
        f"machine: {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, {platform.system()} {platform.release()}\n"
        f"software: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"eventsourcing {version('eventsourcing')}, msgpack {version('msgpack')}, "
        f"nats-py {version('nats-py')}, nats-server {server.get('version')} (go {server.get('go')}), "
        f"jetstream {server.get('jetstream')}, max_payload {server.get('max_payload'):,}\n"
        f"JetStream durability: stream storage={getattr(stream.storage, 'value', stream.storage)}, "
        f"replicas={stream.num_replicas}, duplicate_window={stream.duplicate_window:g} s; account "
        f"file storage used {account.storage:,} B; the server's sync policy is not reported by "
        "its API (nats-server 2.9 has no sync_interval setting: it writes each message to the "
        "OS before acking and fsyncs its block files periodically, so an R=1 ack survives a "
        "crash of the server, not of the machine)\n"
        f"twin durability: {store_sync}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("--bins", type=int, default=3_000)
    parser.add_argument("--messages", type=int, help="per phase; default 20,000 (quick: 5,000)")
    parser.add_argument(
        "--pending", type=lambda text: [int(n) for n in text.split(",")], default=[64, 1_000]
    )
    parser.add_argument(
        "--watch-fsync", action="store_true", help="count the server's fsyncs under strace"
    )
    args = parser.parse_args()
    per_phase = args.messages or (5_000 if args.quick else 20_000)
    args.sync_messages = max(1_000, per_phase // 4)  # one round trip each: slow, fewer suffice
    args.async_messages = per_phase
    args.port = int(args.url.rsplit(":", 1)[1]) if args.url.count(":") == 2 else 4222
    start_ms = int(
        (datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=60)).timestamp() * 1000
    )
    watched = 2_000 if args.watch_fsync else 0
    frames = make_frames(
        args.bins, args.sync_messages + per_phase * len(args.pending) + watched, start_ms
    )
    sizes = sorted(len(frame.raw) for frame in frames)
    print(
        f"Valley Twin: JetStream beside ingest. {args.bins:,} bins, bin.fill wire messages "
        f"of {sizes[0]}-{sizes[-1]} bytes (msgpack, the project's encoder), "
        f"{SHARDS} subjects by blake2b(asset) mod {SHARDS}"
    )
    from twin.config import SQLITE_JOURNAL_MODE, SQLITE_SYNCHRONOUS

    with tempfile.TemporaryDirectory(prefix="bench-jetstream-") as scratch:
        twin_phase = measure_twin_ingest(frames[:per_phase], args.bins, start_ms, Path(scratch))
    results = asyncio.run(measure_jetstream(args, frames))
    print(
        machine_facts(
            results,
            f"SQLite journal_mode={SQLITE_JOURNAL_MODE} synchronous={SQLITE_SYNCHRONOUS} "
            "(fsync on every commit: an ack survives a power cut)",
        )
    )
    print()
    print(twin_phase.line())
    for phase in results["phases"]:
        print(phase.line())
    if "fsync" in results:
        print(f"fsync: {results['fsync']}")
    print("\nratios ÷ the twin's ingest in process (same run)")
    for phase in results["phases"]:
        print(f"  {phase.name:<44} {phase.rate / twin_phase.rate:6.2f}x")
    publish = max(
        (p for p in results["phases"] if p.name.startswith("(iii)")), key=lambda p: p.rate
    )
    consume = max((p for p in results["phases"] if p.name.startswith("(iv)")), key=lambda p: p.rate)
    serial = 1 / (1 / publish.rate + 1 / consume.rate + 1 / twin_phase.rate)
    print(
        f"  a log in front of ingest, on this one machine (best publish, best consume and "
        f"ingest in series): {serial:,.0f} msg/s = {serial / twin_phase.rate:.2f}x ingest alone"
    )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        json.dumps({"twin_ingest": twin_phase.rate, **{p.name: p.rate for p in results["phases"]}})
    )


if __name__ == "__main__":
    main()
