"""Adapter: ESP32 Paxcounters on LoRaWAN, to ``footfall.count`` of the beacon zone they watch.

Each Paxcounter is configured per DevEUI with the beacon asset whose zone it counts, its
send cycle (the firmware's ``SENDCYCLE`` times two, in seconds) and its payload encoder
("packed", the firmware's default, or "plain"). An uplink on port 1 carries the devices seen
during the cycle that just ended, Wi-Fi and BLE together (see :mod:`adapters.payloads.paxcounter`);
it becomes the count of the interval ``[received_at - cycle, received_at)``, shortened so that
it never overlaps the device's previous interval (the twin refuses overlapping counts). The
device must count cyclically (``COUNTERMODE`` 0 or 2): cumulative totals are not per interval.

Uplinks come as ChirpStack v4 or The Things Stack v3 JSON; the network server's receive time
is the end of the interval. Frames on other ports (status, configuration, GPS) are refused.
Not responsible for MQTT (see :mod:`adapters.service`) nor for scaling counts of phones to
people (the models apply a detection ratio).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from adapters.payloads import PayloadError, configured_devices, decode_paxcount, parse_uplink
from adapters.payloads.paxcounter import ENCODINGS, UPLINK_PORT
from adapters.sdk import Adapter, AdapterManifest, Reading
from adapters.wire import EARLIEST_OBSERVATION_MS, MAX_CLOCK_SKEW_S, from_epoch_ms, to_epoch_ms

EARLIEST_COUNT = from_epoch_ms(EARLIEST_OBSERVATION_MS)  # what the wire takes
MAX_AHEAD = timedelta(seconds=MAX_CLOCK_SKEW_S)

MANIFEST = AdapterManifest(
    name="lorawan-paxcounter",
    device="ESP32 Paxcounter (Wi-Fi and BLE people counter) on LoRaWAN",
    kinds=("footfall.count",),
    mode="push",
    owner="valley-twin core team",
    description="ChirpStack v4 / The Things Stack v3 MQTT uplinks to footfall counts",
)
MIN_CYCLE_S, MAX_CYCLE_S = 10, 86_400  # the wire takes intervals up to one day


@dataclass(frozen=True)
class Paxcounter:
    """One configured Paxcounter: the beacon zone it counts, its cycle and its encoder."""

    beacon: str
    cycle: timedelta
    encoding: str


class PaxcounterAdapter(Adapter):
    """Turns Paxcounter count uplinks into footfall counts per send cycle."""

    manifest = MANIFEST

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.devices: dict[str, Paxcounter] = configured_devices(
            config, "{beacon, cycle_s, encoding}", _paxcounter
        )
        self._counted_until: dict[str, datetime] = {}  # per device: end of its last interval

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        uplink = parse_uplink(payload)
        try:
            device = self.devices[uplink.dev_eui]
        except KeyError:
            raise PayloadError("dev_eui", uplink.dev_eui, "not a configured Paxcounter") from None
        if uplink.f_port != UPLINK_PORT:
            raise PayloadError(
                "f_port",
                uplink.f_port,
                f"a Paxcounter sends its counts on port {UPLINK_PORT}; other ports carry "
                "status, configuration or positions",
            )
        counted = decode_paxcount(uplink.payload, device.encoding)
        end = uplink.received_at
        _check_plausible(end, received_at)
        start = end - device.cycle
        previous = self._counted_until.get(uplink.dev_eui)
        if previous is not None and start < previous:
            if end <= previous:
                raise PayloadError(
                    "received_at",
                    end.isoformat(),
                    f"not after the device's previous count, which ended {previous.isoformat()}",
                )
            start = previous
        self._counted_until[uplink.dev_eui] = end
        body = {"interval_start": to_epoch_ms(start), "count": counted.pax}
        return [Reading(uplink.dev_eui, device.beacon, "footfall.count", end, body)]


def _check_plausible(end: datetime, received_at: datetime) -> None:
    # A network server's clock glitch (an uplink dated years ahead) must be refused alone:
    # taken as the device's newest count, it would refuse every real one until that date.
    if end > received_at + MAX_AHEAD:
        raise PayloadError(
            "time",
            end.isoformat(),
            f"dated more than {MAX_CLOCK_SKEW_S} s after the gateway received it "
            f"({received_at.isoformat()}): a clock glitch, not a count",
        )
    if end < EARLIEST_COUNT:
        raise PayloadError("time", end.isoformat(), f"before {EARLIEST_COUNT:%Y}: a clock glitch")


def _paxcounter(dev_eui: str, device: object) -> Paxcounter:
    """One ``devices`` entry of the configuration, checked, naming the key that is wrong."""
    if not isinstance(device, Mapping):
        raise ValueError(f"config: devices.{dev_eui} must be a table of beacon and cycle_s")
    beacon = device.get("beacon")
    if not isinstance(beacon, str) or not beacon.strip():
        raise ValueError(
            f"config: devices.{dev_eui}.beacon must be the beacon's asset code, not {beacon!r}"
        )
    cycle_s = device.get("cycle_s")
    if (
        isinstance(cycle_s, bool)
        or not isinstance(cycle_s, int)
        or not MIN_CYCLE_S <= cycle_s <= MAX_CYCLE_S
    ):
        raise ValueError(
            f"config: devices.{dev_eui}.cycle_s must be the send cycle, a whole number of "
            f"seconds from {MIN_CYCLE_S} to {MAX_CYCLE_S}, not {cycle_s!r}"
        )
    encoding = device.get("encoding", "packed")
    if encoding not in ENCODINGS:
        raise ValueError(
            f"config: devices.{dev_eui}.encoding must be one of {sorted(ENCODINGS)}, "
            f"not {encoding!r}"
        )
    return Paxcounter(beacon.strip(), timedelta(seconds=cycle_s), encoding)
