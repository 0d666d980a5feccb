from __future__ import annotations

import pytest

from domain import (
    CapacityExceededError,
    Citizen,
    DuplicateError,
    InvalidValueError,
    OutOfRangeError,
    Position,
    RetiredAssetError,
    Service,
    UnknownReferenceError,
    idea_id,
)
from tests.conftest import T0, at

HERE = Position(752_000.0, 6_283_000.0)


def new_creche(capacity: int = 2) -> Service:
    return Service.open(
        code="CRECHE-1",
        name="Crèche",
        service_kind="childcare",
        capacity=capacity,
        position=HERE,
        commune_insee="34114",
        at=T0,
    )


def test_places_are_granted_from_the_waiting_list_within_capacity() -> None:
    creche = new_creche(capacity=2)
    for ref in ("F1", "F2", "F3"):
        creche.request_place(ref, at(1))
    creche.grant_place("F1", at(2))
    creche.grant_place("F2", at(2))
    with pytest.raises(CapacityExceededError) as raised:
        creche.grant_place("F3", at(2))
    assert raised.value.value == "F3"
    assert creche.granted == ["F1", "F2"] and creche.waiting == ["F3"]
    creche.release_place("F1", at(3))
    creche.grant_place("F3", at(3))
    assert creche.granted == ["F2", "F3"]


def test_capacity_cannot_drop_below_granted_places() -> None:
    creche = new_creche(capacity=2)
    creche.request_place("F1", at(1))
    creche.grant_place("F1", at(1))
    with pytest.raises(CapacityExceededError) as raised:
        creche.change_capacity(0, at(2))
    assert raised.value.field == "capacity"
    creche.change_capacity(1, at(2))
    assert creche.capacity == 1


def test_unknown_and_duplicate_requests_are_named() -> None:
    creche = new_creche()
    creche.request_place("F1", at(1))
    with pytest.raises(DuplicateError):
        creche.request_place("f1", at(1))
    with pytest.raises(UnknownReferenceError) as raised:
        creche.grant_place("F9", at(1))
    assert raised.value.field == "request_ref" and raised.value.value == "F9"


def test_training_sessions_enrol_within_seats_and_record_attendance() -> None:
    training = Service.open(
        code="FORMATION",
        name="Ateliers",
        service_kind="digital_training",
        capacity=12,
        position=HERE,
        commune_insee="34114",
        at=T0,
    )
    training.schedule_session("S1", starts_at=at(10), seats=1, at=at(1))
    training.enrol("S1", "P1", at(2))
    with pytest.raises(CapacityExceededError):
        training.enrol("S1", "P2", at(2))
    with pytest.raises(OutOfRangeError):
        training.record_attendance("S1", "P1", at(5))
    training.record_attendance("S1", "P1", at(10))
    assert training.sessions["S1"]["attended"] == ["P1"]


def test_closed_service_accepts_nothing_more() -> None:
    creche = new_creche()
    creche.close("merged", at(1))
    with pytest.raises(RetiredAssetError):
        creche.request_place("F1", at(2))


def new_citizen(pseudonym: str = "c-123") -> Citizen:
    return Citizen.register(pseudonym=pseudonym, commune_insee="34114", at=T0)


def test_reports_move_forward_only() -> None:
    citizen = new_citizen()
    citizen.file_report("R1", "overflowing_bin", HERE, "Le conteneur déborde", at(1))
    citizen.acknowledge_report("R1", at(2))
    citizen.resolve_report("R1", at(3), note="vidé")
    assert citizen.reports["R1"]["status"] == "resolved"
    with pytest.raises(InvalidValueError) as raised:
        citizen.reject_report("R1", at(4))
    assert raised.value.field == "status"
    with pytest.raises(UnknownReferenceError):
        citizen.acknowledge_report("R404", at(4))


def test_report_category_must_be_known() -> None:
    with pytest.raises(InvalidValueError) as raised:
        new_citizen().file_report("R1", "aliens", HERE, "text", at(1))
    assert raised.value.field == "category" and raised.value.value == "aliens"


def test_one_vote_per_citizen_per_idea() -> None:
    author = new_citizen("author")
    idea = author.submit_idea("I1", "Composteurs partagés", "Un composteur par quartier", at(1))
    assert idea == idea_id("AUTHOR", "i1")
    voter = new_citizen("voter")
    voter.vote_idea(idea, at(2))
    with pytest.raises(DuplicateError) as raised:
        voter.vote_idea(idea, at(3))
    assert raised.value.field == "idea_id"
    assert voter.votes == [idea]


def test_training_attendance_is_kept() -> None:
    citizen = new_citizen()
    citizen.attend_training("formation-numerique", "s1", at(1))
    assert citizen.trainings == [{"service_code": "FORMATION-NUMERIQUE", "session_ref": "S1"}]
