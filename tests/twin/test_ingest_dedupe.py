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
from twin.ingest import Incoming, IngestProcessor
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
    saves: list[int] = []
    save = twin.save

    def counting_save(*objs: Any, **kwargs: Any) -> Any:
        saves.append(len(objs))
        return save(*objs, **kwargs)

    monkeypatch.setattr(twin, "save", counting_save)
    return saves


def test_a_fresh_batch_asks_the_store_nothing_about_receipts(
    twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor = processor_for(twin)

    def no_lookups(aggregate_id: object) -> bool:
        raise AssertionError("a receipt was looked up in the store")

    monkeypatch.setattr(twin, "exists", no_lookups)
    assert [r.status for r in processor.process([message(n) for n in range(1, 21)])] == ["ack"] * 20
    # Resent to the same process: answered from what it committed, still without a query.
    assert [r.status for r in processor.process([message(5), message(21)])] == ["duplicate", "ack"]
    assert twin.get(Bin, "B-1").version == 1 + 1 + 21  # installed, sensor attached, 21 readings


def test_a_resend_after_a_restart_costs_one_retry_of_the_batch_not_one_commit_per_message(
    twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor_for(twin).process([message(1), message(2)])
    restarted = processor_for(twin)  # knows nothing of what was committed before
    saves = count_saves(twin, monkeypatch)
    replies = restarted.process([message(1), message(3), message(2), message(4), message(4)])
    assert [r.status for r in replies] == ["duplicate", "ack", "duplicate", "ack", "duplicate"]
    assert len(saves) == 2  # the optimistic commit, refused by the store, then the checked one
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
