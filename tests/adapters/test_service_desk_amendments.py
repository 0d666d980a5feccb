"""The service desk's back office amends field facts: corrections and retractions, payloads to
wire readings (``fact.correct``, ``fact.retract``), and what it refuses, naming the field."""

from __future__ import annotations

import json
import logging
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.payloads import PayloadError
from adapters.sdk import AdapterRunner, Outbox, Reading
from adapters.service_desk import CORRECTABLE, MANIFEST, ServiceDeskAdapter
from adapters.wire import InMemoryTransport, decode
from domain import Beacon, Bin, Site

NOW = datetime(2024, 6, 3, 12, tzinfo=UTC)
AT = "2024-06-03T09:12:00+02:00"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
CORRECTION: dict[str, Any] = {
    "type": "correct",
    "asset": "EP-1",
    "original_message": "meters/m-41",
    "field": "index_kwh",
    "value": 16355,
    "by": "agent-technique",
    "reason": "extra digit",
    "at": AT,
}
RETRACTION: dict[str, Any] = {
    "type": "retract",
    "asset": "B-1",
    "original_version": 3,
    "by": "agent-collecte",
    "reason": "reading of the neighbouring bin",
    "at": AT,
}


def read(document: dict[str, Any]) -> Reading:
    (reading,) = ServiceDeskAdapter({"desk_id": "desk-ccvh"}).readings(json.dumps(document), NOW)
    return reading


def refused(document: dict[str, Any]) -> PayloadError:
    with pytest.raises(PayloadError) as error:
        ServiceDeskAdapter({}).readings(json.dumps(document), NOW)
    return error.value


def test_a_correction_names_the_fact_by_its_message_and_gives_the_right_value() -> None:
    reading = read(CORRECTION)
    assert (reading.kind, reading.asset, reading.device) == ("fact.correct", "EP-1", "desk-ccvh")
    assert reading.observed_at == datetime(2024, 6, 3, 7, 12, tzinfo=UTC)
    assert reading.body == {
        "original_message": "meters/m-41",
        "field": "index_kwh",
        "value": 16355.0,
        "by": "agent-technique",
        "reason": "extra digit",
    }


def test_a_correction_by_version_and_a_count_kept_a_whole_number() -> None:
    by_version = {**CORRECTION, "original_version": 3, "field": "count", "value": 12.0}
    del by_version["original_message"]
    reading = read(by_version)
    assert reading.body["original_version"] == 3 and "original_message" not in reading.body
    # The twin takes a count or an occupancy as a whole number only: never 12.0 on the wire.
    assert reading.body["value"] == 12 and isinstance(reading.body["value"], int)
    occupancy = read({**by_version, "field": "occupancy", "value": 9})
    assert isinstance(occupancy.body["value"], int)
    fill = read({**by_version, "field": "fill_percent", "value": 40})
    assert fill.body["value"] == 40.0 and isinstance(fill.body["value"], float)


def test_a_retraction_names_the_fact_and_says_who_and_why() -> None:
    reading = read(RETRACTION)
    assert (reading.kind, reading.asset) == ("fact.retract", "B-1")
    assert reading.body == {
        "original_version": 3,
        "by": "agent-collecte",
        "reason": "reading of the neighbouring bin",
    }
    by_message = {**RETRACTION, "original_message": " meters/m-7 "}
    del by_message["original_version"]
    assert read(by_message).body["original_message"] == "meters/m-7"


def test_the_desk_corrects_exactly_the_fields_the_twin_lets_be_corrected() -> None:
    amendable = (
        Bin.FillLevelMeasured,
        Bin.SensorBatteryReported,
        Bin.Emptied,
        Site.EnergyMetered,
        Site.OccupancyCounted,
        Beacon.FootfallCounted,
        Beacon.BatteryReported,
    )
    assert set(CORRECTABLE) == {name for fact in amendable for name in fact.CORRECTABLE}
    assert {"fact.correct", "fact.retract"} <= set(MANIFEST.kinds)


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"original_version": 3}, "original_message", "exactly one"),  # both
        ({"original_message": None}, "original_message", "exactly one"),  # neither
        ({"original_message": "m-41"}, "original_message", "SOURCE/ID"),  # bare id
        ({"original_message": "meters/"}, "original_message", "SOURCE/ID"),
        ({"original_message": "/m-41"}, "original_message", "SOURCE/ID"),
        ({"original_message": "meters/" + "x" * 65}, "original_message", "1 to 64"),
        ({"original_message": 41}, "original_message", "non-empty string"),
        ({"field": "site_kind"}, "field", "index_kwh"),
        ({"field": None}, "field", "non-empty string"),
        ({"value": "16355"}, "value", "finite number"),
        ({"value": None}, "value", "finite number"),
        ({"value": True}, "value", "finite number"),
        ({"value": -5}, "value", "0 to 1e+12 for index_kwh"),
        ({"field": "fill_percent", "value": 140}, "value", "0 to 100 for fill_percent"),
        ({"field": "mass_kg", "value": 3000}, "value", "0 to 2500 for mass_kg"),
        ({"field": "count", "value": 2.5}, "value", "whole number for count"),
        ({"by": ""}, "by", "non-empty string"),
        ({"by": "   "}, "by", "non-empty string"),
        ({"by": "a" * 65}, "by", "64 characters or fewer"),
        ({"reason": None}, "reason", "non-empty string"),
        ({"reason": " "}, "reason", "non-empty string"),
        ({"at": "2024-06-03 09:12"}, "at", ""),
        ({"asset": ""}, "asset", "non-empty string"),
    ],
)
def test_a_wrong_correction_is_refused_naming_the_field(
    change: dict[str, Any], field: str, fragment: str
) -> None:
    error = refused({**CORRECTION, **change})
    assert error.field == field
    assert fragment in str(error)


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"original_message": "meters/m-1"}, "original_message", "exactly one"),
        ({"original_version": None}, "original_message", "exactly one"),
        ({"original_version": 0}, "original_version", "whole number from 1"),
        ({"original_version": 2.5}, "original_version", "whole number from 1"),
        ({"original_version": "3"}, "original_version", "finite number"),
        ({"original_version": 2**31 + 1}, "original_version", "whole number from 1"),
        ({"by": None}, "by", "non-empty string"),
        ({"reason": ""}, "reason", "non-empty string"),
        ({"asset": None}, "asset", "non-empty string"),
    ],
)
def test_a_wrong_retraction_is_refused_naming_the_field(
    change: dict[str, Any], field: str, fragment: str
) -> None:
    error = refused({**RETRACTION, **change})
    assert error.field == field
    assert fragment in str(error)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": "rappeler M. Martin au 06 12 34 56 78"}, "reason"),
        ({"reason": "voir jean.martin@mairie-gignac.fr"}, "reason"),
        ({"reason": "06 12 34 56 78 " * 40}, "reason"),  # too long as well
        ({"reason": "x" * 501}, "reason"),
        ({"by": "jean.martin@mairie-gignac.fr"}, "by"),
        ({"by": "06 12 34 56 78"}, "by"),
    ],
)
def test_contact_details_and_long_texts_are_refused_without_being_echoed(
    change: dict[str, Any], field: str
) -> None:
    for document in (CORRECTION, RETRACTION):
        error = refused({**document, **change})
        assert error.field == field
        for leak in ("06 12", "martin", "xxxxx"):
            assert leak not in str(error).lower()


def test_a_note_too_long_is_refused_by_the_desk_not_echoed_by_the_wire() -> None:
    error = refused(
        {
            "type": "report_status",
            "citizen": "c-1",
            "report_ref": "r-1",
            "status": "resolved",
            "note": "vidé" * 150,
            "at": AT,
        }
    )
    assert (error.field, error.value) == ("note", "600 characters")


def test_an_unknown_type_lists_the_known_ones() -> None:
    error = refused({"type": "amend", "at": AT})
    assert error.field == "type" and "correct, retract" in str(error)


def test_the_runner_sends_corrections_and_counts_a_refused_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = InMemoryTransport()
    runner = AdapterRunner(
        ServiceDeskAdapter({}), transport, Outbox(), "desk-ccvh", clock=lambda: NOW
    )
    secret = {**CORRECTION, "reason": "appeler le 06 12 34 56 78"}
    with caplog.at_level(logging.WARNING):
        queued = runner.submit_many([json.dumps(d) for d in (CORRECTION, RETRACTION, secret)])
    assert queued == 2
    assert runner.stats.unreadable == {"reason": 1}
    assert "06 12" not in caplog.text
    runner.pump()
    sent = [decode(frame, NOW) for frame in transport.sent]
    assert [(m.kind, m.source, m.asset) for m in sent] == [
        ("fact.correct", "desk-ccvh", "EP-1"),
        ("fact.retract", "desk-ccvh", "B-1"),
    ]


def test_the_documented_example_is_read_line_by_line() -> None:
    config = tomllib.loads((EXAMPLES / "service-desk.toml").read_text(encoding="utf-8"))
    desk = ServiceDeskAdapter(config["adapter"])
    lines = (EXAMPLES / "service-desk.jsonl").read_text(encoding="utf-8").splitlines()
    kinds = [r.kind for line in lines for r in desk.readings(line, NOW)]
    assert kinds.count("fact.correct") == 2 and kinds.count("fact.retract") == 1
    assert set(kinds) == set(MANIFEST.kinds)
    assert config["input"]["path"] == "service-desk.jsonl"
