"""The LoRaWAN ultrasonic adapter: vendor frames in real network-server uplinks to fill levels."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.fill_level import LorawanUltrasonicAdapter, fill_percent
from adapters.payloads import PayloadError
from adapters.sdk import AdapterRunner, Outbox, Reading
from adapters.wire import InMemoryTransport, decode
from tests.adapters.payloads.test_lorawan_uplink import CHIRPSTACK_UP, TTS_UPLINK

EM310 = "24E124713B200001"
LDDS75 = "A84041000181C061"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
# The time stamps of the two servers' documented examples, nanoseconds truncated.
CHIRPSTACK_TIME = datetime(2022, 7, 18, 9, 34, 15, 775023, tzinfo=UTC)
TTS_TIME = datetime(2020, 2, 12, 15, 15, 46, 14773, tzinfo=UTC)


def frame(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def uplink_port(dev_eui: str) -> int:
    """The port each vendor documents: Milesight 85 (default), Dragino LDDS75 2."""
    return {EM310: 85, LDDS75: 2}.get(dev_eui.upper(), 85)


def chirpstack(dev_eui: str, payload: bytes, f_port: int | None = None) -> str:
    """ChirpStack's documented ``up`` event carrying another device and payload."""
    document = json.loads(CHIRPSTACK_UP)
    document["deviceInfo"]["devEui"] = dev_eui.lower()
    document["fPort"] = uplink_port(dev_eui) if f_port is None else f_port
    document["data"] = base64.b64encode(payload).decode()
    return json.dumps(document)


def tts(dev_eui: str, payload: bytes, f_port: int | None = None) -> str:
    """The Things Stack's documented uplink message carrying another device and payload."""
    document = json.loads(TTS_UPLINK)
    document["end_device_ids"]["dev_eui"] = dev_eui
    document["uplink_message"]["f_port"] = uplink_port(dev_eui) if f_port is None else f_port
    document["uplink_message"]["frm_payload"] = base64.b64encode(payload).decode()
    return json.dumps(document)


CONFIG: dict[str, Any] = {
    "devices": {
        EM310.lower(): {"bin": "B-34114-OM-0001", "depth_mm": 2500, "model": "em310-udl"},
        LDDS75: {"bin": "B-34114-VER-0002", "depth_mm": 3000, "model": "ldds75"},
    }
}


@pytest.fixture
def adapter() -> LorawanUltrasonicAdapter:
    return LorawanUltrasonicAdapter(CONFIG)


def by_kind(readings: list[Reading]) -> dict[str, Reading]:
    kinds = [r.kind for r in readings]
    assert len(set(kinds)) == len(kinds)
    return {r.kind: r for r in readings}


@pytest.mark.parametrize("network", ["chirpstack", "tts"])
def test_em310_level_frame_becomes_fill_and_battery(
    adapter: LorawanUltrasonicAdapter, network: str
) -> None:
    # Milesight's README example with the position byte set to normal (04 00 00): battery 92 %,
    # distance 2116 mm. In a 2500 mm deep bin that is (2500 - 2116) / 2500 = 15.36 % full.
    raw = frame("01755C 03824408 040000")
    uplink = chirpstack(EM310, raw) if network == "chirpstack" else tts(EM310, raw)
    readings = by_kind(adapter.readings(uplink, NOW))
    assert set(readings) == {"bin.fill", "device.battery"}
    fill = readings["bin.fill"]
    assert fill.body == {"fill_percent": 15.4, "distance_mm": 2116}
    assert (fill.device, fill.asset) == (EM310, "B-34114-OM-0001")
    assert fill.observed_at == (CHIRPSTACK_TIME if network == "chirpstack" else TTS_TIME)
    assert readings["device.battery"].body == {"battery_percent": 92.0}


def test_em310_vendor_example_is_tilted_so_a_fault_not_a_fill(
    adapter: LorawanUltrasonicAdapter,
) -> None:
    # The README's own example, 01755C 03824408 040001, reports position "tilt".
    readings = by_kind(adapter.readings(chirpstack(EM310, frame("01755C 03824408 040001")), NOW))
    assert set(readings) == {"device.battery", "device.fault"}
    assert "tilt" in readings["device.fault"].body["fault"]
    assert readings["device.fault"].asset == "B-34114-OM-0001"


def test_em310_frame_without_position_channel(adapter: LorawanUltrasonicAdapter) -> None:
    # EM500-UDL README example 017564 03821E00: battery 100 %, 30 mm -> almost full.
    readings = by_kind(adapter.readings(tts(EM310, frame("017564 03821E00")), NOW))
    assert readings["bin.fill"].body == {"fill_percent": 98.8, "distance_mm": 30}
    assert readings["device.battery"].body == {"battery_percent": 100.0}


def test_em310_device_information_frame_gives_nothing(adapter: LorawanUltrasonicAdapter) -> None:
    info = frame("ff0bff ff0101 ff166329c42903640033 ff090100 ff0a0101 ff0f00")
    assert adapter.readings(chirpstack(EM310, info), NOW) == []


@pytest.mark.parametrize("network", ["chirpstack", "tts"])
def test_ldds75_vendor_frame(adapter: LorawanUltrasonicAdapter, network: str) -> None:
    # TTN device repository, Dragino LDDS75 codec example 0D3B 0AEF 00 0000 01: 3387 mV, 2799 mm.
    raw = frame("0D3B 0AEF 00 0000 01")
    uplink = chirpstack(LDDS75, raw) if network == "chirpstack" else tts(LDDS75, raw)
    readings = by_kind(adapter.readings(uplink, NOW))
    assert readings["bin.fill"].body == {
        "fill_percent": 6.7,
        "distance_mm": 2799,
    }  # (3000-2799)/3000
    assert readings["bin.fill"].asset == "B-34114-VER-0002"
    assert readings["device.battery"].body == {"battery_percent": 76.3}


@pytest.mark.parametrize(
    ("payload", "fault"),
    [
        ("0B49 0000 00 0000 00", "no_sensor"),  # manual: distance 0x0000, sensor flag 0
        ("0B49 0014 00 0000 01", "invalid_reading"),  # firmware 1.1.4 below-range sentinel
    ],
)
def test_ldds75_alarm_is_a_fault_not_a_fill(
    adapter: LorawanUltrasonicAdapter, payload: str, fault: str
) -> None:
    readings = by_kind(adapter.readings(tts(LDDS75, frame(payload)), NOW))
    assert set(readings) == {"device.battery", "device.fault"}
    assert readings["device.fault"].body == {"fault": fault}
    assert readings["device.battery"].body == {"battery_percent": 21.0}  # 2889 mV


@pytest.mark.parametrize(
    ("distance", "depth", "percent"),
    [(0, 1000, 100.0), (1000, 1000, 0.0), (1500, 1000, 0.0), (250, 1000, 75.0), (333, 1000, 66.7)],
)
def test_fill_percent_from_depth(distance: int, depth: float, percent: float) -> None:
    assert fill_percent(distance, depth) == percent


def test_echo_just_beyond_the_floor_is_an_empty_bin(adapter: LorawanUltrasonicAdapter) -> None:
    # 0x09EC = 2540 mm in a 2500 mm bin: within the floor's tolerance, 0 %, distance kept.
    readings = by_kind(adapter.readings(chirpstack(EM310, frame("0382EC09")), NOW))
    assert readings["bin.fill"].body == {"fill_percent": 0.0, "distance_mm": 2540}


@pytest.mark.parametrize(("raw", "distance"), [("03828813", 5000), ("0382FFFF", 65535)])
def test_echo_far_beyond_the_floor_is_a_fault_not_an_empty_bin(
    adapter: LorawanUltrasonicAdapter, raw: str, distance: int
) -> None:
    # 5000 mm in a 2500 mm bin (the lid open, the sensor knocked askew): once clamped to 0 %.
    readings = by_kind(adapter.readings(chirpstack(EM310, frame(raw)), NOW))
    assert set(readings) == {"device.fault"}
    fault = readings["device.fault"].body["fault"]
    assert f"{distance} mm" in fault and "2500 mm" in fault and len(fault) <= 120


@pytest.mark.parametrize(
    ("device", "raw", "wrong_port"),
    [(EM310, "01755C 03824408 040000", 2), (LDDS75, "0D3B 0AEF 00 0000 01", 85)],
)
@pytest.mark.parametrize("network", ["chirpstack", "tts"])
def test_a_frame_on_another_port_is_refused(
    adapter: LorawanUltrasonicAdapter, device: str, raw: str, wrong_port: int, network: str
) -> None:
    wrap = chirpstack if network == "chirpstack" else tts
    with pytest.raises(PayloadError) as caught:
        adapter.readings(wrap(device, frame(raw), wrong_port), NOW)
    assert (caught.value.field, caught.value.value) == ("f_port", wrong_port)
    assert f"port {uplink_port(device)}" in caught.value.reason


def test_a_device_set_to_another_port_is_read_on_it() -> None:
    config = {"devices": {EM310: {"bin": "B-1", "depth_mm": 2500, "f_port": 10}}}
    adapter = LorawanUltrasonicAdapter(config)
    readings = by_kind(adapter.readings(chirpstack(EM310, frame("03824408"), 10), NOW))
    assert readings["bin.fill"].body["distance_mm"] == 2116
    with pytest.raises(PayloadError):
        adapter.readings(chirpstack(EM310, frame("03824408"), 85), NOW)


def test_unknown_dev_eui_is_refused_naming_it(adapter: LorawanUltrasonicAdapter) -> None:
    with pytest.raises(PayloadError) as caught:
        adapter.readings(chirpstack("0101010101010101", frame("03824408")), NOW)
    assert caught.value.field == "dev_eui"
    assert caught.value.value == "0101010101010101"


@pytest.mark.parametrize(
    ("uplink", "field"),
    [
        (CHIRPSTACK_UP.replace('"data": "qg=="', '"data": "!!"'), "data"),
        ('{"something": "else"}', "document"),
        ("not json", "document"),
    ],
)
def test_broken_uplinks_name_the_field(
    adapter: LorawanUltrasonicAdapter, uplink: str, field: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        adapter.readings(uplink, NOW)
    assert caught.value.field == field


def test_bad_frame_for_the_configured_model(adapter: LorawanUltrasonicAdapter) -> None:
    # A Milesight frame sent by a device configured as an LDDS75 (8-byte frames only).
    with pytest.raises(PayloadError) as caught:
        adapter.readings(tts(LDDS75, frame("01755C 03824408")), NOW)
    assert caught.value.field == "payload"


@pytest.mark.parametrize(
    ("devices", "named"),
    [
        (None, "devices"),
        ({}, "devices"),
        ({EM310: {"bin": "B-1", "depth_mm": 1000, "model": "hc-sr04"}}, f"devices.{EM310}.model"),
        ({EM310: {"bin": "B-1", "depth_mm": 0}}, f"devices.{EM310}.depth_mm"),
        ({EM310: {"bin": "B-1", "depth_mm": "deep"}}, f"devices.{EM310}.depth_mm"),
        ({EM310: {"bin": "B-1"}}, f"devices.{EM310}.depth_mm"),
        ({EM310: {"depth_mm": 1000}}, f"devices.{EM310}.bin"),
        ({EM310: "B-1"}, f"devices.{EM310}"),
        ({"not-an-eui": {"bin": "B-1", "depth_mm": 1000}}, "devices.not-an-eui"),
        ({EM310: {"bin": "B-1", "depth_mm": 9_001}}, f"devices.{EM310}.depth_mm"),
        ({EM310: {"bin": "B-1", "depth_mm": 900, "f_port": 0}}, f"devices.{EM310}.f_port"),
        ({EM310: {"bin": "B-1", "depth_mm": 900, "f_port": "85"}}, f"devices.{EM310}.f_port"),
        (
            {
                EM310: {"bin": "B-1", "depth_mm": 900},
                EM310.lower(): {"bin": "B-2", "depth_mm": 900},
            },
            "twice",
        ),
    ],
)
def test_config_errors_name_the_key(devices: Any, named: str) -> None:
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        LorawanUltrasonicAdapter({} if devices is None else {"devices": devices})


def test_default_model_is_the_em310(adapter: LorawanUltrasonicAdapter) -> None:
    default = LorawanUltrasonicAdapter({"devices": {EM310: {"bin": "B-1", "depth_mm": 2500}}})
    readings = by_kind(default.readings(chirpstack(EM310, frame("03824408")), NOW))
    assert readings["bin.fill"].body["distance_mm"] == 2116


def test_through_the_runner_to_valid_wire_messages(adapter: LorawanUltrasonicAdapter) -> None:
    transport = InMemoryTransport()
    with Outbox() as outbox:
        runner = AdapterRunner(adapter, transport, outbox, "gw-lorawan-1", clock=lambda: NOW)
        uplinks = [
            chirpstack(EM310, frame("01755C 03824408 040000")),
            tts(LDDS75, frame("0D3B 0AEF 00 0000 01")),
        ]
        # MQTT QoS 1 may deliver an uplink twice: it is one message each time.
        assert runner.submit_many([*uplinks, uplinks[0]]) == 4
        runner.submit("garbage")
        runner.pump()
        envelopes = [decode(sent, NOW) for sent in transport.sent]
    assert sorted((e.device, e.kind) for e in envelopes) == [
        (EM310, "bin.fill"),
        (EM310, "device.battery"),
        (LDDS75, "bin.fill"),
        (LDDS75, "device.battery"),
    ]
    assert all(e.source == "gw-lorawan-1" for e in envelopes)
    assert dict(runner.stats.unreadable) == {"document": 1}
