"""PostgreSQL for scale: the events, the citizens' keys and the read models in one schema.

Imported only when a twin is opened on PostgreSQL: psycopg is an optional dependency
(``pip install -e ".[postgres]"``). The key table and the views go through the events' own
connection pool. Not responsible for which store is used (:mod:`twin.config`).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from twin.errors import KeyScrubError
from twin.projections.rows import Db
from twin.projections.sql import PostgresDialect
from twin.projections.store import POSTGRES_TRACKING_TABLE, ViewStore
from twin.storage.base import FIRST_EVENTS_PER_QUERY, Storage
from twin.storage.keys import KEY_TABLE, KeyRow, KeyTable, stored_bytes

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from uuid import UUID


class PostgresKeyTable:
    """The key table in the PostgreSQL schema of the event store, through the store's own pool."""

    erase_wait_s = 2.0  # at most, for another session's lock on a citizen's row
    scrub_wait_s = 0.5  # at most, for VACUUM FULL's exclusive lock (readers queue behind it)
    snapshot_wait_s = 2.0  # at most, for transactions older than the erasure to end

    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore
        self._erased_by: str | None = None  # id of the transaction of the last erasure
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
        # A session holding the row (SELECT … FOR UPDATE) would make this wait without end:
        # the lock timeout turns that into a clear refusal, with nothing changed.
        try:
            with self._datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    self._sql("SET LOCAL lock_timeout = {}").format(
                        _milliseconds(self.erase_wait_s)
                    )
                )
                cursor.execute(
                    self._sql(
                        "INSERT INTO {0} AS k (citizen_id, key, created_at, forgotten_at) "
                        "VALUES (%s, NULL, %s, %s) ON CONFLICT (citizen_id) DO UPDATE SET "
                        "key = NULL, forgotten_at = coalesce(k.forgotten_at, excluded.forgotten_at)"
                    ).format(self._name),
                    (citizen_id, at, at),
                )
                cursor.execute("SELECT pg_current_xact_id()::xid::text AS xid")
                found = cursor.fetchone()
        except PersistenceError as error:
            if not _lock_timed_out(error):
                raise
            raise PersistenceError(
                f"the key is not erased: another session has held the citizen's row in "
                f"{self._datastore.schema}.{KEY_TABLE} for more than {self.erase_wait_s:g} s "
                f"({self._lock_holders()}); nothing was changed, try again once it has finished"
            ) from error
        assert found is not None, "a transaction that wrote has an id"
        self._erased_by = str(found["xid"])

    def scrub(self) -> None:
        # An UPDATE leaves the old row version (with the key) in the table's file until VACUUM
        # removes it, which it cannot do while another session's snapshot may still see it (a
        # long query, pg_dump). VACUUM FULL rewrites the table into a new file and drops the old
        # one; it needs the table's exclusive lock, and while it waits for it every reader of the
        # table (ingest sealing a citizen's text) queues behind it: it waits at most
        # ``scrub_wait_s``. VACUUM cannot run in a transaction: the store's connections are in
        # autocommit mode.
        table = f"{self._datastore.schema}.{KEY_TABLE}"
        erased = (
            "the key is erased (nothing can read the citizen's text through the twin any more), "
            f"but its old row version stays in the file of {table}"
        )
        try:
            older = self._snapshots_before_erasure()
            deadline = time.monotonic() + self.snapshot_wait_s
            while older and time.monotonic() < deadline:
                time.sleep(0.05)  # a transaction that was running at the erasure: let it end
                older = self._snapshots_before_erasure()
        except PersistenceError as error:
            raise KeyScrubError(f"{erased}: the sessions could not be checked ({error})") from error
        if older:
            raise KeyScrubError(
                f"{erased}: {older} holds a snapshot taken before the erasure (a long query, "
                "pg_dump, a replica's feedback), so VACUUM cannot remove it; forget the citizen "
                "again once that has finished"
            )
        try:
            with self._datastore.get_connection() as connection:
                connection.execute(
                    self._sql("SET lock_timeout = {}").format(_milliseconds(self.scrub_wait_s))
                )
                try:
                    connection.execute(self._sql("VACUUM FULL {}").format(self._name))
                finally:
                    connection.execute("RESET lock_timeout")
        except PersistenceError as error:
            if _lock_timed_out(error):
                raise KeyScrubError(
                    f"{erased}: VACUUM FULL gave up after {self.scrub_wait_s:g} s rather than stall "
                    f"ingest, because {self._lock_holders()} has the table open in a transaction; "
                    "forget the citizen again once it has finished"
                ) from error
            raise KeyScrubError(
                f"{erased}: VACUUM FULL of {table} failed ({error}); forget the citizen again "
                "to finish"
            ) from error

    def _snapshots_before_erasure(self) -> str:
        """Who keeps VACUUM from removing the row version the last erasure replaced ('' if no
        one): a session whose snapshot or transaction is older than the erasure's (VACUUM keeps
        a dead row while any may still see it), or a replication slot holding one back."""
        if self._erased_by is None:
            return ""
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT 'session ' || pid || coalesce(' (' || application_name || ')', '') "
                "|| coalesce(', in a transaction since ' || xact_start::timestamptz(0), '') "
                "AS who FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND datname = current_database() AND (age(backend_xmin) >= age(%(xid)s::xid) "
                "OR age(backend_xid) >= age(%(xid)s::xid)) "
                "UNION ALL SELECT 'replication slot ' || slot_name FROM pg_replication_slots "
                "WHERE xmin IS NOT NULL AND age(xmin) >= age(%(xid)s::xid)",
                {"xid": self._erased_by},
            )
            return ", ".join(str(row["who"]) for row in cursor.fetchall())

    def _lock_holders(self) -> str:
        """The sessions holding a lock on the key table, as one phrase."""
        try:
            with self._datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    "SELECT DISTINCT 'session ' || l.pid || coalesce(', ' || a.state, '') "
                    "|| coalesce(' since ' || a.xact_start::timestamptz(0), '') AS who "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.relation = %s::regclass AND l.granted AND l.pid <> pg_backend_pid()",
                    (f'"{self._datastore.schema}"."{KEY_TABLE}"',),
                )
                holders = [str(row["who"]) for row in cursor.fetchall()]
        except PersistenceError:
            holders = []
        return "; ".join(holders) or "another session"


TABLES_LOCK_APPLICATION = "valley-twin: creating tables"


@contextmanager
def tables_created_one_at_a_time(settings: Mapping[str, str]) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock named after the store's schema while the twin is built.

    Building a twin creates its tables if they are missing (``CREATE TABLE IF NOT EXISTS``),
    and two processes doing so at once on a fresh schema collide in PostgreSQL's catalogue
    ("duplicate key value", "already exists"): several ingest workers started together would
    fail. Under the lock the second finds the tables made. The lock is taken on a connection
    of its own and released when the twin is built.
    """
    import psycopg

    schema = settings.get("POSTGRES_SCHEMA") or "public"
    name = hashlib.blake2b(f"valley-twin tables {schema}".encode(), digest_size=8).digest()
    key = int.from_bytes(name, "big", signed=True)
    try:
        connection = psycopg.connect(
            host=settings["POSTGRES_HOST"],
            port=int(settings["POSTGRES_PORT"]),
            dbname=settings["POSTGRES_DBNAME"],
            user=settings["POSTGRES_USER"],
            password=settings.get("POSTGRES_PASSWORD") or None,
            connect_timeout=int(settings.get("POSTGRES_CONNECT_TIMEOUT", "5")),
            autocommit=True,
            application_name=TABLES_LOCK_APPLICATION,  # who holds it, in pg_stat_activity
        )
    except psycopg.Error as error:  # on one line, as the library says it (libpq adds a hint)
        raise OperationalError(" ".join(str(error).split())) from error
    with connection:
        try:
            connection.execute("SELECT pg_advisory_lock(%s)", [key])
        except psycopg.Error as error:
            raise OperationalError(" ".join(str(error).split())) from error
        try:
            yield
        finally:
            with contextlib.suppress(psycopg.Error):  # a lost connection has let go of it
                connection.execute("SELECT pg_advisory_unlock(%s)", [key])


def _milliseconds(seconds: float) -> SQL:
    return SQL(f"'{round(seconds * 1000)}ms'")


def _lock_timed_out(error: PersistenceError) -> bool:
    """True if PostgreSQL gave up waiting for a lock (SQLSTATE 55P03, lock_not_available)."""
    return getattr(error.__cause__, "sqlstate", None) == "55P03"


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

    def first_events(self, ids: Sequence[UUID]) -> dict[UUID, StoredEvent]:
        recorder = self._application.recorder
        table = getattr(recorder, "events_table_name", None)
        if not isinstance(recorder, PostgresAggregateRecorder) or table is None:
            return super().first_events(ids)
        datastore = self._postgres_datastore()
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) AND originator_version = 1"
        ).format(schema=Identifier(datastore.schema), table=Identifier(table))
        found: dict[UUID, StoredEvent] = {}
        for start in range(0, len(ids), FIRST_EVENTS_PER_QUERY):
            chunk = list(ids[start : start + FIRST_EVENTS_PER_QUERY])
            with datastore.get_connection() as connection, connection.cursor() as cursor:
                cursor.execute(statement, [chunk])
                for row in cursor.fetchall():
                    found[row["originator_id"]] = StoredEvent(
                        originator_id=row["originator_id"],
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    )
        return found

    # A dropped connection or a server restarting is tried again as the library's own insert
    # tries it; nothing was committed by a failed attempt (the transaction is rolled back).
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_rows(self, rows: Sequence[StoredEvent]) -> None:
        # As the library inserts (its table lock, so that followers never pass over a gap
        # filled later, and its NOTIFY), but the rows go in by one COPY instead of an
        # INSERT from an array of composite values, and no notification id is read back.
        recorder = self._application.recorder
        if not isinstance(recorder, PostgresApplicationRecorder) or not rows:
            super().insert_rows(rows)
            return
        datastore = self._postgres_datastore()
        copy = SQL(
            "COPY {schema}.{table} (originator_id, originator_version, topic, state) FROM STDIN"
        ).format(schema=Identifier(datastore.schema), table=Identifier(recorder.events_table_name))
        notify = SQL("NOTIFY {channel}").format(channel=Identifier(recorder.channel_name))
        with datastore.transaction(commit=True) as cursor:
            for lock in recorder.lock_table_statements:
                cursor.execute(lock, prepare=True)
            cursor.execute(notify)
            with cursor.copy(copy) as writer:
                for row in rows:
                    writer.write_row(
                        (row.originator_id, row.originator_version, row.topic, row.state)
                    )

    def _make_key_table(self) -> KeyTable:
        return PostgresKeyTable(self._postgres_datastore())

    def _make_view_store(self) -> ViewStore:
        return PostgresViewStore(self._postgres_datastore())
