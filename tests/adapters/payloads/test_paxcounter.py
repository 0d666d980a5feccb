"""ESP32 Paxcounter count frames (port 1), per the project's "Payload format" page.

The page gives the layout but no example frame: the frames here are built from it.
"""

from __future__ import annotations

import pytest

from adapters.payloads import PaxCount, PayloadError, decode_paxcount


@pytest.mark.parametrize(
    ("frame", "encoding", "expected"),
    [
        ("0102 0003", "plain", PaxCount(wifi=258, ble=3)),  # big-endian
        ("0201 0300", "packed", PaxCount(wifi=258, ble=3)),  # little-endian, the default
        ("002A", "plain", PaxCount(wifi=42, ble=None)),  # BLE scanning off: 2 bytes
        ("0000 1100", "packed", PaxCount(wifi=0, ble=17)),  # Wi-Fi scanning off: 00 00
    ],
)
def test_counts_in_both_encoders(frame: str, encoding: str, expected: PaxCount) -> None:
    assert decode_paxcount(bytes.fromhex(frame.replace(" ", "")), encoding) == expected


def test_pax_is_both_radios_together() -> None:
    assert PaxCount(wifi=258, ble=3).pax == 261
    assert PaxCount(wifi=42, ble=None).pax == 42


def test_the_default_encoder_is_packed() -> None:
    assert decode_paxcount(bytes.fromhex("0201")) == PaxCount(wifi=258, ble=None)


@pytest.mark.parametrize(
    ("frame", "field"), [("", "payload"), ("01", "payload"), ("010203", "payload")]
)
def test_frames_of_another_length_are_refused(frame: str, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_paxcount(bytes.fromhex(frame))
    assert caught.value.field == field and "2 or 4 bytes" in caught.value.reason


def test_an_unknown_encoder_is_refused() -> None:
    with pytest.raises(PayloadError) as caught:
        decode_paxcount(b"\x00\x01", "cayenne")
    assert caught.value.field == "encoding"
