"""The SDK's engine: readings become envelopes, wait in the outbox, go out, come back answered.

Every adapter gets the same guarantees from here: message ids derived from content (so a
payload read twice is one message), local validation against the wire schema before
anything is queued, a durable outbox with resends until ingest answers, a rate limit, and
payloads that cannot be read counted, logged and kept in the outbox for review (only their
reason for an adapter of citizens' messages) instead of crashing the process.
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
    to_epoch_ms,
)

log = logging.getLogger(__name__)

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
    """Runs one adapter instance against ingest."""

    def __init__(
        self,
        adapter: Adapter,
        transport: AbstractTransport,
        outbox: Outbox,
        source: str,
        *,
        rate_per_s: float | None = None,
        resend_after_s: float = 5.0,
        max_resend_after_s: float | None = None,  # None: a minute, or resend_after_s if longer
        max_in_flight: int = 1_000,  # most messages sent and not yet answered, all windows
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
        self.adapter = adapter
        self.transport = transport
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
        # Sent and not yet answered: each message's window, and the open windows, oldest first.
        # The messages in flight are always the oldest in the outbox (they leave in queue order).
        self._in_flight: dict[str, set[str]] = {}
        self._windows: list[set[str]] = []
        # A send failed: nothing more leaves until the unanswered are resent on a fresh connection.
        self._stalled = False
        self._window_sent_at = 0.0
        self._last_answer_at = 0.0
        self._silent_resends = 0  # resends in a row with no answer in between

    def submit(self, payload: bytes | str, received_at: datetime | None = None) -> int:
        """Read one device payload and queue its readings; return how many were queued."""
        return self.submit_many([payload], received_at)

    def submit_many(
        self, payloads: Sequence[bytes | str], received_at: datetime | None = None
    ) -> int:
        """Read several payloads and queue all their readings in one durable write."""
        frames: list[tuple[str, bytes]] = []
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
        """Messages sent by this process and not yet answered."""
        return len(self._in_flight)

    def queue(self, readings: list[Reading]) -> int:
        """Validate readings against the wire schema and queue them durably."""
        unreadable: list[UnreadablePayload] = []
        self.stats.readings += len(readings)
        return self._queue(self._frames(readings, self.clock(), None, unreadable), unreadable)

    def report(self) -> dict[str, Any]:
        """This process's counters, with the outbox's: what an engineer checks while it runs."""
        kept = self.outbox.unreadable(limit=0)
        return {
            **self.stats.as_dict(),
            "pending": self.outbox.pending(),
            "in_flight": self.in_flight,
            "unreadable_kept": kept.kept,
            "unreadable_dropped": kept.dropped,
        }

    def _queue(self, frames: list[tuple[str, bytes]], unreadable: list[UnreadablePayload]) -> int:
        queued = self.outbox.put(frames) if frames else 0
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
    ) -> list[tuple[str, bytes]]:
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
            frames.append((envelope.message_id, frame))
        return frames

    def pump(self, timeout_s: float = 0.0) -> None:
        """Send what is due (within the rate limit) and take in ingest's answers."""
        self._send_due()
        deadline = time.monotonic() + timeout_s
        answered: list[tuple[str, str | None]] = []
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                frame = self.transport.receive(remaining if not answered else 0.0)
            except TransportError as error:
                self.stats.transport_errors += 1
                log.warning("receiving from ingest failed: %s", error)
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
            self._last_answer_at = self._timer()
            self._silent_resends = 0
            if reply.status == "rejected":
                answered.append((reply.message_id, reply.reason or "rejected, no reason given"))
            else:
                answered.append((reply.message_id, None))
            window = self._in_flight.pop(reply.message_id, None)
            if window is not None:
                window.discard(reply.message_id)
        if answered:
            self._windows = [window for window in self._windows if window]
            self.outbox.settle(answered)

    def drain(self, timeout_s: float) -> bool:
        """Pump until every queued message is answered or the time is up; True if empty."""
        deadline = time.monotonic() + timeout_s
        while self.outbox.pending():
            if time.monotonic() >= deadline:
                return False
            self.pump(timeout_s=0.05)
        return True

    def _send_due(self) -> None:
        # An aggregate accepts facts only in time order, so no message may be committed before an
        # earlier one, even when ingest dies, or its store fails, with some of them unanswered.
        # Messages leave in queue order, in up to windows_in_flight windows; once the messages in
        # flight are unanswered for resend_after_s, the connection is replaced and everything
        # unanswered goes again, in queue order. Ingest does its half (docs/wire-protocol.md §9.3):
        # it commits each connection's messages in the order they come, and after a store failure
        # answers nothing more on that connection, so no later window lands before the resend of
        # an earlier one. A slow or absent ingest slows the adapter down instead of being flooded.
        if self._in_flight and self._overdue():
            self._silent_resends += 1
            self._say_silence(len(self._in_flight))
            try:
                self.transport.reset()
            except TransportError as error:
                self.stats.transport_errors += 1
                log.warning("reconnecting to ingest failed, will retry: %s", error)
                return
            # A fresh connection has nothing in flight: the outbox's head goes again, in order.
            self._in_flight.clear()
            self._windows.clear()
            self._stalled = False
        if self._stalled:
            return
        free = self.windows_in_flight - len(self._windows)
        if free <= 0:
            return
        due = [
            row
            for row in self.outbox.head(free * self.window_size, skip=len(self._in_flight))
            if row[0] not in self._in_flight  # never twice on one connection, whatever happens
        ]
        granted = self._bucket.take(len(due))
        sent: list[str] = []
        for start in range(0, granted, self.window_size):
            window: set[str] = set()
            self._windows.append(window)
            for position in range(start, min(start + self.window_size, granted)):
                message, frame, attempts = due[position]
                window.add(message)
                self._in_flight[message] = window
                try:
                    self.transport.send(frame)
                except TransportError as error:
                    # E.g. a connection ZeroMQ gave up on (a refused handshake). What was not sent
                    # joins the window as if lost in transit, and nothing more leaves: it is all
                    # resent, in order, on a fresh connection, once the window is overdue.
                    self.stats.transport_errors += 1
                    log.warning("sending to ingest failed, will retry: %s", error)
                    for unsent, _, _ in due[position + 1 : min(start + self.window_size, granted)]:
                        window.add(unsent)
                        self._in_flight[unsent] = window
                    self._stalled = True
                    self._window_sent_at = self._timer()
                    break
                sent.append(message)
                self.stats.resent += attempts > 0
            if self._stalled:
                break
        if sent:
            self._window_sent_at = self._timer()
            self.stats.sent += len(sent)
            self.outbox.mark_sent(sent)

    def resend_timeout_s(self) -> float:
        """How long an unanswered window waits before it is sent again, now.

        Counted from the window's last answer, not from when it left: a big window that a busy
        ingest is working through is not resent while its answers keep coming (resending it
        would double that ingest's work). Each resend that brings no answer doubles the wait,
        up to ``max_resend_after_s``, so gateways facing a restarted ingest back off instead of
        burying it.
        """
        backoff: float = 2.0**self._silent_resends
        return min(self.max_resend_after_s, self.resend_after_s * backoff)

    def _overdue(self) -> bool:
        since = max(self._window_sent_at, self._last_answer_at)
        return self._timer() - since >= self.resend_timeout_s()

    def _say_silence(self, unanswered: int) -> None:
        # An engineer must learn within seconds that nothing comes back, and why if it is known.
        diagnosis = self.transport.diagnosis()
        waited = self._timer() - max(self._window_sent_at, self._last_answer_at)
        log.warning(
            "ingest has not answered %d message(s) for %.0f s: %s; resending in order",
            unanswered,
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
