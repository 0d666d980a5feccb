"""The embedded store: SQLite for the events, the citizens' keys and the read models.

``eventsourcing.sqlite`` switches a file database to WAL but leaves ``PRAGMA synchronous`` at
SQLite's compiled-in default, which is a per-connection setting. :class:`DurableSQLiteFactory`
is chosen by ``PERSISTENCE_MODULE`` (see :mod:`twin.config`); its connection pool sets
``synchronous`` to :data:`twin.config.SQLITE_SYNCHRONOUS` on every connection it opens and
checks that SQLite took it, so a commit is on disk before ingest acknowledges it. The key
table and the views live in the same file, through the same pool. Not responsible for which
store is used (:mod:`twin.config`).
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing import persistence
from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
    SQLiteFactory,
    SQLiteTrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType

from twin.config import SQLITE_SYNCHRONOUS, SQLITE_SYNCHRONOUS_LEVEL
from twin.errors import KeyScrubError
from twin.projections.rows import Db
from twin.projections.sql import SQLiteDialect
from twin.projections.store import ViewStore
from twin.storage.base import FIRST_EVENTS_PER_QUERY, Storage
from twin.storage.keys import KEY_TABLE, KeyRow, KeyTable, stored_instant

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


class DurableSQLiteConnectionPool(SQLiteConnectionPool):
    """eventsourcing's SQLite pool, whose every connection syncs each commit to disk."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        cursor = connection.cursor()
        cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        cursor.execute("PRAGMA synchronous")
        level = cursor.fetchone()[0]
        if level != SQLITE_SYNCHRONOUS_LEVEL:
            connection.close()
            raise InterfaceError(
                f"SQLite refused PRAGMA synchronous={SQLITE_SYNCHRONOUS} (reads back {level})"
            )
        return connection


class DurableSQLiteFactory(SQLiteFactory):
    """The SQLite factory of ``eventsourcing``, with :class:`DurableSQLiteConnectionPool`."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        # The parent built its datastore with a plain pool; pools connect lazily, so that one
        # has opened nothing yet. Replace it by a durable pool with exactly its settings.
        plain = self.datastore.pool
        assert plain.num_in_use == 0 and plain.num_in_pool == 0
        self.datastore.pool = DurableSQLiteConnectionPool(
            db_name=plain.db_name,
            lock_timeout=plain.lock_timeout,
            pool_size=plain.pool_size,
            max_overflow=plain.max_overflow,
            pool_timeout=plain.pool_timeout,
            max_age=plain.max_age,
            pre_ping=plain.pre_ping,
        )
        plain.close()


class SQLiteKeyTable:
    """The key table in the SQLite file of the event store, through the store's own pool."""

    def __init__(self, datastore: SQLiteDatastore) -> None:
        self._datastore = datastore
        with self._cursor(commit=True) as cursor:
            # WITHOUT ROWID: each key lives in one b-tree, keyed by the citizen's id.
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {KEY_TABLE} (citizen_id TEXT PRIMARY KEY, key BLOB, "
                "created_at TEXT NOT NULL, forgotten_at TEXT) WITHOUT ROWID"
            )

    @contextmanager
    def _cursor(self, commit: bool) -> Iterator[Any]:
        try:
            with self._datastore.get_connection(commit=commit) as connection:
                with connection.cursor() as pragma:
                    # Per connection, and set before any write to the table (not only the
                    # erasure): bytes freed when a page of keys is split or merged are zeroed too.
                    pragma.execute("PRAGMA secure_delete=ON")
                with connection.transaction(commit=commit) as cursor:
                    yield cursor
        except sqlite3.OperationalError as error:  # locked, busy: the store, not the caller
            raise OperationalError(f"citizen keys: {error}") from error
        except sqlite3.Error as error:
            raise PersistenceError(f"citizen keys: {error}") from error

    def find(self, citizen_id: UUID) -> KeyRow | None:
        with self._cursor(commit=False) as cursor:
            cursor.execute(
                f"SELECT key, created_at, forgotten_at FROM {KEY_TABLE} WHERE citizen_id = ?",
                (str(citizen_id),),
            )
            found = cursor.fetchone()
        return None if found is None else _key_row(found)

    def create(self, citizen_id: UUID, key: bytes, at: datetime) -> KeyRow:
        with self._cursor(commit=True) as cursor:
            # The write comes first, so the transaction holds the write lock before it reads.
            cursor.execute(
                f"INSERT INTO {KEY_TABLE} (citizen_id, key, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (citizen_id) DO NOTHING",
                (str(citizen_id), key, at.isoformat()),
            )
            cursor.execute(
                f"SELECT key, created_at, forgotten_at FROM {KEY_TABLE} WHERE citizen_id = ?",
                (str(citizen_id),),
            )
            found = cursor.fetchone()
        return _key_row(found)

    def erase(self, citizen_id: UUID, at: datetime) -> None:
        with self._cursor(commit=True) as cursor:
            cursor.execute(
                f"INSERT INTO {KEY_TABLE} (citizen_id, key, created_at, forgotten_at) "
                "VALUES (?, NULL, ?, ?) ON CONFLICT (citizen_id) DO UPDATE SET key = NULL, "
                f"forgotten_at = coalesce({KEY_TABLE}.forgotten_at, excluded.forgotten_at)",
                (str(citizen_id), at.isoformat(), at.isoformat()),
            )

    def scrub(self) -> None:
        try:
            with (
                self._datastore.get_connection(commit=True) as connection,
                connection.cursor() as cursor,
            ):
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy, _, _ = cursor.fetchone()
        except sqlite3.Error as error:
            raise KeyScrubError(self._incomplete(str(error))) from error
        if busy:
            raise KeyScrubError(self._incomplete("another process is using the database"))

    def _incomplete(self, why: str) -> str:
        return (
            f"the key is erased, but SQLite could not yet empty its write-ahead log ({why}): "
            f"the key's bytes may remain in {self._datastore.pool.db_name}-wal until the next "
            "checkpoint; forget the citizen again when ingest is idle to finish"
        )


_SQLITE_ERRORS: tuple[tuple[type[sqlite3.Error], type[persistence.PersistenceError]], ...] = (
    (sqlite3.IntegrityError, persistence.IntegrityError),
    (sqlite3.OperationalError, persistence.OperationalError),
    (sqlite3.ProgrammingError, persistence.ProgrammingError),
    (sqlite3.InterfaceError, persistence.InterfaceError),
    (sqlite3.DatabaseError, persistence.DatabaseError),
)


def _persistence_error(error: sqlite3.Error) -> persistence.PersistenceError:
    for sqlite_class, library_class in _SQLITE_ERRORS:
        if isinstance(error, sqlite_class):
            return library_class(error)
    return persistence.PersistenceError(error)


def _hex(originator_id: UUID | str) -> str:
    # As the library stores an id: a UUID as its 32 hex digits, a string as it is.
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def _key_row(found: Any) -> KeyRow:
    created = stored_instant(found[1])
    assert created is not None, "created_at is NOT NULL in the key table"
    return KeyRow(found[0], created, stored_instant(found[2]))


class SQLiteViewStore(SQLiteTrackingRecorder, ViewStore):
    """Views in the SQLite file of the events; tracking in the library's ``tracking`` table."""

    dialect = SQLiteDialect()
    tracking_table = '"tracking"'

    def __init__(self, datastore: SQLiteDatastore) -> None:
        super().__init__(datastore)
        self._init_views()

    @contextmanager
    def write(self) -> Iterator[Db]:
        try:
            with self.datastore.get_connection(commit=True) as connection:
                cursor = connection.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield Db(cursor, self.dialect)
                    connection.commit()
                except BaseException:
                    connection.rollback()
                    raise
        except sqlite3.Error as error:
            raise _persistence_error(error) from error

    @contextmanager
    def read(self) -> Iterator[Db]:
        try:
            with self.datastore.transaction(commit=False) as cursor:
                yield Db(cursor, self.dialect)
        except sqlite3.Error as error:
            raise _persistence_error(error) from error


class SQLiteStorage(Storage):
    """Keys and views in the SQLite file of the events."""

    def _sqlite_datastore(self) -> SQLiteDatastore:
        datastore = self.datastore
        assert isinstance(datastore, SQLiteDatastore), "an SQLite twin has an SQLite datastore"
        return datastore

    def first_events(self, ids: Sequence[UUID]) -> dict[UUID, StoredEvent]:
        recorder = self._application.recorder
        table = getattr(recorder, "events_table_name", None)
        if not isinstance(recorder, SQLiteAggregateRecorder) or table is None:
            return super().first_events(ids)
        found: dict[UUID, StoredEvent] = {}
        for start in range(0, len(ids), FIRST_EVENTS_PER_QUERY):
            chunk = [
                aggregate_id.hex for aggregate_id in ids[start : start + FIRST_EVENTS_PER_QUERY]
            ]
            marks = ",".join("?" * len(chunk))
            statement = (
                f"SELECT originator_id, originator_version, topic, state FROM {table} "
                f"WHERE originator_id IN ({marks}) AND originator_version = 1"
            )
            with self._sqlite_datastore().transaction(commit=False) as cursor:
                cursor.execute(statement, chunk)
                for row in cursor.fetchall():
                    aggregate_id = UUID(row["originator_id"])
                    found[aggregate_id] = StoredEvent(
                        originator_id=aggregate_id,
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=row["state"],
                    )
        return found

    def insert_rows(self, rows: Sequence[StoredEvent]) -> None:
        # The library inserts one row per statement to read each notification id back; the
        # batch writer needs none, so one executemany does (SQLite numbers the rows in order).
        recorder = self._application.recorder
        if not isinstance(recorder, SQLiteAggregateRecorder) or not rows:
            super().insert_rows(rows)
            return
        params = [
            (_hex(row.originator_id), row.originator_version, row.topic, row.state) for row in rows
        ]
        with self._sqlite_datastore().transaction(commit=True) as cursor:
            cursor.executemany(recorder.insert_events_statement, params)

    def _make_key_table(self) -> KeyTable:
        return SQLiteKeyTable(self._sqlite_datastore())

    def _make_view_store(self) -> ViewStore:
        return SQLiteViewStore(self._sqlite_datastore())
