"""Dead letters and refusal counters stay bounded under a flood (issue 14, item 6).

The budgets are lowered for the tests (the shipped ones are in :mod:`twin.dead_letter_bounds`)
and the budget's clock is a hand-moved number, so the floods are small and take no time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack
import pytest

from adapters.wire import MAX_MESSAGE_BYTES, Envelope, encode
from tests.twin.test_ingest import a_bin_a_beacon_and_a_site
from twin import ValleyTwin, dead_letters, load_geography, open_twin
from twin import dead_letter_bounds as bounds
from twin.dead_letter_bounds import BoundedCounter, DeadLetterBudget, reason_category
from twin.ingest import Incoming, IngestProcessor

NOW = datetime(2024, 3, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    application.add(*a_bin_a_beacon_and_a_site())
    yield application
    application.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def processor(twin: ValleyTwin, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> IngestProcessor:
    monkeypatch.setattr(bounds, "LETTERS_BURST", 20)
    monkeypatch.setattr(bounds, "LETTERS_PER_S", 5.0)
    monkeypatch.setattr(bounds, "ALL_SOURCES_FACTOR", 3)
    processor = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    processor.dead_letter_budget = DeadLetterBudget(clock=clock)
    return processor


def document(number: int, source: str = "gw-1", **extra: Any) -> dict[str, Any]:
    observed = NOW - timedelta(days=1) + timedelta(minutes=number)
    raw = encode(
        Envelope(f"m-{number}", source, "A84041000181C9B2", "B-1", "bin.fill", observed, {})
    )
    found: dict[str, Any] = msgpack.unpackb(raw)
    found["body"] = {"fill_percent": 10.0}
    found.update(extra)
    return found


def refused(number: int, source: str = "gw-1", **extra: Any) -> Incoming:
    """A sensor's message with an unknown field: refused by the decoder, kept in clear."""
    fields = extra or {f"zz-{number}": 1}
    return Incoming(msgpack.packb(document(number, source, **fields)), peer=source)


def test_a_source_over_its_allowance_is_answered_but_not_stored(
    twin: ValleyTwin, processor: IngestProcessor, clock: Clock
) -> None:
    replies = processor.process([refused(n) for n in range(50)])
    assert [r.status for r in replies] == ["rejected"] * 50  # every one answered
    assert all("unknown envelope field" in r.reason for r in replies)
    assert all("not kept" in r.reason for r in replies[20:]) and not any(
        "not kept" in r.reason for r in replies[:20]
    )
    assert len(list(dead_letters(twin))) == 20
    stats = processor.stats.as_dict()
    assert (stats["rejected"], stats["dead_letters_dropped"]) == (50, 30)
    assert stats["dead_letters_dropped_by_source"] == {"gw-1": 30}
    # Another source has its own allowance; a second later the first has 5 letters more.
    assert [r.status for r in processor.process([refused(n, "gw-2") for n in range(100, 105)])]
    clock.now += 1.0
    processor.process([refused(n) for n in range(200, 210)])
    assert len(list(dead_letters(twin))) == 20 + 5 + 5
    assert processor.stats.dead_letters_dropped["gw-1"] == 30 + 5


def test_all_sources_together_are_bounded_too(twin: ValleyTwin, processor: IngestProcessor) -> None:
    # A plain-text sender can make up a source name per message: each has a fresh allowance,
    # the one of all sources together (3 x 20 here) still holds.
    processor.process([refused(n, f"made-up-{n}") for n in range(100)])
    assert len(list(dead_letters(twin))) == 60
    stats = processor.stats.as_dict()
    assert stats["dead_letters_dropped"] == 40
    assert len(stats["dead_letters_dropped_by_source"]) <= bounds.SHOWN_SOURCES + 1


def test_made_up_field_names_never_become_counter_keys(processor: IngestProcessor) -> None:
    envelope_fields = [refused(n, **{f"field-{n}": "x"}) for n in range(15)]
    body_fields = [
        Incoming(msgpack.packb(document(n, body={"fill_percent": 1.0, f"f-{n}": 2})), peer="gw-1")
        for n in range(15, 30)
    ]
    replies = processor.process(envelope_fields + body_fields)
    assert "field-3" in replies[3].reason and "body.f-20" in replies[20].reason  # told in full
    stats = processor.stats.as_dict()
    assert stats["rejected_by_reason"] == {"wire:unrecognised field": 30}
    assert len(json.dumps(stats)) < 2_000


def test_reason_categories_are_a_closed_set() -> None:
    assert reason_category("wire:body.fill_percent") == "wire:body.fill_percent"
    assert reason_category("wire:observed_at") == "wire:observed_at"
    assert reason_category("wire:body.whatever") == "wire:unrecognised field"
    assert reason_category("wire:" + "x" * 10_000) == "wire:unrecognised field"
    assert reason_category("bin.fill:ImplausibleFactError") == "bin.fill:ImplausibleFactError"
    assert reason_category("no.such.kind:ImplausibleFactError") == "other"
    assert reason_category("auth:source") == "auth:source"
    assert reason_category("internal") == "internal"
    assert reason_category("anything the sender wrote") == "other"


def test_counters_keep_a_bounded_number_of_keys() -> None:
    counter = BoundedCounter(limit=10, other="other")
    for number in range(100):
        counter[f"k-{number}"] += 2
    assert len(counter) == 10 and sum(counter.values()) == 200
    assert counter["other"] == 2 * 91


def test_a_long_message_is_kept_truncated_and_says_so(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    huge = msgpack.packb(document(1, note="n" * (MAX_MESSAGE_BYTES * 3)))
    reply = processor.process([Incoming(huge, peer="gw-1")])[0]
    assert reply.status == "rejected"
    (letter,) = dead_letters(twin)
    assert letter.raw == huge[:MAX_MESSAGE_BYTES]
    assert f"the first {MAX_MESSAGE_BYTES} of {len(huge)} kept" in letter.reason
    assert processor.stats.dead_letters_truncated == 1


def test_a_reason_is_bounded(twin: ValleyTwin, processor: IngestProcessor) -> None:
    reply = processor.process([refused(1, **{"y" * 20_000: 1})])[0]
    (letter,) = dead_letters(twin)
    assert len(letter.reason) <= bounds.MAX_REASON_CHARS and len(reply.reason) <= 1_100


def test_a_source_sending_large_letters_runs_out_of_bytes_first(
    twin: ValleyTwin, processor: IngestProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bounds, "BYTES_BURST", 10_000)
    processor.dead_letter_budget = DeadLetterBudget(clock=Clock())
    letters = [refused(n, note="n" * 3_000) for n in range(10)]
    processor.process(letters)
    assert len(list(dead_letters(twin))) == 3  # 3 x ~3.1 kB fit in 10 kB, a fourth does not
    assert processor.stats.dead_letters_dropped["gw-1"] == 7
