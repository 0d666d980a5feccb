"""Strict msgpack encoding and decoding of envelopes and replies.

Decoding never guesses: an unknown version or kind, a missing, extra or ill-typed field, an
observation time too far in the future, or a value outside its physical range raises
:class:`WireError` naming the field, the value and the rule. Not responsible for sockets.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

import msgpack

from adapters.wire.envelope import (
    BODY_SCHEMAS,
    EARLIEST_OBSERVATION_MS,
    KINDS,
    MAX_CLOCK_SKEW_S,
    MAX_ID_LENGTH,
    MAX_INTERVAL_MS,
    MAX_MESSAGE_BYTES,
    REPLY_STATUSES,
    SUPPORTED_VERSIONS,
    BodyField,
    Envelope,
    Reply,
)
from adapters.wire.errors import WireError
from adapters.wire.tours import check_tour

ENVELOPE_FIELDS = ("version", "id", "source", "device", "asset", "kind", "observed_at", "body")
_UNPACK_LIMITS = {
    "max_str_len": MAX_MESSAGE_BYTES,
    "max_bin_len": 0,
    "max_array_len": 0,
    "max_map_len": 16,
    "max_ext_len": 0,
}
# The unpacker still lets through a zero-length bin, array or ext, and it nests maps as deep as
# its own stack allows: _check_shape refuses those, naming the field.
_MAX_DEPTH = 2  # the envelope (or reply) and its body are the only maps


def to_epoch_ms(instant: datetime) -> int:
    """Milliseconds since the Unix epoch of a UTC-aware instant."""
    if instant.tzinfo is None:
        raise WireError("observed_at", instant, "must be timezone-aware")
    return int(round(instant.timestamp() * 1000))


def from_epoch_ms(milliseconds: int) -> datetime:
    """The UTC instant of a count of milliseconds since the Unix epoch."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=milliseconds)


def encode(envelope: Envelope) -> bytes:
    """Encode an envelope; the result decodes back to an equal envelope (ms precision)."""
    document = {
        "version": envelope.version,
        "id": envelope.message_id,
        "source": envelope.source,
        "device": envelope.device,
        "asset": envelope.asset,
        "kind": envelope.kind,
        "observed_at": to_epoch_ms(envelope.observed_at),
        "body": envelope.body,
    }
    raw: bytes = msgpack.packb(document, use_bin_type=True)
    return raw


def decode(raw: bytes, now: datetime) -> Envelope:
    """Decode and validate one message; ``now`` bounds how far in the future it may be dated."""
    envelope = _decode_plain(raw, now)
    return envelope if envelope is not None else decode_strictly(raw, now)


_PLAIN_VALUES = (str, int, float, type(None))


def _decode_plain(raw: bytes, now: datetime) -> Envelope | None:
    """The envelope of a message of the usual shape, or None to let :func:`decode_strictly` judge.

    Ingest decodes thousands of messages a second and nearly all are well formed: flat, eight
    fields, plain values. This checks that shape with a few exact type tests, then the same
    rules as :func:`decode_strictly` in the same order, so that whatever it accepts, or refuses
    from the body on, the strict decoder would accept or refuse alike (the tests compare them);
    anything else, it leaves to the strict decoder, which names what is wrong.
    """
    if type(raw) is not bytes or len(raw) > MAX_MESSAGE_BYTES:
        return None
    try:
        document = msgpack.unpackb(raw, raw=False, strict_map_key=True, **_UNPACK_LIMITS)
    except Exception:  # whatever it is, the strict decoder says it in the wire's terms
        return None
    if type(document) is not dict or len(document) != len(ENVELOPE_FIELDS):
        return None
    version = document.get("version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        return None
    message_id, source = document.get("id"), document.get("source")
    device, asset = document.get("device"), document.get("asset")
    kind, observed_ms = document.get("kind"), document.get("observed_at")
    body = document.get("body")
    if not (
        _plain_identifier(message_id)
        and _plain_identifier(source)
        and _plain_identifier(device)
        and _plain_identifier(asset)
        and "/" not in source
        and source not in RESERVED_SOURCES
        and type(kind) is str
        and kind in KINDS
        and type(observed_ms) is int
        and EARLIEST_OBSERVATION_MS <= observed_ms <= to_epoch_ms(now) + MAX_CLOCK_SKEW_S * 1000
        and type(body) is dict
        and all(type(key) is str and type(value) in _PLAIN_VALUES for key, value in body.items())
    ):
        return None
    return _envelope(message_id, source, device, asset, kind, observed_ms, body, version)


def _plain_identifier(value: Any) -> TypeGuard[str]:
    return (
        type(value) is str
        and 0 < len(value) <= MAX_ID_LENGTH
        and value.isprintable()
        and value == value.strip()
    )


def decode_strictly(raw: bytes, now: datetime) -> Envelope:
    """:func:`decode` without its fast path: every rule checked in turn, the first broken named."""
    if isinstance(raw, bytes | bytearray | memoryview) and len(raw) > MAX_MESSAGE_BYTES:
        raise WireError("message", f"{len(raw)} bytes", f"larger than {MAX_MESSAGE_BYTES} bytes")
    document = _unpack(raw)
    if not isinstance(document, dict):
        raise WireError("message", type(document).__name__, "must be a msgpack map")
    version = document.get("version")
    if (
        isinstance(version, bool)
        or not isinstance(version, int)
        or version not in SUPPORTED_VERSIONS
    ):
        raise WireError(
            "version",
            _shown(version),
            f"unsupported protocol version; supported: {sorted(SUPPORTED_VERSIONS)}",
        )
    _check_shape(document, _MAX_DEPTH)
    extra = sorted(str(k) for k in document if k not in ENVELOPE_FIELDS)
    if extra:
        raise WireError(extra[0], document[extra[0]], "unknown envelope field")
    message_id = _identifier(document, "id")
    source = _source(document)
    device = _identifier(document, "device")
    asset = _identifier(document, "asset")
    kind = document.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise WireError("kind", kind, f"unknown kind; known: {', '.join(sorted(KINDS))}")
    observed_ms = _required(document, "observed_at")
    if isinstance(observed_ms, bool) or not isinstance(observed_ms, int):
        raise WireError(
            "observed_at",
            observed_ms,
            "must be an integer of milliseconds since 1970-01-01T00:00:00Z",
        )
    latest_ms = to_epoch_ms(now) + MAX_CLOCK_SKEW_S * 1000
    if observed_ms < EARLIEST_OBSERVATION_MS:
        raise WireError("observed_at", observed_ms, "before 2000-01-01T00:00:00Z")
    if observed_ms > latest_ms:
        raise WireError("observed_at", observed_ms, f"more than {MAX_CLOCK_SKEW_S} s in the future")
    body = _required(document, "body")
    return _envelope(message_id, source, device, asset, kind, observed_ms, body, version)


def _envelope(
    message_id: str,
    source: str,
    device: str,
    asset: str,
    kind: str,
    observed_ms: int,
    body: object,
    version: int,
) -> Envelope:
    """The envelope of fields checked already, once its body is checked against its kind."""
    checked = _body(kind, body)
    _check_for_kind(kind, checked, observed_ms)
    return Envelope(
        message_id=message_id,
        source=source,
        device=device,
        asset=asset,
        kind=kind,
        observed_at=from_epoch_ms(observed_ms),
        body=checked,
        version=version,
    )


def _check_for_kind(kind: str, body: dict[str, Any], observed_ms: int) -> None:
    """The rules of a kind that tie its body to the envelope's time."""
    if kind == "footfall.count" and not (
        0 < observed_ms - body["interval_start"] <= MAX_INTERVAL_MS
    ):
        raise WireError(
            "body.interval_start",
            body["interval_start"],
            "must be within the day before observed_at",
        )
    if kind == "truck.tour":
        check_tour(body, observed_ms)


def peek_identity(raw: bytes) -> tuple[str | None, str | None]:
    """Best effort (source, message id) of a message that failed to decode, for its reply."""
    try:
        document = _unpack(raw)
    except WireError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    found = []
    for name in ("source", "id"):
        value = document.get(name)
        found.append(value if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH else None)
    return found[0], found[1]


def peek_kind_and_asset(raw: bytes) -> tuple[str | None, str | None]:
    """Best effort (kind, asset) of a message that failed to decode, read leniently (any map
    keys) so that a malformed message that may hold personal data is still recognised."""
    try:
        document = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except Exception:  # any undecodable bytes: nothing can be read from them
        return None, None
    if not isinstance(document, dict):
        return None, None
    kind, asset = document.get("kind"), document.get("asset")
    return (kind if isinstance(kind, str) else None, asset if isinstance(asset, str) else None)


def encode_reply(reply: Reply) -> bytes:
    """Encode ingest's reply to one message."""
    raw: bytes = msgpack.packb(
        {
            "version": reply.version,
            "id": reply.message_id,
            "status": reply.status,
            "reason": reply.reason,
        },
        use_bin_type=True,
    )
    return raw


def decode_reply(raw: bytes) -> Reply:
    """Decode a reply from ingest, strictly."""
    document = _unpack(raw)
    if not isinstance(document, dict):
        raise WireError("reply", type(document).__name__, "must be a msgpack map")
    _check_shape(document, 1)
    version = document.get("version", 1)
    if (
        isinstance(version, bool)
        or not isinstance(version, int)
        or version not in SUPPORTED_VERSIONS
    ):
        raise WireError(
            "version",
            version,
            f"unsupported protocol version; supported: {sorted(SUPPORTED_VERSIONS)}",
        )
    status = document.get("status")
    if status not in REPLY_STATUSES:
        raise WireError("status", status, f"must be one of {', '.join(REPLY_STATUSES)}")
    message_id = document.get("id")
    reason = document.get("reason")
    if message_id is not None and not isinstance(message_id, str):
        raise WireError("id", message_id, "must be a string or nil")
    if reason is not None and not isinstance(reason, str):
        raise WireError("reason", reason, "must be a string or nil")
    return Reply(status=status, message_id=message_id, reason=reason, version=version)


def _unpack(raw: bytes) -> Any:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise WireError("message", type(raw).__name__, "must be bytes")
    try:
        return msgpack.unpackb(raw, raw=False, strict_map_key=True, **_UNPACK_LIMITS)
    except msgpack.ExtraData:
        raise WireError(
            "message", f"{len(raw)} bytes", "trailing bytes after the msgpack map"
        ) from None
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        # ValueError covers truncated data, invalid UTF-8 and exceeded limits.
        raise WireError(
            "message",
            f"{len(raw)} bytes",
            f"not valid msgpack: {str(error) or type(error).__name__}",
        ) from None


def _shown(value: Any) -> Any:
    # A map may nest too deep for repr(); say what it is instead of showing it.
    return f"map of {len(value)} entries" if isinstance(value, dict) else value


def _check_shape(document: dict[Any, Any], max_depth: int) -> None:
    """Refuse non-string keys, bin, array and ext values, and maps nested deeper than ``max_depth``."""
    pending: list[tuple[str, dict[Any, Any], int]] = [("", document, 1)]
    while pending:
        prefix, mapping, depth = pending.pop()
        for key, value in mapping.items():
            if not isinstance(key, str):
                raise WireError(
                    prefix.rstrip(".") or "message", key, "map keys must be msgpack str"
                )
            name = prefix + key
            if isinstance(value, dict):
                if depth >= max_depth:
                    raise WireError(
                        name, _shown(value), f"maps may not nest more than {max_depth} deep"
                    )
                pending.append((name + ".", value, depth + 1))
            elif isinstance(value, bytes):
                raise WireError(name, value, "msgpack bin is not allowed; send text as msgpack str")
            elif not isinstance(value, str | int | float | None):
                raise WireError(name, value, "msgpack arrays and ext types are not allowed")


def _required(document: dict[str, Any], name: str) -> Any:
    if name not in document:
        raise WireError(name, None, "missing")
    return document[name]


RESERVED_SOURCES = frozenset({"raw"})
"""Names no source may take: ``receipt/raw/…`` files the messages too broken to name themselves."""


def _source(document: dict[str, Any]) -> str:
    # A receipt's id is derived from "receipt/SOURCE/ID": a source holding "/" could take the
    # receipt of another source's message ("a" sending "b/x" would be "a/b" sending "x").
    source = _identifier(document, "source")
    if "/" in source or source in RESERVED_SOURCES:
        raise WireError(
            "source",
            source,
            "must not contain '/' nor be 'raw' (receipt ids are derived from source/id)",
        )
    return source


def _identifier(document: dict[str, Any], name: str) -> str:
    value = _required(document, name)
    if not isinstance(value, str):
        raise WireError(name, value, "must be a string")
    if not 0 < len(value) <= MAX_ID_LENGTH or not value.isprintable() or value != value.strip():
        raise WireError(
            name, value, f"must be 1 to {MAX_ID_LENGTH} printable characters without outer spaces"
        )
    return value


def _body(kind: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise WireError("body", body, "must be a map")
    schema = BODY_SCHEMAS[kind]
    known = {f.name for f in schema}
    extra = sorted(str(k) for k in body if k not in known)
    if extra:
        raise WireError(f"body.{extra[0]}", body[extra[0]], f"unknown field for kind {kind}")
    checked: dict[str, Any] = {}
    for spec in schema:
        if spec.name not in body:
            if spec.required:
                raise WireError(f"body.{spec.name}", None, f"missing (required for kind {kind})")
            continue
        checked[spec.name] = _value(spec, body[spec.name])
    return checked


def _value(spec: BodyField, value: Any) -> Any:
    name = f"body.{spec.name}"
    if spec.kind == "str":
        if not isinstance(value, str):
            raise WireError(name, value, "must be a string")
        if not value.strip() or len(value) > spec.max_length:
            raise WireError(name, value, f"must be 1 to {spec.max_length} characters")
        return value
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if spec.kind == "int" and (not is_number or not isinstance(value, int)):
        raise WireError(name, value, "must be an integer")
    if not is_number:
        raise WireError(name, value, "must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise WireError(name, value, "must be finite")
    if spec.minimum is not None and value < spec.minimum:
        raise WireError(name, value, f"below the physical minimum {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise WireError(name, value, f"above the physical maximum {spec.maximum:g}")
    return value
