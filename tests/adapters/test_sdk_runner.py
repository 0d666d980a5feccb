"""The SDK runner: readings become frames in the outbox, go out, and are settled by ingest's replies."""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgpack
import pytest

from adapters.sdk import Adapter, AdapterManifest, AdapterRunner, Outbox, Reading, message_id
from adapters.sdk.json_payload import instant_field, json_object, number_field, text_field
from adapters.wire import InMemoryTransport, Reply, TransportError, decode, encode_reply

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


class Clock:
    """One controllable clock for the runner (datetime), the outbox and the rate limit (seconds)."""

    def __init__(self) -> None:
        self.now = T0 + timedelta(hours=1)

    def datetime(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FillAdapter(Adapter):
    """A minimal adapter: one JSON object per payload, one fill reading (or none) per object."""

    manifest = AdapterManifest(
        name="test-fill",
        device="test sensor",
        kinds=("bin.fill",),
        mode="push",
        owner="tests",
        description="tests",
    )

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.held: list[Reading] = []

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        document = json_object(payload)
        if document.get("crash"):
            raise KeyError("an adapter bug")
        device = text_field(document, "device")
        assert device is not None
        fill = number_field(document, "fill")
        reading = Reading(
            device,
            f"BIN-{device}",
            "bin.fill",
            instant_field(document, "at"),
            {"fill_percent": fill},
        )
        if document.get("hold"):
            self.held.append(reading)
            return []
        return [reading]

    def flush(self, now: datetime) -> list[Reading]:
        held, self.held = self.held, []
        return held


def payload(device: str = "s1", fill: float = 42.0, minutes: int = 0, **extra: Any) -> str:
    at = (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    return json.dumps({"device": device, "fill": fill, "at": at, **extra})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(clock: Clock) -> Iterator[Outbox]:
    box = Outbox(clock=clock.seconds)
    yield box
    box.close()


@pytest.fixture
def transport() -> InMemoryTransport:
    return InMemoryTransport()


def make_runner(
    outbox: Outbox, transport: InMemoryTransport, clock: Clock, **options: Any
) -> AdapterRunner:
    return AdapterRunner(
        FillAdapter({}),
        transport,
        outbox,
        "gw-test",
        clock=clock.datetime,
        timer=clock.seconds,
        **options,
    )


@pytest.fixture
def runner(outbox: Outbox, transport: InMemoryTransport, clock: Clock) -> AdapterRunner:
    return make_runner(outbox, transport, clock, resend_after_s=5.0)


def sent_ids(transport: InMemoryTransport, clock: Clock) -> list[str]:
    return [decode(frame, clock.now).message_id for frame in transport.sent]


def reply(status: str, message: str | None, reason: str | None = None) -> bytes:
    return encode_reply(Reply(status=status, message_id=message, reason=reason))


# -- readings to frames --------------------------------------------------------------------------


def test_readings_become_frames_queued_then_sent(
    runner: AdapterRunner, outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    assert runner.submit_many([payload("s1", 10.0), payload("s2", 55.5, minutes=1)]) == 2
    assert outbox.pending() == 2
    assert not transport.sent  # queueing does not send

    runner.pump()

    envelopes = [decode(frame, clock.now) for frame in transport.sent]
    assert [(e.source, e.device, e.asset, e.kind, e.body) for e in envelopes] == [
        ("gw-test", "s1", "BIN-s1", "bin.fill", {"fill_percent": 10.0}),
        ("gw-test", "s2", "BIN-s2", "bin.fill", {"fill_percent": 55.5}),
    ]
    assert envelopes[1].observed_at == T0 + timedelta(minutes=1)
    expected = Reading("s1", "BIN-s1", "bin.fill", T0, {"fill_percent": 10.0})
    assert envelopes[0].message_id == message_id("gw-test", expected)
    assert runner.in_flight == 2
    assert outbox.pending() == 2  # sent is not answered
    stats = runner.stats
    assert (stats.payloads, stats.readings, stats.queued, stats.sent) == (2, 2, 2, 2)


def test_message_id_depends_on_content_and_source() -> None:
    reading = Reading("s1", "BIN-1", "bin.fill", T0, {"fill_percent": 10.0, "distance_mm": 5})
    same = Reading("s1", "BIN-1", "bin.fill", T0, {"distance_mm": 5, "fill_percent": 10.0})
    assert message_id("gw", reading) == message_id("gw", same)  # body key order is irrelevant
    assert len(message_id("gw", reading)) == 32
    assert message_id("gw", reading) != message_id("gw-2", reading)
    assert message_id("gw", reading) != message_id(
        "gw", Reading("s1", "BIN-1", "bin.fill", T0, {"fill_percent": 10.5})
    )
    later = Reading("s1", "BIN-1", "bin.fill", T0 + timedelta(milliseconds=1), reading.body)
    assert message_id("gw", reading) != message_id("gw", later)


def test_same_reading_twice_is_one_message(
    runner: AdapterRunner, outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    assert runner.submit(payload()) == 1
    assert runner.submit(payload()) == 0
    assert runner.submit_many([payload(), payload()]) == 0
    assert outbox.pending() == 1
    assert runner.stats.queued == 1 and runner.stats.readings == 4
    runner.pump()
    assert len(transport.sent) == 1


def test_flush_queues_what_the_adapter_held_back(runner: AdapterRunner, outbox: Outbox) -> None:
    assert runner.submit(payload(hold=True)) == 0
    assert outbox.pending() == 0
    assert runner.flush() == 1
    assert outbox.pending() == 1


# -- replies settle the outbox ---------------------------------------------------------------------


def test_ack_settles(
    runner: AdapterRunner, outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    runner.submit_many([payload("s1"), payload("s2")])
    runner.pump()
    first, second = sent_ids(transport, clock)
    transport.replies.append(reply("ack", first))
    runner.pump()
    assert outbox.pending() == 1
    assert runner.in_flight == 1
    assert runner.stats.acknowledged == 1
    assert [m for m, _, _ in outbox.head(10)] == [second]  # the answered one is gone


def test_duplicate_settles_like_an_ack(
    runner: AdapterRunner, outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    runner.submit(payload())
    runner.pump()
    transport.replies.append(reply("duplicate", sent_ids(transport, clock)[0]))
    runner.pump()
    assert outbox.pending() == 0 and runner.in_flight == 0
    assert (runner.stats.duplicates, runner.stats.acknowledged, runner.stats.rejected) == (1, 0, 0)
    assert outbox.rejections() == []


def test_rejection_is_settled_and_kept_with_its_reason(
    runner: AdapterRunner, outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    runner.submit_many([payload("s1"), payload("s2")])
    runner.pump()
    first, second = sent_ids(transport, clock)
    transport.replies.extend(
        [reply("rejected", first, "unknown asset BIN-s1"), reply("rejected", second)]
    )
    runner.pump()
    assert outbox.pending() == 0
    assert runner.stats.rejected == 2
    rejections = dict(outbox.rejections())
    assert rejections[first] == "unknown asset BIN-s1"
    # A rejection without a reason is still kept, not silently forgotten.
    assert second in rejections and rejections[second]


def test_several_replies_in_one_pump(
    runner: AdapterRunner, outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    runner.submit_many([payload(f"s{n}") for n in range(5)])
    runner.pump()
    transport.replies.extend(reply("ack", m) for m in sent_ids(transport, clock))
    runner.pump()
    assert outbox.pending() == 0 and runner.stats.acknowledged == 5 and not transport.replies


def test_bad_replies_are_ignored(
    runner: AdapterRunner, outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    runner.submit(payload())
    runner.pump()
    transport.replies.extend(
        [
            b"\xc1 not msgpack",
            msgpack.packb({"status": "maybe", "id": "x"}),
            reply("rejected", None, "could not identify the message"),
            reply("ack", "an id this adapter never sent"),
        ]
    )
    runner.pump()
    assert outbox.pending() == 1
    # Only the well-formed reply naming a message counts; it settles nothing of ours.
    assert runner.stats.acknowledged == 1 and runner.stats.rejected == 0
    assert runner.in_flight == 1


# -- resends -------------------------------------------------------------------------------------


def test_unanswered_message_is_resent_after_resend_after_s(
    runner: AdapterRunner, outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    runner.submit(payload())
    runner.pump()
    assert len(transport.sent) == 1
    clock.advance(4)
    runner.pump()
    assert len(transport.sent) == 1  # not overdue yet
    clock.advance(2)
    runner.pump()
    assert len(transport.sent) == 2
    assert transport.sent[0] == transport.sent[1]  # the same frame, same message id
    assert (runner.stats.sent, runner.stats.resent) == (2, 1)
    clock.advance(6)
    runner.pump()
    assert runner.stats.resent == 1  # no answer to the resend: the next waits twice as long
    clock.advance(4)
    runner.pump()
    assert runner.stats.resent == 2
    transport.replies.append(reply("ack", sent_ids(transport, clock)[0]))
    runner.pump()
    clock.advance(60)
    runner.pump()
    assert len(transport.sent) == 3 and outbox.pending() == 0  # answered: never sent again


def test_no_message_overtakes_an_unanswered_earlier_one(
    outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    runner = make_runner(
        outbox, transport, clock, resend_after_s=5.0, max_in_flight=2, windows_in_flight=1
    )
    runner.submit_many([payload("s1"), payload("s2"), payload("s3")])
    runner.pump()
    first, second = sent_ids(transport, clock)
    transport.replies.append(reply("ack", second))
    runner.pump()
    runner.pump()
    assert len(transport.sent) == 2  # s3 waits while s1 is unanswered
    clock.advance(5)
    runner.pump()
    # On a fresh connection the outbox's head goes again: the unanswered s1 first, then s3.
    assert sent_ids(transport, clock)[2] == first
    assert [decode(f, clock.now).device for f in transport.sent][2:] == ["s1", "s3"]
    assert runner.stats.resent == 1
    transport.replies.append(reply("ack", first))
    runner.pump()
    runner.pump()
    assert [decode(f, clock.now).device for f in transport.sent][3:] == ["s3"]
    assert outbox.pending() == 1


# -- what cannot be read is counted, never raised ---------------------------------------------------


def test_unreadable_payloads_are_counted_by_field(runner: AdapterRunner, outbox: Outbox) -> None:
    queued = runner.submit_many(
        [
            payload("s1"),
            "not json at all",
            json.dumps({"device": "s2", "fill": "full", "at": "2024-05-01T10:00:00Z"}),
            json.dumps({"device": "s3", "fill": 3, "at": "yesterday"}),
            json.dumps({"device": "s4", "fill": 3, "at": "2024-05-01T10:00:00Z", "crash": True}),
            payload("s5"),
        ]
    )
    assert queued == 2
    assert outbox.pending() == 2
    assert runner.stats.payloads == 6
    assert dict(runner.stats.unreadable) == {"payload": 1, "fill": 1, "at": 1, "KeyError": 1}
    assert runner.stats.as_dict()["unreadable"] == {"payload": 1, "fill": 1, "at": 1, "KeyError": 1}


@pytest.mark.parametrize(
    ("reading", "field"),
    [
        (Reading("s1", "BIN-1", "bin.fill", T0, {"fill_percent": 150.0}), "body.fill_percent"),
        (
            Reading("s1", "BIN-1", "bin.fill", T0, {"fill_percent": 50.0, "colour": "red"}),
            "body.colour",
        ),
        (Reading("s1", "BIN-1", "bin.fill", T0, {}), "body.fill_percent"),
        (Reading("s1", "BIN-1", "bin.colour", T0, {"fill_percent": 50.0}), "kind"),
        (Reading("", "BIN-1", "bin.fill", T0, {"fill_percent": 50.0}), "device"),
        (
            Reading("s1", "BIN-1", "bin.fill", T0 + timedelta(days=1), {"fill_percent": 50.0}),
            "observed_at",
        ),
        (
            Reading(
                "s1",
                "BIN-1",
                "bin.fill",
                datetime(2024, 5, 1, 10),  # noqa: DTZ001 (the naive instant is the case under test)
                {"fill_percent": 50.0},
            ),
            "observed_at",
        ),
        (Reading("s1", "BIN-1", "bin.fill", T0, {"fill_percent": T0}), "body"),
    ],
)
def test_reading_against_the_wire_schema_is_unreadable_not_queued(
    runner: AdapterRunner, outbox: Outbox, reading: Reading, field: str
) -> None:
    good = Reading("s9", "BIN-9", "bin.fill", T0, {"fill_percent": 1.0})
    assert runner.queue([reading, good]) == 1
    assert outbox.pending() == 1
    assert dict(runner.stats.unreadable) == {field: 1}


def test_unreadable_payload_is_logged(
    runner: AdapterRunner, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.sdk.runner"):
        runner.submit("[1, 2]")
    assert any("test-fill" in record.getMessage() for record in caplog.records)


# -- rate limit and window --------------------------------------------------------------------------


def ack_all(runner: AdapterRunner, transport: InMemoryTransport, clock: Clock) -> None:
    """Ingest answers everything sent so far; the next pump settles it."""
    transport.replies.extend(reply("ack", m) for m in sent_ids(transport, clock))
    runner.pump()


def test_rate_limit_caps_sends_per_pump(
    outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    runner = make_runner(outbox, transport, clock, rate_per_s=3.0, resend_after_s=3600)
    runner.submit_many([payload(f"s{n}") for n in range(10)])
    runner.pump()
    assert len(transport.sent) == 3
    ack_all(runner, transport, clock)
    runner.pump()
    assert len(transport.sent) == 3  # no time has passed, no tokens
    clock.advance(1)
    runner.pump()
    assert len(transport.sent) == 6
    ack_all(runner, transport, clock)
    clock.advance(100)  # a long pause does not allow a burst beyond one second's worth
    runner.pump()
    assert len(transport.sent) == 9
    assert outbox.pending() == 4


def test_rate_below_one_per_second_still_sends(
    outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    runner = make_runner(outbox, transport, clock, rate_per_s=0.5, resend_after_s=3600)
    runner.submit_many([payload(f"s{n}") for n in range(3)])
    runner.pump()
    assert len(transport.sent) == 1
    ack_all(runner, transport, clock)
    clock.advance(1)
    runner.pump()
    assert len(transport.sent) == 1
    clock.advance(1)
    runner.pump()
    assert len(transport.sent) == 2


@pytest.mark.parametrize(
    "options",
    [
        {"rate_per_s": 0},
        {"rate_per_s": -1.0},
        {"max_in_flight": 0},
        {"windows_in_flight": 0},
        {"resend_after_s": -1},
    ],
)
def test_bad_runner_settings_are_refused(
    outbox: Outbox, transport: InMemoryTransport, clock: Clock, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        make_runner(outbox, transport, clock, **options)


def test_max_in_flight_caps_the_window(
    outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    runner = make_runner(
        outbox, transport, clock, max_in_flight=4, windows_in_flight=1, resend_after_s=3600
    )
    runner.submit_many([payload(f"s{n}") for n in range(10)])
    runner.pump()
    assert len(transport.sent) == 4 and runner.in_flight == 4
    runner.pump()
    assert len(transport.sent) == 4  # nothing answered, nothing more goes out
    transport.replies.extend(reply("ack", m) for m in sent_ids(transport, clock)[:2])
    runner.pump()
    runner.pump()
    assert len(transport.sent) == 4 and runner.in_flight == 2  # the window is not yet answered
    ack_all(runner, transport, clock)
    runner.pump()
    assert len(transport.sent) == 8 and runner.in_flight == 4
    assert outbox.pending() == 6


def devices(transport: InMemoryTransport, clock: Clock, since: int = 0) -> list[str]:
    return [decode(frame, clock.now).device for frame in list(transport.sent)[since:]]


def test_several_windows_leave_before_the_first_is_answered(
    outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    runner = make_runner(
        outbox, transport, clock, max_in_flight=6, windows_in_flight=3, resend_after_s=3600
    )
    assert runner.window_size == 2
    runner.submit_many([payload(f"s{n}") for n in range(10)])
    runner.pump()
    assert devices(transport, clock) == ["s0", "s1", "s2", "s3", "s4", "s5"]
    assert runner.in_flight == 6
    ids = sent_ids(transport, clock)
    # Ingest answers the second window before the first: its slot goes to the next window.
    transport.replies.extend(reply("ack", m) for m in ids[2:4])
    runner.pump()
    runner.pump()
    assert devices(transport, clock, since=6) == ["s6", "s7"] and runner.in_flight == 6
    transport.replies.append(reply("ack", ids[0]))
    runner.pump()
    assert len(transport.sent) == 8  # the first window is still open: no slot
    assert outbox.pending() == 10 - 3


def test_windows_cap_at_max_in_flight(
    outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    runner = make_runner(outbox, transport, clock, max_in_flight=3, windows_in_flight=8)
    assert (runner.windows_in_flight, runner.window_size) == (3, 1)


def test_after_silence_everything_unanswered_is_resent_in_order_on_a_fresh_connection(
    outbox: Outbox, clock: Clock
) -> None:
    # The store failed under ingest half-way through the windows in flight: ingest answered what
    # it committed before the failure and nothing since on this connection (docs/wire-protocol.md
    # §9.3). The adapter must resend from the first unanswered message on, in queue order, and
    # only on a fresh connection, which ingest accepts again.
    transport = ResettableTransport(failing_sends=set())
    runner = make_runner(
        outbox, transport, clock, max_in_flight=6, windows_in_flight=3, resend_after_s=5.0
    )
    runner.submit_many([payload(f"s{n}") for n in range(9)])
    runner.pump()
    ids = sent_ids(transport, clock)
    transport.replies.extend(reply("ack", m) for m in ids[:3])  # s3 on: not committed
    runner.pump()
    runner.pump()
    assert devices(transport, clock, since=6) == ["s6", "s7"]  # the first window's slot
    clock.advance(4.9)
    runner.pump()
    assert transport.resets == 0 and len(transport.sent) == 8
    clock.advance(0.1)
    runner.pump()
    assert transport.resets == 1
    # Resent first, in order, up to max_in_flight: s3 … s8 (s8 was never sent before).
    assert devices(transport, clock, since=8) == ["s3", "s4", "s5", "s6", "s7", "s8"]
    assert runner.stats.resent == 5 and runner.in_flight == 6
    assert runner.stats.silent_resends == 1
    transport.replies.extend(reply("ack", m) for m in sent_ids(transport, clock)[8:])
    runner.pump()
    assert outbox.pending() == 0 and runner.in_flight == 0


# -- transport failures -----------------------------------------------------------------------------


class FlakyTransport(InMemoryTransport):
    """Fails on chosen send calls (counted from 1) and optionally on every receive."""

    def __init__(self, failing_sends: set[int], receive_fails: bool = False) -> None:
        super().__init__()
        self.failing_sends = failing_sends
        self.receive_fails = receive_fails
        self.calls = 0

    def send(self, frame: bytes) -> None:
        self.calls += 1
        if self.calls in self.failing_sends:
            raise TransportError("send queue full")
        super().send(frame)

    def receive(self, timeout_s: float) -> bytes | None:
        if self.receive_fails:
            raise TransportError("receive failed")
        return super().receive(timeout_s)


class ResettableTransport(FlakyTransport):
    """Counts how often the runner asks for a fresh connection."""

    resets = 0

    def reset(self) -> None:
        self.resets += 1


def test_a_failed_send_joins_the_window_and_is_resent_in_order_on_a_fresh_connection(
    outbox: Outbox, clock: Clock
) -> None:
    transport = ResettableTransport(failing_sends={2})
    runner = make_runner(outbox, transport, clock, resend_after_s=5.0)
    runner.submit_many([payload("s1"), payload("s2"), payload("s3")])
    runner.pump()  # first frame goes, second fails, the pump stops there
    assert runner.stats.transport_errors == 1
    assert len(transport.sent) == 1 and runner.stats.sent == 1
    assert runner.in_flight == 3  # what failed is in the window, as if lost in transit
    assert outbox.pending() == 3 and [attempts for _, _, attempts in outbox.head(10)] == [1, 0, 0]
    ack_all(runner, transport, clock)
    runner.pump()
    assert len(transport.sent) == 1 and transport.resets == 0  # s3 must not overtake s2
    clock.advance(5.0)
    runner.pump()  # overdue: a fresh connection, then s2 and s3 in order
    assert transport.resets == 1
    assert [decode(f, clock.now).device for f in transport.sent] == ["s1", "s2", "s3"]
    assert runner.stats.resent == 0  # a send that failed was never an attempt


def test_a_failed_send_stops_every_later_window_until_the_resend(
    outbox: Outbox, clock: Clock
) -> None:
    transport = ResettableTransport(failing_sends={2})
    runner = make_runner(
        outbox, transport, clock, max_in_flight=3, windows_in_flight=3, resend_after_s=5.0
    )
    runner.submit_many([payload("s1"), payload("s2"), payload("s3"), payload("s4")])
    runner.pump()  # s1 leaves in its window, s2 fails in its own: s3 must not follow
    assert devices(transport, clock) == ["s1"] and runner.in_flight == 2
    ack_all(runner, transport, clock)
    runner.pump()
    assert devices(transport, clock) == ["s1"]  # slots are free, but s2 is not yet resent
    clock.advance(5.0)
    runner.pump()
    assert transport.resets == 1
    assert devices(transport, clock) == ["s1", "s2", "s3", "s4"]


def test_a_failed_first_send_still_leads_to_a_fresh_connection(
    outbox: Outbox, clock: Clock
) -> None:
    # ZeroMQ may have given the connection up before anything was sent (a refused handshake):
    # with nothing in flight, the runner must still try a fresh connection.
    transport = ResettableTransport(failing_sends={1})
    runner = make_runner(outbox, transport, clock, resend_after_s=5.0)
    runner.submit(payload("s1"))
    runner.pump()
    assert transport.sent == deque() and runner.in_flight == 1
    clock.advance(5.0)
    runner.pump()
    assert transport.resets == 1 and [decode(f, clock.now).device for f in transport.sent] == ["s1"]


def test_receive_failure_is_counted(outbox: Outbox, clock: Clock) -> None:
    transport = FlakyTransport(failing_sends=set(), receive_fails=True)
    runner = make_runner(outbox, transport, clock)
    runner.submit(payload())
    runner.pump()
    assert runner.stats.transport_errors == 1
    assert runner.stats.sent == 1 and outbox.pending() == 1


class AckingTransport(InMemoryTransport):
    """Ingest that acknowledges everything at once."""

    def send(self, frame: bytes) -> None:
        super().send(frame)
        self.replies.append(reply("ack", msgpack.unpackb(frame)["id"]))


def test_drain_empties_the_outbox(outbox: Outbox, clock: Clock) -> None:
    transport = AckingTransport()
    runner = make_runner(outbox, transport, clock, rate_per_s=1000.0, max_in_flight=3)
    runner.submit_many([payload(f"s{n}") for n in range(7)])
    assert runner.drain(timeout_s=2.0) is True
    assert outbox.pending() == 0 and runner.stats.acknowledged == 7 and runner.in_flight == 0


@pytest.mark.slow
def test_drain_gives_up_when_nobody_answers(runner: AdapterRunner, outbox: Outbox) -> None:
    runner.submit(payload())
    assert runner.drain(timeout_s=0.1) is False
    assert outbox.pending() == 1


# -- restart safety ---------------------------------------------------------------------------------


def test_outbox_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state" / "gw.outbox"
    with Outbox(path, clock=clock.seconds) as first_box:
        first = make_runner(
            first_box, InMemoryTransport(), clock, resend_after_s=5.0, max_in_flight=2
        )
        first.submit_many([payload(f"s{n}") for n in range(4)])
        first.pump()  # two sent, two never sent
        ids = sent_ids(first.transport, clock)  # type: ignore[arg-type]
        first.transport.replies.append(reply("ack", ids[0]))  # type: ignore[attr-defined]
        first.pump()
        assert first_box.pending() == 3
    # The process dies here; a new one opens the same file.
    with Outbox(path, clock=clock.seconds) as second_box:
        assert second_box.pending() == 3
        transport = InMemoryTransport()
        second = make_runner(second_box, transport, clock, resend_after_s=5.0, max_in_flight=10)
        second.pump()
        # In queue order: first the one sent before the restart and never answered, then the rest.
        assert [decode(f, clock.now).device for f in transport.sent] == ["s1", "s2", "s3"]
        assert sent_ids(transport, clock)[0] == ids[1]
        assert second.stats.resent == 1 and second.stats.sent == 3


# -- resends: after silence, backing off, saying why -----------------------------------------------


def test_a_window_whose_answers_keep_coming_is_not_resent(
    outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    # A restarted ingest working through a big window answers it slowly: resending it while its
    # answers still come would double that ingest's work (issue 14, congestion after a restart).
    runner = make_runner(outbox, transport, clock, resend_after_s=5.0, max_in_flight=10)
    runner.submit_many([payload(f"s{n}") for n in range(10)])
    runner.pump()
    ids = sent_ids(transport, clock)
    for answered in ids[:9]:
        clock.advance(4)  # the window has been out for far longer than 5 s by the end…
        transport.replies.append(reply("ack", answered))
        runner.pump()
    assert runner.stats.resent == 0  # …but an answer came less than 5 s ago each time
    clock.advance(5)
    runner.pump()
    assert runner.stats.resent == 1 and sent_ids(transport, clock)[-1] == ids[9]


def test_silent_resends_back_off_to_a_cap_and_an_answer_resets_the_wait(
    outbox: Outbox, transport: InMemoryTransport, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    runner = make_runner(outbox, transport, clock, resend_after_s=5.0, max_resend_after_s=30.0)
    runner.submit_many([payload("s1"), payload("s2")])
    runner.pump()
    waits = []
    for _ in range(5):
        waits.append(runner.resend_timeout_s())
        clock.advance(runner.resend_timeout_s())
        runner.pump()
    assert waits == [5.0, 10.0, 20.0, 30.0, 30.0] and runner.stats.resent == 2 * 5
    assert runner.stats.silent_resends == 5
    # An engineer is told at the first silent resend, with what to check.
    assert "ingest has not answered 2 message(s) for 5 s" in caplog.text
    assert "allow-list" in caplog.text
    transport.replies.append(reply("ack", sent_ids(transport, clock)[0]))
    runner.pump()
    assert runner.resend_timeout_s() == 5.0


def test_max_resend_after_s_below_resend_after_s_is_refused(
    outbox: Outbox, transport: InMemoryTransport, clock: Clock
) -> None:
    with pytest.raises(ValueError, match="max_resend_after_s must be at least resend_after_s"):
        make_runner(outbox, transport, clock, resend_after_s=5.0, max_resend_after_s=1.0)
