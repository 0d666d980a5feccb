"""Citizens' personal text, sealed with a key of each citizen's own (crypto-shredding).

The event log is append-only: an event is never edited, so personal text cannot be erased
from it. Instead every personal value is encrypted, before it becomes part of an event, with
a key that belongs to one citizen and lives outside the log, in a table ``citizen_keys`` of
the same database (the SQLite file, or the PostgreSQL schema, of the event store).
Forgetting a citizen destroys that key: the events stay, consistent and countable, but what
they hide can no longer be read by anyone.

* **Cipher**: AES-256-GCM (``cryptography``), a random 96-bit nonce per value. The citizen's
  aggregate id is the authenticated data, so a token moved to another citizen's event does
  not open (:class:`SealedTextError`).
* **Token**: ``"enc:v1:" + base64(nonce + ciphertext + tag)``: plain ASCII text, so events
  stay plain JSON values; ``v1`` leaves room for another scheme later.
* **Keys**: 32 random bytes per citizen, made on first use; never cached in memory across
  calls, so a process that runs for weeks (ingest, a projection) stops reading a citizen's
  text as soon as another process has forgotten them.
* **Forgetting** (:meth:`CitizenKeys.forget`) overwrites the key with NULL and dates the row:
  the row stays as a tombstone so that no new key is ever made for a forgotten citizen (a
  late message under their pseudonym is refused instead of sealed with a fresh key).

  - SQLite: the change is made with ``PRAGMA secure_delete=ON`` (SQLite overwrites the freed
    bytes with zeros, in the page and in pages it frees), then ``PRAGMA
    wal_checkpoint(TRUNCATE)`` copies the zeroed page into the database file and truncates the
    write-ahead log to zero bytes, so the key is in neither file. If another process keeps the
    log busy the checkpoint cannot finish: :class:`KeyScrubError` says so and forgetting again
    finishes the job.
  - PostgreSQL: the change, then ``VACUUM FULL`` of the (small) key table, which rewrites it
    into a new file and drops the old one, so the dead row version holding the key is gone from
    the table's files. Each step waits a bounded time for other sessions' locks, so that
    ingest is never frozen behind it; a session that holds the row or the table, or a snapshot
    older than the erasure (which keeps the old row version alive), is reported by name
    (:class:`KeyScrubError`, or a refusal with nothing changed), and forgetting again finishes.
    PostgreSQL's own write-ahead log (``pg_wal``) keeps the bytes until its
    segments are recycled, and WAL archives, base backups and replicas' logs keep them as long
    as they are kept: those are the operator's to expire (docs/privacy.md).

Not what this module guarantees: copies made before forgetting (backups, exported files,
a dump), the disk blocks a file system freed (SSD wear levelling, snapshots), or memory of a
process that had already unsealed a text. Not responsible for deciding what is personal
(:mod:`twin.citizens`).
"""

from __future__ import annotations

import base64
import binascii
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain import Position
from twin.errors import KeyScrubError as KeyScrubError  # raised by the key tables; named here too
from twin.errors import TwinError

if TYPE_CHECKING:
    from collections.abc import Callable
    from uuid import UUID

    from twin.application import ValleyTwin

TOKEN_PREFIX = "enc:v1:"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the 96-bit nonce GCM is specified for; random, so never reused in practice
# Binds a token to one citizen: a token copied into another citizen's event fails to open.
_AAD_PREFIX = b"valley-twin/citizen/v1/"

# Report locations are kept on a 50 m grid (the centre of the cell the point falls in). A report
# is acted on at street level: the overflowing column, the dead street light, the pothole. In
# the valley's villages drop-off points stand 100-300 m apart and street lights 25-40 m, so a
# point within 36 m (half the cell's diagonal) still names the street and the nearest column,
# while a village plot is 15-25 m wide: the doorstep a citizen reported from, which may be
# their own, is not kept. In a hamlet of a few houses a 50 m cell can still hold one house;
# this is a minimisation, not anonymity (docs/privacy.md).
REPORT_GRID_M = 50.0


class SealedTextError(TwinError):
    """A value is not a token, was altered, or was sealed for another citizen."""


class CitizenForgottenError(TwinError):
    """Personal text was to be sealed for a citizen who has been forgotten."""

    def __init__(self, citizen_id: UUID) -> None:
        self.citizen_id = citizen_id
        super().__init__(
            f"citizen {citizen_id} has been forgotten (erasure request): nothing personal is "
            "recorded for them any more; the app must register a new pseudonym"
        )


@dataclass(frozen=True)
class KeyState:
    """What the key table holds for one citizen (never the key itself)."""

    citizen_id: UUID
    created_at: datetime
    forgotten_at: datetime | None

    @property
    def forgotten(self) -> bool:
        """True once the citizen's key has been destroyed."""
        return self.forgotten_at is not None


def is_token(value: object) -> bool:
    """True if ``value`` is a sealed token (it may still fail to open)."""
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


class CitizenKeys:
    """The key of each citizen, in the event store's own database, and sealing with it."""

    def __init__(self, twin: ValleyTwin) -> None:
        """Use the key table of ``twin``'s store (its storage made it; created if needed)."""
        self._table = twin.storage.key_table()

    # ---- sealing ------------------------------------------------------------------------
    def seal(self, citizen_id: UUID, text: str) -> str:
        """Return ``text`` encrypted with the citizen's key (made now if they have none)."""
        return self.seal_bytes(citizen_id, text.encode("utf-8"))

    def seal_bytes(self, citizen_id: UUID, data: bytes) -> str:
        """Return ``data`` encrypted with the citizen's key, as a token."""
        return _sealed(self._key_for_sealing(citizen_id), citizen_id, data)

    def seal_bytes_with_existing_key(self, citizen_id: UUID, data: bytes) -> str | None:
        """Return ``data`` sealed as :meth:`seal_bytes` does, or None if the citizen has no key
        (none is made); raises :class:`CitizenForgottenError` once they are forgotten."""
        row = self._table.find(citizen_id)
        if row is None:
            return None
        if row.key is None:
            raise CitizenForgottenError(citizen_id)
        return _sealed(row.key, citizen_id, data)

    def unseal(self, token: str, citizen_id: UUID) -> str | None:
        """Return the text a token hides, or None once the citizen has been forgotten."""
        data = self.unseal_bytes(token, citizen_id)
        return None if data is None else data.decode("utf-8")

    def unseal_bytes(self, token: str, citizen_id: UUID) -> bytes | None:
        """Return the bytes a token hides, or None once the citizen has been forgotten."""
        return self.opener(citizen_id)(token)

    def opener(self, citizen_id: UUID) -> Callable[[str], bytes | None]:
        """Return a function that opens this citizen's tokens, reading the key once.

        For showing one citizen's many values together; do not keep it: it keeps the key.
        """
        row = self._table.find(citizen_id)
        key = None if row is None else row.key
        forgotten = row is not None and row.forgotten_at is not None

        def open_token(token: str) -> bytes | None:
            sealed = _decode_token(token)
            if forgotten:
                return None
            if key is None:
                raise SealedTextError(
                    f"token: citizen {citizen_id} has no key, so it was not sealed for them"
                )
            try:
                return AESGCM(key).decrypt(
                    sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(citizen_id)
                )
            except InvalidTag:
                raise SealedTextError(
                    f"token: not sealed for citizen {citizen_id}, or altered since"
                ) from None

        return open_token

    # ---- forgetting ---------------------------------------------------------------------
    def forget(self, citizen_id: UUID, at: datetime | None = None) -> bool:
        """Destroy the citizen's key for good; True if a key was destroyed by this call.

        Idempotent: forgetting again (or a citizen who never had a key) records the tombstone
        and scrubs the files again, which finishes a scrub that :class:`KeyScrubError`
        reported as incomplete.
        """
        before = self._table.find(citizen_id)
        self._table.erase(citizen_id, at or datetime.now(UTC))
        self._table.scrub()
        return before is not None and before.key is not None

    def is_forgotten(self, citizen_id: UUID) -> bool:
        """True once the citizen's key has been destroyed."""
        row = self._table.find(citizen_id)
        return row is not None and row.forgotten_at is not None

    def state(self, citizen_id: UUID) -> KeyState | None:
        """When the citizen's key was made and forgotten; None if they never had one."""
        row = self._table.find(citizen_id)
        if row is None:
            return None
        return KeyState(citizen_id, row.created_at, row.forgotten_at)

    def _key_for_sealing(self, citizen_id: UUID) -> bytes:
        row = self._table.find(citizen_id)
        if row is None:
            # Another process may make it at the same moment: the table keeps the first.
            row = self._table.create(
                citizen_id, AESGCM.generate_key(bit_length=8 * KEY_BYTES), datetime.now(UTC)
            )
        if row.key is None:
            raise CitizenForgottenError(citizen_id)
        return row.key


def snap_to_grid(
    position: Position, inside: Callable[[Position], bool], cell_m: float = REPORT_GRID_M
) -> Position:
    """Return the centre of the grid cell holding ``position``, for keeping a report's place.

    If that centre lies outside the area the point was in (``inside``, e.g. its commune) the
    nearest centre that lies inside is taken instead, so a report near a boundary stays in its
    commune; the answer is a cell centre either way, so no more precision is kept.
    """
    column, row = math.floor(position.x / cell_m), math.floor(position.y / cell_m)
    candidates = [
        (column + dc, row + dr)
        for reach in (1, 2)
        for dc in range(-reach, reach + 1)
        for dr in range(-reach, reach + 1)
    ]
    centres = [
        Position((c + 0.5) * cell_m, (r + 0.5) * cell_m)
        for c, r in dict.fromkeys([(column, row), *candidates])
    ]
    own = centres[0]
    nearest_first = [
        own,
        *sorted(centres[1:], key=lambda p: math.hypot(p.x - position.x, p.y - position.y)),
    ]
    return next((centre for centre in nearest_first if inside(centre)), own)


def _sealed(key: bytes, citizen_id: UUID, data: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, data, _aad(citizen_id))
    return TOKEN_PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def _aad(citizen_id: UUID) -> bytes:
    return _AAD_PREFIX + citizen_id.bytes


def _decode_token(token: object) -> bytes:
    if not is_token(token):
        shown = type(token).__name__ if not isinstance(token, str) else f"{len(token)} characters"
        raise SealedTextError(f"token: expected text starting with {TOKEN_PREFIX!r} (got {shown})")
    assert isinstance(token, str)
    try:
        sealed = base64.b64decode(token[len(TOKEN_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise SealedTextError(f"token: not valid base64 after {TOKEN_PREFIX!r}") from None
    if len(sealed) < NONCE_BYTES + 16:
        raise SealedTextError(f"token: {len(sealed)} bytes is too short to hold a nonce and a tag")
    return sealed
