"""Two ingest workers on one store, each given its shard of the assets by the SDK.

Real servers and processors (ZeroMQ over tcp, each worker its own twin on the same SQLite file
or PostgreSQL schema) and one adapter runner with both endpoints, shard 0 first. Every reading
must be stored once and each bin's in the order sent; each worker must see only its shard's
assets; one twin on the store must read and time-travel every bin, whichever worker wrote it.
A worker stopped mid-way holds back only its shard, whose readings wait in the outbox and land
once it is back; a gateway that sends to the wrong worker is still applied once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.fill_level import LorawanUltrasonicAdapter
from adapters.sdk import AdapterRunner, Outbox
from adapters.simulators import em310_udl_frame, lorawan_uplink
from adapters.wire import Reply, ZmqTransport, peek_kind_and_asset, shard_of
from domain import Bin
from tests.conftest import T0
from tests.end_to_end.harness import (
    DEPTH_MM,
    bin_code,
    dev_eui,
    free_endpoint,
    install_bins,
    sensor_config,
)
from tests.twin.test_ingest_server_store_failure import fill_times_in_log_order
from tests.twin.test_projections import rows
from twin import ValleyTwin, load_geography, open_twin
from twin.ingest import Incoming, IngestProcessor
from twin.ingest_server import IngestServer, ServerSettings
from twin.projections import catch_up

START = T0 + timedelta(days=30)
BINS = 20
READINGS_PER_BIN = 15
SHARDS = 2
FEED_BOUND_S = 90


class RecordingProcessor(IngestProcessor):
    """The real processor, noting the asset of every message it is handed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.assets: list[str | None] = []

    def process(self, messages: Sequence[Incoming]) -> list[Reply | None]:
        self.assets.extend(peek_kind_and_asset(message.raw)[1] for message in messages)
        return super().process(messages)


@dataclass
class Worker:
    """One `twin ingest` worker: its own twin on the shared store, serving on its endpoint."""

    store: str
    endpoint: str = field(default_factory=free_endpoint)
    assets: list[str | None] = field(default_factory=list)  # over every start
    _twin: ValleyTwin | None = None
    _server: IngestServer | None = None
    _halt: Any = None

    def start(self) -> Worker:
        self._twin = open_twin(self.store)
        self._server = IngestServer(
            RecordingProcessor(self._twin, load_geography()),
            ServerSettings(self.endpoint, batch_max=20),
            None,
            None,
        )
        self._halt = self._server.serve_in_thread()
        return self

    def stop(self) -> None:
        assert self._server is not None and self._twin is not None
        self._halt()
        processor = self._server.processor
        assert isinstance(processor, RecordingProcessor)
        self.assets.extend(processor.assets)
        self._twin.close()
        self._server = self._twin = None

    @property
    def running(self) -> bool:
        return self._server is not None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'twin.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def workers(store: str) -> Iterator[list[Worker]]:
    install_bins(store, BINS)
    started = [Worker(store).start() for _ in range(SHARDS)]
    yield started
    for worker in started:
        if worker.running:
            worker.stop()


def gateway(workers: list[Worker], outbox: Path, name: str = "gw-0") -> AdapterRunner:
    return AdapterRunner(
        LorawanUltrasonicAdapter(sensor_config(BINS)),
        [
            ZmqTransport(worker.endpoint, client_keys=None, server_public_key=None)
            for worker in workers
        ],
        Outbox(outbox),
        name,
        max_in_flight=20,  # several windows a shard, so that a stop catches some in flight
        resend_after_s=0.3,
        max_resend_after_s=1.0,
    )


def uplinks(steps: range) -> list[str]:
    return [
        lorawan_uplink(
            dev_eui(n),
            em310_udl_frame(DEPTH_MM - 10 * step - n, 90),
            START + timedelta(hours=step),
            step + 1,
            "chirpstack",
        )
        for step in steps
        for n in range(1, BINS + 1)
    ]


def close(runner: AdapterRunner) -> None:
    for transport in runner.transports:
        transport.close()
    runner.outbox.close()


def assert_everything_once_in_order_and_readable(
    store: str, workers: list[Worker], more: dict[str, int] | None = None
) -> None:
    """Each worker saw only its shard; each bin holds its readings (``more`` for some) once,
    in the order sent; one twin reads them all, as of any instant and through a read model."""
    for number, worker in enumerate(workers):
        seen = set(worker.assets)
        assert seen and {shard_of(asset or "", SHARDS) for asset in seen} == {number}, seen
    twin = open_twin(store)
    try:
        catch_up(twin, ["asset_state"])  # a read model over every worker's writes
        state = {row["code"]: row for row in rows(twin, "asset_state", "code")}
        for n in range(1, BINS + 1):
            code = bin_code(n)
            count = READINGS_PER_BIN + (more or {}).get(code, 0)
            expected = [START + timedelta(hours=step) for step in range(count)]
            assert fill_times_in_log_order(twin, code) == expected  # once, in send order
            # Time travel from one twin, whichever worker wrote the bin.
            middle = twin.state_at(Bin.id_for(code), expected[6] + timedelta(minutes=30))
            assert isinstance(middle, Bin) and middle.fill_measured_at == expected[6]
            assert state[code]["fill_measured_at"] == expected[-1]
    finally:
        twin.close()


@pytest.mark.slow
def test_each_worker_gets_its_shard_and_one_twin_reads_every_bin(
    store: str, workers: list[Worker], tmp_path: Path
) -> None:
    runner = gateway(workers, tmp_path / "gw.outbox")
    try:
        runner.submit_many(uplinks(range(READINGS_PER_BIN)), received_at=START)
        assert runner.outbox.pending(0) and runner.outbox.pending(1)  # both shards have work
        assert runner.drain(timeout_s=FEED_BOUND_S), runner.report()
        assert runner.stats.rejected == 0 and runner.stats.silent_resends == 0
    finally:
        close(runner)
    for worker in workers:
        worker.stop()
    assert_everything_once_in_order_and_readable(store, workers)


@pytest.mark.slow
def test_a_stopped_worker_holds_back_only_its_shard_until_it_is_back(
    store: str, workers: list[Worker], tmp_path: Path
) -> None:
    runner = gateway(workers, tmp_path / "gw.outbox")
    started = time.monotonic()
    try:
        runner.submit_many(uplinks(range(READINGS_PER_BIN)), received_at=START)
        total = runner.outbox.pending()
        while runner.outbox.pending() > total * 2 // 3:
            assert time.monotonic() - started < FEED_BOUND_S, runner.report()
            runner.pump(timeout_s=0.01)
        workers[1].stop()  # with windows in flight on shard 1
        waiting = runner.outbox.pending(1)
        while runner.outbox.pending(0):  # shard 0 flows on to the end
            assert time.monotonic() - started < FEED_BOUND_S, runner.report()
            runner.pump(timeout_s=0.01)
        assert runner.outbox.pending(1) == waiting > 0  # shard 1's readings wait in the outbox
        workers[1].start()
        assert runner.drain(timeout_s=FEED_BOUND_S), runner.report()
        assert runner.stats.silent_resends > 0 and runner.stats.rejected == 0
    finally:
        close(runner)
    # A gateway that sends to the wrong worker: shard 1's reading reaches worker 0, which has
    # never loaded that bin; the next reading of the bin, by the right route, reaches worker 1,
    # whose copy of the bin, if it holds one, is now behind the store (the store's version
    # check makes it read the bin again).
    misrouted = next(n for n in range(1, BINS + 1) if shard_of(bin_code(n), SHARDS) == 1)
    late = [
        lorawan_uplink(
            dev_eui(misrouted),
            em310_udl_frame(DEPTH_MM - 10 * step - misrouted, 90),
            START + timedelta(hours=step),
            step + 1,
            "chirpstack",
        )
        for step in (READINGS_PER_BIN, READINGS_PER_BIN + 1)
    ]
    wrong = AdapterRunner(
        LorawanUltrasonicAdapter(sensor_config(BINS)),
        ZmqTransport(workers[0].endpoint, client_keys=None, server_public_key=None),
        Outbox(tmp_path / "wrong.outbox"),
        "gw-1",
    )
    right = gateway(workers, tmp_path / "gw.outbox")
    try:
        wrong.submit(late[0], received_at=START)
        assert wrong.drain(timeout_s=30), wrong.report()
        right.submit(late[1], received_at=START)
        assert right.drain(timeout_s=30), right.report()
        assert wrong.stats.acknowledged and right.stats.acknowledged
        assert wrong.stats.rejected == right.stats.rejected == 0
    finally:
        close(wrong)
        close(right)
    for worker in workers:
        worker.stop()
    assert bin_code(misrouted) in workers[0].assets  # the wrong worker did get it
    workers[0].assets = [a for a in workers[0].assets if a != bin_code(misrouted)]
    assert_everything_once_in_order_and_readable(store, workers, {bin_code(misrouted): 2})
