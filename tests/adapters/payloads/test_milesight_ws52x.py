"""Milesight WS52x smart socket frames, with the vendor's example frame as the test vector."""

from __future__ import annotations

import pytest

from adapters.payloads import PayloadError, SocketReading, decode_ws52x

# Milesight-IoT/SensorDecoders, WS_Series/WS52x/README.md, "Example".
VENDOR_EXAMPLE = "087001 05812C 07C94A00 03743009 068309660000 048007000000"


def frame(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_the_vendor_example_frame() -> None:
    assert decode_ws52x(frame(VENDOR_EXAMPLE)) == SocketReading(
        voltage_v=235.2,
        active_power_w=7,
        power_factor=0.44,
        energy_wh=26_121,
        current_ma=74,
        socket_on=True,
    )


def test_a_status_only_frame_leaves_the_rest_unknown() -> None:
    assert decode_ws52x(frame("087000")) == SocketReading(socket_on=False)


def test_values_are_little_endian_and_unsigned() -> None:
    decoded = decode_ws52x(frame("0683 FFFFFFFF 0480 00000100"))
    assert decoded.energy_wh == 0xFFFF_FFFF and decoded.active_power_w == 0x0001_0000


@pytest.mark.parametrize(
    ("hex_frame", "field", "reason"),
    [
        ("", "payload", "empty"),
        ("0874", "channel", "not a channel of Milesight's WS52x layout (byte 0)"),
        ("087001 FF0B01", "channel", "(byte 3)"),  # device information: widths not published
        ("08", "payload", "cut off at byte 0"),
        ("0683 0966", "power_consumption", "needs 4 byte(s)"),
        ("05812C 05812C", "power_factor", "given twice"),
        ("058165", "power_factor", "at most 1"),
        ("087002", "socket_status", "0 (off) or 1 (on)"),
    ],
)
def test_bad_frames_are_refused_naming_the_field(hex_frame: str, field: str, reason: str) -> None:
    with pytest.raises(PayloadError) as refused:
        decode_ws52x(frame(hex_frame))
    assert refused.value.field == field and reason in refused.value.reason


def test_not_bytes_is_refused() -> None:
    with pytest.raises(PayloadError, match="must be bytes"):
        decode_ws52x("087001")  # type: ignore[arg-type]
