"""Receipts: the twin's record that a wire message was handled, once.

A receipt is an event-sourced record whose id derives from ``(source, message id)`` (or from
the bytes of a message too broken to name itself). It is saved in the same transaction as the
events the message caused, so "recorded once" is the event store's own uniqueness guarantee,
on SQLite and PostgreSQL alike. Rejected messages keep their raw bytes and reason: they are
the dead letters. Not responsible for deciding what a message means (:mod:`twin.ingest`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.ids import VALLEY_NAMESPACE


def receipt_id(source: str, message_id: str) -> UUID:
    """The receipt id of a message known by its source and id."""
    return uuid5(VALLEY_NAMESPACE, f"receipt/{source}/{message_id}")


def raw_receipt_id(raw: bytes) -> UUID:
    """The receipt id of a message too broken to name itself: by its bytes."""
    return uuid5(VALLEY_NAMESPACE, f"receipt/raw/{hashlib.sha256(raw).hexdigest()}")


class MessageReceipt(Aggregate):
    """One wire message, handled: applied, or dead-lettered with its bytes and reason."""

    class Applied(Aggregate.Created):
        source: str
        message_id: str
        kind: str
        device: str

    class DeadLettered(Aggregate.Created):
        source: str
        message_id: str | None
        kind: str | None
        device: str | None
        reason: str
        raw_base64: str

    def __init__(
        self,
        source: str,
        message_id: str | None,
        kind: str | None,
        device: str | None,
        reason: str | None = None,
        raw_base64: str | None = None,
    ) -> None:
        self.source = source
        self.message_id = message_id
        self.kind = kind
        self.device = device
        self.reason = reason
        self.raw_base64 = raw_base64
        self.settled: str | None = None  # how a dead letter was settled: retried or discarded

    @property
    def rejected(self) -> bool:
        """True for a dead letter (still refused: not applied on a retry)."""
        return self.reason is not None

    @property
    def open(self) -> bool:
        """True for a dead letter nobody settled yet."""
        return self.rejected and self.settled is None

    class Retried(Aggregate.Event):
        """The dead letter was judged again and applied: its events are saved with this."""

        note: str

        def apply(self, aggregate: MessageReceipt) -> None:
            aggregate.reason = None
            aggregate.settled = "retried"

    class Discarded(Aggregate.Event):
        """The dead letter was looked at and set aside, with a note saying why."""

        note: str

        def apply(self, aggregate: MessageReceipt) -> None:
            aggregate.settled = "discarded"

    def retried(self, at: datetime, note: str = "") -> None:
        """Record that the message, judged again, was applied."""
        self.trigger_event(self.Retried, timestamp=at, note=note)

    def discard(self, note: str, at: datetime) -> None:
        """Set the dead letter aside, saying why."""
        self.trigger_event(self.Discarded, timestamp=at, note=note)

    @classmethod
    def applied(
        cls, receipt: UUID, source: str, message_id: str, kind: str, device: str, at: datetime
    ) -> MessageReceipt:
        """The receipt of a message whose events are saved with it."""
        return cls._create(
            cls.Applied,
            id=receipt,
            timestamp=at,
            source=source,
            message_id=message_id,
            kind=kind,
            device=device,
        )

    @classmethod
    def dead_letter(
        cls,
        receipt: UUID,
        raw: bytes,
        reason: str,
        at: datetime,
        source: str,
        message_id: str | None = None,
        kind: str | None = None,
        device: str | None = None,
    ) -> MessageReceipt:
        """A dead letter: the message's raw bytes and why it was refused."""
        return cls._create(
            cls.DeadLettered,
            id=receipt,
            timestamp=at,
            source=source,
            message_id=message_id,
            kind=kind,
            device=device,
            reason=reason,
            raw_base64=base64.b64encode(raw).decode("ascii"),
        )


_encode_string = json.encoder.encode_basestring  # the library's encoder, ensure_ascii off


@dataclass(frozen=True)
class AppliedReceipt:
    """The receipt of an applied message, as ingest writes it: a row, not an aggregate.

    An applied message's receipt is written once and never changed, so ingest need not build
    the aggregate to save it: :meth:`row` is, to the byte, what saving
    ``MessageReceipt.applied(...)`` writes (the tests compare them). Reading it back gives the
    same :class:`MessageReceipt`.
    """

    id: UUID
    source: str
    message_id: str
    kind: str
    device: str
    received_at: datetime
    reason: None = None  # applied: nothing refused

    def aggregate(self) -> MessageReceipt:
        """The receipt as an aggregate, for a store whose mapper :meth:`row` cannot stand for
        (a cipher or a compressor configured)."""
        return MessageReceipt.applied(
            self.id, self.source, self.message_id, self.kind, self.device, self.received_at
        )

    def row(self, recorded_at: datetime) -> StoredEvent:
        """Its stored row, recorded at ``recorded_at`` (an uncompressed, unencrypted store)."""
        state = (
            '{"timestamp":{"_type_":"datetime_iso","_data_":"'
            + self.received_at.isoformat()
            + '"},"originator_topic":'
            + _ORIGINATOR_TOPIC
            + ',"source":'
            + _encode_string(self.source)
            + ',"message_id":'
            + _encode_string(self.message_id)
            + ',"kind":'
            + _encode_string(self.kind)
            + ',"device":'
            + _encode_string(self.device)
            + ',"recorded_at":{"_type_":"datetime_iso","_data_":"'
            + recorded_at.isoformat()
            + '"}}'
        )
        return StoredEvent(
            originator_id=self.id,
            originator_version=1,
            topic=_APPLIED_TOPIC,
            state=state.encode("utf8"),
        )


_APPLIED_TOPIC = get_topic(MessageReceipt.Applied)
_ORIGINATOR_TOPIC = _encode_string(get_topic(MessageReceipt))


@dataclass(frozen=True)
class DeadLetter:
    """A rejected message as `twin deadletters` shows it."""

    receipt: UUID  # what `twin deadletters retry` and `discard` take
    received_at: datetime
    source: str
    message_id: str | None
    kind: str | None
    device: str | None
    reason: str
    raw: bytes
    settled: str | None = None  # retried, discarded, or None while open
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain values; the raw bytes in hexadecimal."""
        return {
            "id": str(self.receipt),
            "received_at": self.received_at.isoformat(),
            "source": self.source,
            "message_id": self.message_id,
            "kind": self.kind,
            "device": self.device,
            "reason": self.reason,
            "raw_hex": self.raw.hex(),
            "settled": self.settled,
            "note": self.note,
        }

    @classmethod
    def from_event(cls, event: MessageReceipt.DeadLettered) -> DeadLetter:
        """The dead letter recorded by a rejected receipt."""
        return cls(
            receipt=event.originator_id,
            received_at=event.timestamp,
            source=event.source,
            message_id=event.message_id,
            kind=event.kind,
            device=event.device,
            reason=event.reason,
            raw=base64.b64decode(event.raw_base64),
        )
