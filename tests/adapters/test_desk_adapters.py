"""The service desk's, the door counters' and the citizen app's votes: payloads to wire readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.citizen_app import CitizenAppAdapter
from adapters.door_counter import DoorCounterAdapter
from adapters.payloads import PayloadError
from adapters.service_desk import ServiceDeskAdapter
from adapters.wire import to_epoch_ms

NOW = datetime(2024, 6, 3, 12, tzinfo=UTC)
AT = "2024-06-03T09:12:00+02:00"


def one(adapter: object, document: dict[str, object]) -> object:
    (reading,) = adapter.readings(json.dumps(document), NOW)  # type: ignore[attr-defined]
    return reading


def test_the_desk_answers_a_report_and_manages_places_and_sessions() -> None:
    desk = ServiceDeskAdapter({"desk_id": "desk-ccvh"})
    answer = one(
        desk,
        {
            "type": "report_status",
            "citizen": "c-8f3a",
            "report_ref": "r-1",
            "status": "resolved",
            "note": "Vidé",
            "at": AT,
        },
    )
    assert (answer.kind, answer.asset, answer.device) == (
        "citizen.report_status",
        "c-8f3a",
        "desk-ccvh",
    )  # type: ignore[attr-defined]
    assert answer.body == {"report_ref": "r-1", "status": "resolved", "note": "Vidé"}  # type: ignore[attr-defined]
    assert answer.observed_at == datetime(2024, 6, 3, 7, 12, tzinfo=UTC)  # type: ignore[attr-defined]
    place = one(
        desk,
        {
            "type": "place",
            "service": "CRECHE-1",
            "request_ref": "F-1",
            "action": "granted",
            "at": AT,
        },
    )
    assert (place.kind, place.body) == (
        "service.place",
        {"request_ref": "F-1", "action": "granted"},
    )  # type: ignore[attr-defined]
    session = one(
        desk,
        {
            "type": "session",
            "service": "NUM-1",
            "session_ref": "S-1",
            "starts_at": "2024-06-10T14:00:00+02:00",
            "seats": 12,
            "at": AT,
        },
    )
    assert session.body["starts_at"] == to_epoch_ms(datetime(2024, 6, 10, 12, tzinfo=UTC))  # type: ignore[attr-defined]
    attendance = one(
        desk,
        {
            "type": "attendance",
            "service": "NUM-1",
            "session_ref": "S-1",
            "participant_ref": "P-7",
            "action": "attended",
            "at": AT,
        },
    )
    assert attendance.kind == "service.attendance"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (
            {
                "type": "report_status",
                "citizen": "c-1",
                "report_ref": "r",
                "status": "done",
                "at": AT,
            },
            "status",
        ),
        (
            {
                "type": "report_status",
                "citizen": "c-1",
                "report_ref": "r",
                "status": "resolved",
                "note": "appelez le 06 12 34 56 78",
                "at": AT,
            },
            "note",
        ),
        (
            {"type": "place", "service": "C", "request_ref": "F", "action": "cancelled", "at": AT},
            "action",
        ),
        (
            {
                "type": "session",
                "service": "N",
                "session_ref": "S",
                "starts_at": AT,
                "seats": 2.5,
                "at": AT,
            },
            "seats",
        ),
        ({"type": "ticket", "at": AT}, "type"),
    ],
)
def test_the_desk_refuses_what_it_cannot_forward(document: dict[str, object], field: str) -> None:
    with pytest.raises(PayloadError) as refused:
        ServiceDeskAdapter({}).readings(json.dumps(document), NOW)
    assert refused.value.field == field
    assert "06 12" not in str(refused.value)  # a phone number never reaches a log


def test_a_door_counter_gives_entries_minus_exits_or_who_is_inside() -> None:
    counter = DoorCounterAdapter({})
    totals = one(counter, {"counter": "DC-1", "site": "TL-1", "at": AT, "entries": 57, "exits": 41})
    assert (totals.kind, totals.asset, totals.body) == ("site.occupancy", "TL-1", {"occupancy": 16})  # type: ignore[attr-defined]
    missed = one(counter, {"counter": "DC-1", "site": "TL-1", "at": AT, "entries": 3, "exits": 5})
    assert missed.body == {"occupancy": 0}  # type: ignore[attr-defined]
    inside = one(counter, {"counter": "DC-1", "site": "TL-1", "at": AT, "inside": 9})
    assert inside.body == {"occupancy": 9}  # type: ignore[attr-defined]
    with pytest.raises(PayloadError, match="whole number"):
        counter.readings(
            json.dumps({"counter": "DC-1", "site": "TL-1", "at": AT, "inside": -1}), NOW
        )


def test_the_app_forwards_a_vote_for_an_idea() -> None:
    app = CitizenAppAdapter({})
    vote = one(
        app,
        {"type": "vote", "citizen": "c-77b1", "sent_at": AT, "author": "c-8f3a", "idea_ref": "i-1"},
    )
    assert (vote.kind, vote.asset, vote.body) == (
        "citizen.vote",
        "c-77b1",
        {"author": "c-8f3a", "idea_ref": "i-1"},
    )  # type: ignore[attr-defined]
    with pytest.raises(PayloadError, match="author"):
        app.readings(
            json.dumps(
                {
                    "type": "vote",
                    "citizen": "c-77b1",
                    "sent_at": AT,
                    "author": "jean@example.org",
                    "idea_ref": "i-1",
                }
            ),
            NOW,
        )
