"""The storage wing: the one place that knows which backend a twin's store is on.

A store URL (:mod:`twin.config`) chooses a backend once (:func:`twin.open_twin` opens a twin
on it) and :func:`storage_for` gives the twin the backend's :class:`Storage`, which builds the
rest of what is backend-specific: the citizens' key table and the read models' store. One
module per backend: :mod:`~twin.storage.sqlite` (embedded, the default),
:mod:`~twin.storage.postgres` (scale) and :mod:`~twin.storage.memory` (tests, benchmarks).
Not responsible for what is stored (the domain's events, :mod:`twin.privacy`,
:mod:`twin.projections`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twin.config import MEMORY_FACTORY_TOPIC, POSTGRES_MODULE, SQLITE_FACTORY_TOPIC
from twin.errors import StoreConfigError
from twin.storage.base import Storage
from twin.storage.keys import KEY_TABLE, KeyRow, KeyTable
from twin.storage.memory import MEMORY_STORE_SETTING, MemoryStorage, drop_memory_store
from twin.storage.sqlite import SQLiteStorage

if TYPE_CHECKING:
    from eventsourcing.application import Application

_SQLITE_MODULES = (SQLITE_FACTORY_TOPIC, "eventsourcing.sqlite")
_MEMORY_MODULES = (MEMORY_FACTORY_TOPIC, "eventsourcing.popo", "")


def storage_for(application: Application[Any]) -> Storage:
    """The storage of a twin, from the persistence module its settings name."""
    module = application.env.get("PERSISTENCE_MODULE") or ""
    if module in _SQLITE_MODULES:
        return SQLiteStorage(application)
    if module in _MEMORY_MODULES:
        return MemoryStorage(application, application.env.get(MEMORY_STORE_SETTING))
    if module == POSTGRES_MODULE:
        # psycopg is an optional dependency: loaded only for a PostgreSQL store.
        from twin.storage.postgres import PostgresStorage

        return PostgresStorage(application)
    raise StoreConfigError(f"no storage for the persistence module {module!r}")


__all__ = [
    "KEY_TABLE",
    "KeyRow",
    "KeyTable",
    "Storage",
    "drop_memory_store",
    "storage_for",
]
