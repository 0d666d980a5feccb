"""The LoRaWAN smart-plug adapter: Milesight WS52x uplinks to a site's cumulative kWh index."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from adapters.payloads import PayloadError
from adapters.registry import adapter_named
from adapters.sdk import AdapterRunner, Outbox
from adapters.smart_plug import SmartPlugAdapter
from adapters.wire import InMemoryTransport, decode
from tests.adapters.payloads.test_milesight_ws52x import VENDOR_EXAMPLE
from tests.adapters.test_fill_level_adapter import CHIRPSTACK_TIME, TTS_TIME
from tests.adapters.test_paxcounter_adapter import chirpstack, tts

PLUG = "24E1641092176759"
CONFIG: dict[str, Any] = {"devices": {PLUG.lower(): {"site": "EP-34114-001"}}}
EXAMPLE = VENDOR_EXAMPLE.replace(" ", "")


@pytest.fixture
def adapter() -> SmartPlugAdapter:
    return SmartPlugAdapter(CONFIG)


def test_the_vendor_example_is_the_site_s_index_in_kwh(adapter: SmartPlugAdapter) -> None:
    (reading,) = adapter.readings(chirpstack(PLUG, EXAMPLE, f_port=85), CHIRPSTACK_TIME)
    assert (reading.device, reading.asset, reading.kind) == (PLUG, "EP-34114-001", "site.energy")
    assert reading.body == {"index_kwh": 26.121}
    assert reading.observed_at == CHIRPSTACK_TIME


def test_the_things_stack_uplinks_too(adapter: SmartPlugAdapter) -> None:
    (reading,) = adapter.readings(tts(PLUG, EXAMPLE, f_port=85), TTS_TIME)
    assert reading.body == {"index_kwh": 26.121} and reading.observed_at == TTS_TIME


def test_a_status_only_uplink_gives_no_reading(adapter: SmartPlugAdapter) -> None:
    assert adapter.readings(chirpstack(PLUG, "087000", f_port=85), CHIRPSTACK_TIME) == []


def test_another_port_or_an_unknown_socket_is_refused(adapter: SmartPlugAdapter) -> None:
    with pytest.raises(PayloadError) as refused:
        adapter.readings(chirpstack(PLUG, EXAMPLE, f_port=1), CHIRPSTACK_TIME)
    assert refused.value.field == "f_port" and "port 85" in refused.value.reason
    with pytest.raises(PayloadError) as refused:
        adapter.readings(chirpstack("24E1641092170000", EXAMPLE, f_port=85), CHIRPSTACK_TIME)
    assert refused.value.field == "dev_eui"


def test_a_socket_set_to_another_port() -> None:
    adapter = SmartPlugAdapter({"devices": {PLUG: {"site": "EP-1", "f_port": 10}}})
    assert adapter.readings(chirpstack(PLUG, EXAMPLE, f_port=10), CHIRPSTACK_TIME)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({}, "'devices'"),
        ({"devices": {"not-an-eui": {"site": "EP-1"}}}, "not-an-eui"),
        ({"devices": {PLUG: {"site": " "}}}, rf"devices\.{PLUG}\.site"),
        ({"devices": {PLUG: {"site": "EP-1", "f_port": 0}}}, rf"devices\.{PLUG}\.f_port"),
        ({"devices": {PLUG: {"site": "EP-1", "f_port": True}}}, rf"devices\.{PLUG}\.f_port"),
        ({"devices": {PLUG: "EP-1"}}, rf"devices\.{PLUG} must be a table"),
        ({"devices": {PLUG: {"site": "A"}, PLUG.lower(): {"site": "B"}}}, "configured twice"),
    ],
)
def test_config_errors_name_the_key(config: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        SmartPlugAdapter(config)


def test_registered_and_through_the_runner_to_valid_wire_messages() -> None:
    assert adapter_named("lorawan-smart-plug") is SmartPlugAdapter
    transport = InMemoryTransport()
    now = CHIRPSTACK_TIME + timedelta(minutes=1)
    with Outbox() as outbox:
        runner = AdapterRunner(
            SmartPlugAdapter(CONFIG), transport, outbox, "gw-plugs", clock=lambda: now
        )
        assert runner.submit(chirpstack(PLUG, EXAMPLE, f_port=85)) == 1
        runner.pump()
        (envelope,) = [decode(sent, now) for sent in transport.sent]
    assert (envelope.kind, envelope.asset, envelope.body) == (
        "site.energy",
        "EP-34114-001",
        {"index_kwh": 26.121},
    )
