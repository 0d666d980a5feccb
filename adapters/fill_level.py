"""Adapter: ultrasonic fill-level sensors on LoRaWAN, read from a network server's MQTT feed.

Devices: Milesight EM310-UDL and Dragino LDDS75, configured per DevEUI with the bin they are
fitted to and the distance from the sensor to the bin's floor. Uplinks come as ChirpStack v4
or The Things Stack v3 JSON; the network server's receive time is the observation time
(these sensors carry no clock). A tilted sensor or an invalid echo becomes a fault, never a
fill level. Not responsible for MQTT (see :mod:`adapters.service`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from adapters.payloads import (
    PayloadError,
    UltrasonicReading,
    decode_em310_udl,
    decode_ldds75,
    parse_uplink,
)
from adapters.sdk import Adapter, AdapterManifest, Reading

MANIFEST = AdapterManifest(
    name="lorawan-ultrasonic",
    device="ultrasonic fill-level sensor on LoRaWAN (Milesight EM310-UDL, Dragino LDDS75)",
    kinds=("bin.fill", "device.battery", "device.fault"),
    mode="push",
    owner="valley-twin core team",
    description="ChirpStack v4 / The Things Stack v3 MQTT uplinks to bin fill levels",
)

_DEV_EUI = re.compile(r"[0-9A-Fa-f]{16}")
DECODERS: dict[str, Callable[[bytes], UltrasonicReading]] = {
    "em310-udl": decode_em310_udl,
    "ldds75": decode_ldds75,
}


def fill_percent(distance_mm: int, depth_mm: float) -> float:
    """Fill level from the echo distance: 0 % at the floor, 100 % at the sensor, clamped."""
    return round(max(0.0, min(100.0, (depth_mm - distance_mm) / depth_mm * 100.0)), 1)


class LorawanUltrasonicAdapter(Adapter):
    """Turns LoRaWAN uplinks of ultrasonic sensors into fill, battery and fault readings."""

    manifest = MANIFEST

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        devices = config.get("devices")
        if not isinstance(devices, Mapping) or not devices:
            raise ValueError("config: 'devices' must map DevEUIs to {bin, depth_mm, model}")
        self.devices: dict[str, tuple[str, float, Callable[[bytes], UltrasonicReading]]] = {}
        for dev_eui, device in devices.items():
            if not isinstance(dev_eui, str) or _DEV_EUI.fullmatch(dev_eui) is None:
                raise ValueError(
                    f"config: devices.{dev_eui} is not a DevEUI (16 hexadecimal digits)"
                )
            if not isinstance(device, Mapping):
                raise ValueError(
                    f"config: devices.{dev_eui} must be a table of bin, depth_mm and model"
                )
            model = device.get("model", "em310-udl")
            if model not in DECODERS:
                raise ValueError(
                    f"config: devices.{dev_eui}.model must be one of {sorted(DECODERS)}, not {model!r}"
                )
            depth = device.get("depth_mm")
            if (
                isinstance(depth, bool)
                or not isinstance(depth, int | float)
                or not math.isfinite(depth)
                or depth <= 0
            ):
                raise ValueError(
                    f"config: devices.{dev_eui}.depth_mm must be a positive number of mm, not {depth!r}"
                )
            bin_code = device.get("bin")
            if not isinstance(bin_code, str) or not bin_code.strip():
                raise ValueError(
                    f"config: devices.{dev_eui}.bin must be the bin's asset code, not {bin_code!r}"
                )
            if dev_eui.upper() in self.devices:
                raise ValueError(f"config: devices.{dev_eui} is configured twice")
            self.devices[dev_eui.upper()] = (bin_code.strip(), float(depth), DECODERS[model])

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        uplink = parse_uplink(payload)
        try:
            bin_code, depth_mm, decoder = self.devices[uplink.dev_eui]
        except KeyError:
            raise PayloadError("dev_eui", uplink.dev_eui, "not a configured sensor") from None
        reading = decoder(uplink.payload)
        at = uplink.received_at

        def make(kind: str, **body: Any) -> Reading:
            return Reading(
                device=uplink.dev_eui, asset=bin_code, kind=kind, observed_at=at, body=body
            )

        found = []
        if reading.battery_percent is not None:
            found.append(make("device.battery", battery_percent=reading.battery_percent))
        if reading.tilted:
            found.append(make("device.fault", fault="tilt: sensor not level, distance not trusted"))
        elif reading.alarm is not None:
            found.append(make("device.fault", fault=reading.alarm[:120]))
        elif reading.distance_mm is not None:
            found.append(
                make(
                    "bin.fill",
                    fill_percent=fill_percent(reading.distance_mm, depth_mm),
                    distance_mm=min(reading.distance_mm, 10_000),
                )
            )
        return found
