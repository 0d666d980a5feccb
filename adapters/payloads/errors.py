"""The single error every payload decoder raises: which field was wrong, with what value, and why.

Decoders in this package raise :class:`PayloadError` and nothing else for bad input, so a caller
can catch one type around any decoder. The error is a :class:`ValueError` because bad input is
a value problem, not a programming one.

Not responsible for: deciding what to do with a rejected payload (drop, count, dead-letter);
that belongs to whoever calls the decoder.
"""

from __future__ import annotations

__all__ = ["PayloadError"]

_MAX_SHOWN = 80


class PayloadError(ValueError):
    """A device payload or integration document cannot be decoded.

    ``field`` names the offending part (a JSON path such as ``"deviceInfo.devEui"`` or a
    payload field such as ``"distance"``), ``value`` is what was found there and ``reason``
    says what is wrong with it, in plain words.
    """

    field: str
    value: object
    reason: str

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = repr(value)
        if len(shown) > _MAX_SHOWN:
            shown = shown[: _MAX_SHOWN - 3] + "..."
        super().__init__(f"{reason} (field {field!r}, value {shown})")

    def __reduce__(self) -> tuple[type[PayloadError], tuple[str, object, str]]:
        """Pickle with the three constructor arguments (the default would pass the message)."""
        return (type(self), (self.field, self.value, self.reason))
