"""The SDK with one ingest endpoint per shard: routing, each shard's own windows and resends.

In-memory transports stand for the workers; tests/end_to_end/test_shard_workers.py runs real
ones on one store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.sdk import AdapterRunner, Outbox
from adapters.service import build_service
from adapters.wire import (
    AdapterError,
    InMemoryTransport,
    TransportError,
    ZmqTransport,
    decode,
    shard_of,
)
from tests.adapters.test_sdk_runner import Clock, FillAdapter, payload, reply

# FillAdapter's asset is BIN-<device>; over two shards these fall as named.
SHARD_0 = ("s1", "s2", "s6", "s8")
SHARD_1 = ("s3", "s4", "s5", "s7")


class CountingTransport(InMemoryTransport):
    """Notes reconnections; can be made to refuse sends."""

    def __init__(self) -> None:
        super().__init__()
        self.resets = 0
        self.refusing = False

    def send(self, frame: bytes) -> None:
        if self.refusing:
            raise TransportError("send queue full")
        super().send(frame)

    def reset(self) -> None:
        self.resets += 1


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(clock: Clock) -> Iterator[Outbox]:
    box = Outbox(clock=clock.seconds)
    yield box
    box.close()


def sharded(
    outbox: Outbox, clock: Clock, transports: list[CountingTransport], **options: Any
) -> AdapterRunner:
    return AdapterRunner(
        FillAdapter({}),
        transports,
        outbox,
        "gw-test",
        clock=clock.datetime,
        timer=clock.seconds,
        **options,
    )


def sent(transport: InMemoryTransport, clock: Clock) -> list[tuple[str, str]]:
    """(asset, message id) of what went out on the transport, in order."""
    return [
        (envelope.asset, envelope.message_id)
        for envelope in (decode(frame, clock.now) for frame in transport.sent)
    ]


def answer_all(transport: InMemoryTransport, clock: Clock) -> None:
    for _, message in sent(transport, clock):
        transport.replies.append(reply("ack", message))
    transport.sent.clear()


def test_the_named_devices_fall_on_the_shards_named() -> None:
    assert {shard_of(f"BIN-{d}", 2) for d in SHARD_0} == {0}
    assert {shard_of(f"BIN-{d}", 2) for d in SHARD_1} == {1}


def test_each_message_goes_to_its_asset_s_shard_in_queue_order(
    outbox: Outbox, clock: Clock
) -> None:
    transports = [CountingTransport(), CountingTransport()]
    runner = sharded(outbox, clock, transports)
    devices = SHARD_0[:2] + SHARD_1[:2]
    runner.submit_many([payload(d, minutes=m) for m in range(3) for d in devices])
    runner.pump()
    for number, transport in enumerate(transports):
        assets = [asset for asset, _ in sent(transport, clock)]
        mine = [f"BIN-{d}" for d in devices if shard_of(f"BIN-{d}", 2) == number]
        assert assets == [asset for _ in range(3) for asset in mine]  # queue order kept
    assert runner.shard_of("BIN-s3") == 1 and runner.in_flight == 12
    assert [outbox.pending(0), outbox.pending(1)] == [6, 6]
    for transport in transports:
        answer_all(transport, clock)
    runner.pump()
    assert outbox.pending() == 0 and runner.stats.acknowledged == 12


def test_a_silent_worker_holds_back_only_its_own_shard(
    outbox: Outbox, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    quiet, busy = CountingTransport(), CountingTransport()
    runner = sharded(outbox, clock, [quiet, busy], max_in_flight=2, windows_in_flight=1)
    runner.submit_many([payload(d, minutes=m) for m in range(4) for d in ("s1", "s3")])
    runner.pump()
    assert len(quiet.sent) == 2 and len(busy.sent) == 2  # each shard's own window of 2
    for _ in range(4):  # shard 1's worker answers and its next windows leave; shard 0 waits
        clock.advance(1.0)
        answer_all(busy, clock)
        runner.pump()
    assert len(quiet.sent) == 2 and outbox.pending(1) == 0
    assert runner.has_room()  # shard 1 has room: a reader may go on
    clock.advance(5.0)  # shard 0 unanswered for resend_after_s: it alone reconnects, resends
    runner.pump()
    assert (quiet.resets, busy.resets) == (1, 0)
    assert [m for _, m in sent(quiet, clock)][2:] == [m for _, m in sent(quiet, clock)][:2]
    assert "ingest (shard 0 of 2) has not answered 2 message(s)" in caplog.text
    assert runner.resend_timeout_s(0) == 10.0 and runner.resend_timeout_s(1) == 5.0
    report = runner.report()
    assert report["pending_by_shard"] == [4, 0] and report["in_flight_by_shard"] == [2, 0]


def test_a_failed_send_stalls_only_its_shard(outbox: Outbox, clock: Clock) -> None:
    refusing, fine = CountingTransport(), CountingTransport()
    refusing.refusing = True
    runner = sharded(outbox, clock, [refusing, fine], max_in_flight=2, windows_in_flight=1)
    runner.submit_many([payload(d, minutes=m) for m in range(3) for d in ("s1", "s3")])
    runner.pump()
    assert runner.stats.transport_errors == 1 and len(fine.sent) == 2
    answer_all(fine, clock)
    runner.pump()  # the answers settle the window…
    runner.pump()  # …and the next leaves
    assert len(fine.sent) == 1 and not refusing.sent  # shard 1 flows; shard 0 waits its resend


def test_the_rate_limit_is_shared_and_each_shard_gets_its_turn(
    outbox: Outbox, clock: Clock
) -> None:
    first, second = CountingTransport(), CountingTransport()
    runner = sharded(outbox, clock, [first, second], rate_per_s=1.0, max_in_flight=1)
    runner.submit_many([payload(d, minutes=m) for m in range(3) for d in ("s1", "s3")])
    for _ in range(4):
        runner.pump()  # a token a second, the shards in turn
        answer_all(first, clock)
        answer_all(second, clock)
        runner.pump()
        clock.advance(1.0)
    assert runner.stats.sent == 4 and outbox.pending(0) == outbox.pending(1) == 1


def test_one_transport_or_several_and_the_single_transport_property(
    outbox: Outbox, clock: Clock
) -> None:
    alone = CountingTransport()
    one = AdapterRunner(FillAdapter({}), alone, outbox, "gw", clock=clock.datetime)
    assert one.transport is alone and one.transports == (alone,)
    assert one.shard_of("BIN-s3") == 0
    two = sharded(outbox, clock, [CountingTransport(), CountingTransport()])
    with pytest.raises(AdapterError, match="2 transports"):
        _ = two.transport
    with pytest.raises(ValueError, match="at least one transport"):
        AdapterRunner(FillAdapter({}), [], outbox, "gw")


def test_messages_queued_for_one_endpoint_go_to_their_shard_once_there_are_two(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "gw.outbox"
    devices = ("s1", "s3", "s2", "s4")
    with Outbox(path, clock=clock.seconds) as box:
        single = AdapterRunner(
            FillAdapter({}), CountingTransport(), box, "gw", clock=clock.datetime
        )
        single.submit_many([payload(d, minutes=m) for m in range(2) for d in devices])
        queued = [message for message, _, _ in box.head(100)]
    with Outbox(path, clock=clock.seconds) as box:
        transports = [CountingTransport(), CountingTransport()]
        runner = sharded(box, clock, transports)
        runner.pump()
        for number, transport in enumerate(transports):
            ids = [message for _, message in sent(transport, clock)]
            assert ids == [m for m in queued if m in ids]  # each shard in queue order
            assert {shard_of(asset, 2) for asset, _ in sent(transport, clock)} == {number}
        assert box.reshard(2, lambda frame: 0) == 0  # already counted for two: nothing moves
    with Outbox(path, clock=clock.seconds) as box:  # back to one endpoint: all on it again
        back = CountingTransport()
        AdapterRunner(FillAdapter({}), back, box, "gw", clock=clock.datetime).pump()
        assert [decode(frame, clock.now).message_id for frame in back.sent] == queued


def test_an_outbox_from_before_shards_opens_with_its_messages_on_shard_0(tmp_path: Path) -> None:
    path = tmp_path / "old.outbox"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE outbox (message_id TEXT PRIMARY KEY, frame BLOB NOT NULL, "
        "queued_at REAL NOT NULL, sent_at REAL, attempts INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO outbox (message_id, frame, queued_at) VALUES ('m1', x'00', 1.0);"
    )
    db.commit()
    db.close()
    with Outbox(path) as box:
        assert box.pending(0) == 1 and box.head(10, shard=0) == [("m1", b"\x00", 0)]
        assert box.put([("m2", b"\x01")], [1]) == 1
        assert [m for m, _, _ in box.head(10, shard=1)] == ["m2"]
        with pytest.raises(ValueError, match="1 shard"):
            box.put([("m3", b"a"), ("m4", b"b")], [0])


# -- the adapter's configuration ---------------------------------------------------------------


def config(**settings: Any) -> dict[str, Any]:
    return {"source": "gw-1", "plaintext": True, "input": {"type": "jsonl"}, **settings}


def test_endpoints_build_one_transport_per_shard_and_windows_come_from_the_config(
    tmp_path: Path,
) -> None:
    endpoints = ["tcp://127.0.0.1:9", "tcp://127.0.0.1:10"]  # nobody answers; none is reached
    service = build_service(
        "energy-meter",
        config(endpoints=endpoints, windows_in_flight=2, max_in_flight=50, outbox="a.outbox"),
        tmp_path,
    )
    runner = service.runner
    try:
        assert len(runner.transports) == 2
        assert all(isinstance(t, ZmqTransport) for t in runner.transports)
        assert (runner.windows_in_flight, runner.window_size, runner.max_in_flight) == (2, 25, 50)
    finally:
        for transport in runner.transports:
            transport.close()
        runner.outbox.close()


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"endpoint": "tcp://127.0.0.1:9", "endpoints": ["tcp://127.0.0.1:9"]}, "not both"),
        ({"endpoints": []}, "non-empty list"),
        ({"endpoints": "tcp://127.0.0.1:9"}, "non-empty list"),
        ({"endpoints": ["tcp://127.0.0.1:9", "tcp://127.0.0.1:9"]}, "twice"),
        ({"endpoint": "tcp://127.0.0.1:9", "windows_in_flight": 0}, "'windows_in_flight'"),
        ({"endpoint": "tcp://127.0.0.1:9", "max_in_flight": 1.5}, "'max_in_flight'"),
        (
            {
                "endpoints": ["tcp://127.0.0.1:9", "tcp://127.0.0.1:10"],
                "plaintext": False,
                "client_key": "gw.key_secret",
                "server_key": ["a.key", "b.key", "c.key"],
            },
            "3 value(s) for 2 endpoint(s)",
        ),
    ],
)
def test_a_bad_endpoints_setting_is_named(
    tmp_path: Path, settings: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match="config: ") as raised:
        build_service("energy-meter", config(**settings), tmp_path)
    assert named in str(raised.value)


class UnreachableTransport(CountingTransport):
    """A worker whose address cannot be connected to again (its host is gone)."""

    def reset(self) -> None:
        super().reset()
        raise TransportError("cannot connect")


def test_a_failed_reconnection_is_tried_again_after_the_backed_off_wait(
    outbox: Outbox, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    gone, fine = UnreachableTransport(), CountingTransport()
    runner = sharded(outbox, clock, [gone, fine], max_in_flight=2, windows_in_flight=1)
    runner.submit_many([payload(d, minutes=m) for m in range(2) for d in ("s1", "s3")])
    runner.pump()
    clock.advance(5.0)
    for _ in range(100):  # a reader's loop pumps often: one attempt, not one per pump
        runner.pump()
    assert gone.resets == 1 and caplog.text.count("reconnecting to ingest (shard 0") == 1
    clock.advance(runner.resend_timeout_s(0))
    runner.pump()
    assert gone.resets == 2 and runner.resend_timeout_s(0) == 20.0
    runner._shards[0].silent_resends = 5_000  # days unreachable: the wait stays at its cap
    assert runner.resend_timeout_s(0) == runner.max_resend_after_s


def test_counting_the_shards_anew_reads_the_outbox_a_page_at_a_time(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import adapters.sdk.outbox as outbox_module

    monkeypatch.setattr(outbox_module, "RESHARD_PAGE_ROWS", 3)
    path = tmp_path / "gw.outbox"
    devices = SHARD_0[:2] + SHARD_1[:2]
    with Outbox(path, clock=clock.seconds) as box:
        single = AdapterRunner(
            FillAdapter({}), CountingTransport(), box, "gw", clock=clock.datetime
        )
        single.submit_many([payload(d, minutes=m) for m in range(2) for d in devices])
    with Outbox(path, clock=clock.seconds) as box:
        sharded(box, clock, [CountingTransport(), CountingTransport()])
        assert [box.pending(0), box.pending(1)] == [4, 4]  # 8 rows over 3 pages, all moved


class ReplyDroppingTransport(CountingTransport):
    """As ZeroMQ does: a reconnection throws away the answers the old socket held."""

    def reset(self) -> None:
        super().reset()
        self.replies.clear()


def test_answers_that_came_while_the_reader_was_away_spare_the_window_a_resend(
    outbox: Outbox, clock: Clock
) -> None:
    transport = ReplyDroppingTransport()
    runner = sharded(outbox, clock, [transport], resend_after_s=5.0)
    runner.submit_many([payload("s1", minutes=m) for m in range(3)])
    runner.pump()
    clock.advance(4.9)
    answer_all(transport, clock)  # in the socket before the window was due…
    clock.advance(0.2)  # …read only after
    runner.pump()
    assert transport.resets == 0 and outbox.pending() == 0 and runner.stats.resent == 0


def test_a_shard_stalled_by_a_failed_send_sends_again_once_its_answers_came(
    outbox: Outbox, clock: Clock
) -> None:
    transport = CountingTransport()
    runner = sharded(outbox, clock, [transport], resend_after_s=5.0)
    runner.submit_many([payload("s1", minutes=m) for m in range(2)])
    runner.pump()
    first = [message for _, message in sent(transport, clock)]
    clock.advance(5.0)
    transport.refusing = True  # the resend on the new connection fails: the shard stalls
    runner.pump()
    transport.refusing = False
    transport.replies.extend(reply("ack", message) for message in first)  # the old answers
    runner.pump()
    assert runner.in_flight == 0 and outbox.pending() == 0
    runner.submit(payload("s1", minutes=5))
    transport.sent.clear()
    clock.advance(60.0)
    runner.pump()
    assert len(transport.sent) == 1  # it reconnected and sent: not stalled for good
