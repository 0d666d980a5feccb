"""Refused messages that could be a citizen's are kept sealed or not at all (issue 14, item 9).

The rule is docs/privacy.md's "Refused messages": bytes are kept in clear only when they are
proven not to be a citizen's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack
import pytest

from adapters.wire import Envelope, encode
from domain import Citizen
from tests.twin.test_ingest import a_bin_a_beacon_and_a_site
from twin import ValleyTwin, dead_letters, load_geography, open_twin
from twin.citizens import Citizens
from twin.ingest import Incoming, IngestProcessor
from twin.privacy import TOKEN_PREFIX, CitizenKeys
from twin.receipts import DeadLetter

NOW = datetime(2024, 5, 2, tzinfo=UTC)
MARKER = "MARQUEUR-REFUS-2b9d"
TWO_FRAMES = "message: expected exactly one frame after the identity, got 2"


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    application.add(*a_bin_a_beacon_and_a_site())
    yield application
    application.close()


@pytest.fixture
def processor(twin: ValleyTwin) -> IngestProcessor:
    processor = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    registered = processor.process([Incoming(encode(envelope(0, "citizen.register")))])
    assert registered[0].status == "ack"
    # The citizen has a key once something of theirs is sealed: an accepted report.
    assert processor.process([Incoming(encode(envelope(1, "citizen.report")))])[0].status == "ack"
    return processor


def envelope(number: int, kind: str, asset: str = "c-42") -> Envelope:
    body: dict[str, Any] = {"commune_insee": "34114"}
    if kind == "citizen.report":
        body = {
            "report_ref": f"R{number}",
            "category": "road",
            "lon": 3.5489,
            "lat": 43.6535,
            "text": f"{MARKER} {number}",
        }
    observed = NOW - timedelta(days=1) + timedelta(minutes=number)
    return Envelope(f"m-{number}", "ccvh-app", "ccvh-app", asset, kind, observed, body)


def misspelt(number: int, kind: str, asset: str = "c-42") -> bytes:
    document = msgpack.unpackb(encode(envelope(number, "citizen.report", asset)))
    document["kind"] = kind
    raw: bytes = msgpack.packb(document)
    return raw


def letters(twin: ValleyTwin) -> list[DeadLetter]:
    return list(dead_letters(twin))


def test_a_report_with_a_trailing_byte_is_not_kept(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    # Nothing can be read from bytes that are not exactly one map, so no key to seal them with.
    reply = processor.process([Incoming(encode(envelope(2, "citizen.report")) + b"\x00")])[0]
    assert reply.status == "rejected" and MARKER not in reply.reason
    (letter,) = letters(twin)
    assert letter.raw == b"" and "not kept" in letter.reason and MARKER not in letter.reason


def test_a_report_sent_with_a_second_frame_is_not_kept(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    raw = encode(envelope(2, "citizen.report"))
    reply = processor.process([Incoming(raw + b"second frame", framing_error=TWO_FRAMES)])[0]
    assert reply.status == "rejected" and MARKER not in reply.reason
    (letter,) = letters(twin)
    assert letter.raw == b"" and "not kept" in letter.reason


def test_a_report_split_in_two_frames_is_sealed_and_forgetting_makes_it_unreadable(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    raw = encode(envelope(2, "citizen.report"))  # its two frames, joined as ingest gets them
    reply = processor.process([Incoming(raw, framing_error=TWO_FRAMES)])[0]
    assert reply.status == "rejected"
    (letter,) = letters(twin)
    assert letter.raw.startswith(TOKEN_PREFIX.encode()) and MARKER.encode() not in letter.raw
    keys = CitizenKeys(twin)
    assert keys.unseal_bytes(letter.raw.decode(), Citizen.id_for("c-42")) == raw
    Citizens(twin, keys, load_geography()).forget("c-42")
    assert keys.unseal_bytes(letter.raw.decode(), Citizen.id_for("c-42")) is None


@pytest.mark.parametrize("kind", ["citzen.report", "report", "reports.citizen"])
def test_a_misspelt_kind_is_sealed_and_forgetting_makes_it_unreadable(
    twin: ValleyTwin, processor: IngestProcessor, kind: str
) -> None:
    reply = processor.process([Incoming(misspelt(2, kind))])[0]
    assert reply.status == "rejected" and MARKER not in reply.reason
    assert "value withheld" in reply.reason
    (letter,) = letters(twin)
    assert letter.raw.startswith(TOKEN_PREFIX.encode())
    keys = CitizenKeys(twin)
    opened = keys.unseal_bytes(letter.raw.decode(), Citizen.id_for("c-42"))
    assert opened is not None and MARKER.encode() in opened  # the operator can read it...
    Citizens(twin, keys, load_geography()).forget("c-42")
    assert keys.unseal_bytes(letter.raw.decode(), Citizen.id_for("c-42")) is None  # ...until


def test_an_unknown_kind_naming_no_citizen_with_a_key_is_not_kept_and_makes_no_key(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    # A misspelt sensor message names a bin: it must not give the bin's code a citizen's key.
    reply = processor.process([Incoming(misspelt(2, "bin.fil", asset="B-1"))])[0]
    assert reply.status == "rejected"
    (letter,) = letters(twin)
    assert letter.raw == b"" and "not kept" in letter.reason
    assert CitizenKeys(twin).state(Citizen.id_for("B-1")) is None


def test_a_message_proven_to_be_a_sensors_is_kept_in_clear(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    readable = Envelope("m-9", "gw-1", "A84041000181C9B2", "B-1", "bin.fill", NOW, {})
    document = msgpack.unpackb(encode(readable))
    document["body"] = {"fill_percent": 130.0}
    refused = msgpack.packb(document)
    reply = processor.process([Incoming(refused)])[0]
    assert reply.status == "rejected" and "130" in reply.reason
    (letter,) = letters(twin)
    assert letter.raw == refused
