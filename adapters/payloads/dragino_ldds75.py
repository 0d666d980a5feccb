"""Decoder for the FPort 2 uplink of the Dragino LDDS75 LoRaWAN distance detection sensor.

Layout sources: Dragino's "LDDS75 - LoRaWAN Distance Detection Sensor User Manual" (section
"Uplink Payload", wiki.dragino.com), Dragino's own decoder ``LDDS75/LDDS75_Decoder_V1.1.4.js``
in ``dragino/dragino-end-node-decoder``, and Dragino's codec entry
``vendor/dragino/ldds75-114-codec.yaml`` in ``TheThingsNetwork/lorawan-devices``.

The frame is 8 bytes, big-endian:

=====  =====  ================================================================
bytes  size   meaning
=====  =====  ================================================================
0-1    2      battery voltage in mV in bits 13..0 (Dragino's decoder masks with
              ``0x3FFF``; bits 15..14 are not defined for this model and ignored)
2-3    2      distance in mm; ``0x0000`` = no ultrasonic sensor detected, below
              280 mm = invalid (firmware 1.1.4 and later send ``0x0014``, 20 mm)
4      1      interrupt flag: 0 normal uplink, 1 uplink caused by the interrupt pin
5-6    2      optional DS18B20 probe temperature, int16, 0.1 degC
7      1      sensor flag: 1 ultrasonic sensor detected, 0 not detected
=====  =====  ================================================================

Battery percent (an assumption, the manual gives no percentage): a straight line from
2700 mV (0 %) to 3600 mV (100 %), clamped to that range and rounded to 0.1. The bounds come
from Dragino's FAQ "How to calculate battery life of Dragino sensors" (docs.dragino.com) for
the Li-SOCl2 packs of its outdoor sensors, the LDDS75 being one: below 2.7 V it is time to
replace the battery, and a replacement may be any battery in the 2.7 to 3.6 V range. The same
FAQ warns that the discharge curve is not linear, so the percentage is only a coarse
indicator; the voltage itself is kept in ``battery_mv``.

Temperature: a DS18B20 measures -55 to +125 degC, so any value outside that range (for example
``0x7FFF``) is treated as "no probe" and gives ``temperature_c=None``. An absent probe that
reads ``0x0000`` cannot be told apart from 0.0 degC by the frame alone.

Not responsible for: other FPorts (configuration/status uplinks), older firmware frame
lengths, the LoRaWAN envelope (see ``lorawan_uplink``), or converting distance into a fill
level.
"""

from __future__ import annotations

from adapters.payloads.errors import PayloadError
from adapters.payloads.ultrasonic import ALARM_INVALID_READING, ALARM_NO_SENSOR, UltrasonicReading

__all__ = [
    "BATTERY_EMPTY_MV",
    "BATTERY_FULL_MV",
    "FRAME_LENGTH",
    "MIN_VALID_DISTANCE_MM",
    "UPLINK_PORT",
    "battery_percent",
    "decode_ldds75",
]

#: The manual's port for the distance uplink; other ports carry status and configuration.
UPLINK_PORT = 2

#: The frame length in the manual and Dragino's V1.1.4 decoder; shorter legacy frames are refused.
FRAME_LENGTH = 8
#: Voltage mapped to 0 %: Dragino's "time to replace the battery" level.
BATTERY_EMPTY_MV = 2700
#: Voltage mapped to 100 %: nominal voltage of a fresh Li-SOCl2 cell.
BATTERY_FULL_MV = 3600
#: The manual's lower measuring limit (flat object range 280 mm to 7500 mm).
MIN_VALID_DISTANCE_MM = 280
_DS18B20_MIN_C = -55.0
_DS18B20_MAX_C = 125.0


def battery_percent(millivolts: int) -> float:
    """Map a battery voltage to 0-100 % linearly between the two documented bounds."""
    span = BATTERY_FULL_MV - BATTERY_EMPTY_MV
    fraction = (millivolts - BATTERY_EMPTY_MV) / span
    return round(min(1.0, max(0.0, fraction)) * 100.0, 1)


def decode_ldds75(payload: bytes) -> UltrasonicReading:
    """Decode one 8-byte LDDS75 FPort 2 uplink into an :class:`UltrasonicReading`.

    A distance the manual marks as meaningless gives ``distance_mm=None`` with ``alarm`` set:
    ``"no_sensor"`` for ``0x0000`` or a sensor flag of 0, ``"invalid_reading"`` for a value
    below 280 mm. Raises :class:`PayloadError` for a frame that is not 8 bytes or a flag byte
    that is neither 0 nor 1.
    """
    data = _as_bytes(payload)
    if len(data) != FRAME_LENGTH:
        raise PayloadError(
            "payload", data.hex(), f"LDDS75 FPort 2 uplink is {FRAME_LENGTH} bytes, got {len(data)}"
        )
    millivolts = int.from_bytes(data[0:2], "big") & 0x3FFF
    raw_distance = int.from_bytes(data[2:4], "big")
    interrupt_flag = data[4]
    raw_temperature = int.from_bytes(data[5:7], "big", signed=True)
    sensor_flag = data[7]

    if interrupt_flag not in (0, 1):
        raise PayloadError("interrupt_flag", interrupt_flag, "interrupt flag is 0 or 1")
    if sensor_flag not in (0, 1):
        raise PayloadError("sensor_flag", sensor_flag, "sensor flag is 0 or 1")

    distance: int | None = raw_distance
    alarm: str | None = None
    if raw_distance == 0 or sensor_flag == 0:
        distance, alarm = None, ALARM_NO_SENSOR
    elif raw_distance < MIN_VALID_DISTANCE_MM:
        distance, alarm = None, ALARM_INVALID_READING

    celsius = raw_temperature / 10
    temperature = celsius if _DS18B20_MIN_C <= celsius <= _DS18B20_MAX_C else None

    return UltrasonicReading(
        distance_mm=distance,
        battery_percent=battery_percent(millivolts),
        battery_mv=millivolts,
        temperature_c=temperature,
        interrupt=interrupt_flag == 1,
        alarm=alarm,
    )


def _as_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    raise PayloadError("payload", type(payload).__name__, "payload must be bytes")
