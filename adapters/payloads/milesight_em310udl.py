"""Decoder for the uplink payload of the Milesight EM310-UDL ultrasonic distance sensor.

Layout source: Milesight's official decoder repository, ``Milesight-IoT/SensorDecoders``,
file ``em-series/em310-udl/README.md`` (also ``EM_Series/EM300_Series/EM310-UDL/README.md``),
and the channel lengths used by the vendor decoder ``em310-udl-decoder.js`` in the same folder.

The payload is a run of records, each ``channel id (1 byte) | channel type (1 byte) | data``.
There is no length byte: the width of ``data`` follows from the (id, type) pair, so a pair
this module does not know makes the rest of the frame unreadable and is rejected.

Telemetry channels (little-endian):

====  ====  =====  ============================================
id    type  bytes  meaning
====  ====  =====  ============================================
0x01  0x75  1      battery level, percent (0 to 100)
0x03  0x82  2      distance, uint16, millimetres
0x04  0x00  1      position: 0 normal, 1 tilt
====  ====  =====  ============================================

Attribute channels (``0xFF`` xx: IPSO/hardware/firmware/TSL version, serial number, LoRaWAN
class, reset event, device status) and the replies to configuration downlinks (``0xFE``/``0xFF``
with types 0x10, 0x02, 0x03, 0x06) are recognised so the frame can be walked past them, but
they do not go into the reading. Note that the README's length column says 2 for the serial
number (``0xFF 0x16``) while its description and the vendor decoder use 8 bytes; 8 is used here.

The EM310-UDL documents no alarm channel (unlike the EM400/EM500 families); the only condition
reported through ``alarm`` is a tilted device.

Port: Milesight's user guides give 85 as the default application port, the one the device
sends its uplinks on (``UPLINK_PORT``); it can be changed with the ToolBox app.

Not responsible for: the LoRaWAN envelope (see ``lorawan_uplink``), choosing this decoder for
a device, or converting distance into a fill level.
"""

from __future__ import annotations

from adapters.payloads.errors import PayloadError
from adapters.payloads.ultrasonic import ALARM_TILTED, UltrasonicReading

__all__ = ["UPLINK_PORT", "decode_em310_udl"]

#: Milesight's default application port ("Application Port ... 85 by default").
UPLINK_PORT = 85

_BATTERY = (0x01, 0x75)
_DISTANCE = (0x03, 0x82)
_POSITION = (0x04, 0x00)

# Telemetry channels and the name each has in errors.
_TELEMETRY: dict[tuple[int, int], tuple[str, int]] = {
    _BATTERY: ("battery", 1),
    _DISTANCE: ("distance", 2),
    _POSITION: ("position", 1),
}

# Channels that are valid in an EM310-UDL uplink but carry nothing for the reading.
_ATTRIBUTES: dict[tuple[int, int], tuple[str, int]] = {
    (0xFF, 0x01): ("ipso_version", 1),
    (0xFF, 0x09): ("hardware_version", 2),
    (0xFF, 0x0A): ("firmware_version", 2),
    (0xFF, 0xFF): ("tsl_version", 2),
    (0xFF, 0x16): ("serial_number", 8),
    (0xFF, 0x0F): ("lorawan_class", 1),
    (0xFF, 0xFE): ("reset_event", 1),
    (0xFF, 0x0B): ("device_status", 1),
}
# Replies to configuration downlinks, on channel 0xFE or 0xFF, keyed by type.
_REPLIES: dict[int, tuple[str, int]] = {
    0x10: ("reboot_reply", 1),
    0x02: ("collection_interval_reply", 2),
    0x03: ("report_interval_reply", 2),
    0x06: ("distance_alarm_config_reply", 9),
}
_SKIPPED: dict[tuple[int, int], tuple[str, int]] = {
    **_ATTRIBUTES,
    **{(channel, kind): entry for channel in (0xFE, 0xFF) for kind, entry in _REPLIES.items()},
}


def decode_em310_udl(payload: bytes) -> UltrasonicReading:
    """Decode one EM310-UDL uplink into an :class:`UltrasonicReading`.

    A frame with only attribute channels (the device-information uplink sent after a join)
    yields a reading with every field ``None``. Raises :class:`PayloadError` for an empty or
    truncated frame, an unknown channel, a battery level above 100 % or an undefined position.
    """
    data = _as_bytes(payload)
    if not data:
        raise PayloadError("payload", data, "empty EM310-UDL payload")

    battery: int | None = None
    distance: int | None = None
    position: int | None = None
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise PayloadError("payload", data.hex(), f"channel header cut off at byte {offset}")
        key = (data[offset], data[offset + 1])
        known = _TELEMETRY.get(key) or _SKIPPED.get(key)
        if known is None:
            pair = f"0x{key[0]:02X} 0x{key[1]:02X}"
            raise PayloadError("channel", pair, f"unknown EM310-UDL channel at byte {offset}")
        name, width = known
        start = offset + 2
        end = start + width
        if end > len(data):
            raise PayloadError(name, data[start:].hex(), f"needs {width} byte(s), frame ends first")
        value = int.from_bytes(data[start:end], "little")
        if key == _BATTERY:
            if value > 100:
                raise PayloadError("battery", value, "battery level above 100 %")
            battery = value
        elif key == _DISTANCE:
            distance = value
        elif key == _POSITION:
            if value not in (0, 1):
                raise PayloadError("position", value, "position is 0 (normal) or 1 (tilt)")
            position = value
        offset = end

    tilted = None if position is None else position == 1
    return UltrasonicReading(
        distance_mm=distance,
        battery_percent=None if battery is None else float(battery),
        tilted=tilted,
        alarm=ALARM_TILTED if tilted else None,
    )


def _as_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    raise PayloadError("payload", type(payload).__name__, "payload must be bytes")
