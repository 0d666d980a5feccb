"""Reading JSON device payloads: objects, typed fields and UTC instants, or a PayloadError.

Shared by the adapters whose devices speak JSON. Not responsible for what the fields mean.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from adapters.payloads import PayloadError
from adapters.payloads.json_text import json_object as read_json_object
from adapters.payloads.json_text import rfc3339_instant


def json_object(payload: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The JSON object in a payload."""
    return read_json_object(payload, field="payload")


def text_field(document: dict[str, Any], name: str, required: bool = True) -> str | None:
    """A non-empty string field."""
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(name, value, "must be a non-empty string")
    return value.strip()


def number_field(document: dict[str, Any], name: str, required: bool = True) -> float | None:
    """A finite number field."""
    value = document.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PayloadError(name, value, "must be a finite number")
    return float(value)


# An e-mail address or a French phone number: contact details a person may type into free text.
# Anchored on the "@" (one character of the local part looked behind) rather than on a run of
# local-part characters: the same matches, in linear time. A leading "[\w.+-]+" made a long
# text without "@" cost quadratic time (80,000 characters: 21 s).
CONTACT_DETAILS = re.compile(r"(?<=[\w.+-])@[\w-]+\.[\w.]|(?:\+33|0)\s?[1-9](?:[\s.-]?\d{2}){4}")


def free_text_field(document: dict[str, Any], name: str, required: bool = True) -> str | None:
    """Text a person wrote: never contact details, and never echoed in an error (errors are
    logged; what a person wrote must not be)."""
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(name, "(withheld)", "must be a non-empty string")
    if CONTACT_DETAILS.search(value):
        raise PayloadError(
            name, f"{len(value)} characters", "must not contain an e-mail address or phone number"
        )
    return value.strip()


def whole_number_field(document: dict[str, Any], name: str, minimum: int, unit: str) -> int:
    """A whole number of ``unit``, ``minimum`` or more (a JSON number, ``12.0`` accepted)."""
    value = number_field(document, name)
    if value is None or not value.is_integer() or value < minimum:
        raise PayloadError(name, value, f"must be a whole number of {unit}, {minimum} or more")
    return int(value)


def instant_field(document: dict[str, Any], name: str) -> datetime:
    """An RFC 3339 instant with a UTC offset (``Z`` or ``+02:00``), returned in UTC."""
    return rfc3339_instant(name, document.get(name))
