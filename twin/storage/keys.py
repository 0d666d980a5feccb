"""The citizens' key table: what privacy asks of it, and the in-memory one.

One row per citizen: the key (or NULL once forgotten), when it was made and when it was
forgotten. Each backend (:mod:`twin.storage.sqlite`, :mod:`twin.storage.postgres`,
:mod:`twin.storage.memory`) provides a table with these four operations. Not responsible for
encryption (:mod:`twin.privacy`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from uuid import UUID

KEY_TABLE = "citizen_keys"


@dataclass(frozen=True)
class KeyRow:
    """A citizen's row in the key table."""

    key: bytes | None
    created_at: datetime
    forgotten_at: datetime | None


class KeyTable(Protocol):
    """The operations privacy needs, each one transaction."""

    def find(self, citizen_id: UUID) -> KeyRow | None: ...

    def create(self, citizen_id: UUID, key: bytes, at: datetime) -> KeyRow: ...

    def erase(self, citizen_id: UUID, at: datetime) -> None: ...

    def scrub(self) -> None: ...


def stored_instant(value: object) -> datetime | None:
    """An instant as a table hands it back (a datetime, ISO text or NULL)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def stored_bytes(value: object) -> bytes | None:
    """A key as a table hands it back (bytes, a memoryview or NULL)."""
    return None if value is None else bytes(value)  # type: ignore[call-overload]


class MemoryKeyTable:
    """Keys in memory, for the in-memory store (tests, benchmarks): gone with the process."""

    def __init__(self) -> None:
        self._rows: dict[UUID, KeyRow] = {}
        self._lock = threading.Lock()

    def find(self, citizen_id: UUID) -> KeyRow | None:
        return self._rows.get(citizen_id)

    def create(self, citizen_id: UUID, key: bytes, at: datetime) -> KeyRow:
        with self._lock:
            return self._rows.setdefault(citizen_id, KeyRow(key, at, None))

    def erase(self, citizen_id: UUID, at: datetime) -> None:
        with self._lock:
            row = self._rows.get(citizen_id)
            created = at if row is None else row.created_at
            forgotten = at if row is None or row.forgotten_at is None else row.forgotten_at
            self._rows[citizen_id] = KeyRow(None, created, forgotten)

    def scrub(self) -> None:
        pass  # nothing was written anywhere
