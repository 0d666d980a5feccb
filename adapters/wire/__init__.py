"""The wire protocol between adapters and ingest: msgpack envelopes over ZeroMQ.

Specified in ``docs/wire-protocol.md``. This package imports nothing else of the project, so
it can run on a gateway far from the twin.
"""

from __future__ import annotations

from adapters.wire.codec import (
    RESERVED_SOURCES,
    decode,
    decode_reply,
    encode,
    encode_reply,
    from_epoch_ms,
    peek_identity,
    peek_kind_and_asset,
    to_epoch_ms,
)
from adapters.wire.envelope import (
    BODY_SCHEMAS,
    EARLIEST_OBSERVATION_MS,
    KINDS,
    MAX_CLOCK_SKEW_S,
    MAX_ID_LENGTH,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    Envelope,
    Reply,
)
from adapters.wire.errors import AdapterError, TransportError, WireError
from adapters.wire.server import (
    CurveKeyCheck,
    InMemoryServerTransport,
    ServerFrame,
    ServerTransport,
    ZmqServerTransport,
)
from adapters.wire.shards import shard_of
from adapters.wire.tours import format_tips, parse_tips
from adapters.wire.transport import (
    AbstractTransport,
    CurveKeyPair,
    InMemoryTransport,
    ZmqTransport,
    create_keypair,
    load_keypair,
)

__all__ = [
    "AbstractTransport",
    "AdapterError",
    "BODY_SCHEMAS",
    "CurveKeyCheck",
    "CurveKeyPair",
    "EARLIEST_OBSERVATION_MS",
    "Envelope",
    "InMemoryServerTransport",
    "InMemoryTransport",
    "KINDS",
    "MAX_CLOCK_SKEW_S",
    "MAX_ID_LENGTH",
    "RESERVED_SOURCES",
    "MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "Reply",
    "ServerFrame",
    "ServerTransport",
    "TransportError",
    "WireError",
    "ZmqServerTransport",
    "ZmqTransport",
    "create_keypair",
    "decode",
    "decode_reply",
    "encode",
    "encode_reply",
    "format_tips",
    "from_epoch_ms",
    "load_keypair",
    "parse_tips",
    "peek_identity",
    "peek_kind_and_asset",
    "shard_of",
    "to_epoch_ms",
]
