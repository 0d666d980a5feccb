"""PostgreSQL for scale: the events, the citizens' keys and the read models in one schema.

Imported only when a twin is opened on PostgreSQL: psycopg is an optional dependency
(``pip install -e ".[postgres]"``). The key table and the views go through the events' own
connection pool. Not responsible for which store is used (:mod:`twin.config`).
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.persistence import IntegrityError, PersistenceError
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from twin.errors import KeyScrubError
from twin.projections.rows import Db
from twin.projections.sql import PostgresDialect
from twin.projections.store import POSTGRES_TRACKING_TABLE, ViewStore
from twin.storage.base import Storage
from twin.storage.keys import KEY_TABLE, KeyRow, KeyTable, stored_bytes

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID


class PostgresKeyTable:
    """The key table in the PostgreSQL schema of the event store, through the store's own pool."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore
        self._sql = SQL
        self._name = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(KEY_TABLE))
        statement = SQL(
            "CREATE TABLE IF NOT EXISTS {} (citizen_id uuid PRIMARY KEY, key bytea, "
            "created_at timestamptz NOT NULL, forgotten_at timestamptz)"
        ).format(self._name)
        try:
            with datastore.transaction(commit=True) as cursor:
                cursor.execute(statement)
        except IntegrityError:
            # Two processes created it at once (the catalogue refused the second): it exists.
            pass

    def find(self, citizen_id: UUID) -> KeyRow | None:
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(
                self._sql(
                    "SELECT key, created_at, forgotten_at FROM {} WHERE citizen_id = %s"
                ).format(self._name),
                (citizen_id,),
            )
            found = cursor.fetchone()
        return (
            None
            if found is None
            else KeyRow(stored_bytes(found["key"]), found["created_at"], found["forgotten_at"])
        )

    def create(self, citizen_id: UUID, key: bytes, at: datetime) -> KeyRow:
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                self._sql(
                    "INSERT INTO {} (citizen_id, key, created_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (citizen_id) DO NOTHING"
                ).format(self._name),
                (citizen_id, key, at),
            )
            cursor.execute(
                self._sql(
                    "SELECT key, created_at, forgotten_at FROM {} WHERE citizen_id = %s"
                ).format(self._name),
                (citizen_id,),
            )
            found = cursor.fetchone()
        assert found is not None, "the row was just inserted, or was there already"
        return KeyRow(stored_bytes(found["key"]), found["created_at"], found["forgotten_at"])

    def erase(self, citizen_id: UUID, at: datetime) -> None:
        # One row per citizen, upserted: a concurrent first sealing either comes before (and is
        # overwritten) or conflicts with the tombstone (and finds no key). No key can survive.
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                self._sql(
                    "INSERT INTO {0} AS k (citizen_id, key, created_at, forgotten_at) "
                    "VALUES (%s, NULL, %s, %s) ON CONFLICT (citizen_id) DO UPDATE SET key = NULL, "
                    "forgotten_at = coalesce(k.forgotten_at, excluded.forgotten_at)"
                ).format(self._name),
                (citizen_id, at, at),
            )

    def scrub(self) -> None:
        # An UPDATE leaves the old row version (with the key) in the page until it is reused;
        # VACUUM FULL rewrites the table into a new file and drops the old one. The table is tiny,
        # so its exclusive lock lasts milliseconds. VACUUM cannot run in a transaction: the
        # store's connections are in autocommit mode.
        try:
            with self._datastore.get_connection() as connection:
                connection.execute(self._sql("VACUUM FULL {}").format(self._name))
        except PersistenceError as error:
            raise KeyScrubError(
                f"the key is erased, but VACUUM FULL of {self._datastore.schema}.{KEY_TABLE} failed "
                f"({error}): the old row version may remain in the table's file until its space "
                "is reused; forget the citizen again to finish"
            ) from error


class PostgresViewStore(PostgresTrackingRecorder, ViewStore):
    """Views in the PostgreSQL schema of the events; tracking in ``projection_tracking``."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, tracking_table_name=POSTGRES_TRACKING_TABLE)
        self.dialect = PostgresDialect(datastore.schema)
        self.tracking_table = f'"{datastore.schema}"."{POSTGRES_TRACKING_TABLE}"'
        self._init_views()

    @contextmanager
    def write(self) -> Iterator[Db]:
        with (
            self.datastore.get_connection() as connection,
            connection.transaction(),
            connection.cursor(row_factory=tuple_row) as cursor,
        ):
            yield Db(cursor, self.dialect)

    @contextmanager
    def read(self) -> Iterator[Db]:
        with (
            self.datastore.get_connection() as connection,
            connection.cursor(row_factory=tuple_row) as cursor,
        ):
            yield Db(cursor, self.dialect)


class PostgresStorage(Storage):
    """Keys and views in the PostgreSQL schema of the events."""

    def _postgres_datastore(self) -> PostgresDatastore:
        datastore = self.datastore
        assert isinstance(datastore, PostgresDatastore), "a PostgreSQL twin has its datastore"
        return datastore

    def _make_key_table(self) -> KeyTable:
        return PostgresKeyTable(self._postgres_datastore())

    def _make_view_store(self) -> ViewStore:
        return PostgresViewStore(self._postgres_datastore())
