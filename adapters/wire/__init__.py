"""The wire protocol between adapters and ingest: msgpack envelopes over ZeroMQ.

Specified in ``docs/wire-protocol.md``. This package imports nothing else of the project, so
it can run on a gateway far from the twin.
"""

from __future__ import annotations

from adapters.wire.codec import (
    decode,
    decode_reply,
    encode,
    encode_reply,
    from_epoch_ms,
    peek_identity,
    to_epoch_ms,
)
from adapters.wire.envelope import (
    BODY_SCHEMAS,
    KINDS,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    Envelope,
    Reply,
)
from adapters.wire.errors import AdapterError, TransportError, WireError
from adapters.wire.transport import (
    AbstractTransport,
    CurveKeyPair,
    InMemoryTransport,
    ZmqTransport,
    create_keypair,
    load_keypair,
)

__all__ = [
    "BODY_SCHEMAS",
    "KINDS",
    "MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "AbstractTransport",
    "AdapterError",
    "CurveKeyPair",
    "Envelope",
    "InMemoryTransport",
    "Reply",
    "TransportError",
    "WireError",
    "ZmqTransport",
    "create_keypair",
    "decode",
    "decode_reply",
    "encode",
    "encode_reply",
    "from_epoch_ms",
    "load_keypair",
    "peek_identity",
    "to_epoch_ms",
]
