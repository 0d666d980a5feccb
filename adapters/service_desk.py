"""Adapter: the collectivity's service desk — report answers, crèche places, training sessions.

The desk's software (ticketing for citizens' reports, the crèche's waiting list, the digital
workshops' bookings) posts one JSON object per event, from a webhook or an export. People are
pseudonymous references only (the citizen's app pseudonym, a family's request reference, a
participant's reference); a note may be written to the citizen and is checked for contact
details like the app's texts.

Payload::

    {"type": "report_status", "citizen": "c-8f3a", "report_ref": "r-1", "status": "resolved",
     "note": "Conteneur vidé", "at": "2024-06-03T09:12:00+02:00"}
    {"type": "place", "service": "CRECHE-34114", "request_ref": "F-2024-031", "action": "granted", "at": "..."}
    {"type": "session", "service": "NUM-34114", "session_ref": "S-12", "starts_at": "...", "seats": 12, "at": "..."}
    {"type": "attendance", "service": "NUM-34114", "session_ref": "S-12", "participant_ref": "P-77",
     "action": "attended", "at": "..."}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adapters.payloads import PayloadError
from adapters.sdk import Adapter, AdapterManifest, Reading
from adapters.sdk.json_payload import (
    free_text_field,
    instant_field,
    json_object,
    text_field,
    whole_number_field,
)
from adapters.wire import to_epoch_ms

MANIFEST = AdapterManifest(
    name="service-desk",
    device="the collectivity's service desk (tickets, crèche places, workshops)",
    kinds=("citizen.report_status", "service.place", "service.session", "service.attendance"),
    mode="push",
    owner="valley-twin core team",
    description="answers to citizens' reports, crèche places, training sessions and attendance",
)
STATUSES = ("acknowledged", "resolved", "rejected")
PLACE_ACTIONS = ("requested", "granted", "released")
ATTENDANCE_ACTIONS = ("enrolled", "attended")


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
            note = free_text_field(document, "note", required=False)
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
        else:
            raise PayloadError("type", kind, "must be report_status, place, session or attendance")
        assert asset is not None
        return [Reading(self.desk_id, asset, wire_kind, at, body)]


def _choice(document: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = text_field(document, name)
    if value not in allowed:
        raise PayloadError(name, value, f"must be one of {', '.join(allowed)}")
    assert value is not None
    return value
