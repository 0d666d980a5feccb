"""Errors raised by the twin's application layer.

Hierarchy::

    TwinError
    ├── StoreConfigError        a store URL the twin cannot use
    ├── StoreUnavailableError   the event store cannot be reached
    ├── NotFoundError           no aggregate has this id or code
    ├── AlreadyExistsError      an aggregate with this id exists already
    ├── ConcurrentChangeError   another writer changed the aggregate first
    ├── InvalidInputError       a malformed argument (instant, coordinate, …)
    └── OutsideValleyError      a point that lies in none of the 28 communes

Domain rule violations are :class:`domain.DomainError` and pass through unchanged.
"""

from __future__ import annotations

from typing import Any


class TwinError(Exception):
    """Base of every error the twin raises on purpose."""


class StoreConfigError(TwinError):
    """The store URL cannot be used."""


class StoreUnavailableError(TwinError):
    """The event store cannot be reached."""


class KeyScrubError(StoreUnavailableError):
    """The key is erased, but its bytes could not yet be scrubbed from the store's files."""


class NotFoundError(TwinError):
    """No aggregate has this id or external code."""

    def __init__(self, reference: str, hint: str = "") -> None:
        self.reference = reference
        known = f"no bin, beacon, site, service, citizen or truck is known as {reference!r}"
        super().__init__(f"{known}; {hint}" if hint else known)


class AlreadyExistsError(TwinError):
    """An aggregate with this id exists already."""

    def __init__(self, kind: str, code: str) -> None:
        self.kind = kind
        self.code = code
        super().__init__(f"{kind} {code!r} exists already")


class ConcurrentChangeError(TwinError):
    """Another writer recorded a change to the aggregate first; reload and retry."""


class InvalidInputError(TwinError):
    """An argument is malformed; the message names the field and the value."""

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field}={value!r}: expected {expected}")


class OutsideValleyError(TwinError):
    """The point lies in none of the valley's communes."""

    def __init__(self, lon: float, lat: float) -> None:
        self.lon = lon
        self.lat = lat
        super().__init__(
            f"point lon={lon}, lat={lat} lies outside the 28 communes of the Vallée de l'Hérault"
        )
