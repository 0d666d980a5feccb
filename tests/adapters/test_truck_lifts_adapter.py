"""The collection trucks' adapter: lift logs (RFID tag, weighing) to bins emptied."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.payloads import PayloadError
from adapters.truck_lifts import TruckLiftsAdapter

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "truck-lifts.csv"
NOW = datetime(2024, 6, 3, 12, tzinfo=UTC)
TAGS = {
    "982000123456789": "B-34114-OMR-0001",
    "982000123456790": "B-34114-OMR-0002",
    "982000123456791": "B-34114-OMR-0003",
}


def adapter(**settings: Any) -> TruckLiftsAdapter:
    return TruckLiftsAdapter({"tags": TAGS, **settings})


def read_all(lifts: TruckLiftsAdapter, lines: list[str]) -> list[Any]:
    return [reading for line in lines for reading in lifts.readings(line, NOW)]


def test_the_example_export_gives_one_emptying_per_identified_weighed_lift() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    readings = read_all(adapter(unweighed_mass_kg=110), lines)
    assert [(r.asset, r.body["mass_kg"]) for r in readings] == [
        ("B-34114-OMR-0001", 150.4),  # decimal commas, as the French export writes them
        ("B-34114-OMR-0002", 126.4),
        ("B-34114-OMR-0003", 110.0),  # weighing failed: the configured mean lift
    ]  # the NO_TAG lift identifies no container and is left out
    first = readings[0]
    assert first.kind == "bin.emptied" and first.device == "GE-482-KT"
    assert first.body["round_id"] == "OMR-34114-2024-06-03"
    assert first.observed_at == datetime(2024, 6, 3, 4, 42, 17, tzinfo=UTC)  # +02:00 → UTC


def test_columns_in_another_order_and_gross_minus_tare() -> None:
    lines = [
        "status,tag,lift_time,vehicle,tour,gross_kg,tare_kg",
        "OK,982000123456789,2024-06-03T04:00:00Z,GE-482-KT,T-1,200.5,60.0",
    ]
    (reading,) = read_all(adapter(delimiter=","), lines)
    assert reading.body == {"round_id": "T-1", "mass_kg": 140.5}


def test_an_unknown_tag_is_another_operators_bin() -> None:
    header = "vehicle;tour;lift_time;tag;net_kg;status"
    line = "GE-482-KT;T-1;2024-06-03T04:00:00Z;AABBCCDDEE;80;OK"
    assert read_all(adapter(), [header, line]) == []


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("GE-482-KT;T-1;2024-06-03T04:00:00Z;982000123456789;;WEIGH_ERR", "net_kg"),
        ("GE-482-KT;T-1;2024-06-03T04:00:00Z;982000123456789;3000;OK", "net_kg"),
        ("GE-482-KT;T-1;2024-06-03T04:00:00Z;982000123456789;12 kg;OK", "net_kg"),
        ("GE-482-KT;T-1;2024-06-03T04:00:00;982000123456789;80;OK", "lift_time"),
        ("GE-482-KT;T-1;2024-06-03T04:00:00Z;982000123456789;80;JAMMED", "status"),
        ("GE-482-KT;;2024-06-03T04:00:00Z;982000123456789;80;OK", "tour"),
        ("GE-482-KT;T-1;2024-06-03T04:00:00Z;982000123456789", "line"),
    ],
)
def test_a_bad_lift_line_names_its_field(line: str, field: str) -> None:
    lifts = adapter()
    assert lifts.readings("vehicle;tour;lift_time;tag;net_kg;status", NOW) == []
    with pytest.raises(PayloadError) as refused:
        lifts.readings(line, NOW)
    assert refused.value.field == field


def test_a_lift_before_the_header_or_a_header_without_a_tag_is_refused() -> None:
    with pytest.raises(PayloadError, match="before the header"):
        adapter().readings("GE-482-KT;T-1;2024-06-03T04:00:00Z;982000123456789;80;OK", NOW)
    with pytest.raises(PayloadError, match="no column tour, status"):
        adapter().readings("vehicle;lift_time;tag;net_kg", NOW)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "'tags' must map"),
        ({"tags": {"not-a-tag": "B-1"}}, "not an RFID tag"),
        ({"tags": {"982000123456789": " "}}, "asset code"),
        ({"tags": TAGS, "delimiter": ";;"}, "one character"),
        ({"tags": TAGS, "unweighed_mass_kg": -1}, "unweighed_mass_kg"),
    ],
)
def test_a_bad_configuration_names_the_setting(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TruckLiftsAdapter(config)
