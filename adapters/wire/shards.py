"""Which ingest worker an asset's messages go to: a stable hash of the asset's code.

Part of the wire protocol (docs/wire-protocol.md §9.5): a client given N ingest endpoints sends
each message to endpoint ``shard_of(asset, N)``, so that one worker writes each asset and its
facts arrive in the order sent. The function must give the same answer on every machine, in
every language and every release: never Python's ``hash()``, salted per process. Not
responsible for what a worker does with a message sent to the wrong shard (it applies it, once:
the store's receipts and optimistic concurrency hold across workers).
"""

from __future__ import annotations

import hashlib


def shard_of(asset: str, shards: int) -> int:
    """The shard, 0 to ``shards`` - 1, of the asset with code ``asset``.

    BLAKE2b of the code's UTF-8 with an 8-byte digest (``digest_size=8``, no key: which is not
    the first 8 bytes of the 64-byte digest), read as a big-endian unsigned integer, modulo
    ``shards``.
    """
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards must be a whole number, 1 or more, not {shards!r}")
    digest = hashlib.blake2b(asset.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards
