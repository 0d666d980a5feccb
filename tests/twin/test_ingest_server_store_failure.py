"""After a store failure, ingest answers nothing more on that connection until it reconnects.

A later window must never be committed ahead of an earlier one that the store failed on and the
adapter will resend (docs/wire-protocol.md §9.3). The real server and processor, on a twin whose
store fails once, fed through the in-memory server transport with small batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from adapters.wire import Envelope, InMemoryServerTransport, decode_reply, encode
from domain import Bin, Position
from tests.conftest import T0
from twin import ValleyTwin, load_geography, open_twin
from twin.ingest import IngestProcessor
from twin.ingest_server import IngestServer, ServerSettings

NOW = datetime(2024, 3, 1, tzinfo=UTC)
HERE = Position(752_000.0, 6_283_000.0)
BINS = ("B-1", "B-2", "B-3")


class StoreFailingOnce:
    """Makes the store's ``failing``-th write transaction (1-based) fail, once, as a full disk
    or a locked database would; every other write goes through.

    Ingest writes through the library's recorder, or through the storage's batch writer where
    there is one; the outermost of the two is counted, once per transaction.
    """

    def __init__(self, twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch, failing: int) -> None:
        self.failing = failing
        self.writes = 0
        self._inside = False
        monkeypatch.setattr(twin.recorder, "insert_events", self._wrap(twin.recorder.insert_events))
        if hasattr(twin.storage, "insert_rows"):
            monkeypatch.setattr(twin.storage, "insert_rows", self._wrap(twin.storage.insert_rows))

    def _wrap(self, write: Callable[..., Any]) -> Callable[..., Any]:
        def failing_once(*args: Any, **kwargs: Any) -> Any:
            if self._inside:  # the batch writer calling the recorder: the same transaction
                return write(*args, **kwargs)
            self.writes += 1
            if self.writes == self.failing:
                raise OperationalError("disk I/O error (injected)")
            self._inside = True
            try:
                return write(*args, **kwargs)
            finally:
                self._inside = False

        return failing_once


def fill_times_in_log_order(twin: ValleyTwin, code: str) -> list[datetime]:
    """When each fill level recorded on a bin was measured, in the order the store holds them."""
    times = []
    for stored in twin.recorder.select_events(Bin.id_for(code)):
        event = twin.mapper.to_domain_event(stored)
        if type(event).__name__ == "FillLevelMeasured":
            times.append(getattr(event, "timestamp"))  # noqa: B009 (not on the protocol)
    return times


def frame(number: int, asset: str | None = None) -> bytes:
    """Message ``m-number``: about ``asset``, by default the bins' readings round-robin."""
    asset = asset or BINS[number % len(BINS)]
    envelope = Envelope(
        f"m-{number}",
        "gw-1",
        f"A8404100000000{asset[2:]:0>2}",  # each bin's own sensor
        asset,
        "bin.fill",
        NOW - timedelta(days=1) + timedelta(minutes=number),
        {"fill_percent": float(number % 100)},
    )
    return encode(envelope)


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    application.add(
        *[
            Bin.install(
                code=code,
                stream="glass",
                capacity_l=3000,
                position=HERE,
                commune_insee="34114",
                at=T0,
            )
            for code in (*BINS, "B-4", "B-5")
        ]
    )
    yield application
    application.close()


def answered(transport: InMemoryServerTransport) -> dict[bytes, list[str]]:
    """Each connection's answered message ids, in the order answered."""
    by_peer: dict[bytes, list[str]] = {}
    for peer, frame in transport.replies:
        reply = decode_reply(frame)
        assert reply.status == "ack" and reply.message_id is not None, reply
        by_peer.setdefault(peer, []).append(reply.message_id)
    return by_peer


def wait_until_idle(transport: InMemoryServerTransport, replies: int) -> None:
    deadline = time.monotonic() + 10
    while len(transport.replies) < replies or transport.wait(0):
        assert time.monotonic() < deadline, (len(transport.replies), replies)
        time.sleep(0.01)
    time.sleep(0.05)  # the batch in hand, if any, is answered or refused by now


@pytest.mark.slow
def test_after_a_store_failure_later_windows_wait_for_the_resend_on_a_new_connection(
    twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StoreFailingOnce(twin, monkeypatch, failing=2)
    transport = InMemoryServerTransport()
    settings = ServerSettings("inproc://unused", batch_max=3)
    server = IngestServer(
        IngestProcessor(twin, load_geography(), clock=lambda: NOW), settings, None, None, transport
    )
    # Four windows of three in flight on connection 1 (the second and third cut across ingest's
    # batches), and two other connections.
    deliveries = [
        *[(b"c1", frame(n)) for n in range(1, 6)],
        (b"c3", frame(50, "B-4")),  # in the failing batch, after the failure
        *[(b"c1", frame(n)) for n in range(6, 13)],
        (b"c3", frame(51, "B-4")),
        (b"c5", frame(60, "B-5")),  # unaffected: it follows the failure and lands
    ]
    for peer, raw in deliveries:
        transport.deliver(raw, peer=peer)
    stop = server.serve_in_thread()
    try:
        wait_until_idle(transport, replies=4)
        # The first batch is committed and answered; the store failed on the second (m-4, m-5
        # and c3's m-50); nothing later from those connections is applied nor answered.
        assert answered(transport) == {b"c1": ["m-1", "m-2", "m-3"], b"c5": ["m-60"]}
        assert store.writes == 3 and server.processor.stats.store_errors == 1
        assert server.refused_after_store_failure == 8  # m-6 to m-12 and m-51
        transport.deliver(frame(13), peer=b"c1")  # the store is back: still refused
        wait_until_idle(transport, replies=4)
        assert server.refused_after_store_failure == 9
        assert server.processor.stats.committed == 4

        # The adapters reconnect and resend everything unanswered, in order.
        for n in range(4, 14):
            transport.deliver(frame(n), peer=b"c2")
        transport.deliver(frame(50, "B-4"), peer=b"c4")
        transport.deliver(frame(51, "B-4"), peer=b"c4")
        wait_until_idle(transport, replies=16)
    finally:
        stop()
    assert answered(transport)[b"c2"] == [f"m-{n}" for n in range(4, 14)]
    assert answered(transport)[b"c4"] == ["m-50", "m-51"]
    minutes = {code: [n for n in range(1, 14) if BINS[n % len(BINS)] == code] for code in BINS}
    minutes.update({"B-4": [50, 51], "B-5": [60]})
    for code, sent in minutes.items():
        # Each message stored once, each bin's in the order sent.
        start = NOW - timedelta(days=1)
        assert fill_times_in_log_order(twin, code) == [start + timedelta(minutes=n) for n in sent]


def test_the_refused_connections_are_bounded(twin: ValleyTwin) -> None:
    transport = InMemoryServerTransport()
    server = IngestServer(
        IngestProcessor(twin, load_geography(), clock=lambda: NOW),
        ServerSettings("inproc://unused", refused_connections_kept=2),
        None,
        None,
        transport,
    )
    for peer in (b"a", b"b", b"c"):
        server._refuse(peer)
    assert list(server._refused) == [b"b", b"c"]  # the oldest forgotten first
