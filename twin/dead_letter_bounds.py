"""Bounds on what refused messages may cost: bytes kept, dead letters per second, counter keys.

A dead letter keeps the message's bytes so that it can be read and retried; a sender that
only sends refused messages (a broken gateway, an attacker holding a key) must not be able to
fill the disk or the memory with them. Three bounds (``twin ingest --stats`` shows them under
``dead_letter_limits``):

* **Size**: at most :data:`MAX_KEPT_RAW_BYTES` of a message's bytes are kept (the wire's own
  largest message: anything longer is refused by the decoder and can never be retried, so
  nothing retryable is lost). A truncated dead letter's reason says so.
* **Rate and count per source**: a token bucket per source (the sending key's name, or the
  name a plain-text message gives) allows a burst of :data:`LETTERS_BURST` dead letters and
  :data:`BYTES_BURST` bytes, refilled at :data:`LETTERS_PER_S` and :data:`BYTES_PER_S`; one
  bucket for all sources together allows ten times that (plain-text senders can make up
  names). Beyond it the message is still refused and answered, but not stored: it is counted
  as dropped (``dead_letters_dropped`` in ``twin ingest --stats``).
* **Counter keys**: refusals are counted by a reason *category* from a closed set
  (:func:`reason_category`), never by text a sender chose (an unknown field's name).

Not responsible for deciding that a message is refused (:mod:`twin.ingest`).
"""

from __future__ import annotations

import re
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.wire import BODY_SCHEMAS, KINDS, MAX_MESSAGE_BYTES

MAX_KEPT_RAW_BYTES = MAX_MESSAGE_BYTES  # 64 KiB
MAX_REASON_CHARS = 1_000  # a reason stored, logged and answered is cut to this
# One SDK window (1,000 messages) refused at once still lands whole; a source refused all the
# time settles at 10 dead letters a second, about 0.9 million a day at most.
LETTERS_BURST = 1_000
LETTERS_PER_S = 10.0
BYTES_BURST = 4 * 1024 * 1024
BYTES_PER_S = 256 * 1024.0
ALL_SOURCES_FACTOR = 10
TRACKED_SOURCES = 1_024  # buckets kept; the least recently used source's is forgotten first
SHOWN_SOURCES = 20  # sources named in the dropped counters; the rest are added up

_ENVELOPE_FIELDS = ("version", "id", "source", "device", "asset", "kind", "observed_at", "body")
_CODE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,47}")
OTHER_SOURCES = "(other sources)"


def reason_category(rule: str) -> str:
    """The counter key for a refusal rule: the rule itself when every part of it comes from
    the code (a wire field of the protocol, a known kind and an error class, an ``auth:`` rule),
    else a fixed category, so that no sender can make up counter keys."""
    family, _, detail = rule.partition(":")
    if not detail:
        return rule if rule in ("internal",) else "other"
    if family == "wire":
        return f"wire:{detail}" if _is_wire_field(detail) else "wire:unrecognised field"
    if family == "auth":
        return rule if _CODE_NAME.fullmatch(detail) else "auth:other"
    if family in KINDS:
        return rule if _CODE_NAME.fullmatch(detail) else f"{family}:other"
    return "other"


def _is_wire_field(name: str) -> bool:
    if name in (*_ENVELOPE_FIELDS, "message", "framing"):
        return True
    prefix, _, body_field = name.partition(".")
    return prefix == "body" and any(
        spec.name == body_field for schema in BODY_SCHEMAS.values() for spec in schema
    )


def bounded_reason(reason: str) -> str:
    """The reason, cut to :data:`MAX_REASON_CHARS` (it is stored, logged and sent back)."""
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    return reason[: MAX_REASON_CHARS - 1] + "…"


def kept_raw(raw: bytes) -> tuple[bytes, str]:
    """The bytes a dead letter keeps of a message, and a note for its reason if cut."""
    if len(raw) <= MAX_KEPT_RAW_BYTES:
        return raw, ""
    return (
        raw[:MAX_KEPT_RAW_BYTES],
        f" [raw bytes truncated: the first {MAX_KEPT_RAW_BYTES} of {len(raw)} kept]",
    )


@dataclass
class _Bucket:
    capacity: float
    rate: float
    tokens: float
    at: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now


@dataclass
class _Allowance:
    letters: _Bucket
    bytes: _Bucket

    def refill(self, now: float) -> None:
        self.letters.refill(now)
        self.bytes.refill(now)

    def allows(self, size: int) -> bool:
        return self.letters.tokens >= 1 and self.bytes.tokens >= size

    def take(self, size: int) -> None:
        self.letters.tokens -= 1
        self.bytes.tokens -= size


def _allowance(factor: int, now: float) -> _Allowance:
    return _Allowance(
        _Bucket(LETTERS_BURST * factor, LETTERS_PER_S * factor, LETTERS_BURST * factor, now),
        _Bucket(BYTES_BURST * factor, BYTES_PER_S * factor, BYTES_BURST * factor, now),
    )


@dataclass
class DeadLetterBudget:
    """Token buckets deciding whether one more dead letter of a source may be stored."""

    clock: Callable[[], float] = time.monotonic
    _sources: OrderedDict[str, _Allowance] = field(default_factory=OrderedDict)
    _everyone: _Allowance | None = None

    def admit(self, source: str, size: int) -> bool:
        """Take a dead letter of ``size`` kept bytes from ``source``'s allowance, if it has one."""
        now = self.clock()
        if self._everyone is None:
            self._everyone = _allowance(ALL_SOURCES_FACTOR, now)
        own = self._sources.pop(source, None) or _allowance(1, now)
        self._sources[source] = own  # most recently used last
        while len(self._sources) > TRACKED_SOURCES:
            self._sources.popitem(last=False)
        own.refill(now)
        self._everyone.refill(now)
        if not (own.allows(size) and self._everyone.allows(size)):
            return False
        own.take(size)
        self._everyone.take(size)
        return True


class BoundedCounter(Counter[str]):
    """A counter of at most ``limit`` keys, ``other`` included: past that, counts for a new key
    go to ``other``.

    A safeguard under :func:`reason_category`: however a key is made, the counters (and the
    status file written from them every second) stay small."""

    def __init__(self, limit: int = 256, other: str = "other") -> None:
        super().__init__()
        self.limit = limit
        self.other = other

    def __setitem__(self, key: str, value: int) -> None:
        if key in self or len(self) < self.limit - 1 or key == self.other:
            super().__setitem__(key, value)
        else:  # ``counter[new] += n`` arrives here as ``counter[new] = 0 + n``
            super().__setitem__(self.other, self[self.other] + value)


DEAD_LETTER_LIMITS = {
    "raw_bytes_kept": MAX_KEPT_RAW_BYTES,
    "reason_chars": MAX_REASON_CHARS,
    "per_source": {
        "letters_burst": LETTERS_BURST,
        "letters_per_s": LETTERS_PER_S,
        "bytes_burst": BYTES_BURST,
        "bytes_per_s": BYTES_PER_S,
    },
    "all_sources_factor": ALL_SOURCES_FACTOR,
}
