"""Pure-Python decoders for the payload formats of real devices and network servers.

* ``lorawan_uplink`` - the uplink envelope of ChirpStack v4 and The Things Stack v3.
* ``milesight_em310udl`` and ``dragino_ldds75`` - ultrasonic distance sensors, both giving an
  :class:`UltrasonicReading`.
* ``ble`` - Apple iBeacon and Google Eddystone frames in BLE advertising data.
* ``paxcounter`` - the counts of an ESP32 Paxcounter (Wi-Fi and BLE people counter).
* ``milesight_ws52x`` - the Milesight WS52x smart socket (voltage, power, energy, current).

Every decoder is a pure function of its input: no I/O, no clock, no third-party package.
Bad input raises :class:`PayloadError` and nothing else. Each module's documentation names
the vendor document its layout comes from.

Not responsible for: transports (MQTT, BLE scanning), choosing which decoder a device needs,
or turning readings into wire messages (see ``adapters.wire``).
"""

from __future__ import annotations

from adapters.payloads.ble import BeaconFrame, parse_advertisement
from adapters.payloads.dragino_ldds75 import decode_ldds75
from adapters.payloads.errors import PayloadError
from adapters.payloads.lorawan_uplink import (
    Uplink,
    configured_devices,
    parse_uplink,
    topic_dev_eui,
)
from adapters.payloads.milesight_em310udl import decode_em310_udl
from adapters.payloads.milesight_ws52x import SocketReading, decode_ws52x
from adapters.payloads.paxcounter import PaxCount, decode_paxcount
from adapters.payloads.ultrasonic import UltrasonicReading

__all__ = [
    "configured_devices",
    "BeaconFrame",
    "PaxCount",
    "PayloadError",
    "SocketReading",
    "UltrasonicReading",
    "Uplink",
    "decode_em310_udl",
    "decode_ldds75",
    "decode_paxcount",
    "decode_ws52x",
    "parse_advertisement",
    "parse_uplink",
    "topic_dev_eui",
]
