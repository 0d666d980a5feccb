"""Benchmark: PostgreSQL ingest with 1, 2 and 4 independent shard workers on one machine.

Run with ``python bench/shards.py`` (``--quick`` for a short run; needs the ``postgres`` extra
and a PostgreSQL server at ``--url``). The same synthetic ``bin.fill`` wire messages throughout
(``bench/ingest.py``'s fleet, encoded by the project's encoder), the same total count in every
configuration. The bins are partitioned by a stable hash of their code (blake2b, mod the
number of shards); each worker is a separate process with its own :class:`ValleyTwin` holding
only its partition, and hands its partition's messages, in their order, to
:meth:`IngestProcessor.process` in batches of ingest's ``batch_max``. Every worker installs its
bins first (not timed); all start together; a configuration's rate is the total number of
messages over the time from the first start to the last finish.

- 1, 2 and 4 shards, each worker on its own schema (``?schema=`` in the store URL, the
  library's ``POSTGRES_SCHEMA``): one events table per shard;
- 2 workers on ONE shared schema, each with its own half of the bins: today's situation, where
  the library locks the whole events table (``LOCK TABLE … IN EXCLUSIVE MODE``) on each insert.

Prints the machine, versions, load, PostgreSQL's durability settings, messages/s of each, the
ratios ÷ 1 worker and the bytes the schemas hold per message (the bins' installation included:
2 events a bin); exits 0 whatever the figures. Every schema it creates is dropped at the end.
Not a test: the machine (two cores, shared with the server) moves the figures.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest as ingest_bench  # noqa: E402  (bench/ingest.py: the synthetic fleet)

from adapters.sdk import message_id  # noqa: E402
from adapters.wire import Envelope, encode, shard_of  # noqa: E402  (the SDK's own partition)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def store_url(base: str, schema: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


# ---- one worker (a child process) ----------------------------------------------------------
def worker(params: dict[str, Any]) -> dict[str, Any]:
    """Install this shard's bins, say ready, wait for go, ingest this shard's messages."""
    from domain import Bin, Position
    from twin import load_geography, open_twin
    from twin.ingest import Incoming, IngestProcessor
    from twin.ingest_server import ServerSettings

    shards, index = params["shards"], params["index"]
    mine = [n for n in range(params["bins"]) if shard_of(ingest_bench.bin_code(n), shards) == index]
    twin = open_twin(params["url"])
    installed = datetime.fromtimestamp(params["start_ms"] / 1000, UTC) - timedelta(days=1)
    rng = random.Random(ingest_bench.SEED + 1 + index)
    fleet = []
    for number in mine:
        bin_ = Bin.install(
            code=ingest_bench.bin_code(number),
            stream=rng.choice(["glass", "packaging", "paper"]),
            capacity_l=3_000,
            position=Position(745_000 + rng.uniform(0, 20_000), 6_275_000 + rng.uniform(0, 20_000)),
            commune_insee="34114",
            at=installed,
            depth_cm=180.0,
        )
        bin_.attach_sensor(ingest_bench.sensor_of(number), installed + timedelta(hours=1))
        fleet.append(bin_)
    for first in range(0, len(fleet), 500):
        twin.save(*fleet[first : first + 500])
    codes = {ingest_bench.bin_code(n) for n in mine}
    frames = []
    for reading in ingest_bench.synthetic_readings(
        params["bins"], params["messages"], params["start_ms"]
    ):
        if reading.asset in codes:
            envelope = Envelope(
                message_id(ingest_bench.SOURCE, reading),
                ingest_bench.SOURCE,
                reading.device,
                reading.asset,
                reading.kind,
                reading.observed_at,
                reading.body,
            )
            frames.append(Incoming(encode(envelope), peer=ingest_bench.SOURCE))
    processor = IngestProcessor(twin, load_geography())
    batch_max = ServerSettings().batch_max
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("no go")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.clock_gettime(time.CLOCK_MONOTONIC)
    not_acked = 0
    for first in range(0, len(frames), batch_max):
        replies = processor.process(frames[first : first + batch_max])
        not_acked += sum(1 for reply in replies if reply is None or reply.status != "ack")
    finished = time.clock_gettime(time.CLOCK_MONOTONIC)
    used = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "index": index,
        "bins": len(mine),
        "messages": len(frames),
        "committed": processor.stats.committed,
        "not_acked": not_acked,
        "store_errors": processor.stats.store_errors,
        "started": started,
        "finished": finished,
        "cpu_s": used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime,
        "commit_ms": processor.stats.as_dict()["commit_latency_ms"],
    }
    # The connections stay open until the parent has read PostgreSQL's CPU: a backend's time
    # moves to the postmaster's children's count only when it exits.
    print(json.dumps(result), flush=True)
    sys.stdin.readline()
    twin.close()
    return result


# ---- the bench process ---------------------------------------------------------------------
@dataclass
class Outcome:
    label: str
    workers: int
    messages: int
    seconds: float
    cpu_s: float
    server_cpu_s: float
    per_worker: list[dict[str, Any]]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def run_configuration(
    label: str, base: str, schemas: list[str], shards: int, bins: int, messages: int, start_ms: int
) -> Outcome:
    """``shards`` workers; worker i uses ``schemas[i % len(schemas)]``."""
    from twin import open_twin

    for schema in set(schemas):
        # The tables are made once, before the workers start: two processes creating the same
        # table at once would race in the catalogue.
        open_twin(store_url(base, schema)).close()
    children = []
    for index in range(shards):
        params = {
            "url": store_url(base, schemas[index % len(schemas)]),
            "shards": shards,
            "index": index,
            "bins": bins,
            "messages": messages,
            "start_ms": start_ms,
        }
        children.append(
            subprocess.Popen(
                [sys.executable, __file__, "--child", json.dumps(params)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"a worker did not get ready: {line!r}")
        server_before = postgres_cpu_seconds()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line:
                raise RuntimeError(f"a worker failed (exit {child.wait()})")
            results.append(json.loads(line))
        server_cpu = postgres_cpu_seconds() - server_before
        for child in children:
            child.communicate("close\n", timeout=60)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    total = sum(r["messages"] for r in results)
    committed = sum(r["committed"] for r in results)
    if total != messages or committed != messages or any(r["not_acked"] for r in results):
        print(
            f"    warning ({label}): {committed:,} committed of {total:,}/{messages:,}; "
            f"not acked {[r['not_acked'] for r in results]}",
            file=sys.stderr,
        )
    seconds = max(r["finished"] for r in results) - min(r["started"] for r in results)
    return Outcome(
        label, shards, total, seconds, sum(r["cpu_s"] for r in results), server_cpu, results
    )


def postgres_cpu_seconds() -> float:
    """CPU seconds of the PostgreSQL server's processes on this machine, exited backends included.

    Every session's work counts (other users of the server too): an approximation on a shared
    machine. 0 when the server's processes cannot be read.
    """
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
        if int(fields[1]) == 1 or (entry / "cmdline").read_bytes().find(b"-D") >= 0:
            ticks += int(fields[13]) + int(fields[14])  # the postmaster: its reaped children
    return ticks / os.sysconf("SC_CLK_TCK")


def server_facts(base: str) -> str:
    import psycopg

    with psycopg.connect(base) as connection:
        settings = {
            name: connection.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
        }
    version = importlib.metadata.version
    return (
        f"machine: {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, {platform.system()} {platform.release()}\n"
        f"software: Python {platform.python_version()}, PostgreSQL {settings['server_version']}, "
        f"eventsourcing {version('eventsourcing')}, psycopg {version('psycopg')} "
        f"({psycopg.pq.__impl__} implementation)\n"
        f"durability: fsync={settings['fsync']} synchronous_commit={settings['synchronous_commit']} "
        f"wal_sync_method={settings['wal_sync_method']} (a commit is flushed to the WAL before "
        "ingest acknowledges)"
    )


def schema_bytes(base: str, schemas: list[str]) -> int:
    """Bytes on disk of every table of these schemas, indexes and TOAST included."""
    import psycopg

    with psycopg.connect(base) as connection:
        row = connection.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relkind = 'r'",
            (schemas,),
        ).fetchone()
    return int(row[0]) if row else 0


def drop_schemas(base: str, schemas: list[str]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(base, autocommit=True) as connection:
        for schema in schemas:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


CONFIGURATIONS = (  # label, workers, schemas (worker i uses schemas[i % len])
    ("1 worker, own schema", 1, 1),
    ("2 workers, a schema each", 2, 2),
    ("4 workers, a schema each", 4, 4),
    ("2 workers, ONE shared schema (today)", 2, 1),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--url", default=os.environ.get("TWIN_TEST_POSTGRES", DEFAULT_URL))
    parser.add_argument("--bins", type=int, default=2_000)
    parser.add_argument("--messages", type=int, help="total per configuration; default 40,000")
    parser.add_argument(
        "--rounds", type=int, help="rounds, each in another order; default 3 (quick: 1)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        worker(json.loads(args.child))
        return
    import psycopg
    from psycopg import sql

    from twin.ingest_server import ServerSettings

    messages = args.messages or (10_000 if args.quick else 40_000)
    rounds = args.rounds or (1 if args.quick else 3)
    start_ms = int(
        (datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=60)).timestamp() * 1000
    )
    print(
        f"Valley Twin: PostgreSQL ingest by shard workers. {args.bins:,} bins, {messages:,} "
        f"bin.fill messages per configuration, batches of {ServerSettings().batch_max}, "
        f"bins partitioned by blake2b(code) mod shards; {rounds} round(s), the order rotated "
        "each round, fresh schemas for every configuration"
    )
    print(server_facts(args.url))
    outcomes: dict[str, list[Outcome]] = {label: [] for label, _, _ in CONFIGURATIONS}
    ratios: dict[str, list[float]] = {label: [] for label, _, _ in CONFIGURATIONS}
    dropped = 0
    for number in range(rounds):
        order = CONFIGURATIONS[number % 4 :] + CONFIGURATIONS[: number % 4]
        print(f"round {number + 1}")
        done: dict[str, Outcome] = {}
        for label, workers, schema_count in order:
            schemas = [f"bench_shards_{uuid.uuid4().hex[:10]}" for _ in range(schema_count)]
            try:
                with psycopg.connect(args.url, autocommit=True) as connection:
                    for schema in schemas:
                        connection.execute(
                            sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema))
                        )
                outcome = run_configuration(
                    label, args.url, schemas, workers, args.bins, messages, start_ms
                )
                stored = schema_bytes(args.url, schemas)
            finally:
                drop_schemas(args.url, schemas)
                dropped += len(schemas)
            done[label] = outcome
            outcomes[label].append(outcome)
            spread = ", ".join(
                f"{r['messages']:,} in {r['finished'] - r['started']:.1f} s"
                for r in outcome.per_worker
            )
            print(
                f"  {label:<38} {outcome.messages:>7,} msgs {outcome.seconds:6.2f} s "
                f"{outcome.rate:>6,.0f} msg/s  CPU/msg: workers "
                f"{outcome.cpu_s / outcome.messages * 1e6:4.0f} µs, PostgreSQL "
                f"{outcome.server_cpu_s / outcome.messages * 1e6:4.0f} µs; "
                f"{stored / outcome.messages:,.0f} B stored/msg  ({spread})",
                flush=True,
            )
        one = done[CONFIGURATIONS[0][0]].rate
        for label, outcome in done.items():
            ratios[label].append(outcome.rate / one)
    print(
        "\nmessages/s (median of the rounds) and ratio ÷ 1 worker (each round's own, median, range)"
    )
    for label, _, _ in CONFIGURATIONS:
        rates = [outcome.rate for outcome in outcomes[label]]
        of_round = ratios[label]
        print(
            f"  {label:<38} {statistics.median(rates):>6,.0f} msg/s  "
            f"{statistics.median(of_round):5.2f}x  ({min(of_round):.2f}-{max(of_round):.2f})"
        )
    print(f"schemas created and dropped: {dropped}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
