"""JSON documents and RFC 3339 instants, read strictly: a dict and a UTC datetime, or a PayloadError.

Shared by every decoder and adapter whose device or network server speaks JSON, so they all
accept and refuse the same shapes. ``datetime.fromisoformat`` is not used: it accepts many
shapes that are not RFC 3339 (dates alone, times without an offset).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from adapters.payloads.errors import PayloadError

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"  # date, time, fraction
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",  # Z or a numeric offset
    re.ASCII,
)


def json_object(document: object, field: str = "document") -> dict[str, Any]:
    """The JSON object in ``document`` (text, UTF-8 bytes or an already parsed dict)."""
    if isinstance(document, bytes | bytearray | memoryview):
        try:
            document = bytes(document).decode("utf-8")
        except UnicodeDecodeError as error:
            raise PayloadError(field, f"byte {error.start}", "document is not UTF-8") from None
    if isinstance(document, str):
        text = document
        try:
            document = json.loads(text)
        except RecursionError:
            raise PayloadError(field, len(text), "JSON nested too deeply") from None
        except ValueError as error:  # JSONDecodeError, and over-long integer literals
            raise PayloadError(field, text[:40], f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise PayloadError(field, type(document).__name__, "document must be a JSON object")
    return document


def rfc3339_instant(path: str, value: object) -> datetime:
    """An RFC 3339 timestamp with a UTC offset, as a UTC datetime (nanoseconds truncated)."""
    if not isinstance(value, str):
        raise PayloadError(path, value, "must be an RFC 3339 timestamp string")
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise PayloadError(path, value, "not an RFC 3339 timestamp with a UTC offset")
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction = match.group(7) or ""
    microsecond = int(fraction[:6].ljust(6, "0"))  # truncate nanoseconds, never round
    if match.group(8) is not None:
        offset = timedelta(0)
    else:
        sign = -1 if match.group(9) == "-" else 1
        offset = sign * timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
    try:
        moment = datetime(
            year, month, day, hour, minute, second, microsecond, tzinfo=timezone(offset)
        )
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise PayloadError(path, value, f"impossible date or time: {error}") from None
