"""Reading JSON device payloads: objects, typed fields and UTC instants, or a PayloadError.

Shared by the adapters whose devices speak JSON. Not responsible for what the fields mean.
"""

from __future__ import annotations

import math
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


def instant_field(document: dict[str, Any], name: str) -> datetime:
    """An RFC 3339 instant with a UTC offset (``Z`` or ``+02:00``), returned in UTC."""
    return rfc3339_instant(name, document.get(name))
