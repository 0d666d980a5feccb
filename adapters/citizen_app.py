"""Adapter: the citizen app — registrations, reports and ideas posted as JSON.

Validated here so that a citizen gets a precise answer at once; the twin checks again.
The pseudonym is the app's; names, e-mails or phone numbers are refused, never forwarded.

Payload::

    {"type": "register", "citizen": "c-8f3a", "sent_at": "...", "commune_insee": "34114"}
    {"type": "report", "citizen": "c-8f3a", "sent_at": "...", "report_ref": "r-1", "category": "overflowing_bin",
     "lon": 3.5489, "lat": 43.6535, "text": "...", "photo_ref": "photos/r-1.jpg"}
    {"type": "idea", "citizen": "c-8f3a", "sent_at": "...", "idea_ref": "i-1", "title": "...", "text": "..."}
    {"type": "vote", "citizen": "c-77b1", "sent_at": "...", "author": "c-8f3a", "idea_ref": "i-1"}
"""

from __future__ import annotations

import re
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
)
from adapters.wire import BODY_SCHEMAS

MANIFEST = AdapterManifest(
    name="citizen-app",
    device="citizen mobile app backend",
    kinds=("citizen.register", "citizen.report", "citizen.idea", "citizen.vote"),
    mode="push",
    owner="valley-twin core team",
    description="citizen registrations, reports, ideas and votes",
)
CATEGORIES = (
    "overflowing_bin",
    "illegal_dumping",
    "street_light",
    "road",
    "green_space",
    "noise",
    "other",
)
_PSEUDONYM = re.compile(r"^[A-Za-z0-9_-]{3,64}$")
MAX_PSEUDONYM = 64


class CitizenAppAdapter(Adapter):
    """Checks and forwards what citizens send through the app."""

    manifest = MANIFEST

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.app_id = str(config.get("app_id", "citizen-app"))

    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        document = json_object(payload)
        kind = document.get("type")
        citizen = text_field(document, "citizen")
        assert citizen is not None
        # Length first: no pattern is run over an unbounded text, and the value is withheld.
        if len(citizen) > MAX_PSEUDONYM:
            raise PayloadError(
                "citizen",
                f"{len(citizen)} characters",
                f"must be the app's pseudonym, at most {MAX_PSEUDONYM} characters",
            )
        if CONTACT_DETAILS.search(citizen):  # a phone number is made of allowed characters
            raise PayloadError(
                "citizen",
                "(withheld)",
                "must be the app's pseudonym, not a phone number or e-mail address",
            )
        if not _PSEUDONYM.fullmatch(citizen):
            raise PayloadError(
                "citizen", citizen, "must be the app's pseudonym (3-64 letters, digits, - or _)"
            )
        at = instant_field(document, "sent_at")
        if kind == "register":
            body: dict[str, Any] = {"commune_insee": text_field(document, "commune_insee")}
        elif kind == "report":
            category = text_field(document, "category")
            if category not in CATEGORIES:
                raise PayloadError("category", category, f"must be one of {', '.join(CATEGORIES)}")
            body = {
                "report_ref": text_field(document, "report_ref"),
                "category": category,
                "lon": number_field(document, "lon"),
                "lat": number_field(document, "lat"),
                "text": _free_text(document, "citizen.report", "text"),
            }
            photo = text_field(document, "photo_ref", required=False)
            if photo is not None:
                body["photo_ref"] = photo
        elif kind == "idea":
            body = {
                "idea_ref": text_field(document, "idea_ref"),
                "title": _free_text(document, "citizen.idea", "title"),
                "text": _free_text(document, "citizen.idea", "text"),
            }
        elif kind == "vote":
            author = text_field(document, "author")
            if author is None or not _PSEUDONYM.fullmatch(author):
                raise PayloadError("author", author, "must be the idea's author's pseudonym")
            body = {"author": author, "idea_ref": text_field(document, "idea_ref")}
        else:
            raise PayloadError("type", kind, "must be register, report, idea or vote")
        return [Reading(self.app_id, citizen, f"citizen.{kind}", at, body)]


def _free_text(document: dict[str, Any], kind: str, name: str) -> str:
    """Text a person wrote, refused when longer than the wire takes for ``kind`` before it is
    searched for contact details (the length is named, the text withheld)."""
    limit = next(spec.max_length for spec in BODY_SCHEMAS[kind] if spec.name == name)
    value = document.get(name)
    if isinstance(value, str) and len(value.strip()) > limit:
        raise PayloadError(
            name, f"{len(value.strip())} characters", f"must be {limit} characters or fewer"
        )
    text = free_text_field(document, name)
    assert text is not None
    return text
