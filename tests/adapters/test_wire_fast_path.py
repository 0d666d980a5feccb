"""The wire decoder's fast path judges every message exactly as the strict decoder does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.wire import Envelope, WireError, decode, encode
from adapters.wire.codec import _decode_plain, decode_strictly
from tests.adapters.test_wire import NOW, _envelopes
from tests.twin.test_ingest import _ENVELOPE_SHAPED, _SCALARS


def _judged(decoder: Any, raw: bytes, now: datetime) -> Envelope | tuple[str, str]:
    try:
        envelope: Envelope = decoder(raw, now)
    except WireError as error:
        return (error.field, str(error))
    return envelope


def _as_document(envelope: Envelope) -> dict[str, Any]:
    document: dict[str, Any] = msgpack.unpackb(encode(envelope), raw=False)
    return document


@st.composite
def _altered(draw: st.DrawFn) -> bytes:
    """A valid message with one field replaced, dropped or added, or its body's."""
    document = _as_document(draw(_envelopes()))
    target = document["body"] if draw(st.booleans()) else document
    name = draw(st.sampled_from(sorted(target) + ["extra"]))
    change = draw(st.sampled_from(["replace", "drop"]))
    if change == "drop":
        target.pop(name, None)
    else:
        target[name] = draw(_SCALARS | st.just({"deep": 1}) | st.just(True))
    return bytes(msgpack.packb(document, use_bin_type=True))


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(_envelopes())
def test_valid_messages_take_the_fast_path_and_decode_alike(envelope: Envelope) -> None:
    raw = encode(envelope)
    assert _decode_plain(raw, NOW) == decode_strictly(raw, NOW) == envelope


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(_altered() | _ENVELOPE_SHAPED | st.binary(max_size=64))
def test_any_message_is_judged_as_the_strict_decoder_judges_it(raw: bytes) -> None:
    assert _judged(decode, raw, NOW) == _judged(decode_strictly, raw, NOW)


def test_a_message_of_another_shape_is_left_to_the_strict_decoder() -> None:
    document = {"version": 1, "id": "m", "source": "s", "device": "d", "asset": "a"}
    assert _decode_plain(msgpack.packb(document), NOW) is None
    with pytest.raises(WireError) as refused:
        decode(msgpack.packb(document), NOW)
    assert refused.value.field == "kind" or "missing" in str(refused.value)
