"""Ingest's batch writer writes, to the byte, the rows the library's ``save`` writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import Bin, Position
from tests.conftest import T0
from tests.twin.valley_sample import build_sample
from twin import ValleyTwin, open_twin
from twin.event_rows import EventRows
from twin.receipts import AppliedReceipt, MessageReceipt, receipt_id

# Text as the wire may carry it: any printable character, quotes, backslashes, non-ASCII.
_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",)),  # no lone surrogates: not UTF-8 at all
    min_size=1,
    max_size=40,
)
_INSTANTS = st.datetimes(  # hypothesis takes naive bounds and adds the zone
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def _memory_twin() -> ValleyTwin:
    return ValleyTwin(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def _stored_by_library(twin: ValleyTwin, event: Any, recorded_at: datetime) -> bytes:
    event.__dict__.setdefault("recorded_at", recorded_at)
    return twin.mapper.to_stored_event(event).state


def a_bin(code: str = "B-1", at: datetime = T0) -> Bin:
    return Bin.install(
        code=code,
        stream="glass",
        capacity_l=3_000,
        position=Position(750_000, 6_280_000),
        commune_insee="34114",
        at=at,
        depth_cm=180.0,
    )


@pytest.mark.slow
@pytest.mark.sqlite
def test_every_event_of_a_sample_valley_is_written_as_the_library_wrote_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'valley.sqlite'}"
    build_sample(url)
    twin = open_twin(url)
    stored = twin.recorder.select_notifications(start=1, limit=100_000)
    topics = set()
    for row in stored:
        event = twin.mapper.to_domain_event(row)
        (written,) = twin.event_rows.rows([event], datetime.now(UTC))
        assert (written.originator_id, written.originator_version, written.topic) == (
            row.originator_id,
            row.originator_version,
            row.topic,
        )
        assert written.state == row.state, row.topic
        topics.add(row.topic)
    twin.close()
    assert len(topics) >= 25  # bins, beacons, sites, services, citizens and receipts


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    fill=st.floats(min_value=0, max_value=100),
    observed=_INSTANTS,
    device=_TEXT.filter(lambda text: text.strip() == text and text.isprintable()),
    recorded=_INSTANTS,
)
def test_a_fill_reading_is_written_as_the_library_writes_it(
    fill: float, observed: datetime, device: str, recorded: datetime
) -> None:
    twin = _memory_twin()
    bin_ = a_bin(at=datetime(1999, 1, 1, tzinfo=UTC))
    bin_.attach_sensor(device, datetime(1999, 1, 2, tzinfo=UTC))
    bin_.measure_fill_level(fill, observed, device_id=device)
    events = bin_.collect_events()
    written = twin.event_rows.rows(events, recorded)
    assert [row.state for row in written] == [
        _stored_by_library(twin, event, recorded) for event in events
    ]


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    source=_TEXT,
    message_id=_TEXT,
    kind=_TEXT,
    device=_TEXT,
    received=_INSTANTS,
    recorded=_INSTANTS,
)
def test_an_applied_receipt_row_is_the_row_of_its_aggregate(
    source: str, message_id: str, kind: str, device: str, received: datetime, recorded: datetime
) -> None:
    twin = _memory_twin()
    receipt = receipt_id(source, message_id)
    (event,) = MessageReceipt.applied(
        receipt, source, message_id, kind, device, received
    ).collect_events()
    row = AppliedReceipt(receipt, source, message_id, kind, device, received).row(recorded)
    library = twin.mapper.to_stored_event(
        event if "recorded_at" in vars(event) else _stamped(event, recorded)
    )
    assert (row.originator_id, row.originator_version, row.topic, row.state) == (
        library.originator_id,
        library.originator_version,
        library.topic,
        library.state,
    )
    # and it reads back as the receipt it stands for
    back = twin.mapper.to_domain_event(row)
    assert isinstance(back, MessageReceipt.Applied)
    assert (back.source, back.message_id, back.kind, back.device) == (
        source,
        message_id,
        kind,
        device,
    )


def _stamped(event: Any, recorded: datetime) -> Any:
    event.__dict__["recorded_at"] = recorded
    return event


def test_a_value_the_fast_path_does_not_know_is_left_to_the_mapper() -> None:
    twin = _memory_twin()
    rows = EventRows(twin.mapper)
    bin_ = a_bin()
    (event,) = bin_.collect_events()
    event.__dict__["note"] = {"nested": T0}  # a datetime inside a map: the mapper's transcoding
    (written,) = rows.rows([event], T0 + timedelta(days=1))
    assert written.state == twin.mapper.to_stored_event(event).state
    assert b'"nested":{"_type_":"datetime_iso"' in written.state


def test_record_batch_writes_what_save_writes(store_url: str) -> None:
    twin = open_twin(store_url)
    twin.clock = lambda: T0 + timedelta(days=30)
    for number, saving in ((1, True), (2, False)):
        bin_ = a_bin(f"B-{number}")
        bin_.measure_fill_level(37.5, T0 + timedelta(days=1), device_id=f"A{number}")
        message = f"m-{number}"
        receipt = AppliedReceipt(
            receipt_id("gw", message), "gw", message, "bin.fill", f"A{number}", T0
        )
        if saving:
            twin.save(
                bin_,
                MessageReceipt.applied(receipt.id, "gw", message, "bin.fill", f"A{number}", T0),
            )
        else:
            twin.record_batch([bin_], [receipt])
    rows = twin.recorder.select_notifications(start=1, limit=100)
    twin.close()
    saved = [(r.topic, r.state) for r in rows[:4]]
    batched = [
        (r.topic, r.state.replace(b"B-2", b"B-1").replace(b"A2", b"A1").replace(b"m-2", b"m-1"))
        for r in rows[4:]
    ]
    assert len(rows) == 8 and batched == saved


@pytest.mark.postgres
def test_a_dropped_postgres_connection_is_tried_again_as_the_library_tries_it(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventsourcing.persistence import OperationalError

    twin = open_twin(postgres_url)
    datastore: Any = twin.storage.datastore
    real_transaction = datastore.transaction
    attempts: list[bool] = []

    def transaction(commit: bool = False) -> Any:
        attempts.append(commit)
        if len(attempts) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_transaction(commit=commit)

    bin_ = a_bin()
    monkeypatch.setattr(datastore, "transaction", transaction)
    twin.record_batch([bin_], [])
    monkeypatch.undo()
    assert attempts == [True, True] and twin.get(Bin, "B-1").version == bin_.version
    twin.close()


def test_with_a_compressor_receipts_are_written_by_the_mapper_and_read_back() -> None:
    twin = ValleyTwin(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.popo",
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        }
    )
    assert not twin.event_rows.exact
    receipt = AppliedReceipt(receipt_id("gw", "m-1"), "gw", "m-1", "bin.fill", "A1", T0)
    bin_ = a_bin()
    twin.record_batch([bin_], [receipt])
    stored: Any = twin.repository.get(receipt.id)
    assert isinstance(stored, MessageReceipt) and stored.reason is None
    assert (stored.source, stored.message_id, stored.kind) == ("gw", "m-1", "bin.fill")
    assert twin.get(Bin, "B-1").version == bin_.version
    (row,) = twin.recorder.select_events(receipt.id)
    assert not row.state.startswith(b"{")  # compressed, as the library writes it
