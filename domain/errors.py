"""Domain errors: every broken rule names the rule, the field and the offending value.

Hierarchy::

    DomainError (ValueError)
    ├── OutOfRangeError          a value outside its physical or logical range
    ├── InvalidValueError        a value of the wrong kind (unknown stream, naive datetime, …)
    ├── OutOfOrderError          an event dated before the aggregate's last recorded fact
    ├── RetiredAssetError        a change to an asset that was removed, decommissioned or closed
    ├── CapacityExceededError    granting or enrolling past a capacity
    ├── DuplicateError           a second vote, a second request with the same reference
    └── UnknownReferenceError    acting on a report, place, idea or session that does not exist

This module is not responsible for presenting errors to users: the CLI and ingest do that.
"""

from __future__ import annotations

from typing import Any


class DomainError(ValueError):
    """A domain rule was broken."""

    def __init__(self, rule: str, field: str, value: Any) -> None:
        self.rule = rule
        self.field = field
        self.value = value
        super().__init__(f"{rule} (field {field!r}, value {value!r})")


class OutOfRangeError(DomainError):
    """A value lies outside its allowed range."""


class InvalidValueError(DomainError):
    """A value is not of an allowed kind."""


class OutOfOrderError(DomainError):
    """A fact is dated before the last fact already recorded on the aggregate."""


class RetiredAssetError(DomainError):
    """The aggregate no longer accepts changes."""


class CapacityExceededError(DomainError):
    """A capacity would be exceeded."""


class DuplicateError(DomainError):
    """Something that may happen once happened again."""


class UnknownReferenceError(DomainError):
    """A reference does not name anything this aggregate knows."""
