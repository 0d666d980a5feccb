"""How one key of a scenario table is described: its type, default, bound and applicability.

Shared by the waste rules (``scenarios.schema``) and the other subjects' rules
(``scenarios._subject_schema``). Not responsible for walking a document: ``schema._Checker``
does that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

REQUIRED = object()
"""The default of a key that must be given."""

TYPE_NAMES = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "date": "a date (2024-05-06)",
    "list": "a list of strings",
    "clock": 'a local clock time "HH:MM"',
}


@dataclass(frozen=True)
class Field:
    """One key: ``kind`` is int, float, str, bool, date, list or clock."""

    kind: str
    default: Any = REQUIRED
    check: Callable[[Any], bool] | None = None
    expected: str = ""
    kinds: tuple[str, ...] = ()
    """Policy kinds the key applies to (empty: all)."""


def positive(value: Any) -> bool:
    """Strictly above zero."""
    return bool(value > 0)


def non_negative(value: Any) -> bool:
    """Zero or above."""
    return bool(value >= 0)
