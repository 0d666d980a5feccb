"""Reading JSON device payloads: objects, typed fields and UTC instants, or a PayloadError.

Shared by the adapters whose devices speak JSON. Not responsible for what the fields mean.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from adapters.payloads import PayloadError


def json_object(payload: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The JSON object in a payload."""
    if isinstance(payload, dict):
        return payload
    try:
        document = json.loads(payload)
    except (ValueError, TypeError) as error:
        raise PayloadError("payload", str(payload)[:60], f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise PayloadError("payload", type(document).__name__, "must be a JSON object")
    return document


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
    """An ISO-8601 instant with an offset, returned in UTC."""
    value = text_field(document, name)
    assert value is not None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(name, value, "must be an ISO-8601 instant") from None
    if instant.tzinfo is None:
        raise PayloadError(name, value, "must carry a UTC offset (e.g. Z)")
    return instant.astimezone(UTC)
