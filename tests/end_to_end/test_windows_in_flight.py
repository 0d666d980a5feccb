"""Several windows in flight over real ZeroMQ, with the store failing once in the middle.

The SDK's runner (its outbox, a DEALER on tcp) sends windows without waiting for the earlier
ones' answers; ingest (the real server and processor, on SQLite) fails one commit. Every
reading must be stored exactly once and each bin's readings in the order they were sent: no
later window committed ahead of the resend of the one the store failed on.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from adapters.fill_level import LorawanUltrasonicAdapter
from adapters.sdk import AdapterRunner, Outbox
from adapters.simulators import em310_udl_frame, lorawan_uplink
from adapters.wire import ZmqTransport
from tests.conftest import T0
from tests.end_to_end.harness import (
    DEPTH_MM,
    bin_code,
    dev_eui,
    install_bins,
    sensor_config,
)
from tests.twin.test_ingest_server_store_failure import StoreFailingOnce, fill_times_in_log_order
from twin import load_geography, open_twin
from twin.ingest import IngestProcessor
from twin.ingest_server import IngestServer, ServerSettings

START = T0 + timedelta(days=30)
BINS = 5
READINGS_PER_BIN = 24


@pytest.mark.slow
@pytest.mark.parametrize("failing_write", [2, 5])
def test_windows_in_flight_through_a_store_failure_land_once_and_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_write: int
) -> None:
    store = f"sqlite:///{tmp_path / 'twin.sqlite'}"
    install_bins(store, BINS)
    twin = open_twin(store)
    failing = StoreFailingOnce(twin, monkeypatch, failing=failing_write)
    # Small batches, so that the failing one has several of the adapter's windows behind it.
    server = IngestServer(
        IngestProcessor(twin, load_geography()),
        ServerSettings("tcp://127.0.0.1:*", batch_max=5),
        None,
        None,
    )
    stop = server.serve_in_thread()
    assert server.bound_endpoint is not None
    runner = AdapterRunner(
        LorawanUltrasonicAdapter(sensor_config(BINS)),
        ZmqTransport(server.bound_endpoint, client_keys=None, server_public_key=None),
        Outbox(tmp_path / "gw.outbox"),
        "gw-0",
        max_in_flight=40,
        windows_in_flight=4,
        resend_after_s=0.3,
    )
    try:
        runner.submit_many(
            [
                lorawan_uplink(
                    dev_eui(n),
                    em310_udl_frame(DEPTH_MM - 10 * step - n, 90),
                    START + timedelta(hours=step),
                    step + 1,
                    "chirpstack",
                )
                for step in range(READINGS_PER_BIN)
                for n in range(1, BINS + 1)
            ],
            received_at=START,
        )
        assert runner.drain(timeout_s=30), runner.report()
    finally:
        runner.transport.close()
        runner.outbox.close()
        stop()
    try:
        assert failing.writes > failing_write and server.processor.stats.store_errors == 1
        # Windows behind the failed batch were in flight: ingest refused them on that connection,
        # and the adapter resent them, in order, on a new one.
        assert server.refused_after_store_failure > 0
        assert runner.stats.silent_resends >= 1 and runner.stats.rejected == 0
        for n in range(1, BINS + 1):
            times = fill_times_in_log_order(twin, bin_code(n))
            expected = [START + timedelta(hours=step) for step in range(READINGS_PER_BIN)]
            assert times == expected  # every reading once, in the order sent
    finally:
        twin.close()
