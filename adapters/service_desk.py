"""Adapter: the collectivity's service desk — report answers, crèche places, training sessions,
and the back office's corrections of field facts.

The desk's software (ticketing for citizens' reports, the crèche's waiting list, the digital
workshops' bookings) posts one JSON object per event, from a webhook or an export. People are
pseudonymous references only (the citizen's app pseudonym, a family's request reference, a
participant's reference); a note may be written to the citizen and is checked for contact
details like the app's texts.

The back office also puts right a measurement that reached the twin wrong (a meter index typed
with an extra digit, a reading booked to the wrong asset): ``correct`` gives one field its
right value, ``retract`` withdraws the fact (wire kinds ``fact.correct`` and ``fact.retract``,
docs/wire-protocol.md §6). The fact is named by exactly one of ``original_message``, the wire
message that brought it as ``SOURCE/ID`` (``twin show ASSET`` lists it; the desk sends no
measurements, so a bare id of its own messages never names one), or ``original_version``, its
version in the asset's history. Only measurements can be amended, each value checked against
the range its measurement has on the wire (counts and occupancy in whole numbers). ``by`` is
the agent's reference and ``reason`` is free text: neither may hold contact details, and a
reason is never echoed in an error.

Payload::

    {"type": "report_status", "citizen": "c-8f3a", "report_ref": "r-1", "status": "resolved",
     "note": "Conteneur vidé", "at": "2024-06-03T09:12:00+02:00"}
    {"type": "place", "service": "CRECHE-34114", "request_ref": "F-2024-031", "action": "granted", "at": "..."}
    {"type": "session", "service": "NUM-34114", "session_ref": "S-12", "starts_at": "...", "seats": 12, "at": "..."}
    {"type": "attendance", "service": "NUM-34114", "session_ref": "S-12", "participant_ref": "P-77",
     "action": "attended", "at": "..."}
    {"type": "correct", "asset": "EP-1", "original_message": "meters/m-41", "field": "index_kwh",
     "value": 16355, "by": "agent-technique", "reason": "extra digit", "at": "..."}
    {"type": "retract", "asset": "EP-1", "original_version": 3, "by": "agent-technique",
     "reason": "reading of the neighbouring cabinet's meter", "at": "..."}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adapters.payloads import PayloadError
from adapters.sdk import Adapter, AdapterManifest, Reading
from adapters.sdk.json_payload import (
    CONTACT_DETAILS,
    free_text_field,
    instant_field,
    json_object,
    number_field,
    text_field,
    whole_number_field,
)
from adapters.wire import BODY_SCHEMAS, to_epoch_ms

MANIFEST = AdapterManifest(
    name="service-desk",
    device="the collectivity's service desk (tickets, crèche places, workshops, back office)",
    kinds=(
        "citizen.report_status",
        "service.place",
        "service.session",
        "service.attendance",
        "fact.correct",
        "fact.retract",
    ),
    mode="push",
    owner="valley-twin core team",
    description=(
        "answers to citizens' reports, crèche places, training sessions and attendance; "
        "corrections and retractions of measurements"
    ),
)
STATUSES = ("acknowledged", "resolved", "rejected")
PLACE_ACTIONS = ("requested", "granted", "released")
ATTENDANCE_ACTIONS = ("enrolled", "attended")
# The fields a correction may set, each with the wire kind of the measurement that carries it:
# the right value is checked against that measurement's own range and type.
CORRECTABLE = {
    "fill_percent": "bin.fill",
    "mass_kg": "bin.emptied",
    "battery_percent": "device.battery",
    "count": "footfall.count",
    "index_kwh": "site.energy",
    "occupancy": "site.occupancy",
}
TYPES = ("report_status", "place", "session", "attendance", "correct", "retract")
# Lengths the wire allows (fact.correct / fact.retract, citizen.report_status): checked here so
# that a free text too long is refused without being echoed in the log.
MAX_BY = 64
MAX_REASON = 500
MAX_NOTE = 500
MAX_ORIGINAL_MESSAGE = 130
MAX_ID = 64
MAX_VERSION = 2**31


class ServiceDeskAdapter(Adapter):
    """Checks and forwards what the service desk records."""

    manifest = MANIFEST

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.desk_id = str(config.get("desk_id", "service-desk"))

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        document = json_object(payload)
        kind = document.get("type")
        at = instant_field(document, "at")
        if kind == "report_status":
            status = _choice(document, "status", STATUSES)
            body: dict[str, Any] = {
                "report_ref": text_field(document, "report_ref"),
                "status": status,
            }
            note = _free_text(document, "note", MAX_NOTE, required=False)
            if note is not None:
                body["note"] = note
            asset = text_field(document, "citizen")
            wire_kind = "citizen.report_status"
        elif kind == "place":
            body = {
                "request_ref": text_field(document, "request_ref"),
                "action": _choice(document, "action", PLACE_ACTIONS),
            }
            asset, wire_kind = text_field(document, "service"), "service.place"
        elif kind == "session":
            seats = whole_number_field(document, "seats", 1, "seats")
            body = {
                "session_ref": text_field(document, "session_ref"),
                "starts_at": to_epoch_ms(instant_field(document, "starts_at")),
                "seats": seats,
            }
            asset, wire_kind = text_field(document, "service"), "service.session"
        elif kind == "attendance":
            body = {
                "session_ref": text_field(document, "session_ref"),
                "participant_ref": text_field(document, "participant_ref"),
                "action": _choice(document, "action", ATTENDANCE_ACTIONS),
            }
            asset, wire_kind = text_field(document, "service"), "service.attendance"
        elif kind == "correct":
            asset = text_field(document, "asset")
            field = _choice(document, "field", tuple(CORRECTABLE))
            body = {
                **_original(document),
                "field": field,
                "value": _corrected_value(document, field),
                **_amended_by(document),
            }
            wire_kind = "fact.correct"
        elif kind == "retract":
            asset = text_field(document, "asset")
            body = {**_original(document), **_amended_by(document)}
            wire_kind = "fact.retract"
        else:
            raise PayloadError("type", kind, f"must be one of {', '.join(TYPES)}")
        assert asset is not None
        return [Reading(self.desk_id, asset, wire_kind, at, body)]


def _choice(document: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = text_field(document, name)
    if value not in allowed:
        raise PayloadError(name, value, f"must be one of {', '.join(allowed)}")
    assert value is not None
    return value


def _free_text(
    document: dict[str, Any], name: str, max_length: int, required: bool = True
) -> str | None:
    """Text a person wrote (see ``free_text_field``), at most ``max_length`` characters: a text
    too long is refused here, where its value is withheld, rather than by the wire, which would
    echo it."""
    value = free_text_field(document, name, required=required)
    if value is not None and len(value) > max_length:
        raise PayloadError(name, f"{len(value)} characters", f"must be {max_length} or fewer")
    return value


def _original(document: dict[str, Any]) -> dict[str, Any]:
    """The fact amended: exactly one of the message that brought it and its version."""
    message, version = document.get("original_message"), document.get("original_version")
    if (message is None) == (version is None):
        raise PayloadError(
            "original_message",
            {"original_message": message, "original_version": version},
            "give exactly one of original_message (SOURCE/ID) and original_version",
        )
    if version is not None:
        number = number_field(document, "original_version")
        if number is None or not number.is_integer() or not 1 <= number <= MAX_VERSION:
            raise PayloadError(
                "original_version",
                version,
                f"must be a whole number from 1 to {MAX_VERSION} (a version in the asset's "
                "history, as `twin show ASSET` lists it)",
            )
        return {"original_version": int(number)}
    named = text_field(document, "original_message")
    assert named is not None
    source, _, message_id = named.rpartition("/")
    if not source or not message_id:
        raise PayloadError(
            "original_message",
            named,
            "must be SOURCE/ID, the message that brought the fact (the desk sends no "
            "measurements: a bare id of its own messages names none)",
        )
    if len(named) > MAX_ORIGINAL_MESSAGE or not all(
        0 < len(part) <= MAX_ID and part.isprintable() and part == part.strip()
        for part in (source, message_id)
    ):
        raise PayloadError(
            "original_message",
            named,
            f"must be SOURCE/ID, each 1 to {MAX_ID} printable characters without outer spaces",
        )
    return {"original_message": named}


def _corrected_value(document: dict[str, Any], field: str) -> float | int:
    """The right value of ``field``, within the range of the measurement it corrects."""
    value = number_field(document, "value")
    assert value is not None
    spec = next(f for f in BODY_SCHEMAS[CORRECTABLE[field]] if f.name == field)
    low, high = spec.minimum, spec.maximum
    assert low is not None and high is not None
    if not low <= value <= high:
        raise PayloadError("value", value, f"must be {low:g} to {high:g} for {field}")
    if spec.kind == "int":
        if not value.is_integer():
            raise PayloadError("value", value, f"must be a whole number for {field}")
        return int(value)
    return value


def _amended_by(document: dict[str, Any]) -> dict[str, str]:
    """Who amended the fact (an agent's reference, never contact details) and why."""
    by = text_field(document, "by")
    assert by is not None
    if CONTACT_DETAILS.search(by):
        raise PayloadError(
            "by",
            f"{len(by)} characters",
            "must be the agent's reference, not an e-mail address or phone number",
        )
    if len(by) > MAX_BY:
        raise PayloadError("by", by, f"must be {MAX_BY} characters or fewer")
    reason = _free_text(document, "reason", MAX_REASON)
    assert reason is not None
    return {"by": by, "reason": reason}
