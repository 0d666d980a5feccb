"""Energy meters: index, pulses and registers become cumulative kWh; replacements are their own message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.energy_meter import EnergyMeterAdapter
from adapters.payloads import PayloadError
from adapters.sdk import AdapterRunner, Outbox
from adapters.wire import InMemoryTransport, decode

READ_AT = datetime(2024, 5, 1, 6, tzinfo=UTC)
NOW = datetime(2024, 5, 2, tzinfo=UTC)


def reading(**shape: Any) -> str:
    return json.dumps(
        {"meter": "M-34114-01", "site": "EP-34114-001", "read_at": "2024-05-01T06:00:00Z", **shape}
    )


@pytest.fixture
def adapter() -> EnergyMeterAdapter:
    return EnergyMeterAdapter({})


def test_index_in_kwh(adapter: EnergyMeterAdapter) -> None:
    (only,) = adapter.readings(reading(index_kwh=1234.5), NOW)
    assert (only.device, only.asset, only.kind, only.observed_at) == (
        "M-34114-01",
        "EP-34114-001",
        "site.energy",
        READ_AT,
    )
    assert only.body == {"index_kwh": 1234.5}


def test_index_time_in_another_offset_is_converted_to_utc(adapter: EnergyMeterAdapter) -> None:
    payload = json.dumps(
        {"meter": "M", "site": "S", "read_at": "2024-05-01T08:00:00+02:00", "index_kwh": 1}
    )
    assert adapter.readings(payload, NOW)[0].observed_at == READ_AT


@pytest.mark.parametrize(
    ("config", "pulses", "kwh"),
    [
        ({}, 1_234_567, 1234.567),
        ({"wh_per_pulse": 10}, 1_234_567, 12345.67),
        ({"wh_per_pulse": 0.5}, 3, 0.002),
        ({}, 0, 0.0),
    ],
)
def test_pulses_times_wh_per_pulse(config: dict[str, Any], pulses: int, kwh: float) -> None:
    (only,) = EnergyMeterAdapter(config).readings(reading(pulses=pulses), NOW)
    assert only.body == {"index_kwh": kwh}


@pytest.mark.parametrize(
    ("config", "registers", "kwh"),
    [
        ({}, [18, 54321], 123396.9),  # (18 * 65536 + 54321) * 0.1
        ({"kwh_per_unit": 1}, [0, 7], 7.0),
        ({"kwh_per_unit": 0.01}, [0xFFFF, 0xFFFF], 42949672.95),
        ({}, [0, 0], 0.0),
        ({"kwh_per_unit": 1}, [1, 0], 65536.0),  # the high word really is the high word
    ],
)
def test_registers_high_then_low_word(
    config: dict[str, Any], registers: list[int], kwh: float
) -> None:
    (only,) = EnergyMeterAdapter(config).readings(reading(registers=registers), NOW)
    assert only.body == {"index_kwh": kwh}


def test_meter_replacement(adapter: EnergyMeterAdapter) -> None:
    (only,) = adapter.readings(
        reading(replaced={"final_index_kwh": 9876.5, "new_index_kwh": 0}), NOW
    )
    assert only.kind == "site.meter_replaced"
    assert only.body == {"final_index_kwh": 9876.5, "new_index_kwh": 0.0}
    assert (only.device, only.asset, only.observed_at) == ("M-34114-01", "EP-34114-001", READ_AT)


@pytest.mark.parametrize(
    "shapes",
    [
        {},
        {"index_kwh": 1.0, "pulses": 1000},
        {"pulses": 1000, "registers": [0, 1]},
        {"index_kwh": 1.0, "registers": [0, 1]},
        {"index_kwh": 1.0, "replaced": {"final_index_kwh": 1.0, "new_index_kwh": 0}},
    ],
)
def test_exactly_one_shape(adapter: EnergyMeterAdapter, shapes: dict[str, Any]) -> None:
    with pytest.raises(PayloadError) as caught:
        adapter.readings(reading(**shapes), NOW)
    assert caught.value.field == "payload"
    assert "exactly one" in caught.value.reason


@pytest.mark.parametrize(
    ("shape", "field"),
    [
        ({"registers": [1, 2, 3]}, "registers"),
        ({"registers": [1]}, "registers"),
        ({"registers": [-1, 2]}, "registers"),
        ({"registers": [0x10000, 2]}, "registers"),
        ({"registers": [True, 2]}, "registers"),
        ({"registers": ["1", "2"]}, "registers"),
        ({"registers": [1.0, 2]}, "registers"),
        ({"registers": "0012D431"}, "registers"),
        ({"pulses": -1}, "pulses"),
        ({"pulses": 12.5}, "pulses"),
        ({"pulses": True}, "pulses"),
        ({"index_kwh": "1234"}, "index_kwh"),
        ({"index_kwh": -5.0}, "index_kwh"),
        ({"replaced": [9876.5, 0]}, "replaced"),
        ({"replaced": {"final_index_kwh": 9876.5}}, "replaced.new_index_kwh"),
        ({"replaced": {"final_index_kwh": -1, "new_index_kwh": 0}}, "replaced.final_index_kwh"),
    ],
)
def test_bad_values_name_the_field(
    adapter: EnergyMeterAdapter, shape: dict[str, Any], field: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        adapter.readings(reading(**shape), NOW)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (json.dumps({"site": "S", "read_at": "2024-05-01T06:00:00Z", "index_kwh": 1}), "meter"),
        (json.dumps({"meter": "M", "read_at": "2024-05-01T06:00:00Z", "index_kwh": 1}), "site"),
        (
            json.dumps(
                {"meter": "M", "site": "S", "read_at": "2024-05-01T06:00:00", "index_kwh": 1}
            ),
            "read_at",
        ),
        (json.dumps({"meter": "M", "site": "S", "index_kwh": 1}), "read_at"),
        ("{", "payload"),
    ],
)
def test_envelope_fields(adapter: EnergyMeterAdapter, payload: str, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        adapter.readings(payload, NOW)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"wh_per_pulse": 0}, "wh_per_pulse"),
        ({"wh_per_pulse": "ten"}, "wh_per_pulse"),
        ({"kwh_per_unit": -0.1}, "kwh_per_unit"),
        ({"kwh_per_unit": float("nan")}, "kwh_per_unit"),
    ],
)
def test_config_errors_name_the_key(config: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        EnergyMeterAdapter(config)


def test_through_the_runner(adapter: EnergyMeterAdapter) -> None:
    transport = InMemoryTransport()
    with Outbox() as outbox:
        runner = AdapterRunner(adapter, transport, outbox, "gw-energy", clock=lambda: NOW)
        runner.submit_many(
            [
                reading(index_kwh=1.5),
                reading(registers=[0, 15]),  # both 1.5 kWh: one message
                reading(replaced={"final_index_kwh": 2.0, "new_index_kwh": 0.0}),
                reading(pulses=-3),
            ]
        )
        runner.pump()
        envelopes = [decode(frame, NOW) for frame in transport.sent]
    assert [(e.kind, e.body) for e in envelopes] == [
        ("site.energy", {"index_kwh": 1.5}),
        ("site.meter_replaced", {"final_index_kwh": 2.0, "new_index_kwh": 0.0}),
    ]
    assert dict(runner.stats.unreadable) == {"pulses": 1}
