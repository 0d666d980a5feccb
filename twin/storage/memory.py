"""The in-memory store: the library's in-memory recorders, shared by name within a process.

For tests and benchmarks, never for the valley's data: everything is gone with the process.
``memory://NAME`` opens the store named NAME (every twin opened on it in this process sees
the same events, keys and views, as twins on one file would); ``memory://`` opens a new
store each time. Events and snapshots are kept by ``eventsourcing``'s in-memory recorders,
the citizens' keys in a dictionary, and the read models in an SQLite database held in memory
(the views are SQL). Not responsible for which store is used (:mod:`twin.config`).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from eventsourcing.persistence import AggregateRecorder, ApplicationRecorder
from eventsourcing.popo import POPOAggregateRecorder, POPOApplicationRecorder, POPOFactory
from eventsourcing.sqlite import SQLiteDatastore

from twin.projections.store import ViewStore
from twin.storage.base import Storage
from twin.storage.keys import KeyTable, MemoryKeyTable
from twin.storage.sqlite import SQLiteViewStore

if TYPE_CHECKING:
    from eventsourcing.application import Application

MEMORY_STORE_SETTING = "MEMORY_STORE"


@dataclass
class _MemoryStore:
    """Everything one named in-memory store holds."""

    events: POPOApplicationRecorder = field(default_factory=POPOApplicationRecorder)
    snapshots: POPOAggregateRecorder = field(default_factory=POPOAggregateRecorder)
    keys: MemoryKeyTable = field(default_factory=MemoryKeyTable)
    views: SQLiteDatastore = field(
        default_factory=lambda: SQLiteDatastore(
            f"file:valley-twin-views-{uuid.uuid4().hex}?mode=memory&cache=shared"
        )
    )
    # One views' store per named store, whichever twin asks first: their tables are made once.
    view_store: SQLiteViewStore | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_STORES: dict[str, _MemoryStore] = {}
_STORES_LOCK = threading.Lock()


def memory_store(name: str) -> _MemoryStore:
    """The store called ``name`` in this process, made empty on first use."""
    with _STORES_LOCK:
        return _STORES.setdefault(name, _MemoryStore())


def drop_memory_store(name: str) -> None:
    """Forget the store called ``name``: the next twin opened on it starts empty."""
    with _STORES_LOCK:
        store = _STORES.pop(name, None)
    if store is not None:
        store.views.close()


class SharedMemoryFactory(POPOFactory):
    """``eventsourcing``'s in-memory persistence, its recorders shared by store name."""

    def _store(self) -> _MemoryStore:
        name = self.env.get(MEMORY_STORE_SETTING)
        # Unnamed: this twin's own, gone with it (never registered, so never kept alive).
        return memory_store(name) if name else _MemoryStore()

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        store = self._store()
        return store.snapshots if purpose == "snapshots" else store.events

    def application_recorder(self) -> ApplicationRecorder:
        return self._store().events


class MemoryStorage(Storage):
    """Keys and views of an in-memory twin: in the named store when there is one."""

    def __init__(self, application: Application[Any], store_name: str | None) -> None:
        super().__init__(application)
        self._store = memory_store(store_name) if store_name else _MemoryStore()

    def _make_key_table(self) -> KeyTable:
        return self._store.keys

    def _prepared_view_store(self) -> ViewStore:
        with self._store.lock:
            if self._store.view_store is None:
                self._store.view_store = cast("SQLiteViewStore", super()._prepared_view_store())
            return self._store.view_store

    def _make_view_store(self) -> ViewStore:
        return SQLiteViewStore(self._store.views)
