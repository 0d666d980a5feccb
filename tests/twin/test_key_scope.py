"""Per-key authority: an allow-listed key writes only the kinds and assets its line permits.

Issue 14: any allow-listed key could write any asset; a stolen or buggy gateway key hijacked a
bin's sensor (the real sensor then refused) and froze a meter with an index of 1e12.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zmq

from adapters.wire import CurveKeyPair, Envelope, InMemoryServerTransport, decode_reply, encode
from domain import Bin, Position
from twin import load_geography, open_twin
from twin.dead_letters import dead_letters
from twin.ingest import IngestProcessor
from twin.ingest_server import AllowList, IngestServer, ServerSettings

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
SENSOR = "A84041000181C9B2"


def _key() -> str:
    return zmq.curve_keypair()[0].decode()


@pytest.mark.slow  # an SQLite store and the server's thread
def test_a_key_writes_only_what_its_line_permits(tmp_path: Path) -> None:
    gateway, stolen = _key(), _key()
    allowed = tmp_path / "allowed"
    allowed.write_text(
        f"{gateway} gw-gignac kinds=bin.fill,device.battery assets=BIN-34114-*\n"
        f"{stolen} gw-aniane kinds=bin.fill assets=BIN-34010-*\n",
        encoding="utf-8",
    )
    twin = open_twin(f"sqlite:///{tmp_path / 'twin.sqlite'}")
    try:
        twin.add(
            Bin.install(
                code="BIN-34114-001",
                stream="glass",
                capacity_l=3000,
                position=Position(752000.0, 6283000.0),
                commune_insee="34114",
                at=NOW - timedelta(days=30),
            )
        )
        transport = InMemoryServerTransport()
        server_keys = CurveKeyPair(*zmq.curve_keypair())
        server = IngestServer(
            IngestProcessor(twin, load_geography(), clock=lambda: NOW),
            ServerSettings("inproc://unused"),
            server_keys,
            AllowList(allowed),
            transport,
        )

        def reading(message: str, source: str, device: str, at: datetime) -> bytes:
            body = {"fill_percent": 42.0}
            return encode(Envelope(message, source, device, "BIN-34114-001", "bin.fill", at, body))

        # Another commune's gateway tries to fit its own "sensor" to a Gignac bin first…
        transport.deliver(
            reading("m-1", "gw-aniane", "0000000000000001", NOW - timedelta(hours=2)),
            peer=b"aniane",
            sender_key=stolen,
        )
        # …then the real sensor reports through Gignac's gateway.
        transport.deliver(
            reading("m-2", "gw-gignac", SENSOR, NOW - timedelta(hours=1)),
            peer=b"gignac",
            sender_key=gateway,
        )
        stop = server.serve_in_thread()
        try:
            deadline = time.monotonic() + 10
            while len(transport.replies) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop()
        replies = {peer: decode_reply(frame) for peer, frame in transport.replies}
        assert replies[b"aniane"].status == "rejected"
        assert replies[b"aniane"].reason == (
            "asset: key 'gw-aniane' may not write about 'BIN-34114-001' "
            "(its allow-list line permits BIN-34010-*)"
        )
        assert replies[b"gignac"].status == "ack"
        bin_ = twin.get(Bin, "BIN-34114-001")
        assert bin_.sensor_device_id == SENSOR and bin_.fill_percent == 42.0
        (letter,) = dead_letters(twin)
        assert letter.source == "gw-aniane" and "may not write about" in (letter.reason or "")
        assert server.processor.stats.rejected["auth:scope"] == 1
    finally:
        twin.close()
