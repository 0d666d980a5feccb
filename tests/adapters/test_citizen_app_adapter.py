"""The citizen app: registrations, reports and ideas, pseudonymous and free of contact details."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.citizen_app import CATEGORIES, CitizenAppAdapter
from adapters.payloads import PayloadError
from adapters.sdk import AdapterRunner, Outbox
from adapters.sdk.json_payload import CONTACT_DETAILS
from adapters.wire import InMemoryTransport, decode

SENT_AT = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
NOW = datetime(2024, 5, 2, tzinfo=UTC)


def post(kind: str, **fields: Any) -> str:
    return json.dumps(
        {"type": kind, "citizen": "c-8f3a", "sent_at": "2024-05-01T09:30:00Z", **fields}
    )


REPORT = {
    "report_ref": "r-1",
    "category": "overflowing_bin",
    "lon": 3.5489,
    "lat": 43.6535,
    "text": "Le conteneur de verre déborde",
    "photo_ref": "photos/r-1.jpg",
}
IDEA = {
    "idea_ref": "i-1",
    "title": "Plus de composteurs",
    "text": "Un composteur partagé par quartier",
}


@pytest.fixture
def adapter() -> CitizenAppAdapter:
    return CitizenAppAdapter({"app_id": "ccvh-app"})


def test_register(adapter: CitizenAppAdapter) -> None:
    (only,) = adapter.readings(post("register", commune_insee="34114"), NOW)
    assert (only.device, only.asset, only.kind, only.observed_at) == (
        "ccvh-app",
        "c-8f3a",
        "citizen.register",
        SENT_AT,
    )
    assert only.body == {"commune_insee": "34114"}


def test_report(adapter: CitizenAppAdapter) -> None:
    (only,) = adapter.readings(post("report", **REPORT), NOW)
    assert only.kind == "citizen.report" and only.asset == "c-8f3a"
    assert only.body == REPORT


def test_report_photo_is_optional(adapter: CitizenAppAdapter) -> None:
    without = {k: v for k, v in REPORT.items() if k != "photo_ref"}
    (only,) = adapter.readings(post("report", **without), NOW)
    assert "photo_ref" not in only.body and only.body["text"] == REPORT["text"]


def test_idea(adapter: CitizenAppAdapter) -> None:
    (only,) = adapter.readings(post("idea", **IDEA), NOW)
    assert only.kind == "citizen.idea" and only.body == IDEA


def test_app_id_defaults() -> None:
    (only,) = CitizenAppAdapter({}).readings(post("register", commune_insee="34114"), NOW)
    assert only.device == "citizen-app"


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_is_accepted(adapter: CitizenAppAdapter, category: str) -> None:
    assert (
        adapter.readings(post("report", **{**REPORT, "category": category}), NOW)[0].body[
            "category"
        ]
        == category
    )


@pytest.mark.parametrize("category", ["Overflowing_bin", "graffiti", "", 3])
def test_unknown_category_is_refused(adapter: CitizenAppAdapter, category: Any) -> None:
    with pytest.raises(PayloadError) as caught:
        adapter.readings(post("report", **{**REPORT, "category": category}), NOW)
    assert caught.value.field == "category"


@pytest.mark.parametrize(
    "text",
    [
        "Appelez-moi au 06 12 34 56 78",
        "tel 0612345678",
        "+33 6 12 34 56 78 merci",
        "+33612345678",
        "04.67.57.01.00 mairie",
        "écrivez à jean.dupont@example.fr",
        "contact: j+valley@mail.ccvh.fr",
    ],
)
@pytest.mark.parametrize(
    ("kind", "field"), [("report", "text"), ("idea", "text"), ("idea", "title")]
)
def test_contact_details_in_free_text_are_refused(
    adapter: CitizenAppAdapter, text: str, kind: str, field: str
) -> None:
    fields = {**(REPORT if kind == "report" else IDEA), field: text}
    with pytest.raises(PayloadError) as caught:
        adapter.readings(post(kind, **fields), NOW)
    assert caught.value.field == field
    # The refused text is not repeated in the error, which ends up in logs.
    assert (
        "@" not in str(caught.value)
        and "12 34" not in str(caught.value)
        and "57.01" not in str(caught.value)
    )


@pytest.mark.parametrize(
    "text", ["Rue de la République, conteneur n° 12", "Ouvert de 8h à 12h", "Il y a 3 sacs"]
)
def test_ordinary_text_with_numbers_passes(adapter: CitizenAppAdapter, text: str) -> None:
    assert adapter.readings(post("report", **{**REPORT, "text": text}), NOW)[0].body["text"] == text


@pytest.mark.parametrize(
    "citizen",
    ["ab", "c 8f3a", "c/8f3a", "x" * 65, "jean@example.fr", "0612345678", "+33612345678", 42, ""],
)
def test_bad_pseudonym_is_refused(adapter: CitizenAppAdapter, citizen: Any) -> None:
    payload = json.dumps(
        {
            "type": "register",
            "citizen": citizen,
            "sent_at": "2024-05-01T09:30:00Z",
            "commune_insee": "34114",
        }
    )
    with pytest.raises(PayloadError) as caught:
        adapter.readings(payload, NOW)
    assert caught.value.field == "citizen"
    assert "jean@" not in str(caught.value) and "0612345678" not in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (post("complaint", text="x"), "type"),
        (json.dumps({"citizen": "c-8f3a", "sent_at": "2024-05-01T09:30:00Z"}), "type"),
        (post("register"), "commune_insee"),
        (post("report", **{**REPORT, "lon": "3.5"}), "lon"),
        (post("report", **{k: v for k, v in REPORT.items() if k != "lat"}), "lat"),
        (post("idea", **{**IDEA, "idea_ref": ""}), "idea_ref"),
        (
            json.dumps({"type": "register", "citizen": "c-8f3a", "commune_insee": "34114"}),
            "sent_at",
        ),
    ],
)
def test_missing_or_bad_fields_are_named(
    adapter: CitizenAppAdapter, payload: str, field: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        adapter.readings(payload, NOW)
    assert caught.value.field == field


def test_through_the_runner_nothing_personal_is_logged(
    adapter: CitizenAppAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    transport = InMemoryTransport()
    with Outbox() as outbox, caplog.at_level(logging.DEBUG):
        runner = AdapterRunner(adapter, transport, outbox, "gw-app", clock=lambda: NOW)
        runner.submit_many(
            [
                post("register", commune_insee="34114"),
                post("report", **{**REPORT, "text": "mon mail: jean.dupont@example.fr"}),
                post("report", **{**REPORT, "lon": 200.0}),  # the wire schema refuses it
                post("idea", **IDEA),
            ]
        )
        runner.pump()
        envelopes = [decode(frame, NOW) for frame in transport.sent]
    assert [e.kind for e in envelopes] == ["citizen.register", "citizen.idea"]
    assert dict(runner.stats.unreadable) == {"text": 1, "body.lon": 1}
    assert "jean.dupont" not in caplog.text


@pytest.mark.parametrize(
    ("kind", "fields", "name", "limit"),
    [
        ("report", REPORT, "text", 2_000),
        ("idea", IDEA, "text", 2_000),
        ("idea", IDEA, "title", 120),
    ],
)
def test_overlong_free_text_is_refused_for_its_length(
    adapter: CitizenAppAdapter, kind: str, fields: dict[str, Any], name: str, limit: int
) -> None:
    # 80,000 characters without an "@": the contact-detail search once took 21 s on it.
    with pytest.raises(PayloadError) as caught:
        adapter.readings(post(kind, **{**fields, name: "a" * 80_000}), NOW)
    assert caught.value.field == name
    assert caught.value.value == "80000 characters"  # the text itself is withheld
    assert f"{limit} characters or fewer" in caught.value.reason


def test_free_text_at_the_limit_passes(adapter: CitizenAppAdapter) -> None:
    (only,) = adapter.readings(post("report", **{**REPORT, "text": "a" * 2_000}), NOW)
    assert len(only.body["text"]) == 2_000


def test_overlong_pseudonym_is_refused_for_its_length(adapter: CitizenAppAdapter) -> None:
    document = json.loads(post("register", commune_insee="34114"))
    document["citizen"] = "0" * 80_000
    with pytest.raises(PayloadError) as caught:
        adapter.readings(json.dumps(document), NOW)
    assert (caught.value.field, caught.value.value) == ("citizen", "80000 characters")
    assert "at most 64 characters" in caught.value.reason


@pytest.mark.parametrize(
    "text",
    ["écrire à jean.dupont+mairie@example.fr svp", "a@b.c", "x" * 5_000 + " me@host.org"],
)
def test_contact_pattern_still_finds_addresses(text: str) -> None:
    assert CONTACT_DETAILS.search(text) is not None


@pytest.mark.parametrize("text", ["a" * 100_000, "a@" + "b" * 100_000, "@" * 1_000, "x@y."])
def test_contact_pattern_on_long_runs_without_an_address(text: str) -> None:
    # Linear in the text since the pattern is anchored on "@" (1,000,000 characters: 45 ms).
    assert CONTACT_DETAILS.search(text) is None
