"""Recognise Apple iBeacon and Google Eddystone frames in BLE advertising data.

Input is the advertising (or scan response) data as broadcast: a run of AD structures, each
``length (1 byte) | AD type (1 byte) | data (length - 1 bytes)``, per the Bluetooth Core
Specification (Vol 3, Part C, section 11) and its Supplement (Part A). A length byte of 0 ends
the significant part; a structure whose length runs past the end of the data is malformed.

Layout sources:

* iBeacon - Apple "Proximity Beacon Specification", Release R1, Table 2-1: manufacturer
  specific data (AD type ``0xFF``), company ID ``0x004C`` (little-endian ``4C 00``), beacon
  type ``0x02``, beacon length ``0x15``, then a 16-byte proximity UUID, big-endian major and
  minor, and the measured power at 1 m as a signed byte.
* Eddystone - Google's specification in ``google/eddystone``: ``protocol-specification.md``
  (service data AD type ``0x16`` for the 16-bit service UUID ``0xFEAA``, little-endian
  ``AA FE``, then the frame type) and the frame pages ``eddystone-uid/README.md`` (``0x00``:
  Tx power at 0 m, 10-byte namespace, 6-byte instance, 2 reserved bytes that older beacons
  omit), ``eddystone-url/README.md`` (``0x10``: Tx power, scheme prefix, up to 17 encoded
  bytes), ``eddystone-tlm/tlm-plain.md`` and ``tlm-encrypted.md`` (``0x20``: version 0 plain
  telemetry, version 1 encrypted) and ``eddystone-eid/README.md`` (``0x30``: Tx power, 8-byte
  ephemeral ID). Multi-byte Eddystone values are big-endian.

Identifiers (``BeaconFrame.identifier``), chosen to be stable strings for a tag:

* iBeacon: ``"{uuid}/{major}/{minor}"``, UUID in canonical lower-case form, numbers decimal.
* Eddystone-UID: ``"{namespace}/{instance}"`` in lower-case hex (20 and 12 digits).
* Eddystone-URL: the expanded URL.
* Eddystone-EID: the 8-byte ephemeral ID in lower-case hex. It is *not* stable: it rotates
  and only the resolver it was registered with can map it to a beacon.
* Eddystone-TLM (plain or encrypted): ``None``. The frame carries no ID; the specification
  leaves pairing it with the beacon's UID/URL frame to the receiver, by device address, which
  is not part of the advertising data.

``tx_power_dbm`` is copied as the protocol defines it, so the reference distance differs:
1 m for iBeacon, 0 m for Eddystone.

Not responsible for: scanning or radio access, device (MAC) addresses and pairing TLM with ID
frames, distance estimation from RSSI, resolving EIDs or decrypting encrypted TLM, and any
other beacon format (AltBeacon, vendor telemetry): those advertisements give ``None``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from adapters.payloads.errors import PayloadError

__all__ = [
    "BeaconFrame",
    "PROTOCOL_EDDYSTONE_EID",
    "PROTOCOL_EDDYSTONE_ETLM",
    "PROTOCOL_EDDYSTONE_TLM",
    "PROTOCOL_EDDYSTONE_UID",
    "PROTOCOL_EDDYSTONE_URL",
    "PROTOCOL_IBEACON",
    "parse_advertisement",
]

PROTOCOL_IBEACON = "ibeacon"
PROTOCOL_EDDYSTONE_UID = "eddystone-uid"
PROTOCOL_EDDYSTONE_URL = "eddystone-url"
PROTOCOL_EDDYSTONE_TLM = "eddystone-tlm"
PROTOCOL_EDDYSTONE_ETLM = "eddystone-etlm"
PROTOCOL_EDDYSTONE_EID = "eddystone-eid"

_AD_SERVICE_DATA_16 = 0x16
_AD_MANUFACTURER_SPECIFIC = 0xFF
_APPLE_COMPANY_ID = b"\x4c\x00"
_IBEACON_TYPE = 0x02
_IBEACON_LENGTH = 0x15
_EDDYSTONE_UUID = b"\xaa\xfe"

_URL_SCHEMES = ("http://www.", "https://www.", "http://", "https://")
_URL_EXPANSIONS = (
    ".com/", ".org/", ".edu/", ".net/", ".info/", ".biz/", ".gov/",
    ".com", ".org", ".edu", ".net", ".info", ".biz", ".gov",
)  # fmt: skip
_URL_MAX_ENCODED = 17
_TLM_TEMPERATURE_UNSUPPORTED = -0x8000


@dataclass(frozen=True, slots=True)
class BeaconFrame:
    """One recognised beacon frame.

    ``protocol`` is one of the ``PROTOCOL_*`` constants; ``identifier`` is described in the
    module documentation (``None`` for telemetry frames); ``tx_power_dbm`` is the calibrated
    power the frame advertises (``None`` for telemetry frames). ``battery_mv``,
    ``temperature_c``, ``advertisement_count`` and ``uptime_s`` come from a plain Eddystone-TLM
    frame and are ``None`` otherwise or when the beacon reports them as unsupported.
    """

    protocol: str
    identifier: str | None
    tx_power_dbm: int | None
    battery_mv: int | None = None
    temperature_c: float | None = None
    advertisement_count: int | None = None
    uptime_s: float | None = None


def parse_advertisement(data: bytes) -> BeaconFrame | None:
    """The first iBeacon or Eddystone frame in ``data``, or ``None`` when there is none.

    Every AD structure is checked for framing before any is interpreted, so a length overrun
    anywhere raises :class:`PayloadError` even after a valid beacon structure. A structure that
    announces itself as iBeacon or Eddystone but does not have the documented size or content
    also raises; unknown future Eddystone frame types and TLM versions give ``None``.
    """
    for ad_type, body in _ad_structures(data):
        if ad_type == _AD_MANUFACTURER_SPECIFIC and body[:2] == _APPLE_COMPANY_ID:
            frame = _ibeacon(body)
        elif ad_type == _AD_SERVICE_DATA_16 and body[:2] == _EDDYSTONE_UUID:
            frame = _eddystone(body[2:])
        else:
            continue
        if frame is not None:
            return frame
    return None


def _ad_structures(data: object) -> list[tuple[int, bytes]]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise PayloadError("advertisement", type(data).__name__, "advertising data must be bytes")
    raw = bytes(data)
    structures: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(raw):
        length = raw[offset]
        if length == 0:  # early termination: what follows is padding
            break
        end = offset + 1 + length
        if end > len(raw):
            raise PayloadError(
                "ad_structure",
                f"length {length} at byte {offset}",
                f"AD structure runs {end - len(raw)} byte(s) past the end of the data",
            )
        structures.append((raw[offset + 1], raw[offset + 2 : end]))
        offset = end
    return structures


def _ibeacon(body: bytes) -> BeaconFrame | None:
    # body: company ID (2) | type (1) | length (1) | UUID (16) | major (2) | minor (2) | power (1)
    if len(body) < 3 or body[2] != _IBEACON_TYPE:
        return None  # some other Apple advertisement
    if len(body) < 4 or body[3] != _IBEACON_LENGTH:
        found = body[3] if len(body) > 3 else None
        raise PayloadError("ibeacon.length", found, "iBeacon length byte must be 0x15")
    if len(body) != 4 + _IBEACON_LENGTH:
        raise _size_error("ibeacon", body, "iBeacon data is 25 bytes")
    proximity = uuid.UUID(bytes=body[4:20])
    major = int.from_bytes(body[20:22], "big")
    minor = int.from_bytes(body[22:24], "big")
    power = int.from_bytes(body[24:25], "big", signed=True)
    return BeaconFrame(PROTOCOL_IBEACON, f"{proximity}/{major}/{minor}", power, None)


def _eddystone(frame: bytes) -> BeaconFrame | None:
    if not frame:
        raise PayloadError("eddystone", "", "Eddystone service data without a frame type")
    frame_type = frame[0]
    if frame_type == 0x00:
        return _eddystone_uid(frame)
    if frame_type == 0x10:
        return _eddystone_url(frame)
    if frame_type == 0x20:
        return _eddystone_tlm(frame)
    if frame_type == 0x30:
        return _eddystone_eid(frame)
    return None  # reserved for future frame types


def _eddystone_uid(frame: bytes) -> BeaconFrame:
    # 20 bytes with the two reserved bytes, 18 from beacons that truncate them.
    if len(frame) not in (18, 20):
        raise _size_error("eddystone_uid", frame, "UID frame is 18 or 20 bytes")
    namespace = frame[2:12].hex()
    instance = frame[12:18].hex()
    return BeaconFrame(PROTOCOL_EDDYSTONE_UID, f"{namespace}/{instance}", _signed(frame[1]), None)


def _eddystone_url(frame: bytes) -> BeaconFrame:
    if len(frame) < 3:
        raise _size_error("eddystone_url", frame, "URL frame needs Tx power and a scheme byte")
    encoded = frame[3:]
    if len(encoded) > _URL_MAX_ENCODED:
        raise _size_error("eddystone_url", frame, "encoded URL is at most 17 bytes")
    scheme = frame[2]
    if scheme >= len(_URL_SCHEMES):
        raise PayloadError("eddystone_url.scheme", scheme, "URL scheme prefix is 0x00 to 0x03")
    parts = [_URL_SCHEMES[scheme]]
    for position, byte in enumerate(encoded):
        if byte < len(_URL_EXPANSIONS):
            parts.append(_URL_EXPANSIONS[byte])
        elif 0x21 <= byte <= 0x7E:
            parts.append(chr(byte))
        else:
            where = f"0x{byte:02X} at position {position}"
            raise PayloadError("eddystone_url.url", where, "reserved byte in encoded URL")
    return BeaconFrame(PROTOCOL_EDDYSTONE_URL, "".join(parts), _signed(frame[1]), None)


def _eddystone_tlm(frame: bytes) -> BeaconFrame | None:
    if len(frame) < 2:
        raise _size_error("eddystone_tlm", frame, "TLM frame without a version byte")
    version = frame[1]
    if version == 0x01:
        if len(frame) != 18:
            raise _size_error("eddystone_tlm", frame, "encrypted TLM frame is 18 bytes")
        return BeaconFrame(PROTOCOL_EDDYSTONE_ETLM, None, None, None)
    if version != 0x00:
        return None  # a TLM version this module does not know
    if len(frame) != 14:
        raise _size_error("eddystone_tlm", frame, "plain TLM frame is 14 bytes")
    millivolts = int.from_bytes(frame[2:4], "big")
    temperature = int.from_bytes(frame[4:6], "big", signed=True)
    return BeaconFrame(
        PROTOCOL_EDDYSTONE_TLM,
        None,
        None,
        battery_mv=millivolts or None,  # 0 means "not supported", e.g. a USB-powered beacon
        temperature_c=None if temperature == _TLM_TEMPERATURE_UNSUPPORTED else temperature / 256,
        advertisement_count=int.from_bytes(frame[6:10], "big"),
        uptime_s=int.from_bytes(frame[10:14], "big") / 10,
    )


def _eddystone_eid(frame: bytes) -> BeaconFrame:
    if len(frame) != 10:
        raise _size_error("eddystone_eid", frame, "EID frame is 10 bytes")
    return BeaconFrame(PROTOCOL_EDDYSTONE_EID, frame[2:10].hex(), _signed(frame[1]), None)


def _size_error(field: str, data: bytes, expectation: str) -> PayloadError:
    return PayloadError(field, data.hex(), f"{expectation}, got {len(data)}")


def _signed(byte: int) -> int:
    return byte - 0x100 if byte > 0x7F else byte
