"""Ingest recognises resent messages without one store query per message, and stays exact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.wire import Envelope, encode
from domain import Bin, Position
from tests.conftest import T0
from twin import ValleyTwin, load_geography, open_twin
from twin.ingest import RESEND_WATCH_BATCHES, Incoming, IngestProcessor
from twin.receipts import MessageReceipt, raw_receipt_id, receipt_id

NOW = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    application.add(
        Bin.install(
            code="B-1",
            stream="glass",
            capacity_l=3000,
            position=Position(752_000.0, 6_283_000.0),
            commune_insee="34114",
            at=T0,
        )
    )
    yield application
    application.close()


def processor_for(twin: ValleyTwin) -> IngestProcessor:
    return IngestProcessor(twin, load_geography(), clock=lambda: NOW)


def message(number: int, fill: float | None = None) -> Incoming:
    observed = NOW - timedelta(days=1) + timedelta(minutes=number)
    body = {"fill_percent": float(number % 100) if fill is None else fill}
    return Incoming(
        encode(
            Envelope(
                f"m-{number}", "gateway-1", "A84041000181C9B2", "B-1", "bin.fill", observed, body
            )
        )
    )


def count_saves(twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows per transaction ingest writes (its batch writer's inserts)."""
    saves: list[int] = []
    insert = twin.storage.insert_rows

    def counting_insert(rows: Any) -> None:
        saves.append(len(rows))
        insert(rows)

    monkeypatch.setattr(twin.storage, "insert_rows", counting_insert)
    return saves


def test_a_fresh_batch_asks_the_store_nothing_about_receipts(
    twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor = processor_for(twin)

    def no_lookups(aggregate_id: object) -> bool:
        raise AssertionError("a receipt was looked up in the store")

    monkeypatch.setattr(twin, "exists", no_lookups)
    calls = count_lookups(twin, monkeypatch)
    # A fresh process checks its first batches in one query each (resends are likely then)…
    for start in range(0, RESEND_WATCH_BATCHES):
        assert processor.process([message(1000 + start)])[0].status == "ack"
    assert calls["many"] == RESEND_WATCH_BATCHES
    # …and once that many held no resend, commits optimistically, asking nothing.
    assert [r.status for r in processor.process([message(n) for n in range(1, 21)])] == ["ack"] * 20
    assert calls["many"] == RESEND_WATCH_BATCHES
    # Resent to the same process: answered from what it committed, still without a query.
    assert [r.status for r in processor.process([message(5), message(21)])] == ["duplicate", "ack"]
    assert twin.get(Bin, "B-1").version == 1 + 1 + 21 + RESEND_WATCH_BATCHES


def test_a_resend_after_a_restart_costs_one_retry_of_the_batch_not_one_commit_per_message(
    twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor_for(twin).process([message(1), message(2)])
    restarted = processor_for(twin)  # knows nothing of what was committed before
    saves = count_saves(twin, monkeypatch)
    replies = restarted.process([message(1), message(3), message(2), message(4), message(4)])
    assert [r.status for r in replies] == ["duplicate", "ack", "duplicate", "ack", "duplicate"]
    assert len(saves) == 1  # a fresh process looks a batch's receipts up first: one commit
    assert restarted.stats.committed == 2 and restarted.stats.duplicates == 3
    bin_ = twin.get(Bin, "B-1")
    assert bin_.version == 1 + 1 + 4 and bin_.fill_percent == 4.0
    assert isinstance(twin.repository.get(receipt_id("gateway-1", "m-3")), MessageReceipt)
    # What the refused attempt had applied in memory is not reused: the next batch still lands.
    assert [r.status for r in restarted.process([message(5)])] == ["ack"]
    assert twin.get(Bin, "B-1").version == 1 + 1 + 5


def test_a_resent_dead_letter_gets_its_rejection_again_and_is_recorded_once(
    twin: ValleyTwin,
) -> None:
    processor = processor_for(twin)
    (first,) = processor.process([message(1, fill=130.0)])
    assert first.status == "rejected" and "body.fill_percent" in first.reason
    for retry in (processor, processor_for(twin)):  # from memory, then from the store
        (again,) = retry.process([message(1, fill=130.0)])
        assert again.status == "rejected" and again.reason == first.reason
    # Refused by the codec, it is known by its bytes; one receipt, never rewritten.
    assert twin.repository.get(raw_receipt_id(message(1, fill=130.0).raw)).version == 1


def test_a_change_by_another_writer_is_picked_up_not_overwritten(twin: ValleyTwin) -> None:
    processor = processor_for(twin)
    processor.process([message(1)])  # the bin is now cached by ingest
    twin.measure_fill_level(
        "B-1", 50.0, NOW - timedelta(days=1) + timedelta(minutes=2)
    )  # another writer
    assert [r.status for r in processor.process([message(3)])] == ["ack"]
    bin_ = twin.get(Bin, "B-1")
    assert bin_.version == 1 + 1 + 3 and bin_.fill_percent == 3.0


def count_lookups(twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the store is asked about aggregates: one id at a time, or many at once."""
    calls = {"one": 0, "many": 0}
    select_events, first_events = twin.recorder.select_events, twin.storage.first_events

    def one(*args: Any, **kwargs: Any) -> Any:
        calls["one"] += 1
        return select_events(*args, **kwargs)

    def many(ids: Any) -> Any:
        calls["many"] += 1
        return first_events(ids)

    monkeypatch.setattr(twin.recorder, "select_events", one)
    monkeypatch.setattr(twin.storage, "first_events", many)
    return calls


@pytest.mark.slow  # a window of 1,000 committed, then resent twice
def test_a_window_resent_after_a_restart_is_looked_up_at_once_and_then_remembered(
    twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    # Issue 14: a restarted ingest answered a resent window through one store look-up per
    # message and forgot what it found, so gateways resending again buried it.
    window = [message(n) for n in range(1, 1001)]
    processor_for(twin).process(window)
    restarted = processor_for(twin)
    calls = count_lookups(twin, monkeypatch)
    assert {r.status for r in restarted.process(window)} == {"duplicate"}
    if not store_url.startswith("memory"):  # the in-memory store has no query to batch
        assert calls["one"] <= 1  # the bin, loaded once; no receipt looked up on its own
    assert calls["many"] == 1 and restarted.stats.duplicates_looked_up == 1000
    calls.update(one=0, many=0)
    assert {r.status for r in restarted.process(window)} == {"duplicate"}  # resent again
    assert calls == {"one": 0, "many": 0}  # answered from memory
    assert twin.get(Bin, "B-1").version == 1 + 1 + 1000


def from_another_device(number: int) -> Incoming:
    """A reading for B-1 from a device that is not its sensor: refused by the bin."""
    observed = NOW - timedelta(days=1) + timedelta(minutes=number)
    return Incoming(
        encode(
            Envelope(
                f"x-{number}",
                "gateway-1",
                "0000000000000000",
                "B-1",
                "bin.fill",
                observed,
                {"fill_percent": 10.0},
            )
        )
    )


def test_a_dead_letter_is_answered_from_its_state_after_a_restart(twin: ValleyTwin) -> None:
    processor_for(twin).process([message(1)])  # fits the bin's sensor
    (refused,) = processor_for(twin).process([from_another_device(2)])
    assert refused.status == "rejected"
    restarted = processor_for(twin)
    (again,) = restarted.process([from_another_device(2)])
    assert again.status == "rejected" and again.reason == refused.reason
    # Judged again and applied since (twin deadletters retry): a resend is then a duplicate.
    stored: Any = twin.repository.get(receipt_id("gateway-1", "x-2"))
    stored.retried(NOW)
    twin.save(stored)
    (after_retry,) = processor_for(twin).process([from_another_device(2)])
    assert after_retry.status == "duplicate"


def test_refused_readings_do_not_reload_their_bin_each_time(
    twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 14: a key sending refused readings a second cost a store read each, slowing the
    # replies to every other gateway.
    processor_for(twin).process([message(1)])  # fits the bin's sensor
    processor = processor_for(twin)  # a fresh process: nothing cached
    loads: list[object] = []
    current = twin.current

    def counting_current(aggregate_id: Any) -> Any:
        loads.append(aggregate_id)
        return current(aggregate_id)

    monkeypatch.setattr(twin, "current", counting_current)
    for n in range(2, 7):
        (reply,) = processor.process([from_another_device(n)])
        assert reply.status == "rejected"
    assert len(loads) == 1
