"""Real processes on real sockets: a small store, CURVE keys, `twin ingest` and adapters."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from adapters.wire import ZmqTransport, create_keypair, decode_reply, load_keypair
from domain import Bin, Position
from tests.conftest import T0
from twin import ValleyTwin, open_twin
from twin.ingest_server import allow_list_entry

GIGNAC = Position(752_000.0, 6_283_000.0)
DEPTH_MM = 1_800


def free_endpoint() -> str:
    """A loopback TCP endpoint nobody listens on yet."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def bin_code(number: int) -> str:
    return f"B-34114-GLA-{number:04d}"


def dev_eui(number: int) -> str:
    return f"A84041{number:010X}"


def install_bins(store: str, count: int) -> None:
    twin = open_twin(store)
    try:
        twin.add(
            *[
                Bin.install(
                    code=bin_code(n),
                    stream="glass",
                    capacity_l=3000,
                    position=GIGNAC,
                    commune_insee="34114",
                    at=T0,
                    depth_cm=DEPTH_MM / 10,
                )
                for n in range(1, count + 1)
            ]
        )
    finally:
        twin.close()


def install_residual_bins(store: str, codes: Iterable[str]) -> None:
    """Residual-waste bins of 660 L in Gignac, installed at ``T0``: what the trucks lift."""
    twin = open_twin(store)
    try:
        twin.add(
            *[
                Bin.install(
                    code=code,
                    stream="residual",
                    capacity_l=660,
                    position=GIGNAC,
                    commune_insee="34114",
                    at=T0,
                )
                for code in codes
            ]
        )
    finally:
        twin.close()


def sensor_config(count: int) -> dict[str, Any]:
    """The fill-level adapter's settings for the sensors on bins 1..count."""
    return {
        "devices": {
            dev_eui(n): {"bin": bin_code(n), "depth_mm": DEPTH_MM, "model": "em310-udl"}
            for n in range(1, count + 1)
        }
    }


def write_keys(directory: Path, *clients: str) -> Path:
    """Ingest's key pair, one per client, and the allow-list naming the clients."""
    create_keypair(directory, "ingest")
    lines = [allow_list_entry(create_keypair(directory, name)[0], name) for name in clients]
    (directory / "allowed").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def twin_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "valley_twin", *arguments]


@dataclass
class Ingest:
    """A `twin ingest` process."""

    store: str
    keys: Path
    endpoint: str
    workdir: Path
    process: subprocess.Popen[str] | None = None
    open_files: int | None = None  # the process's hard and soft limit of open files, if set

    @property
    def status_file(self) -> Path:
        return self.workdir / "ingest-status.json"

    def start(self) -> Ingest:
        log = (self.workdir / "ingest.log").open("a", encoding="utf-8")
        self.process = subprocess.Popen(
            twin_command(
                "--store",
                self.store,
                "ingest",
                "--endpoint",
                self.endpoint,
                "--keys",
                str(self.keys),
                "--status-file",
                str(self.status_file),
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=None if self.open_files is None else self._limit_open_files,
        )
        log.close()
        wait_for(lambda: "listening on" in self.log(), 30, "ingest to start", self.log)
        return self

    def _limit_open_files(self) -> None:
        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def log(self) -> str:
        path = self.workdir / "ingest.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def stop(self, signum: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = self.process.wait(30)
        self.process = None
        return code

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def stats(self) -> dict[str, Any]:
        result = subprocess.run(
            twin_command("ingest", "--stats", "--status-file", str(self.status_file)),
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout)


class RecordingTransport(ZmqTransport):
    """The real ZeroMQ client, noting which message ids ingest acknowledged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acknowledged: set[str] = set()
        self.statuses: dict[str, str] = {}

    def receive(self, timeout_s: float) -> bytes | None:
        frame = super().receive(timeout_s)
        if frame is not None:
            reply = decode_reply(frame)
            if reply.message_id is not None:
                self.statuses[reply.message_id] = reply.status
                if reply.status in ("ack", "duplicate"):
                    self.acknowledged.add(reply.message_id)
        return frame


def client_transport(keys: Path, name: str, endpoint: str) -> RecordingTransport:
    return RecordingTransport(
        endpoint,
        client_keys=load_keypair(keys / f"{name}.key_secret"),
        server_public_key=load_keypair(keys / "ingest.key").public,
    )


def wait_for(
    condition: Callable[[], bool], timeout_s: float, what: str, details: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {details()}")
        time.sleep(0.1)


def event_names(twin: ValleyTwin, code: str) -> list[str]:
    aggregate = twin.find(code)
    return [type(event).__qualname__ for event in twin.history(aggregate.id)]


def count_events(store: str, codes: Iterable[str], name: str) -> dict[str, int]:
    twin = open_twin(store)
    try:
        return {code: event_names(twin, code).count(name) for code in codes}
    finally:
        twin.close()


def replay_feed(
    name: str,
    source: str,
    documents: list[dict[str, Any]],
    ingest: Ingest,
    keys: Path,
    tmp_path: Path,
    adapter: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``documents`` as a JSON-lines export, replayed by adapter ``name`` in its own process as
    ``source`` (its key in ``keys``), with the adapter's own settings; the adapter's counters."""
    payloads = tmp_path / f"{source}.jsonl"
    payloads.write_text("".join(json.dumps(d) + "\n" for d in documents), encoding="utf-8")
    config = tmp_path / f"{source}.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "source": source,
                "endpoint": ingest.endpoint,
                "client_key": str(keys / f"{source}.key_secret"),
                "server_key": str(keys / "ingest.key"),
                "outbox": str(tmp_path / f"{source}.outbox"),
                "input": {"type": "jsonl", "path": str(payloads)},
                "adapter": adapter or {},
            }
        ),
        encoding="utf-8",
    )
    run = subprocess.run(
        twin_command("adapter", "run", name, "--config", str(config)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    stats: dict[str, Any] = json.loads(run.stdout)
    return stats
