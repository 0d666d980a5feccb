"""The vendor-neutral result of decoding an ultrasonic level/distance sensor uplink.

Both the Milesight EM310-UDL and the Dragino LDDS75 decoders return an
:class:`UltrasonicReading`; a field a device does not report stays ``None``.

Not responsible for: turning a distance into a fill level (that needs the mounting height of
the sensor and the depth of the container, which the payload does not carry), nor for
building wire messages.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALARM_INVALID_READING",
    "ALARM_NO_SENSOR",
    "ALARM_TILTED",
    "UltrasonicReading",
]

#: The probe is missing or not answering, so there is no distance at all.
ALARM_NO_SENSOR = "no_sensor"
#: The probe answered but the value is one the vendor documents as invalid (e.g. inside the
#: blind zone), so ``distance_mm`` is ``None``.
ALARM_INVALID_READING = "invalid_reading"
#: The device reports that it is tilted; the distance is still given but was measured
#: along a slanted axis.
ALARM_TILTED = "tilted"


@dataclass(frozen=True, slots=True)
class UltrasonicReading:
    """One uplink of an ultrasonic distance sensor, in units the twin can use directly.

    * ``distance_mm`` - distance from the sensor face to the target, in millimetres, or
      ``None`` when the frame carries no (valid) distance.
    * ``battery_percent`` - 0 to 100. Milesight reports it directly; for Dragino it is derived
      from ``battery_mv`` by the linear mapping documented in ``dragino_ldds75``.
    * ``battery_mv`` - battery voltage in millivolts when the device reports a voltage.
    * ``tilted`` - ``True``/``False`` when the device has a tilt sensor, else ``None``.
    * ``temperature_c`` - probe temperature in degrees Celsius when a probe reports one.
    * ``interrupt`` - ``True`` when the uplink was triggered by the device's interrupt pin
      rather than by its timer; ``None`` when the format has no such flag.
    * ``alarm`` - the most important reason the reading needs attention (one of the
      ``ALARM_*`` constants of this module), or ``None`` when all is well.
    """

    distance_mm: int | None = None
    battery_percent: float | None = None
    battery_mv: int | None = None
    tilted: bool | None = None
    temperature_c: float | None = None
    interrupt: bool | None = None
    alarm: str | None = None
