"""The SDK's engine: readings become envelopes, wait in the outbox, go out, come back answered.

Every adapter gets the same guarantees from here: message ids derived from content (so a
payload read twice is one message), local validation against the wire schema before
anything is queued, a durable outbox with resends until ingest answers, a rate limit, and
payloads that cannot be read counted, logged and kept in the outbox for review (only their
reason for an adapter of citizens' messages) instead of crashing the process. Given several
ingest endpoints (one per shard, ``adapters.wire.shard_of``), each message goes to its asset's
shard, and each shard has its own windows, resends and reconnections: a shard whose worker is
down holds back only its own messages, which wait in the one outbox.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack

from adapters.payloads import PayloadError
from adapters.sdk.base import Adapter, Reading
from adapters.sdk.outbox import Outbox, UnreadablePayload
from adapters.wire import (
    AbstractTransport,
    AdapterError,
    Envelope,
    TransportError,
    WireError,
    decode,
    decode_reply,
    encode,
    peek_kind_and_asset,
    shard_of,
    to_epoch_ms,
)

log = logging.getLogger(__name__)
# With several shards no one socket may be waited on for long: each is polled this long in turn.
_SHARD_POLL_S = 0.002

DEFAULT_MAX_IN_FLIGHT = 1_000
"""Messages an adapter keeps sent and unanswered at most, all windows together (per shard)."""

DEFAULT_WINDOWS_IN_FLIGHT = 4
"""Windows an adapter keeps in flight at once, ``max_in_flight`` messages in all.

With one window, ingest idles while the adapter settles a window and sends the next, and a
window costs a round trip however far the gateway is. Measured end to end (bench/ingest.py
--windows N: an adapter process, CURVE over tcp, ingest on SQLite, 20,000 messages, the project's
shared 2-core machine, windows side by side in each round; figures in docs/wire-protocol.md §9.3):
with each reply held back 50 ms (a distant gateway), 4 windows carry 1.23-1.28x the messages of one (2
windows 1.10x, 8 1.14x); on the loopback the two are within the machine's noise (0.98x median).
"""


@dataclass
class RunnerStats:
    """Counters of one adapter process."""

    payloads: int = 0
    readings: int = 0
    unreadable: Counter[str] = field(default_factory=Counter)
    queued: int = 0
    sent: int = 0
    resent: int = 0
    acknowledged: int = 0
    duplicates: int = 0
    rejected: int = 0
    transport_errors: int = 0
    silent_resends: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain values (the counts of this process only)."""
        return {
            **{k: v for k, v in vars(self).items() if k != "unreadable"},
            "unreadable": dict(self.unreadable),
        }


@dataclass(eq=False)
class _Shard:
    """One ingest worker's connection and what is in flight on it."""

    number: int
    transport: AbstractTransport
    # Sent and not yet answered: each message's window, and the open windows, oldest first.
    # The messages in flight are always the shard's oldest in the outbox (they leave in queue order).
    in_flight: dict[str, set[str]] = field(default_factory=dict)
    windows: list[set[str]] = field(default_factory=list)
    # A send failed: nothing more leaves until the unanswered are resent on a fresh connection.
    stalled: bool = False
    window_sent_at: float = 0.0
    last_answer_at: float = 0.0
    silent_resends: int = 0  # resends in a row with no answer in between


class _TokenBucket:
    def __init__(self, rate_per_s: float | None, clock: Callable[[], float]) -> None:
        if rate_per_s is not None and (
            isinstance(rate_per_s, bool)
            or not isinstance(rate_per_s, int | float)
            or not rate_per_s > 0
        ):
            raise ValueError(
                f"rate_per_s must be positive (or None for no limit), not {rate_per_s!r}"
            )
        self.rate = rate_per_s
        # A bucket must hold at least one whole token, or a rate below 1/s would never send.
        self.capacity = max(1.0, rate_per_s or 0.0)
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()

    def take(self, wanted: int) -> int:
        if self.rate is None:
            return wanted
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        granted = min(wanted, int(self.tokens))
        self.tokens -= granted
        return granted


def message_id(source: str, reading: Reading) -> str:
    """A message id derived from what the message says: the same reading gets the same id."""
    content = msgpack.packb(
        [
            source,
            reading.device,
            reading.asset,
            reading.kind,
            to_epoch_ms(reading.observed_at),
            sorted(reading.body.items()),
        ],
        use_bin_type=True,
    )
    return hashlib.sha256(content).hexdigest()[:32]


class AdapterRunner:
    """Runs one adapter instance against ingest: one worker, or one per shard of the assets.

    ``transport`` is one transport, or one per shard in shard order (shard 0 first): message
    for asset A goes to ``transports[shard_of(A, len(transports))]``. ``max_in_flight`` and
    ``windows_in_flight`` hold for each shard; the rate limit for all together.
    """

    def __init__(
        self,
        adapter: Adapter,
        transport: AbstractTransport | Sequence[AbstractTransport],
        outbox: Outbox,
        source: str,
        *,
        rate_per_s: float | None = None,
        resend_after_s: float = 5.0,
        max_resend_after_s: float | None = None,  # None: a minute, or resend_after_s if longer
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,  # most sent and unanswered, all windows
        windows_in_flight: int = DEFAULT_WINDOWS_IN_FLIGHT,  # max_in_flight cut into this many
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timer: Callable[[], float] = time.monotonic,  # seconds, for the rate limit and resends
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight!r}")
        if windows_in_flight < 1:
            raise ValueError(f"windows_in_flight must be at least 1, not {windows_in_flight!r}")
        if resend_after_s < 0:
            raise ValueError(f"resend_after_s must not be negative, not {resend_after_s!r}")
        if max_resend_after_s is None:
            max_resend_after_s = max(60.0, resend_after_s)
        if max_resend_after_s < resend_after_s:
            raise ValueError(
                f"max_resend_after_s must be at least resend_after_s ({resend_after_s!r}), "
                f"not {max_resend_after_s!r}"
            )
        transports = (transport,) if isinstance(transport, AbstractTransport) else tuple(transport)
        if not transports:
            raise ValueError("a runner needs at least one transport")
        self.adapter = adapter
        self.transports = transports
        self.outbox = outbox
        self.source = source
        self.resend_after_s = resend_after_s
        self.max_resend_after_s = max_resend_after_s
        self.max_in_flight = max_in_flight
        self.windows_in_flight = min(
            windows_in_flight, max_in_flight
        )  # a window holds one at least
        self.window_size = -(-max_in_flight // self.windows_in_flight)  # rounded up
        self.clock = clock
        self.stats = RunnerStats()
        self._timer = timer
        self._bucket = _TokenBucket(rate_per_s, timer)
        self._shards = [_Shard(number, each) for number, each in enumerate(transports)]
        self._first_shard = 0  # who sends first next pump: the one after the last that sent
        # Messages queued while the adapter had another number of endpoints go to their shard now.
        moved = outbox.reshard(len(transports), self._shard_of_frame)
        if moved:
            log.info("%d waiting message(s) moved to their shard of %d", moved, len(transports))

    @property
    def transport(self) -> AbstractTransport:
        """The transport to ingest, when there is one (one endpoint); else see ``transports``."""
        if len(self.transports) != 1:
            raise AdapterError(
                f"this runner has {len(self.transports)} transports, one per shard: use .transports"
            )
        return self.transports[0]

    def shard_of(self, asset: str) -> int:
        """The shard (index into ``transports``) whose worker gets the messages of ``asset``."""
        return 0 if len(self.transports) == 1 else shard_of(asset, len(self.transports))

    def _shard_of_frame(self, frame: bytes) -> int:
        # Every queued frame passed the decoder, so its asset is there to read.
        _, asset = peek_kind_and_asset(frame)
        return 0 if asset is None else self.shard_of(asset)

    def submit(self, payload: bytes | str, received_at: datetime | None = None) -> int:
        """Read one device payload and queue its readings; return how many were queued."""
        return self.submit_many([payload], received_at)

    def submit_many(
        self, payloads: Sequence[bytes | str], received_at: datetime | None = None
    ) -> int:
        """Read several payloads and queue all their readings in one durable write."""
        frames: list[tuple[str, bytes, int]] = []
        unreadable: list[UnreadablePayload] = []
        now = self.clock()
        for payload in payloads:
            self.stats.payloads += 1
            try:
                readings = self.adapter.readings(payload, received_at or now)
            except (PayloadError, AdapterError, ValueError) as error:
                unreadable.append(self._unreadable(error, payload))
                continue
            except Exception as error:  # an adapter bug must not stop the gateway
                log.exception("%s: adapter failed on a payload", self.adapter.manifest.name)
                unreadable.append(self._unreadable(error, payload))
                continue
            self.stats.readings += len(readings)
            frames.extend(self._frames(readings, now, payload, unreadable))
        return self._queue(frames, unreadable)

    def flush(self, now: datetime | None = None) -> int:
        """Queue what the adapter held back (closed intervals and the like) as of ``now``."""
        return self.queue(self.adapter.flush(now or self.clock()))

    @property
    def in_flight(self) -> int:
        """Messages sent by this process and not yet answered, on every shard."""
        return sum(len(shard.in_flight) for shard in self._shards)

    def has_room(self) -> bool:
        """Whether some shard has fewer than ``max_in_flight`` messages in flight.

        What a loop reading a backlog asks before reading on: a shard whose worker is down
        fills its windows and waits, while the others go on.
        """
        return any(len(shard.in_flight) < self.max_in_flight for shard in self._shards)

    def queue(self, readings: list[Reading]) -> int:
        """Validate readings against the wire schema and queue them durably."""
        unreadable: list[UnreadablePayload] = []
        self.stats.readings += len(readings)
        return self._queue(self._frames(readings, self.clock(), None, unreadable), unreadable)

    def report(self) -> dict[str, Any]:
        """This process's counters, with the outbox's: what an engineer checks while it runs."""
        kept = self.outbox.unreadable(limit=0)
        shards: dict[str, Any] = {}
        if len(self._shards) > 1:  # which worker is behind
            shards = {
                "pending_by_shard": [self.outbox.pending(s.number) for s in self._shards],
                "in_flight_by_shard": [len(s.in_flight) for s in self._shards],
            }
        return {
            **self.stats.as_dict(),
            "pending": self.outbox.pending(),
            "in_flight": self.in_flight,
            **shards,
            "unreadable_kept": kept.kept,
            "unreadable_dropped": kept.dropped,
        }

    def _queue(
        self, frames: list[tuple[str, bytes, int]], unreadable: list[UnreadablePayload]
    ) -> int:
        messages = [(message, frame) for message, frame, _ in frames]
        shards = [shard for _, _, shard in frames] if len(self._shards) > 1 else []
        queued = self.outbox.put(messages, shards) if frames else 0
        self.stats.queued += queued
        try:
            self.outbox.keep_unreadable(unreadable)
        except sqlite3.Error as error:  # evidence lost, no reading: never a reason to stop
            log.error("could not keep %d unreadable payload(s): %s", len(unreadable), error)
        return queued

    def _frames(
        self,
        readings: list[Reading],
        now: datetime,
        payload: bytes | str | None,
        unreadable: list[UnreadablePayload],
    ) -> list[tuple[str, bytes, int]]:
        # The payload a reading came from is what an engineer needs to see when the reading is
        # refused; a reading the adapter made on its own (a closed interval) stands for itself.
        frames = []
        for reading in readings:
            try:
                envelope = Envelope(
                    message_id(self.source, reading),
                    self.source,
                    reading.device,
                    reading.asset,
                    reading.kind,
                    reading.observed_at,
                    reading.body,
                )
                frame = encode(envelope)
                decode(frame, now)  # refuse here what ingest would refuse
            except WireError as error:
                unreadable.append(self._unreadable(error, _evidence(payload, reading)))
                continue
            except (TypeError, ValueError, OverflowError) as error:  # not msgpack-able at all
                refused = WireError("body", reading.body, f"cannot be encoded: {error}")
                unreadable.append(self._unreadable(refused, _evidence(payload, reading)))
                continue
            frames.append((envelope.message_id, frame, self.shard_of(envelope.asset)))
        return frames

    def pump(self, timeout_s: float = 0.0) -> None:
        """Send what is due (within the rate limit) and take in ingest's answers."""
        count = len(self._shards)
        first = self._first_shard
        for offset in range(count):
            shard = self._shards[(first + offset) % count]
            if self._send_due(shard):
                # Under a rate limit the shards share the tokens: the next one goes first next.
                self._first_shard = (shard.number + 1) % count
        deadline = time.monotonic() + timeout_s
        answered: list[tuple[str, str | None]] = []
        if count == 1:
            self._receive(self._shards[0], deadline, answered)
        else:
            # No one socket may hold the others up: each is waited on briefly, in turn, until
            # an answer comes or the time is up; once one came, the others give what they hold.
            while True:
                for shard in self._shards:
                    self._receive(shard, min(deadline, time.monotonic() + _SHARD_POLL_S), answered)
                if answered or time.monotonic() >= deadline:
                    break
        if answered:
            self.outbox.settle(answered)

    def _receive(
        self, shard: _Shard, deadline: float, answered: list[tuple[str, str | None]]
    ) -> None:
        """Take in the shard's answers: wait for one until ``deadline``, then what is there."""
        heard = False
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                frame = shard.transport.receive(remaining if not answered else 0.0)
            except TransportError as error:
                self.stats.transport_errors += 1
                log.warning("receiving from ingest%s failed: %s", self._naming(shard), error)
                break
            if frame is None:
                break
            try:
                reply = decode_reply(frame)
            except WireError as error:
                log.error("unreadable reply from ingest ignored: %s", error)
                continue
            if reply.message_id is None:
                log.error("ingest rejected a message it could not identify: %s", reply.reason)
                continue
            if reply.status == "ack":
                self.stats.acknowledged += 1
            elif reply.status == "duplicate":
                self.stats.duplicates += 1
            else:
                self.stats.rejected += 1
                log.warning("ingest rejected %s: %s", reply.message_id, reply.reason)
            shard.last_answer_at = self._timer()
            shard.silent_resends = 0
            heard = True
            if reply.status == "rejected":
                answered.append((reply.message_id, reply.reason or "rejected, no reason given"))
            else:
                answered.append((reply.message_id, None))
            window = shard.in_flight.pop(reply.message_id, None)
            if window is not None:
                window.discard(reply.message_id)
        if heard:
            shard.windows = [window for window in shard.windows if window]

    def drain(self, timeout_s: float) -> bool:
        """Pump until every queued message is answered or the time is up; True if empty."""
        deadline = time.monotonic() + timeout_s
        while self.outbox.pending():
            if time.monotonic() >= deadline:
                return False
            self.pump(timeout_s=0.05)
        return True

    def _send_due(self, shard: _Shard) -> int:
        """Send what is due on the shard's connection; return how many messages left."""
        # An aggregate accepts facts only in time order, so no message may be committed before an
        # earlier one, even when ingest dies, or its store fails, with some of them unanswered.
        # Messages leave in queue order, in up to windows_in_flight windows; once the messages in
        # flight are unanswered for resend_after_s, the connection is replaced and everything
        # unanswered goes again, in queue order. Ingest does its half (docs/wire-protocol.md §9.3):
        # it commits each connection's messages in the order they come, and after a store failure
        # answers nothing more on that connection, so no later window lands before the resend of
        # an earlier one. A slow or absent ingest slows the adapter down instead of being flooded.
        # With several shards each does all this on its own: an asset's messages all go to one
        # shard, so order within a shard is all that order needs.
        if self._reconnection_due(shard):
            # Answers may have come while the caller was away: taken first, they spare the
            # window a resend (a reconnection throws away what the old socket holds).
            heard: list[tuple[str, str | None]] = []
            self._receive(shard, time.monotonic(), heard)
            if heard:
                self.outbox.settle(heard)
        if self._reconnection_due(shard):
            shard.silent_resends += 1
            self._say_silence(shard)
            try:
                shard.transport.reset()
            except TransportError as error:
                self.stats.transport_errors += 1
                log.warning(
                    "reconnecting to ingest%s failed, will retry: %s", self._naming(shard), error
                )
                # Tried again once the (doubled) resend wait is over, not on every pump.
                shard.window_sent_at = self._timer()
                return 0
            # A fresh connection has nothing in flight: the shard's head goes again, in order.
            shard.in_flight.clear()
            shard.windows.clear()
            shard.stalled = False
        if shard.stalled:
            return 0
        free = self.windows_in_flight - len(shard.windows)
        if free <= 0:
            return 0
        due = [
            row
            for row in self.outbox.head(
                free * self.window_size,
                skip=len(shard.in_flight),
                shard=shard.number if len(self._shards) > 1 else None,
            )
            if row[0] not in shard.in_flight  # never twice on one connection, whatever happens
        ]
        granted = self._bucket.take(len(due))
        sent: list[str] = []
        for start in range(0, granted, self.window_size):
            window: set[str] = set()
            shard.windows.append(window)
            for position in range(start, min(start + self.window_size, granted)):
                message, frame, attempts = due[position]
                window.add(message)
                shard.in_flight[message] = window
                try:
                    shard.transport.send(frame)
                except TransportError as error:
                    # E.g. a connection ZeroMQ gave up on (a refused handshake). What was not sent
                    # joins the window as if lost in transit, and nothing more leaves: it is all
                    # resent, in order, on a fresh connection, once the window is overdue.
                    self.stats.transport_errors += 1
                    log.warning(
                        "sending to ingest%s failed, will retry: %s", self._naming(shard), error
                    )
                    for unsent, _, _ in due[position + 1 : min(start + self.window_size, granted)]:
                        window.add(unsent)
                        shard.in_flight[unsent] = window
                    shard.stalled = True
                    shard.window_sent_at = self._timer()
                    break
                sent.append(message)
                self.stats.resent += attempts > 0
            if shard.stalled:
                break
        if sent:
            shard.window_sent_at = self._timer()
            self.stats.sent += len(sent)
            self.outbox.mark_sent(sent)
        return len(sent)

    def resend_timeout_s(self, shard: int = 0) -> float:
        """How long an unanswered window of ``shard`` waits before it is sent again, now.

        Counted from the window's last answer, not from when it left: a big window that a busy
        ingest is working through is not resent while its answers keep coming (resending it
        would double that ingest's work). Each resend that brings no answer doubles the wait,
        up to ``max_resend_after_s``, so gateways facing a restarted ingest back off instead of
        burying it.
        """
        # The exponent is capped: days of an unreachable ingest must not overflow a float.
        backoff: float = 2.0 ** min(self._shards[shard].silent_resends, 32)
        return min(self.max_resend_after_s, self.resend_after_s * backoff)

    def _reconnection_due(self, shard: _Shard) -> bool:
        # A stalled shard with nothing in flight (its answers came after a failed send) is due
        # too: nothing else would clear the stall.
        return bool(shard.in_flight or shard.stalled) and self._overdue(shard)

    def _overdue(self, shard: _Shard) -> bool:
        since = max(shard.window_sent_at, shard.last_answer_at)
        return self._timer() - since >= self.resend_timeout_s(shard.number)

    def _naming(self, shard: _Shard) -> str:
        # Which worker, when there are several; nothing to add with one.
        return "" if len(self._shards) == 1 else f" (shard {shard.number} of {len(self._shards)})"

    def _say_silence(self, shard: _Shard) -> None:
        # An engineer must learn within seconds that nothing comes back, and why if it is known.
        diagnosis = shard.transport.diagnosis()
        waited = self._timer() - max(shard.window_sent_at, shard.last_answer_at)
        log.warning(
            "ingest%s has not answered %d message(s) for %.0f s: %s; resending in order",
            self._naming(shard),
            len(shard.in_flight),
            waited,
            diagnosis
            or "ingest is not running, not reachable, or refusing this adapter's key "
            "(is its public key on ingest's allow-list?)",
        )
        self.stats.silent_resends += 1

    def _unreadable(self, error: Exception, payload: bytes | str) -> UnreadablePayload:
        field_name = str(getattr(error, "field", type(error).__name__))
        self.stats.unreadable[field_name] += 1
        raw = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else payload
        if self.adapter.manifest.personal:
            # A citizen's message may hold what a person wrote: neither its bytes nor the value
            # at fault are kept or logged, only the field and the rule (docs/privacy.md).
            rule = getattr(error, "reason", None) or type(error).__name__
            reason = f"{field_name}: {rule} (value withheld: personal data)"
            kept = UnreadablePayload(field_name, reason, None, len(raw))
        else:
            reason = str(error) or type(error).__name__
            kept = UnreadablePayload(field_name, reason, raw, len(raw))
        log.warning("%s: payload not readable: %s", self.adapter.manifest.name, reason)
        return kept


def _evidence(payload: bytes | str | None, reading: Reading) -> bytes | str:
    if payload is not None:
        return payload
    return json.dumps(
        {
            "device": reading.device,
            "asset": reading.asset,
            "kind": reading.kind,
            "observed_at": reading.observed_at.isoformat(),
            "body": reading.body,
        },
        default=repr,
        ensure_ascii=False,
    )
