"""The ingest server in a thread: started once bound, a failure to bind reported, not hidden."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from twin import load_geography, open_twin
from twin.ingest import IngestProcessor
from twin.ingest_server import IngestBindError, IngestServer, ServerSettings


@pytest.mark.slow
def test_serve_in_thread_reports_its_endpoint_and_a_second_bind_fails_at_once(
    tmp_path: Path,
) -> None:
    twin = open_twin(f"sqlite:///{tmp_path / 'twin.sqlite'}")
    try:
        first = IngestServer(
            IngestProcessor(twin, load_geography()), ServerSettings("tcp://127.0.0.1:*"), None, None
        )
        stop_first = first.serve_in_thread()
        assert first.bound_endpoint is not None and first.bound_endpoint.startswith(
            "tcp://127.0.0.1:"
        )
        second = IngestServer(
            IngestProcessor(twin, load_geography()),
            ServerSettings(first.bound_endpoint),
            None,
            None,
        )
        with pytest.raises(IngestBindError, match="cannot listen on"):
            second.serve_in_thread(timeout_s=5)
        stop_first()
    finally:
        twin.close()


def test_a_batch_from_the_transport_is_committed_then_answered_without_sockets(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime, timedelta

    from adapters.wire import Envelope, InMemoryServerTransport, decode_reply, encode
    from domain import Bin, Position

    now = datetime(2024, 6, 1, 12, tzinfo=UTC)
    twin = open_twin(f"sqlite:///{tmp_path / 'twin.sqlite'}")
    try:
        twin.add(
            Bin.install(
                code="B-1",
                stream="glass",
                capacity_l=3000,
                position=Position(752000.0, 6283000.0),
                commune_insee="34114",
                at=now - timedelta(days=30),
            )
        )
        transport = InMemoryServerTransport()
        server = IngestServer(
            IngestProcessor(twin, load_geography(), clock=lambda: now),
            ServerSettings("inproc://unused"),
            None,
            None,
            transport,
        )
        reading = Envelope(
            "m-1", "gw-1", "A84041000181C9B2", "B-1", "bin.fill", now, {"fill_percent": 42.0}
        )
        transport.deliver(encode(reading), peer=b"adapter-a")
        transport.deliver(b"\x92garbage", peer=b"adapter-b")
        transport.deliver(encode(reading), peer=b"adapter-a", frames=2)
        stop = server.serve_in_thread()
        try:
            deadline = time.monotonic() + 10
            while len(transport.replies) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop()
        answered = {peer: [] for peer, _ in transport.replies}
        for peer, frame in transport.replies:
            answered[peer].append(decode_reply(frame).status)
        assert answered == {b"adapter-a": ["ack", "rejected"], b"adapter-b": ["rejected"]}
        assert server.bound_endpoint == "inproc://in-memory"
        assert twin.get(Bin, "B-1").fill_percent == 42.0
    finally:
        twin.close()
