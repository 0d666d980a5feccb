"""iBeacon and Eddystone frames in BLE advertising data, from the published layouts and examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.payloads import BeaconFrame, PayloadError, parse_advertisement

FLAGS = "020106"  # AD flags structure: LE General Discoverable, BR/EDR not supported
# 16-bit service UUID list holding 0xFEAA, as in the Eddystone protocol specification example
EDDYSTONE_LIST = "0303AAFE"


IBEACON = FLAGS + "1AFF 4C00 02 15 E20A39F473F54BC4A12F17D1AD07A961 1122 3344 C8"


def adv(*parts: str) -> bytes:
    return bytes.fromhex("".join(parts).replace(" ", ""))


# -- iBeacon -------------------------------------------------------------------------------------


def test_ibeacon_mbed_example() -> None:
    # ARM mbed BLE_iBeacon example (os.mbed.com, main.cpp): Apple company ID 0x004C, type 0x02,
    # length 0x15, UUID E2 0A 39 F4 73 F5 4B C4 A1 2F 17 D1 AD 07 A9 61, major/minor
    # 0x1122/0x3344, Tx power 0xC8 (-56 dBm), placed in a manufacturer specific AD structure.
    frame = parse_advertisement(
        adv(FLAGS, "1AFF 4C00 02 15 E20A39F473F54BC4A12F17D1AD07A961 1122 3344 C8")
    )
    assert frame == BeaconFrame(
        protocol="ibeacon",
        identifier="e20a39f4-73f5-4bc4-a12f-17d1ad07a961/4386/13124",
        tx_power_dbm=-56,
        battery_mv=None,
    )


def test_ibeacon_vendor_packet_table() -> None:
    # April Brother "iBeacon packet structure" (wiki.aprbrother.com): preamble 02 01 06 1A FF
    # 4C 00 02 15, UUID b5b182c7-eab1-4988-aa99-b5c1517008d9, signal power 0xC6 (calibrated RSSI
    # at 1 m). The table leaves major/minor to the user; 0x0001/0x0002 are used here.
    frame = parse_advertisement(
        adv("02 01 06 1A FF 4C 00 02 15 B5B182C7EAB14988AA99B5C1517008D9 0001 0002 C6")
    )
    assert frame is not None
    assert frame.identifier == "b5b182c7-eab1-4988-aa99-b5c1517008d9/1/2"
    assert frame.tx_power_dbm == -58


def test_ibeacon_padded_to_31_bytes() -> None:
    data = adv(FLAGS, "1AFF 4C00 02 15 E20A39F473F54BC4A12F17D1AD07A961 0000 0000 C5", "00")
    assert len(data) == 31
    frame = parse_advertisement(data)
    assert frame is not None and frame.identifier.endswith("/0/0") and frame.tx_power_dbm == -59


def test_other_apple_advertisements_are_not_beacons() -> None:
    # Apple manufacturer data with a type other than 0x02 (e.g. 0x10) is not an iBeacon.
    assert parse_advertisement(adv(FLAGS, "07FF 4C00 10 02 0B00")) is None


# -- Eddystone -----------------------------------------------------------------------------------


def test_eddystone_url_spec_example() -> None:
    # google/eddystone eddystone-url/README.md: the example URL https://goo.gl/Aq18zF, the
    # scheme byte 0x03 for "https://", and the Tx power example 0xEE = -18 dBm.
    frame = parse_advertisement(
        adv(FLAGS, EDDYSTONE_LIST, "13 16 AAFE 10 EE 03", b"goo.gl/Aq18zF".hex())
    )
    assert frame == BeaconFrame("eddystone-url", "https://goo.gl/Aq18zF", -18, None)


@pytest.mark.parametrize(
    ("encoded", "url"),
    [
        ("00 " + b"example".hex() + " 07", "http://www.example.com"),  # 0x00 prefix, 0x07 .com
        ("01 " + b"example".hex() + " 00 " + b"x".hex(), "https://www.example.com/x"),  # 0x00 .com/
        ("02 " + b"valley".hex() + " 08", "http://valley.org"),
        ("03 " + b"a".hex() + " 0D", "https://a.gov"),
        ("02", "http://"),  # an empty encoded URL is allowed (length 0-17)
    ],
)
def test_eddystone_url_expansions(encoded: str, url: str) -> None:
    body = bytes.fromhex(("10 12 " + encoded).replace(" ", ""))  # Tx 0x12 = +18 dBm (spec example)
    data = bytes([len(body) + 3, 0x16, 0xAA, 0xFE]) + body
    frame = parse_advertisement(data)
    assert frame is not None and frame.identifier == url and frame.tx_power_dbm == 18


def test_eddystone_uid_with_reserved_bytes() -> None:
    # google/eddystone eddystone-uid/README.md: service data length 0x17; the namespace is the
    # README's "elided UUID" example 8b0ca750095477cb3e77; RFU bytes 00 00.
    frame = parse_advertisement(
        adv(FLAGS, EDDYSTONE_LIST, "17 16 AAFE 00 EE 8B0CA750095477CB3E77 000000000001 0000")
    )
    assert frame == BeaconFrame("eddystone-uid", "8b0ca750095477cb3e77/000000000001", -18, None)


def test_eddystone_uid_without_reserved_bytes() -> None:
    # Same README: older implementations truncate the RFU bytes and use length 0x15.
    frame = parse_advertisement(adv("15 16 AAFE 00 12 8B0CA750095477CB3E77 0A0B0C0D0E0F"))
    assert frame is not None and frame.identifier == "8b0ca750095477cb3e77/0a0b0c0d0e0f"
    assert frame.tx_power_dbm == 18


def test_eddystone_tlm_plain() -> None:
    # google/eddystone eddystone-tlm/tlm-plain.md: length 0x11, version 0x00, VBATT 1 mV/bit,
    # TEMP signed 8.8 fixed point, ADV_CNT, SEC_CNT in 0.1 s; all big-endian.
    frame = parse_advertisement(
        adv(FLAGS, EDDYSTONE_LIST, "11 16 AAFE 20 00 0BB8 1880 00000100 00002710")
    )
    assert frame == BeaconFrame(
        protocol="eddystone-tlm",
        identifier=None,
        tx_power_dbm=None,
        battery_mv=3000,
        temperature_c=24.5,
        advertisement_count=256,
        uptime_s=1000.0,
    )


def test_eddystone_tlm_unsupported_values() -> None:
    # tlm-plain.md: VBATT 0 when not supported (e.g. USB power), TEMP 0x8000 when not supported.
    frame = parse_advertisement(adv("11 16 AAFE 20 00 0000 8000 00000000 00000000"))
    assert frame is not None and frame.battery_mv is None and frame.temperature_c is None


def test_eddystone_tlm_negative_temperature() -> None:
    frame = parse_advertisement(adv("11 16 AAFE 20 00 0C1C FF80 00000001 00000001"))
    assert frame is not None and frame.temperature_c == -0.5 and frame.battery_mv == 3100


def test_eddystone_tlm_encrypted() -> None:
    # google/eddystone eddystone-tlm/tlm-encrypted.md: version 0x01, 12 bytes ETLM, salt, MIC.
    frame = parse_advertisement(adv("15 16 AAFE 20 01", "AB" * 12, "1234", "5678"))
    assert frame == BeaconFrame("eddystone-etlm", None, None, None)


def test_eddystone_eid() -> None:
    # google/eddystone eddystone-eid/README.md: 0x30, Tx power at 0 m, 8-byte ephemeral ID.
    frame = parse_advertisement(adv(FLAGS, EDDYSTONE_LIST, "0D 16 AAFE 30 F4 0123456789ABCDEF"))
    assert frame == BeaconFrame("eddystone-eid", "0123456789abcdef", -12, None)


# -- neither -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "",
        FLAGS,
        FLAGS + EDDYSTONE_LIST,
        FLAGS + "0BFF 5900 0102030405060708",  # Nordic manufacturer data
        "1BFF 1800 BEAC" + "11" * 20 + "C5 00",  # AltBeacon-like layout, other company
        "04 16 0F18 64",  # battery service data, not Eddystone
        "04 16 AAFE 40",  # an Eddystone frame type reserved for the future
        "04 16 AAFE 21",  # low nibble set: not a frame type of the specification
        "05 16 AAFE 20 02",  # a TLM version this module does not know
        "020106 00 1AFF",  # zero length ends the significant part; the rest is not read
    ],
)
def test_advertisements_that_are_not_beacons(data: str) -> None:
    assert parse_advertisement(adv(data)) is None


def test_first_beacon_wins() -> None:
    data = adv(
        "15 16 AAFE 00 12 8B0CA750095477CB3E77 0A0B0C0D0E0F",
        "1AFF 4C00 02 15 E20A39F473F54BC4A12F17D1AD07A961 1122 3344 C8",
    )
    frame = parse_advertisement(data)
    assert frame is not None and frame.protocol == "eddystone-uid"


# -- malformed -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (FLAGS + "1AFF 4C00 02 15 E20A39F4", "ad_structure"),  # length overruns the data
        ("03", "ad_structure"),
        ("FF", "ad_structure"),
        # an overrun after a perfectly good iBeacon is still malformed data
        (IBEACON + "05 09 41", "ad_structure"),
        (FLAGS + "1AFF 4C00 02 14 E20A39F473F54BC4A12F17D1AD07A961 1122 3344 C8", "ibeacon.length"),
        ("04FF 4C00 02", "ibeacon.length"),
        (FLAGS + "18FF 4C00 02 15 E20A39F473F54BC4A12F17D1AD07A961 1122 33", "ibeacon"),
        (FLAGS + "1BFF 4C00 02 15 E20A39F473F54BC4A12F17D1AD07A961 1122 3344 C8 00", "ibeacon"),
        ("03 16 AAFE", "eddystone"),
        ("11 16 AAFE 00 EE 8B0CA750095477CB3E77 0000", "eddystone_uid"),
        ("05 16 AAFE 10 EE", "eddystone_url"),
        ("08 16 AAFE 10 EE 04 4142", "eddystone_url.scheme"),
        ("08 16 AAFE 10 EE 03 410E", "eddystone_url.url"),  # 0x0E is reserved
        ("08 16 AAFE 10 EE 03 41 20", "eddystone_url.url"),  # space is excluded
        ("08 16 AAFE 10 EE 03 41 80", "eddystone_url.url"),
        ("18 16 AAFE 10 EE 03" + "61" * 18, "eddystone_url"),  # 18 encoded bytes
        ("04 16 AAFE 20", "eddystone_tlm"),
        ("10 16 AAFE 20 00 0BB8 1880 00000100 000027", "eddystone_tlm"),
        ("14 16 AAFE 20 01" + "AB" * 15, "eddystone_tlm"),
        ("0C 16 AAFE 30 F4 0123456789ABCD", "eddystone_eid"),
    ],
)
def test_malformed_advertisements_name_the_field(data: str, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_advertisement(adv(data))
    assert caught.value.field == field


def test_rejects_hex_text() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_advertisement("0201061AFF")  # type: ignore[arg-type]
    assert caught.value.field == "advertisement"


# -- properties ----------------------------------------------------------------------------------


@given(st.binary(max_size=62))
def test_arbitrary_bytes_only_ever_raise_payload_error(data: bytes) -> None:
    try:
        frame = parse_advertisement(data)
    except PayloadError:
        return
    if frame is not None:
        assert frame.protocol.startswith(("ibeacon", "eddystone-"))


AD_STRUCTURE = st.one_of(
    st.binary(max_size=26).map(lambda body: bytes([len(body) + 5, 0xFF, 0x4C, 0, 2, 0x15]) + body),
    st.binary(max_size=24).map(lambda body: bytes([len(body) + 3, 0x16, 0xAA, 0xFE]) + body),
    st.binary(min_size=1, max_size=8).map(lambda body: bytes([len(body)]) + body),
)


@pytest.mark.slow
@given(st.lists(AD_STRUCTURE, max_size=3))
def test_well_framed_lookalikes_only_ever_raise_payload_error(structures: list[bytes]) -> None:
    try:
        parse_advertisement(b"".join(structures))
    except PayloadError:
        pass
