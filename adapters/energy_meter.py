"""Adapter: energy meters of public buildings and lighting cabinets.

Three reading shapes, one per common installation: a cumulative index in kWh (smart meter
or gateway), a pulse counter (pulses × Wh per pulse) and a Modbus-style pair of 16-bit
registers (high word, low word) with a scale in kWh per unit. A meter replacement is its own
payload, carrying the old meter's last index and the new meter's first. Not responsible for
polling Modbus or counting pulses itself: a gateway posts the JSON.

Payload::

    {"meter": "M-34114-01", "site": "EP-34114-001", "read_at": "2024-05-01T06:00:00Z", "index_kwh": 1234.5}
    {"meter": ..., "site": ..., "read_at": ..., "pulses": 1234567}          # config wh_per_pulse
    {"meter": ..., "site": ..., "read_at": ..., "registers": [18, 54321]}   # config kwh_per_unit
    {"meter": ..., "site": ..., "read_at": ..., "replaced": {"final_index_kwh": 9876.5, "new_index_kwh": 0}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adapters.payloads import PayloadError
from adapters.sdk import Adapter, AdapterManifest, Reading
from adapters.sdk.json_payload import instant_field, json_object, number_field, text_field

MANIFEST = AdapterManifest(
    name="energy-meter",
    device="energy meter (index, pulse counter or Modbus registers)",
    kinds=("site.energy", "site.meter_replaced"),
    mode="poll",
    owner="valley-twin core team",
    description="cumulative kWh index readings of sites and lighting cabinets",
)

# A payload carries exactly one of these.
SHAPES = ("index_kwh", "pulses", "registers", "replaced")


def _positive(config: Mapping[str, Any], name: str, default: float) -> float:
    value = config.get(name, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"config: '{name}' must be a positive number, not {value!r}")
    return float(value)


def _kwh(document: dict[str, Any], name: str, path: str) -> float:
    """A meter index: a finite number of kWh, never negative (a meter counts up from zero)."""
    try:
        value = number_field(document, name)
    except PayloadError as error:
        raise PayloadError(path, error.value, error.reason) from None
    assert value is not None
    if value < 0:
        raise PayloadError(path, value, "a meter index is never negative")
    return value


class EnergyMeterAdapter(Adapter):
    """Turns meter readings into cumulative kWh indexes."""

    manifest = MANIFEST

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.wh_per_pulse = _positive(config, "wh_per_pulse", 1.0)
        self.kwh_per_unit = _positive(config, "kwh_per_unit", 0.1)

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        document = json_object(payload)
        meter = text_field(document, "meter")
        site = text_field(document, "site")
        assert meter is not None and site is not None
        at = instant_field(document, "read_at")
        shapes = [name for name in SHAPES if name in document]
        if len(shapes) != 1:
            raise PayloadError(
                "payload", sorted(document), f"needs exactly one of {', '.join(SHAPES)}"
            )
        replaced = document.get("replaced")
        if shapes == ["replaced"]:
            if not isinstance(replaced, dict):
                raise PayloadError("replaced", replaced, "must be an object")
            body = {
                name: _kwh(replaced, name, f"replaced.{name}")
                for name in ("final_index_kwh", "new_index_kwh")
            }
            return [Reading(meter, site, "site.meter_replaced", at, body)]
        return [
            Reading(
                meter, site, "site.energy", at, {"index_kwh": round(self._index_kwh(document), 3)}
            )
        ]

    def _index_kwh(self, document: dict[str, Any]) -> float:
        if "index_kwh" in document:
            return _kwh(document, "index_kwh", "index_kwh")
        if "pulses" in document:
            pulses = document["pulses"]
            if isinstance(pulses, bool) or not isinstance(pulses, int) or pulses < 0:
                raise PayloadError("pulses", pulses, "must be a non-negative integer")
            return pulses * self.wh_per_pulse / 1000.0
        registers = document["registers"]
        if (
            not isinstance(registers, list)
            or len(registers) != 2
            or not all(
                isinstance(r, int) and not isinstance(r, bool) and 0 <= r <= 0xFFFF
                for r in registers
            )
        ):
            raise PayloadError(
                "registers", registers, "must be two 16-bit unsigned integers [high, low]"
            )
        kwh: float = ((registers[0] << 16) | registers[1]) * self.kwh_per_unit
        return kwh
