"""The adapter's outbox: messages kept on disk until ingest answers them.

A message is written (and synced) before it is sent, and deleted only when ingest replies,
so nothing is lost if the adapter, the gateway or ingest restarts. Standard-library SQLite,
one file per adapter instance. Not responsible for sending.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    message_id TEXT PRIMARY KEY,
    frame BLOB NOT NULL,
    queued_at REAL NOT NULL,
    sent_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rejections (
    message_id TEXT PRIMARY KEY,
    frame BLOB NOT NULL,
    reason TEXT NOT NULL,
    rejected_at REAL NOT NULL
);
"""


class Outbox:
    """Unacknowledged messages of one adapter instance, in a SQLite file (or in memory)."""

    def __init__(
        self, path: Path | str = ":memory:", clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock  # seconds; when messages were queued, sent and answered
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _transaction(self, synced: bool = True) -> Iterator[sqlite3.Connection]:
        # Queueing is synced to disk: a message acknowledged to its device or broker must
        # survive a power cut. Noting a send or an answer need not be: should a power cut undo
        # one, the message is only sent again, and ingest answers it as a duplicate.
        if not synced:
            self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        finally:
            if not synced:
                self._db.execute("PRAGMA synchronous=FULL")

    def put(self, messages: list[tuple[str, bytes]]) -> int:
        """Queue messages durably; one already queued is not queued twice. Return how many were new."""
        with self._transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO outbox (message_id, frame, queued_at) VALUES (?, ?, ?)",
                [(message_id, frame, self._clock()) for message_id, frame in messages],
            )
            return db.total_changes - before

    def head(self, limit: int) -> list[tuple[str, bytes, int]]:
        """(id, frame, attempts so far) of the oldest unanswered messages, in the order queued."""
        # A new row's rowid is one more than the largest present, so rowid order is queue order.
        rows = self._db.execute(
            "SELECT message_id, frame, attempts FROM outbox ORDER BY rowid LIMIT ?", (limit,)
        ).fetchall()
        return [(row[0], row[1], row[2]) for row in rows]

    def mark_sent(self, message_ids: list[str]) -> None:
        """Note that these messages were just sent."""
        now = self._clock()
        with self._transaction(synced=False) as db:
            db.executemany(
                "UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE message_id = ?",
                [(now, message_id) for message_id in message_ids],
            )

    def settle(self, answered: list[tuple[str, str | None]]) -> None:
        """Forget answered messages; keep a copy of the rejected ones with ingest's reason."""
        with self._transaction(synced=False) as db:
            for message_id, reason in answered:
                if reason is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO rejections SELECT message_id, frame, ?, ? FROM outbox "
                        "WHERE message_id = ?",
                        (reason, self._clock(), message_id),
                    )
                db.execute("DELETE FROM outbox WHERE message_id = ?", (message_id,))

    def pending(self) -> int:
        """How many messages await an answer."""
        count: int = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        return count

    def rejections(self) -> list[tuple[str, str]]:
        """(message id, reason) of every message ingest refused."""
        return [
            (row[0], row[1])
            for row in self._db.execute(
                "SELECT message_id, reason FROM rejections ORDER BY rejected_at"
            )
        ]

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
