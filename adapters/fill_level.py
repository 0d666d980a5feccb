"""Adapter: ultrasonic fill-level sensors on LoRaWAN, read from a network server's MQTT feed.

Devices: Milesight EM310-UDL and Dragino LDDS75, configured per DevEUI with the bin they are
fitted to, the distance from the sensor to the bin's floor and, when the device was set up
with another one, the port it sends its distance on. Uplinks come as ChirpStack v4 or The
Things Stack v3 JSON; the network server's receive time is the observation time (these
sensors carry no clock). An uplink on another port is refused (it is not a distance frame).
A tilted sensor, an invalid echo or an echo well beyond the floor becomes a fault, never a
fill level. The distance measured travels with the fill level (engineers calibrate with it).
Not responsible for MQTT (see :mod:`adapters.service`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.payloads import (
    PayloadError,
    UltrasonicReading,
    configured_devices,
    decode_em310_udl,
    decode_ldds75,
    dragino_ldds75,
    milesight_em310udl,
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

Decoder = Callable[[bytes], UltrasonicReading]
# Each model's decoder and the port its documentation gives for the distance uplink.
DECODERS: dict[str, tuple[Decoder, int]] = {
    "em310-udl": (decode_em310_udl, milesight_em310udl.UPLINK_PORT),
    "ldds75": (decode_ldds75, dragino_ldds75.UPLINK_PORT),
}
MAX_DEPTH_MM = 9_000  # the wire carries distances up to 10 m; no bin is 9 m deep
# An echo up to this far beyond the floor is an empty bin: the sensors' stated accuracy is
# about a centimetre, and a floor is seldom flat. Farther, the sensor does not see the floor
# (misaligned, the lid open, the depth set wrong): a fault, never a silent 0 %.
FLOOR_TOLERANCE_MM = 50


@dataclass(frozen=True)
class FittedSensor:
    """What the adapter knows of one sensor: its bin, the depth it sees and its frames."""

    bin_code: str
    depth_mm: float
    model: str
    f_port: int

    @property
    def decoder(self) -> Decoder:
        """The model's frame decoder."""
        return DECODERS[self.model][0]


def fill_percent(distance_mm: int, depth_mm: float) -> float:
    """Fill level from the echo distance: 0 % at the floor, 100 % at the sensor, clamped."""
    return round(max(0.0, min(100.0, (depth_mm - distance_mm) / depth_mm * 100.0)), 1)


class LorawanUltrasonicAdapter(Adapter):
    """Turns LoRaWAN uplinks of ultrasonic sensors into fill, battery and fault readings."""

    manifest = MANIFEST

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.devices: dict[str, FittedSensor] = configured_devices(
            config, "{bin, depth_mm, model}", _fitted_sensor
        )

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        uplink = parse_uplink(payload)
        try:
            sensor = self.devices[uplink.dev_eui]
        except KeyError:
            raise PayloadError("dev_eui", uplink.dev_eui, "not a configured sensor") from None
        if uplink.f_port != sensor.f_port:
            raise PayloadError(
                "f_port",
                uplink.f_port,
                f"a {sensor.model} sends its distance on port {sensor.f_port}; "
                "a frame on another port is not a distance reading",
            )
        reading = sensor.decoder(uplink.payload)
        at = uplink.received_at

        def make(kind: str, **body: Any) -> Reading:
            return Reading(
                device=uplink.dev_eui, asset=sensor.bin_code, kind=kind, observed_at=at, body=body
            )

        found = []
        if reading.battery_percent is not None:
            found.append(make("device.battery", battery_percent=reading.battery_percent))
        if reading.tilted:
            found.append(make("device.fault", fault="tilt: sensor not level, distance not trusted"))
        elif reading.alarm is not None:
            found.append(make("device.fault", fault=reading.alarm[:120]))
        elif reading.distance_mm is None:
            pass
        elif reading.distance_mm > sensor.depth_mm + FLOOR_TOLERANCE_MM:
            fault = (
                f"echo at {reading.distance_mm} mm, beyond the floor at {sensor.depth_mm:g} mm: "
                "sensor misaligned, lid open or depth_mm wrong"
            )
            found.append(make("device.fault", fault=fault[:120]))
        else:
            found.append(
                make(
                    "bin.fill",
                    fill_percent=fill_percent(reading.distance_mm, sensor.depth_mm),
                    distance_mm=reading.distance_mm,
                )
            )
        return found


def _fitted_sensor(dev_eui: str, device: object) -> FittedSensor:
    """One ``devices`` entry of the configuration, checked, naming the key that is wrong."""
    if not isinstance(device, Mapping):
        raise ValueError(f"config: devices.{dev_eui} must be a table of bin, depth_mm and model")
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
        or not 0 < depth <= MAX_DEPTH_MM
    ):
        raise ValueError(
            f"config: devices.{dev_eui}.depth_mm must be a positive number of mm, at most "
            f"{MAX_DEPTH_MM}, not {depth!r}"
        )
    bin_code = device.get("bin")
    if not isinstance(bin_code, str) or not bin_code.strip():
        raise ValueError(
            f"config: devices.{dev_eui}.bin must be the bin's asset code, not {bin_code!r}"
        )
    f_port = device.get("f_port", DECODERS[model][1])
    if isinstance(f_port, bool) or not isinstance(f_port, int) or not 1 <= f_port <= 223:
        raise ValueError(
            f"config: devices.{dev_eui}.f_port must be an application port, 1 to 223, "
            f"not {f_port!r}"
        )
    return FittedSensor(bin_code.strip(), float(depth), model, f_port)
