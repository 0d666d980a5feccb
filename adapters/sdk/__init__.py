"""The adapter SDK: write one small module per device type, the SDK does the hard parts.

An adapter module declares an :class:`AdapterManifest` and an :class:`Adapter` subclass
whose ``readings(payload, received_at)`` returns :class:`Reading` objects. The
:class:`AdapterRunner` turns them into wire messages with content-derived ids, keeps them in a
durable :class:`Outbox` until ingest answers, resends, rate-limits, and counts and keeps
unreadable payloads instead of crashing.
"""

from __future__ import annotations

from adapters.sdk.base import Adapter, AdapterManifest, Reading
from adapters.sdk.outbox import (
    KeptUnreadable,
    Outbox,
    OutboxInUseError,
    UnreadablePayload,
    UnreadableReview,
    review_unreadable,
)
from adapters.sdk.runner import AdapterRunner, RunnerStats, message_id

__all__ = [
    "Adapter",
    "AdapterManifest",
    "AdapterRunner",
    "KeptUnreadable",
    "Outbox",
    "OutboxInUseError",
    "Reading",
    "RunnerStats",
    "UnreadablePayload",
    "UnreadableReview",
    "message_id",
    "review_unreadable",
]
