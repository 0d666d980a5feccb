"""Decoder for the uplink payload of the Milesight WS52x smart portable socket (WS523, WS525).

Layout source: Milesight's decoder repository, ``Milesight-IoT/SensorDecoders``, file
``WS_Series/WS52x/README.md`` ("Payload Definition"), whose example frame
``087001 05812C 07C94A00 03743009 068309660000 048007000000`` reads 235.2 V, 7 W, 26,121 Wh,
74 mA, power factor 0.44, socket on (the test vectors in ``tests/adapters/payloads``).

The payload is a run of records, each ``channel id (1 byte) | channel type (1 byte) | data``,
little-endian, with no length byte: the width of ``data`` follows from the (id, type) pair, so a
pair the README does not define makes the rest of the frame unreadable and is refused.

====  ====  =====  ===========================================================
id    type  bytes  meaning
====  ====  =====  ===========================================================
0x03  0x74  2      voltage, uint16 / 10, volts
0x04  0x80  4      active power, uint32, watts
0x05  0x81  1      power factor, uint8 / 100 (0 to 1)
0x06  0x83  4      power consumption, uint32, watt-hours since the last reset
0x07  0xC9  2      current, uint16, milliamperes
0x08  0x70  1      socket status: 0 off ("close"), 1 on ("open")
====  ====  =====  ===========================================================

Device-information records (channel 0xFF, sent after a join) are not in the WS52x README, so
a frame holding them is refused rather than walked with guessed widths.

Port: Milesight's user guides give 85 as the default application port (``UPLINK_PORT``).

Not responsible for: the LoRaWAN envelope (see ``lorawan_uplink``), nor what a site does with
the readings.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.payloads.errors import PayloadError

__all__ = ["UPLINK_PORT", "SocketReading", "decode_ws52x"]

#: Milesight's default application port.
UPLINK_PORT = 85

# (id, type) -> (field name, width in bytes)
_CHANNELS: dict[tuple[int, int], tuple[str, int]] = {
    (0x03, 0x74): ("voltage", 2),
    (0x04, 0x80): ("active_power", 4),
    (0x05, 0x81): ("power_factor", 1),
    (0x06, 0x83): ("power_consumption", 4),
    (0x07, 0xC9): ("current", 2),
    (0x08, 0x70): ("socket_status", 1),
}


@dataclass(frozen=True, slots=True)
class SocketReading:
    """What one WS52x uplink says; a field the frame does not carry is ``None``."""

    voltage_v: float | None = None
    active_power_w: int | None = None
    power_factor: float | None = None
    energy_wh: int | None = None  # cumulative since the socket's counter was last reset
    current_ma: int | None = None
    socket_on: bool | None = None


def decode_ws52x(payload: bytes) -> SocketReading:
    """Decode one WS52x uplink.

    Raises :class:`PayloadError` for an empty or truncated frame, a channel the vendor's
    layout does not define, a channel given twice, a power factor above 1 or a socket status
    other than 0 or 1.
    """
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise PayloadError("payload", type(payload).__name__, "payload must be bytes")
    data = bytes(payload)
    if not data:
        raise PayloadError("payload", "", "empty WS52x payload")
    values: dict[str, int] = {}
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise PayloadError("payload", data.hex(), f"channel header cut off at byte {offset}")
        key = (data[offset], data[offset + 1])
        known = _CHANNELS.get(key)
        if known is None:
            pair = f"0x{key[0]:02X} 0x{key[1]:02X}"
            raise PayloadError(
                "channel", pair, f"not a channel of Milesight's WS52x layout (byte {offset})"
            )
        name, width = known
        start, end = offset + 2, offset + 2 + width
        if end > len(data):
            raise PayloadError(name, data[start:].hex(), f"needs {width} byte(s), frame ends first")
        if name in values:
            raise PayloadError(name, data.hex(), "given twice in one frame")
        values[name] = int.from_bytes(data[start:end], "little")
        offset = end
    factor = values.get("power_factor")
    if factor is not None and factor > 100:
        raise PayloadError("power_factor", factor, "a power factor is at most 1 (100 hundredths)")
    status = values.get("socket_status")
    if status is not None and status not in (0, 1):
        raise PayloadError("socket_status", status, "socket status is 0 (off) or 1 (on)")
    voltage = values.get("voltage")
    return SocketReading(
        voltage_v=None if voltage is None else voltage / 10,
        active_power_w=values.get("active_power"),
        power_factor=None if factor is None else factor / 100,
        energy_wh=values.get("power_consumption"),
        current_ma=values.get("current"),
        socket_on=None if status is None else status == 1,
    )
