"""The Truck aggregate: a collection truck and the tours it drove, every field checked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from domain import (
    AGGREGATE_CLASSES,
    DomainError,
    DuplicateError,
    InvalidValueError,
    OutOfOrderError,
    OutOfRangeError,
    Truck,
    aggregate_id,
)
from domain.trucks import KM_TOLERANCE, MAX_TIP_TONNES
from tests.conftest import T0, at


def new_truck(code: str = "TRUCK-1") -> Truck:
    return Truck.register(code=code, commune_insee="34114", at=T0)


def tour(**changes: Any) -> dict[str, Any]:
    """A valid tour on day 1, 06:00 to 12:00, with its odometer and two tip tickets."""
    fields: dict[str, Any] = {
        "round_id": "VER-2024-01-02-1",
        "stream": "glass",
        "started_at": at(1, 6),
        "ended_at": at(1, 12),
        "km": 131.5,
        "odometer_start_km": 184_210.0,
        "odometer_end_km": 184_342.0,
        "tips": [("SCH-ASPIRAN", at(1, 11.5), 5.12), ("sch-aspiran", at(1, 9 + 35 / 60), 7.94)],
    }
    fields.update(changes)
    return fields


def test_registered_truck_is_an_aggregate_of_the_valley() -> None:
    truck = new_truck("truck-1")
    (event,) = truck.collect_events()
    assert isinstance(event, Truck.Registered) and event.timestamp == T0
    assert truck.code == "TRUCK-1" and truck.commune_insee == "34114"
    assert truck.id == aggregate_id("truck", "TRUCK-1") == Truck.id_for(" truck-1 ")
    assert Truck in AGGREGATE_CLASSES


def test_a_tour_is_dated_at_its_end_and_sums_its_km_and_tips() -> None:
    truck = new_truck()
    truck.record_tour(**tour())
    event = truck.collect_events()[-1]
    assert isinstance(event, Truck.TourRecorded)
    assert event.timestamp == event.ended_at == at(1, 12) and event.started_at == at(1, 6)
    assert event.km == 131.5 and (event.odometer_start_km, event.odometer_end_km) == (
        184_210.0,
        184_342.0,
    )
    # Tickets in time order, their sites in the canonical form of a code.
    assert event.tips == [
        {"site": "SCH-ASPIRAN", "at": at(1, 9 + 35 / 60), "tonnes": 7.94},
        {"site": "SCH-ASPIRAN", "at": at(1, 11.5), "tonnes": 5.12},
    ]
    assert (truck.tours_count, truck.km_total, truck.tips_count) == (1, 131.5, 2)
    assert truck.tonnes_tipped == pytest.approx(13.06)
    assert truck.odometer_km == 184_342.0 and truck.last_round_id == "VER-2024-01-02-1"
    assert "_round_ids" not in truck.as_dict()  # kept, not shown


def test_km_alone_or_the_odometer_alone_gives_the_distance() -> None:
    truck = new_truck()
    truck.record_tour(**tour(odometer_start_km=None, odometer_end_km=None, km=88.0))
    truck.record_tour(
        **tour(round_id="R-2", started_at=at(2, 6), ended_at=at(2, 12), km=None, tips=[])
    )
    assert truck.km_total == pytest.approx(88.0 + 132.0)
    assert truck.odometer_km == 184_342.0


def test_a_round_recorded_twice_is_refused() -> None:
    truck = new_truck()
    truck.record_tour(**tour())
    with pytest.raises(DuplicateError) as refused:
        truck.record_tour(**tour(started_at=at(2, 6), ended_at=at(2, 12), odometer_start_km=None))
    assert (refused.value.field, refused.value.value) == ("round_id", "VER-2024-01-02-1")
    assert truck.tours_count == 1


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"round_id": " "}, InvalidValueError, "round_id"),
        ({"round_id": "R" * 65}, OutOfRangeError, "round_id"),
        ({"stream": "scrap"}, InvalidValueError, "stream"),
        ({"started_at": datetime(2024, 1, 2, 6)}, InvalidValueError, "started_at"),  # noqa: DTZ001
        ({"ended_at": "2024-01-02T12:00:00Z"}, InvalidValueError, "ended_at"),
        ({"ended_at": at(1, 6)}, OutOfRangeError, "ended_at"),
        ({"ended_at": at(2, 7)}, OutOfRangeError, "started_at"),  # longer than a day
        ({"started_at": at(-1, 23), "ended_at": at(0, 2)}, OutOfOrderError, "started_at"),
        ({"km": -1.0}, OutOfRangeError, "km"),
        ({"km": float("nan")}, InvalidValueError, "km"),
        ({"km": "131"}, InvalidValueError, "km"),
        ({"km": None, "odometer_start_km": None, "odometer_end_km": None}, InvalidValueError, "km"),
        ({"odometer_end_km": None}, InvalidValueError, "odometer_end_km"),
        ({"odometer_start_km": None}, InvalidValueError, "odometer_start_km"),
        ({"odometer_end_km": 184_200.0}, OutOfRangeError, "odometer_end_km"),
        ({"odometer_end_km": 185_500.0, "km": None}, OutOfRangeError, "odometer_end_km"),
        ({"km": 132.0 + KM_TOLERANCE + 0.1}, OutOfRangeError, "km"),
        ({"km": 600.0, "odometer_start_km": None, "odometer_end_km": None}, OutOfRangeError, "km"),
        ({"tips": "SCH@1=2"}, InvalidValueError, "tips"),
        ({"tips": [("SCH", at(1, 8))]}, InvalidValueError, "tips[0]"),
        ({"tips": [("SCH", at(1, 8), 2.0)] * 9}, OutOfRangeError, "tips"),
        ({"tips": [(" ", at(1, 8), 2.0)]}, InvalidValueError, "tips[0].site"),
        ({"tips": [("SCH", "08:00", 2.0)]}, InvalidValueError, "tips[0].at"),
        ({"tips": [("SCH", at(1, 5), 2.0)]}, OutOfRangeError, "tips[0].at"),
        (
            {"tips": [("SCH", at(1, 8), 2.0), ("SCH", at(1, 13), 2.0)]},
            OutOfRangeError,
            "tips[1].at",
        ),
        ({"tips": [("SCH", at(1, 8), MAX_TIP_TONNES + 0.5)]}, OutOfRangeError, "tips[0].tonnes"),
        ({"tips": [("SCH", at(1, 8), -0.1)]}, OutOfRangeError, "tips[0].tonnes"),
    ],
)
def test_a_bad_tour_is_refused_naming_the_field(
    changes: dict[str, Any], error: type[DomainError], field: str
) -> None:
    truck = new_truck()
    truck.collect_events()
    with pytest.raises(error) as refused:
        truck.record_tour(**tour(**changes))
    assert refused.value.field == field, str(refused.value)
    assert truck.collect_events() == [] and truck.tours_count == 0


def test_an_error_names_the_rule_the_field_and_the_value() -> None:
    with pytest.raises(OutOfRangeError) as refused:
        new_truck().record_tour(**tour(km=140.0))
    assert str(refused.value) == (
        "disagrees with the odometer (132 km from 184210 to 184342) by more than 3 km "
        "(field 'km', value 140.0)"
    )


def test_tours_of_one_truck_never_overlap_and_come_in_order() -> None:
    truck = new_truck()
    truck.record_tour(**tour())
    later = {"odometer_start_km": None, "odometer_end_km": None, "tips": []}
    with pytest.raises(OutOfOrderError) as overlapping:
        truck.record_tour(**tour(round_id="R-2", started_at=at(1, 11), ended_at=at(1, 14), **later))
    assert overlapping.value.field == "started_at"
    with pytest.raises(OutOfOrderError):  # ends before the newest tour: not a late fact
        truck.record_tour(**tour(round_id="R-0", started_at=at(1, 1), ended_at=at(1, 5), **later))
    truck.record_tour(**tour(round_id="R-2", started_at=at(1, 12), ended_at=at(1, 14), **later))
    assert truck.tours_count == 2


def test_the_odometer_never_goes_back_between_tours() -> None:
    truck = new_truck()
    truck.record_tour(**tour())
    with pytest.raises(OutOfRangeError) as refused:
        truck.record_tour(
            **tour(round_id="R-2", started_at=at(2, 6), ended_at=at(2, 12), km=None, tips=[])
        )
    assert refused.value.field == "odometer_start_km"


def test_an_implausible_average_speed_is_refused() -> None:
    truck = new_truck()
    with pytest.raises(OutOfRangeError, match="km/h on average") as refused:
        truck.record_tour(
            **tour(ended_at=at(1, 7), odometer_start_km=None, odometer_end_km=None, tips=[])
        )
    assert refused.value.field == "km"


def test_state_survives_a_reload_from_its_events() -> None:
    truck = new_truck()
    truck.record_tour(**tour())
    events = truck.collect_events()
    copy = None
    for event in events:
        copy = event.mutate(copy)
    assert isinstance(copy, Truck) and copy.as_dict() == truck.as_dict()
    with pytest.raises(DuplicateError):
        copy.record_tour(**tour(started_at=at(3, 6), ended_at=at(3, 12), odometer_start_km=None))
