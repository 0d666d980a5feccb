"""Small validators shared by the aggregates' command methods.

They raise :mod:`domain.errors` exceptions that name the field and the value. They do not
decide which rule applies to which command: the aggregates do.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from domain.errors import InvalidValueError, OutOfRangeError

E = TypeVar("E", bound=StrEnum)


def utc_instant(field: str, value: object) -> datetime:
    """Return ``value`` if it is a timezone-aware datetime at UTC offset zero."""
    if not isinstance(value, datetime):
        raise InvalidValueError("must be a datetime", field, value)
    if value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise InvalidValueError("must be a UTC-aware datetime", field, value)
    return value


def number_in_range(
    field: str, value: object, low: float | None = None, high: float | None = None
) -> float:
    """Return ``value`` as a float if it is a finite real number within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValueError("must be a number", field, value)
    if not math.isfinite(value):
        raise InvalidValueError("must be a finite number", field, value)
    if low is not None and value < low:
        raise OutOfRangeError(f"must be at least {low}", field, value)
    if high is not None and value > high:
        raise OutOfRangeError(f"must be at most {high}", field, value)
    return float(value)


def whole_number(field: str, value: object, low: int = 0, high: int | None = None) -> int:
    """Return ``value`` if it is an int within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError("must be a whole number", field, value)
    if value < low:
        raise OutOfRangeError(f"must be at least {low}", field, value)
    if high is not None and value > high:
        raise OutOfRangeError(f"must be at most {high}", field, value)
    return value


def text(
    field: str,
    value: object,
    max_length: int = 200,
    allow_empty: bool = False,
    personal: bool = False,
) -> str:
    """Return ``value`` stripped if it is a string of acceptable length.

    ``personal`` text is never put in an error: errors are logged and kept as dead letters,
    so they show its length instead.
    """
    if not isinstance(value, str):
        raise InvalidValueError("must be text", field, type(value).__name__ if personal else value)
    stripped = value.strip()
    shown = f"({len(stripped)} characters, withheld)" if personal else value
    if not stripped and not allow_empty:
        raise InvalidValueError("must not be empty", field, shown)
    if len(stripped) > max_length:
        raise OutOfRangeError(f"must be at most {max_length} characters", field, shown)
    return stripped


# The twin seals personal text before it reaches a command (an opaque ASCII token: base64 of
# the UTF-8 text, at most 4 bytes a character, plus nonce, tag and prefix well under 64 bytes).
_SEAL_OVERHEAD_BYTES = 64


def stored_text_limit(characters: int) -> int:
    """The longest stored form of a text of at most ``characters`` characters, once sealed.

    The domain checks the stored form against this; the twin checks the plaintext against
    ``characters`` before sealing it.
    """
    return 4 * math.ceil((4 * characters + _SEAL_OVERHEAD_BYTES) / 3)


def member(field: str, value: object, enum: type[E]) -> E:
    """Return ``value`` as a member of ``enum``, accepting the member or its string value."""
    try:
        # Looking a member up by value accepts any object (a miss raises ValueError), but typeshed
        # types the call as StrEnum.__new__(str).
        return enum(value)  # type: ignore[arg-type]  # enum lookup takes any value
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidValueError(f"must be one of {allowed}", field, value) from None
