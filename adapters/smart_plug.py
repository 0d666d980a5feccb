"""Adapter: Milesight WS52x smart sockets on LoRaWAN, to the ``site.energy`` index of a site.

Each socket is configured per DevEUI with the asset code of the site whose consumption it
meters (a lighting cabinet, a pump, a building's heater) and, only when the device was set to
another one, its application port. An uplink's cumulative consumption (watt-hours since the
socket's counter was last reset, see :mod:`adapters.payloads.milesight_ws52x`) becomes the
site's index in kWh, dated by the network server's receive time. An uplink without it (a
socket switched on or off reports its status alone) gives no reading.

Voltage, active power, current, power factor and the socket's state are decoded but not sent:
the wire has no kind for them, and one would need its ingest handler and a domain fact too.
A socket whose counter is reset (from the vendor's ToolBox or a downlink) starts again from 0:
the twin refuses an index that goes down, so record the reset as a meter replacement.

Uplinks come as ChirpStack v4 or The Things Stack v3 JSON. Not responsible for MQTT (see
:mod:`adapters.service`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.payloads import PayloadError, configured_devices, decode_ws52x, parse_uplink
from adapters.payloads.milesight_ws52x import UPLINK_PORT
from adapters.sdk import Adapter, AdapterManifest, Reading

MANIFEST = AdapterManifest(
    name="lorawan-smart-plug",
    device="Milesight WS52x smart socket (WS523, WS525) on LoRaWAN",
    kinds=("site.energy",),
    mode="push",
    owner="valley-twin core team",
    description="ChirpStack v4 / The Things Stack v3 MQTT uplinks to cumulative kWh indexes",
)


@dataclass(frozen=True)
class Socket:
    """One configured socket: the site it meters and the port it sends on."""

    site: str
    f_port: int


class SmartPlugAdapter(Adapter):
    """Turns WS52x uplinks into the cumulative energy index of the site each socket meters."""

    manifest = MANIFEST

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.devices: dict[str, Socket] = configured_devices(config, "{site, f_port}", _socket)

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        uplink = parse_uplink(payload)
        try:
            socket = self.devices[uplink.dev_eui]
        except KeyError:
            raise PayloadError("dev_eui", uplink.dev_eui, "not a configured smart socket") from None
        if uplink.f_port != socket.f_port:
            raise PayloadError(
                "f_port",
                uplink.f_port,
                f"this WS52x sends its readings on port {socket.f_port}",
            )
        decoded = decode_ws52x(uplink.payload)
        if decoded.energy_wh is None:
            return []
        body = {"index_kwh": decoded.energy_wh / 1000}
        return [Reading(uplink.dev_eui, socket.site, "site.energy", uplink.received_at, body)]


def _socket(dev_eui: str, device: object) -> Socket:
    """One ``devices`` entry of the configuration, checked, naming the key that is wrong."""
    if not isinstance(device, Mapping):
        raise ValueError(f"config: devices.{dev_eui} must be a table with the site's code")
    site = device.get("site")
    if not isinstance(site, str) or not site.strip():
        raise ValueError(
            f"config: devices.{dev_eui}.site must be the site's asset code, not {site!r}"
        )
    f_port = device.get("f_port", UPLINK_PORT)
    if isinstance(f_port, bool) or not isinstance(f_port, int) or not 1 <= f_port <= 223:
        raise ValueError(
            f"config: devices.{dev_eui}.f_port must be an application port, 1 to 223, "
            f"not {f_port!r}"
        )
    return Socket(site.strip(), f_port)
