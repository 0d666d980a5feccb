"""The views' side of the event store: their tables and tracking rows, in the events' database.

Each backend's store (:mod:`twin.storage`) is built on the library's tracking recorders
(``SQLiteTrackingRecorder``, ``PostgresTrackingRecorder``) over the application's own datastore, so the views live in the
same SQLite file or PostgreSQL schema as the events, with one tracking row per projection
(``name:vN``; the library keeps it monotonic with its single-row upsert), and a page's view
writes and its tracking commit in one transaction — the library's pattern for materialised
views (``with datastore.transaction(...): write view; _insert_tracking(cursor, tracking)``).

What the library does not do, and this module adds:

* a write transaction that holds the write lock from its first statement (SQLite
  ``BEGIN IMMEDIATE``; the library's plain ``BEGIN`` would fail with "database is locked"
  when ingest commits between a page's first read and its first write);
* a compare-and-set on the tracking row (read ``FOR UPDATE`` on PostgreSQL) before a page is
  applied: the library's check only refuses a position that does not advance, which would
  let two runners with different page boundaries apply the same events twice;
* creating, dropping and counting the views' tables, and refusing tables built by another
  version of a projection.

Not responsible for reading the log nor for what the views hold.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import Tracking

from twin.projections.base import Projection, ProjectionError
from twin.projections.rows import Db
from twin.projections.sql import Dialect

if TYPE_CHECKING:
    from collections.abc import Sequence

    from twin.application import ValleyTwin

POSTGRES_TRACKING_TABLE = "projection_tracking"


class PositionMoved(Exception):  # noqa: N818 - a signal between store and runner, not a failure
    """Another runner moved a projection's tracking position since this one read it."""


def _version_of(application_name: str, name: str) -> int | None:
    prefix = f"{name}:v"
    if application_name.startswith(prefix) and application_name[len(prefix) :].isdigit():
        return int(application_name[len(prefix) :])
    return None


class ViewStore(ABC):
    """What the runner and ``status`` need from the database (mixed into a tracking recorder)."""

    dialect: Dialect
    tracking_table: str  # as SQL

    def _init_views(self) -> None:
        self._ensured: set[str] = set()
        self._ensure_lock = threading.Lock()

    @abstractmethod
    def write(self) -> AbstractContextManager[Db]:
        """One transaction holding the write lock: commit on success, roll back on any exception."""

    @abstractmethod
    def read(self) -> AbstractContextManager[Db]:
        """A connection for reading (no write lock)."""

    @abstractmethod
    def create_table(self) -> None:
        """Create the tracking table (the library's recorder does)."""

    @abstractmethod
    def _insert_tracking(self, cursor: Any, tracking: Tracking) -> None:
        """The library's monotonic upsert of a tracking row, in the cursor's transaction."""

    # ---- tracking ----------------------------------------------------------------------
    def tracked(self, db: Db | None = None) -> dict[str, int]:
        """Every tracking row: application name → position."""
        statement = f"SELECT application_name, notification_id FROM {self.tracking_table}"
        if db is not None:
            return dict(db.fetch(statement))
        with self.read() as own:
            return dict(own.fetch(statement))

    def positions(self, projections: Sequence[Projection]) -> dict[str, int]:
        """Each projection's position, preparing its tables first if they are missing."""
        self.ensure(projections)
        tracked = self.tracked()
        positions = {}
        for projection in projections:
            position = tracked.get(projection.tracking_name)
            if position is None:
                raise self.stale(projection, tracked)
            positions[projection.name] = position
        return positions

    def stale(self, projection: Projection, tracked: dict[str, int]) -> ProjectionError:
        """The error saying a projection's tables were built by another version of it."""
        versions = sorted(v for a in tracked if (v := _version_of(a, projection.name)) is not None)
        return ProjectionError(
            projection.name,
            None,
            None,
            f"its tables were built by version {', '.join(map(str, versions)) or '?'} of the "
            f"projection and this is version {projection.version}: "
            f"run `twin projections rebuild {projection.name}`",
        )

    def check(self, db: Db, projection: Projection, expected: int) -> None:
        """Lock the projection's tracking row; :class:`PositionMoved` unless at ``expected``."""
        rows = db.fetch(
            f"SELECT notification_id FROM {self.tracking_table} "
            f"WHERE application_name = {self.dialect.placeholder}{self.dialect.lock_suffix()}",
            (projection.tracking_name,),
        )
        if not rows or rows[0][0] != expected:
            raise PositionMoved(projection.name)

    def advance(self, db: Db, projection: Projection, position: int) -> None:
        """Record the projection's new position in the page's transaction (the library's upsert)."""
        self._insert_tracking(db.cursor, Tracking(projection.tracking_name, position))

    # ---- tables ------------------------------------------------------------------------
    def ensure(self, projections: Sequence[Projection]) -> None:
        """Create missing tables and tracking rows (position 0); leave stale ones for a rebuild."""
        missing = [p for p in projections if p.name not in self._ensured]
        if not missing:
            return
        with self._ensure_lock, self.write() as db:
            self._lock_schema(db)
            tracked = self.tracked(db)
            for projection in missing:
                versions = [a for a in tracked if _version_of(a, projection.name) is not None]
                if versions and projection.tracking_name not in versions:
                    continue  # built by another version: only a rebuild may touch its tables
                self._create(db, projection)
                if projection.tracking_name not in tracked:
                    self.advance(db, projection, 0)
        self._ensured.update(p.name for p in missing)

    def reset(self, projections: Sequence[Projection]) -> None:
        """Drop the projections' tables and tracking, and create them empty at position 0."""
        with self.write() as db:
            self._lock_schema(db)
            tracked = self.tracked(db)
            for projection in projections:
                for table in projection.tables:
                    db.run(self.dialect.drop(table))
                for application_name in tracked:
                    if _version_of(application_name, projection.name) is not None:
                        db.run(
                            f"DELETE FROM {self.tracking_table} "
                            f"WHERE application_name = {self.dialect.placeholder}",
                            (application_name,),
                        )
                self._create(db, projection)
                self.advance(db, projection, 0)
        self._ensured.update(p.name for p in projections)

    def _lock_schema(self, db: Db) -> None:
        statement = self.dialect.schema_lock()
        if statement is not None:
            db.fetch(statement)

    def _create(self, db: Db, projection: Projection) -> None:
        for table in projection.tables:
            for statement in self.dialect.create(table):
                db.run(statement)

    def count(self, table_name: str) -> int:
        """How many rows a view table holds."""
        with self.read() as db:
            return int(db.fetch(f"SELECT COUNT(*) FROM {self.dialect.table(table_name)}")[0][0])


def view_store(twin: ValleyTwin) -> ViewStore:
    """The views' store of this twin (one per twin, sharing its connections; its storage made it)."""
    return twin.storage.view_store()
