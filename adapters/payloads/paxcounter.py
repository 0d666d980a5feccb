"""Decoder for the count uplink of an ESP32 Paxcounter (a Wi-Fi and BLE people counter).

Layout source: the Paxcounter's documentation, "Payload format" (``docs/payloadformat.md`` in
``cyberman54/ESP32-Paxcounter``), and its configuration file ``src/paxcounter_orig.conf``
(``COUNTERPORT 1``, ``PAYLOAD_ENCODER``).

Port 1 carries the counts of one scan cycle:

=====  =====  ==============================================================
bytes  size   meaning
=====  =====  ==============================================================
0-1    2      unique devices seen on Wi-Fi (``00 00`` when Wi-Fi scanning is off)
2-3    2      unique devices seen on Bluetooth; left out when BLE scanning is off
=====  =====  ==============================================================

The "plain" encoder writes them big-endian, the "packed" one (the firmware's default)
little-endian; the frame does not say which, so the device's configuration must.

Not responsible for: the other ports (status 2, configuration 3, GPS 4, button 5, sensors 7
and 10-12, battery 8, time 9), the Cayenne LPP encoders, the combined GPS and count frame
(``GPSPORT`` set to 1), nor what the counts mean: in cumulative counter mode they are totals
since the device's last reset, not counts per cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from adapters.payloads.errors import PayloadError

__all__ = ["ENCODINGS", "UPLINK_PORT", "PaxCount", "decode_paxcount"]

#: The firmware's ``COUNTERPORT``.
UPLINK_PORT = 1
#: Byte order of each encoder: "plain" big-endian, "packed" little-endian.
ENCODINGS: dict[str, Literal["big", "little"]] = {"plain": "big", "packed": "little"}


@dataclass(frozen=True, slots=True)
class PaxCount:
    """The devices one scan cycle saw: on Wi-Fi, and on BLE (``None`` when BLE is off)."""

    wifi: int
    ble: int | None

    @property
    def pax(self) -> int:
        """Both counts together, as the Paxcounter shows them (a phone seen on both radios
        counts twice)."""
        return self.wifi + (self.ble or 0)


def decode_paxcount(payload: bytes, encoding: str = "packed") -> PaxCount:
    """Decode one port 1 count frame (2 bytes with BLE off, 4 with it on)."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise PayloadError("payload", type(payload).__name__, "payload must be bytes")
    data = bytes(payload)
    order = ENCODINGS.get(encoding)
    if order is None:
        raise PayloadError("encoding", encoding, f"must be one of {', '.join(ENCODINGS)}")
    if len(data) not in (2, 4):
        raise PayloadError(
            "payload", data.hex(), f"a Paxcounter count frame is 2 or 4 bytes, got {len(data)}"
        )
    wifi = int.from_bytes(data[0:2], order)
    ble = int.from_bytes(data[2:4], order) if len(data) == 4 else None
    return PaxCount(wifi, ble)
