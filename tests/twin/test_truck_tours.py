"""Collection trucks' tours on the wire into the twin: registered by their first tour, refused
with a reason otherwise, recorded once, on every store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.wire import Envelope, encode, format_tips, to_epoch_ms
from domain import Truck
from twin import RecordedTours, ValleyTwin, load_geography, open_twin, recorded_tours
from twin.ingest import Incoming, IngestProcessor

NOW = datetime(2024, 6, 5, 12, tzinfo=UTC)
DAY1 = datetime(2024, 6, 3, 4, tzinfo=UTC)  # 06:00 in Gignac


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    yield application
    application.close()


@pytest.fixture
def processor(twin: ValleyTwin) -> IngestProcessor:
    return IngestProcessor(twin, load_geography(), clock=lambda: NOW)


def tour(number: int, day: int = 0, truck: str = "GE-482-KT", **changes: Any) -> Incoming:
    """Tour ``number`` of ``truck`` on day ``day``: 06:00 to 12:30, 131 km, two tickets."""
    start = DAY1 + timedelta(days=day)
    body: dict[str, Any] = {
        "round_id": f"VER-{number}",
        "stream": "glass",
        "started_at": to_epoch_ms(start),
        "km": 131.5,
        "odometer_start_km": 184_000 + 200 * day,
        "odometer_end_km": 184_000 + 200 * day + 132,
        "tips": format_tips(
            [
                ("SCH-ASPIRAN", to_epoch_ms(start + timedelta(hours=3.5)), 7.94),
                ("SCH-ASPIRAN", to_epoch_ms(start + timedelta(hours=6)), 5.12),
            ]
        ),
        "depot_insee": "34114",
    }
    body.update(changes)
    body = {name: value for name, value in body.items() if value is not None}
    envelope = Envelope(
        f"t-{number}",
        "truck-tours",
        "OBU-482",
        truck,
        "truck.tour",
        start + timedelta(hours=6.5),
        body,
    )
    return Incoming(encode(envelope))


def answers(processor: IngestProcessor, *messages: Incoming) -> list[tuple[str, str | None]]:
    return [
        (reply.status, reply.reason) if reply else ("none", None)
        for reply in processor.process(list(messages))
    ]


def test_a_trucks_first_tour_registers_it_and_the_next_ones_add_up(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    replies = answers(
        processor, tour(1), tour(2, day=1, depot_insee=None), tour(3, day=2, km=None, tips=None)
    )
    assert [status for status, _ in replies] == ["ack", "ack", "ack"], replies
    truck = twin.get(Truck, "ge-482-kt")
    assert truck.commune_insee == "34114" and truck.created_on == DAY1
    assert (truck.tours_count, truck.tips_count) == (3, 4)
    assert truck.km_total == pytest.approx(131.5 * 2 + 132)
    assert truck.tonnes_tipped == pytest.approx(2 * (7.94 + 5.12))
    assert truck.odometer_km == 184_532 and truck.last_round_id == "VER-3"
    recorded = [e for e in twin.history(truck.id) if isinstance(e, Truck.TourRecorded)]
    assert recorded[0].tips[0] == {
        "site": "SCH-ASPIRAN",
        "at": DAY1 + timedelta(hours=3.5),
        "tonnes": 7.94,
    }
    assert recorded[0].started_at == DAY1 and recorded[0].timestamp == DAY1 + timedelta(hours=6.5)
    assert twin.count_by_kind()["truck"] == 1


def test_an_unknown_truck_without_its_depot_is_refused_with_the_way_to_register_it(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    ((status, reason),) = answers(processor, tour(1, depot_insee=None))
    assert status == "rejected"
    assert reason == (
        "no bin, beacon, site, service, citizen or truck is known as 'GE-482-KT'; "
        "a truck's first tour registers it when it names its depot's commune"
    )
    assert twin.count_by_kind()["truck"] == 0


def test_a_refused_first_tour_registers_nothing(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    ((status, reason),) = answers(processor, tour(1, km=150.0))
    assert status == "rejected" and reason is not None and "disagrees with the odometer" in reason
    ((status, reason),) = answers(processor, tour(2, depot_insee="99999"))
    assert status == "rejected" and reason is not None and "depot_insee" in reason
    assert twin.count_by_kind()["truck"] == 0
    assert [status for status, _ in answers(processor, tour(3))] == ["ack"]


def test_a_second_copy_of_a_round_an_overlap_or_another_depot_is_refused(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    replies = answers(
        processor,
        tour(1),
        tour(1),  # the same message again: a duplicate, nothing recorded twice
        tour(11, day=1, round_id="VER-1"),  # another message, the same round
        tour(12, day=0, round_id="VER-12", odometer_start_km=184_132, odometer_end_km=184_264),
        tour(13, day=1, depot_insee="34010"),
    )
    assert [status for status, _ in replies] == [
        "ack",
        "duplicate",
        "rejected",
        "rejected",
        "rejected",
    ]
    reasons = [reason or "" for _, reason in replies[2:]]
    assert "has a tour of this round already (field 'round_id'" in reasons[0]
    assert "overlaps truck GE-482-KT's previous tour" in reasons[1]
    assert "depot_insee='34010': expected 34114, where truck GE-482-KT is based" in reasons[2]
    assert twin.get(Truck, "GE-482-KT").tours_count == 1


def test_recorded_tours_sum_the_log_s_tours_over_a_span(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    replies = answers(
        processor,
        tour(1),
        tour(2, day=1),
        tour(3, truck="GF-117-LR", odometer_start_km=96_000, odometer_end_km=96_132),
        tour(4, day=1, depot_insee=None, truck="UNKNOWN-1"),  # refused: counts nowhere
    )
    assert [status for status, _ in replies] == ["ack", "ack", "ack", "rejected"]
    assert recorded_tours(twin) == RecordedTours(
        trucks=2, tours=3, km=3 * 131.5, tips=6, tonnes_tipped=3 * 13.06
    )
    day_two = recorded_tours(twin, since=DAY1 + timedelta(days=1))
    assert (day_two.trucks, day_two.tours, day_two.km) == (1, 1, 131.5)
    assert recorded_tours(twin, until=DAY1).tours == 0  # a tour counts by its end
