"""The adapter's outbox: messages kept on disk until ingest answers them.

A message is written (and synced) before it is sent, and deleted only when ingest replies,
so nothing is lost if the adapter, the gateway or ingest restarts. Standard-library SQLite,
one file per adapter instance, held by one process at a time (a lock file beside it): two
runners on one outbox would send its messages twice and out of order. The file also keeps the
payloads the adapter could not read (bounded, oldest dropped and counted) for an engineer to
review, and the instance's own id. Each message carries its shard, the ingest worker it goes
to (0 with one endpoint), so that each shard's oldest messages are read in queue order. Not
responsible for sending, nor for choosing shards.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from adapters.wire import AdapterError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    message_id TEXT PRIMARY KEY,
    frame BLOB NOT NULL,
    queued_at REAL NOT NULL,
    sent_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    shard INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rejections (
    message_id TEXT PRIMARY KEY,
    frame BLOB NOT NULL,
    reason TEXT NOT NULL,
    rejected_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS unreadable (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    field TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload BLOB,                    -- NULL: not kept (it could hold personal data)
    payload_bytes INTEGER NOT NULL   -- the whole payload's size, even when cut or not kept
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value NOT NULL);
"""
# A gateway's flash is small: at most this many unreadable payloads, each cut to this size
# (about 8 MB in all). LoRaWAN uplinks as JSON are a few KiB; a line of a truck export less.
UNREADABLE_KEPT = 1_000
UNREADABLE_MAX_BYTES = 8 * 1024
_MAX_REASON = 1_000
_DROPPED = "unreadable_dropped"
_INSTANCE = "instance_id"
RESHARD_PAGE_ROWS = 10_000  # frames read at once when the shards are counted anew
_SHARDS = "shards"  # how many shards the rows' shard numbers count (meta); absent: 1
# An index's entries are ordered by the rowid after its columns: each shard's queue order.
_SHARD_INDEX = "CREATE INDEX IF NOT EXISTS outbox_by_shard ON outbox (shard)"


class OutboxInUseError(AdapterError):
    """Another process holds this outbox: one outbox, one runner."""


@dataclass(frozen=True)
class UnreadablePayload:
    """A payload the adapter could not read: why, and its bytes (None when not to be kept)."""

    field: str
    reason: str
    payload: bytes | None
    payload_bytes: int


@dataclass(frozen=True)
class KeptUnreadable:
    """An unreadable payload as kept in the outbox."""

    received_at: datetime
    field: str
    reason: str
    payload: bytes | None  # cut to the outbox's bound; None when it was not kept
    payload_bytes: int  # its size as received

    @property
    def cut(self) -> bool:
        """Whether the kept bytes are fewer than those received."""
        return self.payload is not None and len(self.payload) < self.payload_bytes


@dataclass(frozen=True)
class UnreadableReview:
    """The unreadable payloads an outbox keeps (newest first), with how many it dropped."""

    kept: int
    dropped: int
    payloads: list[KeptUnreadable]


class Outbox:
    """Unacknowledged messages of one adapter instance, in a SQLite file (or in memory)."""

    def __init__(
        self,
        path: Path | str = ":memory:",
        clock: Callable[[], float] = time.time,
        *,
        unreadable_kept: int = UNREADABLE_KEPT,
        unreadable_max_bytes: int = UNREADABLE_MAX_BYTES,
    ) -> None:
        for name, value in (
            ("unreadable_kept", unreadable_kept),
            ("unreadable_max_bytes", unreadable_max_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number, 0 or more, not {value!r}")
        self._clock = clock  # seconds; when messages were queued, sent and answered
        self._unreadable_kept = unreadable_kept
        self._unreadable_max_bytes = unreadable_max_bytes
        self._lock_fd: int | None = None
        if str(path) != ":memory:":
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock(path)
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
            if "shard" not in columns:  # a file from before shards: every message on shard 0
                self._db.execute("ALTER TABLE outbox ADD COLUMN shard INTEGER NOT NULL DEFAULT 0")
            self._db.execute(_SHARD_INDEX)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)",
                (_INSTANCE, secrets.token_hex(6)),
            )
        except BaseException:
            self._unlock()
            raise

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

    def put(self, messages: Sequence[tuple[str, bytes]], shards: Sequence[int] = ()) -> int:
        """Queue messages durably; one already queued is not queued twice. Return how many were new.

        ``shards`` gives each message's shard, in the same order; empty: all on shard 0.
        """
        if shards and len(shards) != len(messages):
            raise ValueError(f"{len(shards)} shard(s) given for {len(messages)} message(s)")
        with self._transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO outbox (message_id, frame, queued_at, shard) "
                "VALUES (?, ?, ?, ?)",
                [
                    (message_id, frame, self._clock(), shards[number] if shards else 0)
                    for number, (message_id, frame) in enumerate(messages)
                ],
            )
            return db.total_changes - before

    def head(
        self, limit: int, skip: int = 0, shard: int | None = None
    ) -> list[tuple[str, bytes, int]]:
        """(id, frame, attempts so far) of the oldest unanswered messages, in the order queued,
        leaving out the ``skip`` oldest (the runner's messages in flight); only those of
        ``shard`` if given."""
        # A new row's rowid is one more than the largest present, so rowid order is queue order.
        if shard is None:
            rows = self._db.execute(
                "SELECT message_id, frame, attempts FROM outbox ORDER BY rowid LIMIT ? OFFSET ?",
                (limit, skip),
            ).fetchall()
        else:
            rows = self._db.execute(
                "SELECT message_id, frame, attempts FROM outbox WHERE shard = ? "
                "ORDER BY rowid LIMIT ? OFFSET ?",
                (shard, limit, skip),
            ).fetchall()
        return [(row[0], row[1], row[2]) for row in rows]

    def reshard(self, shards: int, shard_of_frame: Callable[[bytes], int]) -> int:
        """Give every waiting message its shard among ``shards``, if they were counted among
        another number (the adapter's endpoints changed); return how many moved.

        Queue order is kept: a message moved to another shard keeps its place among that
        shard's, so each asset's messages still leave in the order they were queued.
        """
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (_SHARDS,)).fetchone()
        if (int(row[0]) if row else 1) == shards:
            return 0
        with self._transaction() as db:
            before = db.total_changes
            if shards == 1:
                db.execute("UPDATE outbox SET shard = 0 WHERE shard != 0")
            else:
                # A page at a time: an outbox is largest when a shard was down, which is when
                # its endpoints are changed (a million frames would not fit in a gateway).
                after = 0
                while page := db.execute(
                    "SELECT rowid, frame, shard FROM outbox WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    (after, RESHARD_PAGE_ROWS),
                ).fetchall():
                    db.executemany(
                        "UPDATE outbox SET shard = ? WHERE rowid = ?",
                        [
                            (new, rowid)
                            for rowid, frame, current in page
                            if (new := shard_of_frame(frame)) != current
                        ],
                    )
                    after = page[-1][0]
            moved = db.total_changes - before
            db.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (_SHARDS, shards),
            )
            return moved

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

    def pending(self, shard: int | None = None) -> int:
        """How many messages await an answer (of ``shard`` only, if given)."""
        if shard is None:
            count: int = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        else:
            count = self._db.execute(
                "SELECT count(*) FROM outbox WHERE shard = ?", (shard,)
            ).fetchone()[0]
        return count

    def rejections(self) -> list[tuple[str, str]]:
        """(message id, reason) of every message ingest refused."""
        return [
            (row[0], row[1])
            for row in self._db.execute(
                "SELECT message_id, reason FROM rejections ORDER BY rejected_at"
            )
        ]

    def instance_id(self) -> str:
        """This outbox's own random id, made when the file was: stable across restarts."""
        value: str = self._db.execute(
            "SELECT value FROM meta WHERE name = ?", (_INSTANCE,)
        ).fetchone()[0]
        return value

    def keep_unreadable(self, payloads: list[UnreadablePayload]) -> None:
        """Keep payloads the adapter could not read, within the bounds, dropping the oldest."""
        if not payloads:
            return
        # Not synced: losing the last few to a power cut loses no reading, only evidence.
        with self._transaction(synced=False) as db:
            db.executemany(
                "INSERT INTO unreadable (received_at, field, reason, payload, payload_bytes) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        self._clock(),
                        unreadable.field[:_MAX_REASON],
                        unreadable.reason[:_MAX_REASON],
                        None
                        if unreadable.payload is None
                        else unreadable.payload[: self._unreadable_max_bytes],
                        unreadable.payload_bytes,
                    )
                    for unreadable in payloads
                ],
            )
            held: int = db.execute("SELECT count(*) FROM unreadable").fetchone()[0]
            excess = held - self._unreadable_kept
            if excess > 0:
                db.execute(
                    "DELETE FROM unreadable WHERE id IN "
                    "(SELECT id FROM unreadable ORDER BY id LIMIT ?)",
                    (excess,),
                )
                db.execute(
                    "INSERT INTO meta (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                    (_DROPPED, excess),
                )

    def unreadable(self, limit: int | None = None) -> UnreadableReview:
        """The unreadable payloads kept, newest first (at most ``limit``), and how many were dropped."""
        return _review(self._db, limit)

    def close(self) -> None:
        """Close the file and let another process have it."""
        try:
            self._db.close()
        finally:
            self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the lock
            self._lock_fd = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def review_unreadable(path: Path, limit: int | None = None) -> UnreadableReview:
    """The unreadable payloads in the outbox at ``path``, read-only, while its adapter runs or not."""
    if not path.is_file():
        raise FileNotFoundError(f"no outbox at {path}")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "outbox" not in tables:
            raise ValueError(f"{path} is not an adapter's outbox")
        if "unreadable" not in tables:  # an outbox from before unreadable payloads were kept
            return UnreadableReview(0, 0, [])
        return _review(db, limit)
    finally:
        db.close()


def _review(db: sqlite3.Connection, limit: int | None) -> UnreadableReview:
    kept: int = db.execute("SELECT count(*) FROM unreadable").fetchone()[0]
    dropped_row = db.execute("SELECT value FROM meta WHERE name = ?", (_DROPPED,)).fetchone()
    rows = db.execute(
        "SELECT received_at, field, reason, payload, payload_bytes FROM unreadable "
        "ORDER BY id DESC LIMIT ?",
        (-1 if limit is None else limit,),
    ).fetchall()
    return UnreadableReview(
        kept,
        int(dropped_row[0]) if dropped_row else 0,
        [
            KeptUnreadable(datetime.fromtimestamp(row[0], UTC), row[1], row[2], row[3], row[4])
            for row in rows
        ],
    )


def _lock(path: Path) -> int:
    # A lock file beside the outbox, not the outbox itself: SQLite's own locks on the file are
    # POSIX record locks, which a second open in the same process would silently release.
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise OutboxInUseError(
            f"outbox {path} is in use by another adapter process (pid {holder}): two runners on "
            "one outbox would send its messages twice and out of order; stop the other, or give "
            "this instance its own outbox"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd
