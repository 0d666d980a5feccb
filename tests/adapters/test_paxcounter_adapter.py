"""The LoRaWAN Paxcounter adapter: count uplinks to footfall counts of a beacon zone."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from adapters.paxcounter import PaxcounterAdapter
from adapters.payloads import PayloadError
from adapters.sdk import AdapterRunner, Outbox
from adapters.wire import InMemoryTransport, decode, from_epoch_ms
from tests.adapters.payloads.test_lorawan_uplink import CHIRPSTACK_UP, TTS_UPLINK
from tests.adapters.test_fill_level_adapter import CHIRPSTACK_TIME, TTS_TIME

PAX = "70B3D57ED0051234"
PLAIN = "70B3D57ED0055678"
CONFIG: dict[str, Any] = {
    "devices": {
        PAX.lower(): {"beacon": "BLE-34114-ZAE-1", "cycle_s": 240},
        PLAIN: {"beacon": "BLE-34114-CTR-1", "cycle_s": 60, "encoding": "plain"},
    }
}


def chirpstack(dev_eui: str, frame: str, f_port: int = 1, shift_s: float = 0.0) -> str:
    document = json.loads(CHIRPSTACK_UP)
    document["deviceInfo"]["devEui"] = dev_eui.lower()
    document["fPort"] = f_port
    document["data"] = base64.b64encode(bytes.fromhex(frame)).decode()
    moment = CHIRPSTACK_TIME + timedelta(seconds=shift_s)
    document["time"] = moment.isoformat().replace("+00:00", "Z")
    return json.dumps(document)


def tts(dev_eui: str, frame: str, f_port: int = 1) -> str:
    document = json.loads(TTS_UPLINK)
    document["end_device_ids"]["dev_eui"] = dev_eui
    document["uplink_message"]["f_port"] = f_port
    document["uplink_message"]["frm_payload"] = base64.b64encode(bytes.fromhex(frame)).decode()
    return json.dumps(document)


@pytest.fixture
def adapter() -> PaxcounterAdapter:
    return PaxcounterAdapter(CONFIG)


def test_a_count_uplink_is_the_count_of_the_cycle_that_ended(adapter: PaxcounterAdapter) -> None:
    (reading,) = adapter.readings(chirpstack(PAX, "0201 0300".replace(" ", "")), CHIRPSTACK_TIME)
    assert (reading.device, reading.asset, reading.kind) == (
        PAX,
        "BLE-34114-ZAE-1",
        "footfall.count",
    )
    assert reading.observed_at == CHIRPSTACK_TIME
    assert reading.body["count"] == 261  # 258 on Wi-Fi + 3 on BLE
    start = from_epoch_ms(reading.body["interval_start"])
    assert CHIRPSTACK_TIME - start == timedelta(seconds=240, microseconds=23)  # ms on the wire


def test_the_plain_encoder_is_big_endian(adapter: PaxcounterAdapter) -> None:
    (reading,) = adapter.readings(tts(PLAIN, "0102"), TTS_TIME)
    assert reading.body["count"] == 258 and reading.asset == "BLE-34114-CTR-1"


def test_an_early_uplink_never_overlaps_the_previous_interval(adapter: PaxcounterAdapter) -> None:
    (first,) = adapter.readings(chirpstack(PAX, "0100"), CHIRPSTACK_TIME)
    (second,) = adapter.readings(chirpstack(PAX, "0200", shift_s=239), CHIRPSTACK_TIME)
    assert from_epoch_ms(second.body["interval_start"]) == first.observed_at.replace(
        microsecond=first.observed_at.microsecond // 1000 * 1000
    )
    with pytest.raises(PayloadError) as caught:
        adapter.readings(chirpstack(PAX, "0300", shift_s=100), CHIRPSTACK_TIME)
    assert caught.value.field == "received_at"


@pytest.mark.parametrize("port", [2, 3, 4, 9])
def test_frames_on_other_ports_are_refused(adapter: PaxcounterAdapter, port: int) -> None:
    # Port 2 is the status frame, 3 the configuration, 4 GPS, 9 the time.
    with pytest.raises(PayloadError) as caught:
        adapter.readings(chirpstack(PAX, "0201", f_port=port), CHIRPSTACK_TIME)
    assert (caught.value.field, caught.value.value) == ("f_port", port)


def test_an_unknown_device_is_refused_naming_it(adapter: PaxcounterAdapter) -> None:
    with pytest.raises(PayloadError) as caught:
        adapter.readings(chirpstack("0101010101010101", "0201"), CHIRPSTACK_TIME)
    assert (caught.value.field, caught.value.value) == ("dev_eui", "0101010101010101")


@pytest.mark.parametrize(
    ("device", "named"),
    [
        ({"cycle_s": 240}, "beacon"),
        ({"beacon": "B"}, "cycle_s"),
        ({"beacon": "B", "cycle_s": 5}, "cycle_s"),
        ({"beacon": "B", "cycle_s": 90_000}, "cycle_s"),
        ({"beacon": "B", "cycle_s": True}, "cycle_s"),
        ({"beacon": "B", "cycle_s": 240, "encoding": "lpp"}, "encoding"),
    ],
)
def test_config_errors_name_the_key(device: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=rf"devices\.{PAX}\.{named}"):
        PaxcounterAdapter({"devices": {PAX: device}})


def test_through_the_runner_to_valid_wire_messages(adapter: PaxcounterAdapter) -> None:
    transport = InMemoryTransport()
    now = CHIRPSTACK_TIME + timedelta(minutes=1)
    with Outbox() as outbox:
        runner = AdapterRunner(adapter, transport, outbox, "gw-pax", clock=lambda: now)
        assert runner.submit(chirpstack(PAX, "02010300")) == 1
        runner.pump()
        (envelope,) = [decode(sent, now) for sent in transport.sent]
    assert (envelope.kind, envelope.asset, envelope.body["count"]) == (
        "footfall.count",
        "BLE-34114-ZAE-1",
        261,
    )


def test_an_uplink_dated_years_ahead_is_refused_alone(adapter: PaxcounterAdapter) -> None:
    # A network server's clock glitch: taken as the device's newest count, it made every real
    # count of that device refused until the glitch's date (found in review, as BLE's item 12).
    six_years = 6 * 365 * 24 * 3600.0
    with pytest.raises(PayloadError) as caught:
        adapter.readings(chirpstack(PAX, "0100", shift_s=six_years), CHIRPSTACK_TIME)
    assert caught.value.field == "time" and "clock glitch" in str(caught.value)
    (real,) = adapter.readings(chirpstack(PAX, "0200", shift_s=1), CHIRPSTACK_TIME)
    assert real.body["count"] == 2
    with pytest.raises(PayloadError, match="before 2000"):
        adapter.readings(chirpstack(PAX, "0100", shift_s=-30 * 365 * 24 * 3600.0), CHIRPSTACK_TIME)
