"""What a storage backend builds for a twin: its event store's settings, keys and views.

One :class:`Storage` per twin, chosen once from the store's settings (:func:`twin.storage.storage_for`).
The rest of the twin asks it for the citizens' key table and the read models' store and never
asks which backend it is on. Not responsible for the SQL of the views (:mod:`twin.projections`)
nor for encryption (:mod:`twin.privacy`).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import PersistenceError

from twin.errors import StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from eventsourcing.application import Application
    from eventsourcing.persistence import StoredEvent

    from twin.projections.store import ViewStore
    from twin.storage.keys import KeyTable


#: Ids per query when looking many aggregates up at once (well under SQLite's 32,766 variables).
FIRST_EVENTS_PER_QUERY = 500

# Process-wide: two twins on one database create its views' tables one after the other.
_VIEW_STORES_LOCK = threading.Lock()


class Storage(ABC):
    """The backend-specific parts of one twin's store, each made on first use."""

    def __init__(self, application: Application[Any]) -> None:
        self._application = application
        self._lock = threading.Lock()
        self._key_table: KeyTable | None = None
        self._view_store: ViewStore | None = None

    @property
    def datastore(self) -> object:
        """The library's datastore under the events (its connection pool)."""
        return getattr(self._application.recorder, "datastore", None)

    def key_table(self) -> KeyTable:
        """The citizens' keys, beside the events (the table is created if needed)."""
        with self._lock:
            if self._key_table is None:
                self._key_table = self._make_key_table()
            return self._key_table

    def view_store(self) -> ViewStore:
        """The read models' tables and tracking, beside the events (created if needed)."""
        with _VIEW_STORES_LOCK:
            if self._view_store is None:
                try:
                    self._view_store = self._prepared_view_store()
                except PersistenceError as error:
                    raise StoreUnavailableError(
                        f"projections: cannot prepare the tracking table: {error}"
                    ) from error
            return self._view_store

    def _prepared_view_store(self) -> ViewStore:
        store = self._make_view_store()
        store.create_table()
        return store

    def first_events(self, ids: Sequence[UUID]) -> dict[UUID, StoredEvent]:
        """Of these aggregate ids, those recorded, each with its first stored event.

        One query per ``FIRST_EVENTS_PER_QUERY`` ids where the backend allows (a resent window
        of a thousand messages is checked in two queries, not two thousand); here, one look-up
        per id.
        """
        found: dict[UUID, StoredEvent] = {}
        for aggregate_id in ids:
            events = self._application.recorder.select_events(aggregate_id, limit=1)
            if events:
                found[aggregate_id] = events[0]
        return found

    def insert_rows(self, rows: Sequence[StoredEvent]) -> None:
        """Record these rows in one transaction, in this order, or none of them.

        Ingest's batch writer: the rows are encoded already (:mod:`twin.event_rows`) and their
        notification ids are not asked back, so a backend may insert them all in one statement.
        Raises the library's ``IntegrityError`` if any row is recorded already. Here, the
        library's own insert.
        """
        if rows:
            self._application.recorder.insert_events(rows)

    @abstractmethod
    def _make_key_table(self) -> KeyTable: ...

    @abstractmethod
    def _make_view_store(self) -> ViewStore: ...
