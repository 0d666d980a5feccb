"""The wire envelope and the body schema of every message kind (protocol version 1).

This is the contract documented in ``docs/wire-protocol.md``: change one, change the other.
Not responsible for bytes (:mod:`adapters.wire.codec`) nor sockets (:mod:`adapters.wire.transport`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({PROTOCOL_VERSION})
MAX_MESSAGE_BYTES = 64 * 1024
MAX_ID_LENGTH = 64
MAX_CLOCK_SKEW_S = 300  # an observation may be stamped at most 5 min in the future
EARLIEST_OBSERVATION_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_INTERVAL_MS = 86_400_000


@dataclass(frozen=True)
class BodyField:
    """One field of a message body: its msgpack type and limits."""

    name: str
    kind: str  # "number" (int or float), "int", "str"
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = 200


def _number(name: str, low: float, high: float, required: bool = True) -> BodyField:
    return BodyField(name, "number", required, low, high)


def _int(name: str, low: int, high: int, required: bool = True) -> BodyField:
    return BodyField(name, "int", required, low, high)


def _str(name: str, max_length: int = 64, required: bool = True) -> BodyField:
    return BodyField(name, "str", required, max_length=max_length)


BODY_SCHEMAS: dict[str, tuple[BodyField, ...]] = {
    "bin.fill": (_number("fill_percent", 0, 100), _int("distance_mm", 0, 10_000, required=False)),
    "footfall.count": (
        _int("interval_start", EARLIEST_OBSERVATION_MS, 2**53),
        _int("count", 0, 1_000_000),
    ),
    "site.energy": (_number("index_kwh", 0, 1e12),),
    "site.meter_replaced": (_number("final_index_kwh", 0, 1e12), _number("new_index_kwh", 0, 1e12)),
    "citizen.register": (_str("commune_insee", 5),),
    "citizen.report": (
        _str("report_ref"),
        _str("category", 32),
        _number("lon", -180, 180),
        _number("lat", -90, 90),
        _str("text", 2_000),
        _str("photo_ref", 200, required=False),
    ),
    "citizen.idea": (_str("idea_ref"), _str("title", 120), _str("text", 2_000)),
    "device.battery": (_number("battery_percent", 0, 100),),
    "device.fault": (_str("fault", 120),),
    "bin.emptied": (_str("round_id", 64), _number("mass_kg", 0, 2_500)),
    "citizen.report_status": (
        _str("report_ref"),
        _str("status", 16),
        _str("note", 500, required=False),
    ),
    "citizen.vote": (_str("author"), _str("idea_ref")),
    "service.place": (_str("request_ref"), _str("action", 16)),
    "service.session": (
        _str("session_ref"),
        _int("starts_at", EARLIEST_OBSERVATION_MS, 2**53),
        _int("seats", 1, 100_000),
    ),
    "service.attendance": (_str("session_ref"), _str("participant_ref"), _str("action", 16)),
    "site.occupancy": (_int("occupancy", 0, 1_000_000),),
    # A collection truck's tour, dated at its end; its tip tickets in one text field (see
    # adapters.wire.tours: the wire has no arrays).
    "truck.tour": (
        _str("round_id", 64),
        _str("stream", 16),
        _int("started_at", EARLIEST_OBSERVATION_MS, 2**53),
        _number("km", 0, 1_000, required=False),
        _number("odometer_start_km", 0, 5_000_000, required=False),
        _number("odometer_end_km", 0, 5_000_000, required=False),
        _str("tips", 1_000, required=False),
        _str("depot_insee", 5, required=False),
    ),
    # Amendments name an earlier fact of the envelope's asset by exactly one of these two.
    "fact.correct": (
        _str("original_message", 130, required=False),
        _int("original_version", 1, 2**31, required=False),
        _str("field", 32),
        _number("value", -1e12, 1e12),
        _str("by"),
        _str("reason", 500),
    ),
    "fact.retract": (
        _str("original_message", 130, required=False),
        _int("original_version", 1, 2**31, required=False),
        _str("by"),
        _str("reason", 500),
    ),
}
KINDS = frozenset(BODY_SCHEMAS)


@dataclass(frozen=True)
class Envelope:
    """One observation from one device, as it travels on the wire."""

    message_id: str
    source: str
    device: str
    asset: str
    kind: str
    observed_at: datetime  # UTC-aware, millisecond precision on the wire
    body: dict[str, Any] = field(default_factory=dict)
    version: int = PROTOCOL_VERSION


REPLY_STATUSES = ("ack", "duplicate", "rejected")


@dataclass(frozen=True)
class Reply:
    """Ingest's answer to one message: ``ack`` (committed), ``duplicate`` or ``rejected``."""

    status: str
    message_id: str | None
    reason: str | None = None
    version: int = PROTOCOL_VERSION
