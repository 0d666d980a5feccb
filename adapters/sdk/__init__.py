"""The adapter SDK: write one small module per device type, the SDK does the hard parts.

An adapter module declares an :class:`AdapterManifest` and an :class:`Adapter` subclass
whose ``readings(payload, received_at)`` returns :class:`Reading` objects. The
:class:`AdapterRunner` turns them into wire messages with content-derived ids, keeps them in a
durable :class:`Outbox` until ingest answers, resends, rate-limits, and counts and keeps
unreadable payloads instead of crashing. Given one ingest endpoint per shard, it sends each
message to its asset's shard (``adapters.wire.shard_of``).
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
from adapters.sdk.runner import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_WINDOWS_IN_FLIGHT,
    AdapterRunner,
    RunnerStats,
    message_id,
)

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_WINDOWS_IN_FLIGHT",
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
