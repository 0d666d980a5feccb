"""The embedded store: eventsourcing's SQLite persistence with its durability set explicitly.

``eventsourcing.sqlite`` switches a file database to WAL but leaves ``PRAGMA synchronous`` at
SQLite's compiled-in default, which is a per-connection setting. This factory is chosen by
``PERSISTENCE_MODULE`` (see :mod:`twin.config`); its connection pool sets
``synchronous`` to :data:`twin.config.SQLITE_SYNCHRONOUS` on every connection it opens and
checks that SQLite took it, so a commit is on disk before ingest acknowledges it. Not
responsible for which store is used (:mod:`twin.config`).
"""

from __future__ import annotations

from eventsourcing.persistence import InterfaceError
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory
from eventsourcing.utils import Environment, EnvType

from twin.config import SQLITE_SYNCHRONOUS, SQLITE_SYNCHRONOUS_LEVEL


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
