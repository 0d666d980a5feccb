"""Milesight EM310-UDL uplinks, checked against Milesight's own documented frames."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.payloads import PayloadError, UltrasonicReading, decode_em310_udl
from adapters.payloads.ultrasonic import ALARM_TILTED


def frame(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_vendor_example_frame() -> None:
    # Milesight-IoT/SensorDecoders, em-series/em310-udl/README.md, section "Example" (the same
    # bytes are the "bytes" of em310-udl-codec.json): 01755C 03824408 040001 decodes to
    # battery 92, distance 2116, position "tilt".
    reading = decode_em310_udl(frame("01755C 03824408 040001"))
    assert reading == UltrasonicReading(
        distance_mm=2116, battery_percent=92.0, tilted=True, alarm=ALARM_TILTED
    )


def test_battery_and_distance_without_position() -> None:
    # Milesight-IoT/SensorDecoders, EM_Series/EM500_Series/EM500-UDL/README.md, "Example":
    # 017564 03821E00 -> battery 100, distance 30. EM310-UDL uses the same two channels.
    reading = decode_em310_udl(frame("017564 03821E00"))
    assert reading == UltrasonicReading(distance_mm=30, battery_percent=100.0)
    assert reading.tilted is None and reading.alarm is None


def test_normal_position_is_not_an_alarm() -> None:
    # Position channel 04 00, value 00 = normal (EM310-UDL README, Telemetry table).
    reading = decode_em310_udl(frame("01755C 03824408 040000"))
    assert reading.tilted is False and reading.alarm is None and reading.distance_mm == 2116


def test_device_information_frame_carries_no_reading() -> None:
    # Milesight EM400-UDL User Guide, 5.1 "Basic Information" example; the attribute channels
    # (ff0b, ff01, ff16 with an 8-byte serial, ff09, ff0a, ff0f) are the ones listed in the
    # EM310-UDL README "Attribute" table.
    reading = decode_em310_udl(frame("ff0bff ff0101 ff166329c42903640033 ff090100 ff0a0101 ff0f00"))
    assert reading == UltrasonicReading()


def test_attribute_and_telemetry_channels_mix() -> None:
    reading = decode_em310_udl(frame("ff0bff ff0a0101 01755C 03824408"))
    assert reading.distance_mm == 2116 and reading.battery_percent == 92.0


def test_configuration_reply_channels_are_walked_past() -> None:
    # Reply to a report-interval downlink (0xFF 0x03, uint16 LE seconds), as handled by the
    # vendor decoder em310-udl-decoder.js, followed by telemetry.
    reading = decode_em310_udl(frame("ff03b004 03824408"))
    assert reading.distance_mm == 2116


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        # EM400-UDL temperature channel (Milesight EM400-UDL User Guide 5.2 example "0367f800"):
        # the EM310-UDL has no such channel.
        ("01755C 0367f800", "channel"),
        # EM400-UDL distance alarm (User Guide "8482330701"): not documented for EM310-UDL.
        ("8482330701", "channel"),
        ("01755C 038244", "distance"),  # distance cut to one byte
        ("0175", "battery"),  # battery channel without its byte
        ("01755C 03", "payload"),  # a lone channel id
        ("", "payload"),
        ("017565", "battery"),  # 101 %
        ("040002", "position"),  # neither normal nor tilt
    ],
)
def test_malformed_frames_name_the_field(payload: str, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_em310_udl(frame(payload))
    assert caught.value.field == field


def test_unknown_channel_error_names_the_pair() -> None:
    with pytest.raises(PayloadError) as caught:
        decode_em310_udl(frame("0367f800"))
    assert caught.value.value == "0x03 0x67"


def test_rejects_text() -> None:
    with pytest.raises(PayloadError) as caught:
        decode_em310_udl("01755C")  # type: ignore[arg-type]
    assert caught.value.field == "payload"


def test_accepts_bytearray_and_memoryview() -> None:
    raw = frame("01755C 03824408 040001")
    expected = decode_em310_udl(raw)
    assert decode_em310_udl(bytearray(raw)) == decode_em310_udl(memoryview(raw)) == expected


@given(st.binary(max_size=64))
def test_arbitrary_bytes_only_ever_raise_payload_error(payload: bytes) -> None:
    try:
        reading = decode_em310_udl(payload)
    except PayloadError:
        return
    assert reading.distance_mm is None or 0 <= reading.distance_mm <= 0xFFFF
    assert reading.battery_percent is None or 0 <= reading.battery_percent <= 100
