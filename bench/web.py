"""Benchmark: the web view over the whole valley (≈3,500 assets) on the embedded store.

Run with ``python bench/web.py [--seconds S] [--rate R] [--updates N]``. In a temporary folder
it builds the demo valley's inventory (``plan_inventory``, as ``twin init`` does) on SQLite,
starts ``twin serve`` in its own process (so its memory is its own), and measures:

* time to first map: from the server's start to the page and ``/api/assets`` answered (what
  the page draws from), and again warm; against the baseline of reading the ``asset_state``
  table raw with ``sqlite3`` in this process (ratio printed);
* live update latency: fill readings ingested at ``--rate`` messages/s (default 100) for
  ``--seconds`` (default 10), each through ``IngestProcessor`` in batches of a tenth of a
  second, to a different container each; one stream client notes when each container's event
  arrives: p50/p95/max from commit to event, against the feed's poll interval (ratio printed);
* server memory (RSS) after ``--updates`` more readings (default 10,000) with two streams
  open, one of them never read (its queue fills and resyncs): against the server's RSS right
  after start (ratio printed).

Prints the machine and versions with the figures. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from adapters.wire import Envelope, encode
from domain import Bin
from twin import COMMISSIONED_AT, IngestProcessor, load_geography, open_twin, plan_inventory
from twin.ingest import Incoming
from twin.web import FeedSettings


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sensor(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()[:16].upper()


class Readings:
    """Fill readings through the real ingest path, each container's own sensor."""

    def __init__(self, url: str, bins: list[str]) -> None:
        self.twin = open_twin(url, create=False)
        self.bins = bins
        self.sent = 0
        self.at = COMMISSIONED_AT + timedelta(days=30)
        self.processor = IngestProcessor(self.twin, load_geography(), clock=lambda: self.at)

    def batch(self, size: int) -> list[str]:
        self.at += timedelta(minutes=1)
        codes, messages = [], []
        for _ in range(size):
            code = self.bins[self.sent % len(self.bins)]
            percent = float((self.sent // len(self.bins)) % 2 * 5 + 10)  # small, plausible steps
            envelope = Envelope(
                f"bench-{self.sent}", "bench", sensor(code), code, "bin.fill", self.at,
                {"fill_percent": percent},
            )  # fmt: skip
            messages.append(Incoming(encode(envelope)))
            codes.append(code)
            self.sent += 1
        replies = self.processor.process(messages)
        assert all(r is not None and r.status == "ack" for r in replies), replies[:1]
        return codes


def listen(base: str, arrivals: dict[str, list[float]], stop: threading.Event) -> None:
    with urllib.request.urlopen(base + "/api/stream", timeout=60) as stream:
        for raw in stream:
            if stop.is_set():
                return
            line = raw.decode()
            if line.startswith("data: {") and '"code"' in line:
                code = json.loads(line[6:])["code"]
                arrivals.setdefault(code, []).append(time.monotonic())


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--updates", type=int, default=10_000)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-web-") as folder:
        path = Path(folder) / "valley.sqlite"
        url = f"sqlite:///{path}"
        twin = open_twin(url)
        inventory = plan_inventory(load_geography(), 1)
        twin.add_missing(inventory)
        twin.close()
        bins = [a.code for a in inventory if isinstance(a, Bin)]
        print(f"valley: {len(inventory)} assets ({len(bins)} containers) on SQLite")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        server = subprocess.Popen(
            [sys.executable, "-m", "valley_twin", "--store", url, "serve", "--port", str(port),
             "--reports", str(Path(folder) / "reports")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            while True:
                try:
                    get(base + "/")
                    break
                except OSError:
                    time.sleep(0.02)
            assets = json.loads(get(base + "/api/assets"))["assets"]
            cold = time.monotonic() - started
            began = time.monotonic()
            get(base + "/")
            get(base + "/api/assets")
            warm = time.monotonic() - began
            began = time.monotonic()
            with sqlite3.connect(path) as raw:
                rows = raw.execute("SELECT * FROM asset_state").fetchall()
            baseline = time.monotonic() - began
            print(
                f"first map: {len(assets)} assets; cold (server start to page and assets) "
                f"{cold:.2f} s, warm {warm * 1000:.0f} ms; raw read of asset_state "
                f"({len(rows)} rows) {baseline * 1000:.1f} ms; warm / raw = {warm / baseline:.1f}"
            )
            rss_start = rss_kib(server.pid)

            arrivals: dict[str, list[float]] = {}
            stop = threading.Event()
            threading.Thread(target=listen, args=(base, arrivals, stop), daemon=True).start()
            idle = urllib.request.urlopen(base + "/api/stream", timeout=60)  # never read
            time.sleep(1.0)
            readings = Readings(url, bins)
            per_batch = max(1, args.rate // 10)
            sent_at: dict[str, float] = {}
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                tick = time.monotonic()
                for code in readings.batch(per_batch):
                    sent_at.setdefault(code, time.monotonic())
                time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
            rate = readings.sent / args.seconds
            time.sleep(2.0)
            latencies = [
                min(t for t in arrivals[code] if t >= sent) - sent
                for code, sent in sent_at.items()
                if any(t >= sent for t in arrivals.get(code, []))
            ]
            interval = FeedSettings().interval_s
            if latencies:
                latencies.sort()
                p50 = statistics.median(latencies)
                p95 = latencies[int(len(latencies) * 0.95) - 1]
                print(
                    f"live: {readings.sent} readings at {rate:.0f}/s; {len(latencies)} of "
                    f"{len(sent_at)} containers' events arrived; latency p50 {p50 * 1000:.0f} ms, "
                    f"p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; "
                    f"p95 / poll interval ({interval * 1000:.0f} ms) = {p95 / interval:.1f}"
                )
            while readings.sent < args.updates + rate * args.seconds:
                readings.batch(500)
            time.sleep(2.0)
            rss_end = rss_kib(server.pid)
            print(
                f"server memory: RSS {rss_start / 1024:.0f} MiB after start, "
                f"{rss_end / 1024:.0f} MiB after {readings.sent} readings with 2 streams open "
                f"(one never read); after / start = {rss_end / rss_start:.2f}"
            )
            stop.set()
            idle.close()
            readings.twin.close()
        finally:
            server.terminate()  # the server gives open streams 2 s, then stops
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
