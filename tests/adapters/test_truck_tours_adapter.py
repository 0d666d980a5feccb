"""The collection trucks' tour adapter: tour reports (km, odometer, weighbridge tickets) to tours."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.payloads import PayloadError
from adapters.sdk import AdapterRunner, Outbox
from adapters.truck_tours import TruckToursAdapter
from adapters.wire import InMemoryTransport, parse_tips, to_epoch_ms

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
NOW = datetime(2024, 6, 5, 12, tzinfo=UTC)
HEADER = "vehicle;tour;stream;start;end;odo_start_km;odo_end_km;km;tips"
LINE = (
    "GE-482-KT;T-1;OMR;2024-06-03T06:00:00+02:00;2024-06-03T12:00:00+02:00;1000;1090;89,5;"
    "SCH@2024-06-03T10:00:00+02:00=8,5"
)


def example_adapter() -> TruckToursAdapter:
    config = tomllib.loads((EXAMPLES / "truck-tours.toml").read_text(encoding="utf-8"))
    return TruckToursAdapter(config["adapter"])


def read_all(tours: TruckToursAdapter, lines: list[str]) -> list[Any]:
    return [reading for line in lines for reading in tours.readings(line, NOW)]


def test_the_example_export_gives_one_tour_a_line() -> None:
    lines = (EXAMPLES / "truck-tours.csv").read_text(encoding="utf-8").splitlines()
    readings = read_all(example_adapter(), lines)
    assert [(r.asset, r.body["round_id"], r.body["stream"]) for r in readings] == [
        ("GE-482-KT", "OMR-34114-2024-06-03", "residual"),
        ("GE-482-KT", "EMB-34114-2024-06-04", "packaging"),
        ("GF-117-LR", "VER-34114-2024-06-04", "glass"),
    ]
    first = readings[0]
    assert first.kind == "truck.tour" and first.device == "GE-482-KT"
    assert first.observed_at == datetime(2024, 6, 3, 10, 41, 27, tzinfo=UTC)  # the end, in UTC
    assert first.body["started_at"] == to_epoch_ms(datetime(2024, 6, 3, 4, 5, tzinfo=UTC))
    assert (first.body["km"], first.body["odometer_start_km"]) == (86.9, 184_210.0)
    assert first.body["depot_insee"] == "34114"
    assert parse_tips(first.body["tips"]) == [
        ("SCH-ASPIRAN", to_epoch_ms(datetime(2024, 6, 3, 7, 58, 31, tzinfo=UTC)), 8.12),
        ("SCH-ASPIRAN", to_epoch_ms(datetime(2024, 6, 3, 10, 2, 10, tzinfo=UTC)), 4.57),
    ]
    assert "km" not in readings[1].body  # the odometer alone says it


def test_every_example_tour_is_a_valid_wire_message() -> None:
    lines = (EXAMPLES / "truck-tours.csv").read_text(encoding="utf-8").splitlines()
    with Outbox() as outbox:
        runner = AdapterRunner(
            example_adapter(), InMemoryTransport(), outbox, "fleet", clock=lambda: NOW
        )
        runner.submit_many(lines)
        assert not runner.stats.unreadable, runner.stats.unreadable
        assert outbox.pending() == 3


def test_columns_in_another_order_a_fleet_code_and_a_stream_of_the_config() -> None:
    tours = TruckToursAdapter(
        {"delimiter": ",", "vehicles": {"GE-482-KT": "BOM-01"}, "streams": {"DV": "biowaste"}}
    )
    lines = [
        "end,start,tour,vehicle,stream,km",
        "2024-06-03T12:00:00Z,2024-06-03T06:00:00Z,T-1,GE-482-KT,dv,80.5",
    ]
    (reading,) = read_all(tours, lines)
    assert (reading.asset, reading.device) == ("BOM-01", "GE-482-KT")
    assert reading.body == {
        "round_id": "T-1",
        "stream": "biowaste",
        "started_at": to_epoch_ms(datetime(2024, 6, 3, 6, tzinfo=UTC)),
        "km": 80.5,
    }  # no tips, no depot: the truck must be known to the twin already


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (LINE.replace("GE-482-KT;", ";", 1), "vehicle"),
        (LINE.replace(";T-1;", ";;"), "tour"),
        (LINE.replace(";OMR;", ";SCRAP;"), "stream"),
        (LINE.replace("2024-06-03T06:00:00+02:00", "2024-06-03T06:00:00"), "start"),
        (LINE.replace("2024-06-03T12:00:00+02:00", "03/06/2024 12:00"), "end"),
        (LINE.replace("2024-06-03T12:00:00+02:00", "2024-06-03T05:00:00+02:00"), "end"),
        (LINE.replace(";89,5;", ";89 km;"), "km"),
        (LINE.replace(";1090;", ";-5;"), "odo_end_km"),
        (LINE.replace(";1000;1090;89,5;", ";;;;"), "km"),
        (LINE.replace("=8,5", "8,5"), "tips"),
        (LINE.replace("=8,5", "=8,5 t"), "tips"),
        (LINE.replace("+02:00=8,5", "=8,5"), "tips"),
        (LINE + ";extra", "line"),
    ],
)
def test_a_bad_tour_line_names_its_line_and_column(line: str, field: str) -> None:
    tours = TruckToursAdapter({})
    assert tours.readings(HEADER, NOW) == []
    assert tours.readings(LINE, NOW)  # line 2 is fine
    with pytest.raises(PayloadError) as refused:
        tours.readings(line, NOW)
    assert refused.value.field == field
    assert str(refused.value).startswith("line 3: "), str(refused.value)


def test_a_tour_before_the_header_or_a_header_without_a_distance_is_refused() -> None:
    with pytest.raises(PayloadError, match="line 1: a tour line before the header"):
        TruckToursAdapter({}).readings(LINE, NOW)
    with pytest.raises(
        PayloadError, match=r"no column tour, km \(or odo_start_km and odo_end_km\)"
    ):
        TruckToursAdapter({}).readings("vehicle;stream;start;end;tips", NOW)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"delimiter": "|"}, "delimiter"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"depot_insee": "Gignac"}, "depot_insee"),
        ({"depot_insee": 34114}, "depot_insee"),
        ({"vehicles": ["GE-482-KT"]}, "vehicles must be a table"),
        ({"vehicles": {"GE-482-KT": ""}}, "vehicles.GE-482-KT"),
        ({"streams": {"DV": "green"}}, "streams.DV"),
    ],
)
def test_a_bad_configuration_names_the_setting(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TruckToursAdapter(config)
