"""Read the uplink envelope of two LoRaWAN network servers into one :class:`Uplink`.

Accepted documents (JSON text, UTF-8 bytes, or an already parsed ``dict``):

* ChirpStack v4 integration event ``up`` (MQTT topic
  ``application/{application_id}/device/{dev_eui}/event/up``), as in ChirpStack's
  documentation page "Event types" (``chirpstack/chirpstack-docs``,
  ``src/chirpstack/integrations/events.md``) and the ``UplinkEvent`` message of
  ``integration.proto``. Used fields: ``deviceInfo.devEui`` (hex), ``fPort``, ``fCnt``,
  ``data`` (base64) and ``time`` (RFC 3339).
* The Things Stack v3 uplink message (MQTT topic
  ``v3/{application_id}@{tenant_id}/devices/{device_id}/up``), as in The Things Stack
  documentation "Data Formats" (``TheThingsIndustries/lorawan-stack-docs``,
  ``doc/content/integrations/data-formats/_index.md``) and "MQTT Server". Used fields:
  ``end_device_ids.dev_eui``, ``uplink_message.f_port``, ``uplink_message.f_cnt``,
  ``uplink_message.frm_payload`` (base64) and the top-level ``received_at``.

Both servers leave zero-valued fields out of their JSON (proto3 JSON mapping; The Things Stack
says so in its documentation), which is why ChirpStack's own example has no ``fCnt``. An
absent frame counter is reported as ``f_cnt=None`` rather than guessed; in practice it means
0. A missing port, payload, DevEUI or timestamp is an error: a decoder cannot be chosen or the
reading cannot be placed without them.

Timestamps carry nanoseconds (9 fractional digits) while :class:`datetime` keeps
microseconds; the extra digits are truncated, never rounded, and a timestamp without a UTC
offset is refused. Parsing is done here by a strict RFC 3339 pattern rather than
``datetime.fromisoformat``, which accepts many non-RFC 3339 shapes (dates alone, naive times).

Not responsible for: decoding the application payload (see the device decoders), MQTT
connection handling, de-duplication across gateways, or any other event type (join, status,
downlink acknowledgements).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from adapters.payloads.errors import PayloadError
from adapters.payloads.json_text import json_object, rfc3339_instant

D = TypeVar("D")
_DEV_EUI_TEXT = re.compile(r"[0-9A-Fa-f]{16}")


def configured_devices(
    config: Mapping[str, Any], fields: str, read: Callable[[str, object], D]
) -> dict[str, D]:
    """A LoRaWAN adapter's ``devices`` table, by upper-case DevEUI, each entry read by ``read``.

    ``fields`` says in the error what an entry holds (e.g. ``"{bin, depth_mm, model}"``).
    """
    devices = config.get("devices")
    if not isinstance(devices, Mapping) or not devices:
        raise ValueError(f"config: 'devices' must map DevEUIs to {fields}")
    found: dict[str, D] = {}
    for dev_eui, device in devices.items():
        if not isinstance(dev_eui, str) or _DEV_EUI_TEXT.fullmatch(dev_eui) is None:
            raise ValueError(f"config: devices.{dev_eui} is not a DevEUI (16 hexadecimal digits)")
        if dev_eui.upper() in found:
            raise ValueError(f"config: devices.{dev_eui} is configured twice")
        found[dev_eui.upper()] = read(dev_eui, device)
    return found


__all__ = [
    "NETWORK_CHIRPSTACK",
    "NETWORK_TTN",
    "Uplink",
    "configured_devices",
    "parse_uplink",
    "topic_dev_eui",
]

NETWORK_CHIRPSTACK = "chirpstack"
NETWORK_TTN = "ttn"

_HEX_EUI = re.compile(r"[0-9A-Fa-f]{16}")
_CHIRPSTACK_UP_TOPIC = re.compile(r"application/[^/]+/device/([^/]+)/event/up")
_TTS_UP_TOPIC = re.compile(r"v3/[^/]+/devices/[^/]+/up")
_MAX_F_CNT = 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class Uplink:
    """One application uplink, stripped of everything network-server specific.

    ``dev_eui`` is 16 upper-case hex digits; ``received_at`` is timezone-aware UTC (the
    network server's reception time); ``network`` is ``"chirpstack"`` or ``"ttn"`` (The Things
    Stack, whichever deployment).
    """

    dev_eui: str
    f_port: int
    f_cnt: int | None
    payload: bytes
    received_at: datetime
    network: str


def parse_uplink(document: bytes | str | dict[str, Any]) -> Uplink:
    """Parse a ChirpStack v4 ``up`` event or a The Things Stack v3 uplink message.

    The format is recognised by its top-level keys (``deviceInfo`` for ChirpStack,
    ``end_device_ids`` for The Things Stack). Raises :class:`PayloadError` naming the JSON path
    of the first field that is missing or ill-typed.
    """
    root = json_object(document)
    if "end_device_ids" in root or "uplink_message" in root:
        return _parse_tts(root)
    if "deviceInfo" in root:
        return _parse_chirpstack(root)
    raise PayloadError(
        "document",
        sorted(str(key) for key in root)[:8],
        "neither a ChirpStack v4 up event (deviceInfo) "
        "nor a The Things Stack uplink (end_device_ids)",
    )


def topic_dev_eui(topic: str) -> str | None:
    """The DevEUI carried by an uplink MQTT topic, if the topic carries one.

    ``application/{id}/device/{devEui}/event/up`` (ChirpStack v4) gives the DevEUI in upper
    case. ``v3/{app}@{tenant}/devices/{device_id}/up`` (The Things Stack; ``@{tenant}`` is absent
    on the open-source deployment) gives ``None``: its path names the device ID chosen at
    registration, not the DevEUI, so the DevEUI must be read from the message. Any other topic
    raises :class:`PayloadError`.
    """
    if not isinstance(topic, str):
        raise PayloadError("topic", type(topic).__name__, "topic must be a string")
    chirpstack = _CHIRPSTACK_UP_TOPIC.fullmatch(topic)
    if chirpstack is not None:
        return _dev_eui("topic", chirpstack.group(1))
    if _TTS_UP_TOPIC.fullmatch(topic) is not None:
        return None
    raise PayloadError("topic", topic, "not a ChirpStack v4 or The Things Stack v3 uplink topic")


# -- per network -------------------------------------------------------------------------------


def _parse_chirpstack(root: dict[str, Any]) -> Uplink:
    device_info = _object(root, "deviceInfo")
    return Uplink(
        dev_eui=_dev_eui("deviceInfo.devEui", _required(device_info, "deviceInfo.devEui")),
        f_port=_f_port("fPort", _required(root, "fPort")),
        f_cnt=_f_cnt("fCnt", root.get("fCnt")),
        payload=_base64("data", _required(root, "data")),
        received_at=rfc3339_instant("time", _required(root, "time")),
        network=NETWORK_CHIRPSTACK,
    )


def _parse_tts(root: dict[str, Any]) -> Uplink:
    ids = _object(root, "end_device_ids")
    message = _object(root, "uplink_message")
    payload_path = "uplink_message.frm_payload"
    return Uplink(
        dev_eui=_dev_eui("end_device_ids.dev_eui", _required(ids, "end_device_ids.dev_eui")),
        f_port=_f_port("uplink_message.f_port", _required(message, "uplink_message.f_port")),
        f_cnt=_f_cnt("uplink_message.f_cnt", message.get("f_cnt")),
        payload=_base64(payload_path, _required(message, payload_path)),
        received_at=rfc3339_instant("received_at", _required(root, "received_at")),
        network=NETWORK_TTN,
    )


# -- field readers -----------------------------------------------------------------------------


def _required(container: dict[str, Any], path: str) -> Any:
    """The value at the last component of ``path`` in ``container`` (its parent object)."""
    key = path.rpartition(".")[2]
    if container.get(key) is None:
        raise PayloadError(path, None, "required field is missing")
    return container[key]


def _object(container: dict[str, Any], path: str) -> dict[str, Any]:
    value = _required(container, path)
    if not isinstance(value, dict):
        raise PayloadError(path, type(value).__name__, "must be a JSON object")
    return value


def _integer(path: str, value: object) -> int:
    # bool is an int subclass in Python but never a valid counter or port in JSON.
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(path, value, "must be a JSON integer")
    return value


def _f_port(path: str, value: object) -> int:
    port = _integer(path, value)
    if not 1 <= port <= 255:
        raise PayloadError(path, port, "application FPort is 1 to 255")
    return port


def _f_cnt(path: str, value: object) -> int | None:
    if value is None:
        return None
    count = _integer(path, value)
    if not 0 <= count <= _MAX_F_CNT:
        raise PayloadError(path, count, "frame counter is an unsigned 32-bit number")
    return count


def _dev_eui(path: str, value: object) -> str:
    if not isinstance(value, str) or _HEX_EUI.fullmatch(value) is None:
        raise PayloadError(path, value, "DevEUI is 16 hexadecimal digits")
    return value.upper()


def _base64(path: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise PayloadError(path, type(value).__name__, "must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError(path, value, "not valid base64") from None
