"""The service desk's facts, the idea box's votes and door counters, on the wire into the twin."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.wire import Envelope, encode, to_epoch_ms
from domain import Citizen, Position, Service, Site
from tests.conftest import T0
from twin import PersonalData, ValleyTwin, load_geography, open_twin
from twin.ingest import Incoming, IngestProcessor

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
HERE = Position(752000.0, 6283000.0)


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    application.add(
        Service.open(
            code="CRECHE-1",
            name="Crèche",
            service_kind="childcare",
            capacity=1,
            position=HERE,
            commune_insee="34114",
            at=T0,
        ),
        Service.open(
            code="NUM-1",
            name="Atelier numérique",
            service_kind="digital_training",
            capacity=10,
            position=HERE,
            commune_insee="34114",
            at=T0,
        ),
        Site.register(
            code="TL-1",
            name="Tiers-lieu",
            site_kind="public_building",
            geometry_wkt="POINT (752000 6283000)",
            commune_insee="34114",
            at=T0,
        ),
    )
    yield application
    application.close()


@pytest.fixture
def processor(twin: ValleyTwin) -> IngestProcessor:
    return IngestProcessor(twin, load_geography(), clock=lambda: NOW)


def message(number: int, kind: str, asset: str, hours: float, **body: Any) -> Incoming:
    at = NOW - timedelta(days=2) + timedelta(hours=hours)
    return Incoming(encode(Envelope(f"m-{number}", "desk", "DESK-1", asset, kind, at, body)))


def statuses(processor: IngestProcessor, *messages: Incoming) -> list[str]:
    return [reply.status if reply else "none" for reply in processor.process(list(messages))]


def test_a_report_is_answered_by_the_desk_with_a_sealed_note(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    assert statuses(
        processor,
        message(1, "citizen.register", "c-42", 0, commune_insee="34114"),
        message(
            2,
            "citizen.report",
            "c-42",
            1,
            report_ref="R1",
            category="overflowing_bin",
            lon=3.5489,
            lat=43.6535,
            text="Plein",
        ),
        message(3, "citizen.report_status", "c-42", 2, report_ref="R1", status="acknowledged"),
        message(
            4,
            "citizen.report_status",
            "c-42",
            3,
            report_ref="R1",
            status="resolved",
            note="Vidé ce matin, merci Mme Pélissier",
        ),
        message(5, "citizen.report_status", "c-42", 4, report_ref="R1", status="acknowledged"),
        message(6, "citizen.report_status", "c-42", 5, report_ref="R1", status="closed"),
    ) == ["ack", "ack", "ack", "ack", "rejected", "rejected"]
    citizen = twin.get(Citizen, "c-42")
    report = citizen.reports["R1"]
    assert report["status"] == "resolved" and "acknowledged_at" in report
    sealed = [
        event.note  # type: ignore[attr-defined]
        for event in twin.history(citizen.id)
        if type(event).__name__ == "ReportStatusChanged" and event.note  # type: ignore[attr-defined]
    ]
    assert len(sealed) == 1 and "Pélissier" not in sealed[0]
    assert (
        PersonalData(twin).personal_text(citizen.id, sealed[0])
        == "Vidé ce matin, merci Mme Pélissier"
    )


def test_a_vote_needs_an_existing_idea_and_counts_once(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    replies = processor.process(
        [
            message(1, "citizen.register", "c-1", 0, commune_insee="34114"),
            message(2, "citizen.register", "c-2", 0, commune_insee="34114"),
            message(3, "citizen.idea", "c-1", 1, idea_ref="I1", title="Bancs", text="Place"),
            message(4, "citizen.vote", "c-2", 2, author="c-1", idea_ref="I1"),
            message(5, "citizen.vote", "c-2", 3, author="c-1", idea_ref="I1"),
            message(6, "citizen.vote", "c-2", 4, author="c-1", idea_ref="I9"),
        ]
    )
    assert [r.status for r in replies if r] == ["ack", "ack", "ack", "ack", "rejected", "rejected"]
    assert "once per idea" in (replies[4].reason or "")
    assert "idea_ref" in (
        replies[5].reason or ""
    )  # named; its value withheld (a citizen's message)
    assert len(twin.get(Citizen, "c-2").votes) == 1


def test_a_vote_synced_late_counts_but_not_one_dated_before_its_idea(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    replies = processor.process(
        [
            message(1, "citizen.register", "c-1", 0, commune_insee="34114"),
            message(2, "citizen.register", "c-2", 0, commune_insee="34114"),
            message(3, "citizen.idea", "c-1", 2, idea_ref="I1", title="Bancs", text="Place"),
            message(4, "citizen.idea", "c-2", 5, idea_ref="I2", title="Arbres", text="Ombre"),
            # c-2 voted offline at hour 3, before submitting their own idea at hour 5.
            message(5, "citizen.vote", "c-2", 3, author="c-1", idea_ref="I1"),
            message(6, "citizen.vote", "c-2", 1, author="c-1", idea_ref="I1"),
        ]
    )
    assert [r.status for r in replies if r] == ["ack", "ack", "ack", "ack", "ack", "rejected"]
    assert (replies[5].reason or "").startswith("at:")  # named; a citizen's value withheld
    assert len(twin.get(Citizen, "c-2").votes) == 1


def test_places_at_the_creche_follow_its_capacity(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    assert statuses(
        processor,
        message(1, "service.place", "CRECHE-1", 0, request_ref="F-1", action="requested"),
        message(2, "service.place", "CRECHE-1", 1, request_ref="F-2", action="requested"),
        message(3, "service.place", "CRECHE-1", 2, request_ref="F-1", action="granted"),
        message(4, "service.place", "CRECHE-1", 3, request_ref="F-2", action="granted"),
        message(5, "service.place", "CRECHE-1", 4, request_ref="F-1", action="released"),
        message(6, "service.place", "CRECHE-1", 5, request_ref="F-2", action="granted"),
        message(7, "service.place", "CRECHE-1", 6, request_ref="F-3", action="cancelled"),
    ) == ["ack", "ack", "ack", "rejected", "ack", "ack", "rejected"]
    creche = twin.get(Service, "CRECHE-1")
    assert (creche.waiting, creche.granted) == ([], ["F-2"])


def test_a_training_session_is_scheduled_filled_and_attended(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    starts = NOW - timedelta(days=1)
    assert statuses(
        processor,
        message(
            1,
            "service.session",
            "NUM-1",
            0,
            session_ref="S1",
            starts_at=to_epoch_ms(starts),
            seats=1,
        ),
        message(
            2,
            "service.attendance",
            "NUM-1",
            1,
            session_ref="S1",
            participant_ref="P1",
            action="enrolled",
        ),
        message(
            3,
            "service.attendance",
            "NUM-1",
            2,
            session_ref="S1",
            participant_ref="P2",
            action="enrolled",
        ),
        message(
            4,
            "service.attendance",
            "NUM-1",
            3,
            session_ref="S1",
            participant_ref="P1",
            action="attended",
        ),
        message(
            5,
            "service.attendance",
            "NUM-1",
            25,
            session_ref="S1",
            participant_ref="P1",
            action="attended",
        ),
    ) == ["ack", "ack", "rejected", "rejected", "ack"]
    session = twin.get(Service, "NUM-1").sessions["S1"]
    assert (session["enrolled"], session["attended"]) == (["P1"], ["P1"])


def test_the_door_counter_gives_the_third_places_occupancy(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    assert statuses(
        processor,
        message(1, "site.occupancy", "TL-1", 0, occupancy=12),
        message(2, "site.occupancy", "TL-1", 1, occupancy=23),
    ) == ["ack", "ack"]
    assert twin.get(Site, "TL-1").occupancy == 23
