"""Ingest's processing, without sockets: commit, dedupe, dead letters, isolation of bad messages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack
import pytest
from eventsourcing.persistence import OperationalError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.wire import BODY_SCHEMAS, Envelope, encode
from domain import Beacon, Bin, Citizen, Position, Site
from tests.conftest import T0
from twin import ValleyTwin, load_geography, open_twin
from twin.citizens import PersonalData
from twin.ingest import HANDLERS, Incoming, IngestProcessor
from twin.receipts import MessageReceipt

NOW = datetime(2024, 3, 1, tzinfo=UTC)
HERE = Position(752_000.0, 6_283_000.0)


def a_bin_a_beacon_and_a_site() -> list[Bin | Beacon | Site]:
    """The assets ingest's tests (and the import's) send facts about."""
    return [
        Bin.install(
            code="B-1", stream="glass", capacity_l=3000, position=HERE, commune_insee="34114", at=T0
        ),
        Beacon.install(code="BLE-1", zone_code="ZAE", position=HERE, commune_insee="34114", at=T0),
        Site.register(
            code="EP-1",
            name="Armoire",
            site_kind="lighting_cabinet",
            geometry_wkt="POINT (752000 6283000)",
            commune_insee="34114",
            at=T0,
            light_points=5,
        ),
    ]


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    application.add(*a_bin_a_beacon_and_a_site())
    yield application
    application.close()


@pytest.fixture
def processor(twin: ValleyTwin) -> IngestProcessor:
    return IngestProcessor(twin, load_geography(), clock=lambda: NOW)


def message(
    number: int, kind: str = "bin.fill", asset: str = "B-1", minutes: int | None = None, **body: Any
) -> Incoming:
    if not body:
        body = {"fill_percent": float(number % 100)}
    observed = NOW - timedelta(days=1) + timedelta(minutes=number if minutes is None else minutes)
    envelope = Envelope(f"m-{number}", "gateway-1", "A84041000181C9B2", asset, kind, observed, body)
    return Incoming(encode(envelope))


def test_a_batch_is_committed_then_acknowledged(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    replies = processor.process([message(n) for n in range(1, 51)])
    assert [r.status for r in replies] == ["ack"] * 50
    bin_ = twin.get(Bin, "B-1")
    assert (bin_.version, bin_.fill_percent, bin_.sensor_device_id) == (
        52,
        50.0,
        "A84041000181C9B2",
    )
    assert processor.stats.committed == 50 and processor.stats.batches == 1


def test_resent_messages_change_nothing(twin: ValleyTwin, processor: IngestProcessor) -> None:
    processor.process([message(1), message(2)])
    replies = processor.process([message(2), message(1), message(2)])
    assert [r.status for r in replies] == ["duplicate"] * 3
    fresh = IngestProcessor(twin, load_geography(), clock=lambda: NOW)  # a restarted ingest
    assert [r.status for r in fresh.process([message(1), message(3), message(3)])] == [
        "duplicate",
        "ack",
        "duplicate",
    ]
    assert twin.get(Bin, "B-1").version == 1 + 1 + 3  # installed, sensor attached, three readings


def test_bad_messages_are_dead_lettered_and_the_rest_land(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    batch = [
        message(1),
        Incoming(b"\x92garbage"),
        message(2, fill_percent=130.0),
        message(3, asset="B-UNKNOWN"),
        message(4, minutes=0),  # older than message 1 on the same bin: a late reading, kept
        message(5, kind="site.energy", asset="EP-1", index_kwh=10.0),
        # A late index above the meter's later one: a meter's indexes rise in world time.
        message(7, kind="site.energy", asset="EP-1", minutes=1, index_kwh=15.0),
        Incoming(b"\x81\xa7version\x02"),
        message(6),
    ]
    replies = processor.process(batch)
    assert [r.status for r in replies] == [
        "ack",
        "rejected",
        "rejected",
        "rejected",
        "ack",
        "ack",
        "rejected",
        "rejected",
        "ack",
    ]
    assert "body.fill_percent" in replies[2].reason and "130" in replies[2].reason
    assert "B-UNKNOWN" in replies[3].reason
    assert "above the later reading 10.0" in replies[6].reason
    assert "unsupported protocol version" in replies[7].reason
    assert twin.get(Bin, "B-1").fill_percent == 6.0  # the late reading did not overwrite it
    letters = twin_dead_letters(twin)
    assert len(letters) == 5
    # Neither the garbage nor the map without a kind can be proven not to be a citizen's: the
    # reason is kept, the bytes are not (docs/privacy.md, "Refused messages").
    assert [letter.raw for letter in letters].count(b"") == 2
    assert sum(processor.stats.rejected.values()) == 5
    # Resending a rejected message gets the same rejection and records nothing new.
    again = processor.process([message(3, asset="B-UNKNOWN"), Incoming(b"\x92garbage")])
    assert [r.status for r in again] == ["rejected", "rejected"]
    assert len(twin_dead_letters(twin)) == 5


def twin_dead_letters(twin: ValleyTwin) -> list:  # type: ignore[type-arg]
    from twin import dead_letters

    return list(dead_letters(twin))


def test_every_kind_reaches_its_aggregate(twin: ValleyTwin, processor: IngestProcessor) -> None:
    start_ms = int((NOW - timedelta(days=1)).timestamp() * 1000)
    replies = processor.process(
        [
            message(1, kind="footfall.count", asset="BLE-1", interval_start=start_ms, count=12),
            message(2, kind="device.battery", asset="BLE-1", battery_percent=77.0),
            message(3, kind="site.energy", asset="EP-1", index_kwh=100.0),
            message(
                4,
                kind="site.meter_replaced",
                asset="EP-1",
                final_index_kwh=110.0,
                new_index_kwh=0.0,
            ),
            message(5, kind="bin.fill", asset="B-1", fill_percent=10.0),
            message(6, kind="device.fault", asset="B-1", fault="tilt"),
            message(11, kind="bin.emptied", asset="B-1", minutes=6, round_id="R-1", mass_kg=42.5),
            message(7, kind="citizen.register", asset="c-42", commune_insee="34114"),
            message(
                8,
                kind="citizen.report",
                asset="c-42",
                report_ref="R1",
                category="overflowing_bin",
                lon=3.5489,
                lat=43.6535,
                text="Plein",
                photo_ref="photos/1.jpg",
            ),
            message(
                9,
                kind="citizen.idea",
                asset="c-42",
                idea_ref="I1",
                title="Bancs",
                text="Plus de bancs",
            ),
            message(
                10,
                kind="citizen.report",
                asset="c-42",
                report_ref="R2",
                category="road",
                lon=3.88,
                lat=43.61,
                text="x",
            ),
        ]
    )
    assert [r.status for r in replies] == ["ack"] * 10 + ["rejected"]
    assert "outside the 28 communes" in replies[-1].reason
    assert set(HANDLERS) == {
        "bin.fill",
        "footfall.count",
        "site.energy",
        "site.meter_replaced",
        "citizen.register",
        "citizen.report",
        "citizen.idea",
        "device.battery",
        "device.fault",
        "bin.emptied",
        "citizen.report_status",
        "citizen.vote",
        "service.place",
        "service.session",
        "service.attendance",
        "site.occupancy",
        "truck.tour",  # followed to its truck in test_truck_tours.py
        "fact.correct",
        "fact.retract",
    }  # the desk's six in test_desk_facts.py, the amendments in test_corrections.py
    emptied = twin.get(Bin, "B-1")
    assert (emptied.emptied_count, emptied.emptied_mass_kg, emptied.fill_percent) == (1, 42.5, 0.0)
    assert (
        twin.get(Beacon, "BLE-1").total_count == 12
        and twin.get(Beacon, "BLE-1").battery_percent == 77.0
    )
    assert twin.get(Site, "EP-1").consumption_kwh == 10.0  # counted from the first reading
    citizen = twin.get(Citizen, "c-42")
    photo = citizen.reports["R1"]["photo_ref"]  # personal: stored sealed with the citizen's key
    assert (
        PersonalData(twin).personal_text(citizen.id, photo) == "photos/1.jpg"
        and "I1" in citizen.ideas
    )


def test_source_must_match_the_authenticated_key(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    forged = Incoming(message(1).raw, peer="other-adapter")
    (reply,) = processor.process([forged])
    assert reply.status == "rejected" and "not the name of the sending key" in reply.reason
    assert twin.get(Bin, "B-1").version == 1


def test_a_crashing_handler_is_isolated(
    twin: ValleyTwin, processor: IngestProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(HANDLERS, "site.energy", explode)
    replies = processor.process(
        [message(1), message(2, kind="site.energy", asset="EP-1", index_kwh=1.0), message(3)]
    )
    assert [r.status for r in replies] == ["ack", "rejected", "ack"]
    assert "internal error" in replies[1].reason and "boom" in replies[1].reason
    assert twin.get(Bin, "B-1").fill_percent == 3.0


def _containers_of(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=12), children, max_size=10
    )


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(min_value=-(2**63), max_value=2**64 - 1)
            | st.floats()
            | st.text(max_size=20)
            | st.binary(max_size=20),
            _containers_of,
            max_leaves=30,
        ).map(lambda value: msgpack.packb(value, use_bin_type=True)),
    )
)
def test_arbitrary_input_never_crashes_ingest_and_is_dead_lettered(
    processor: IngestProcessor, raw: bytes
) -> None:
    (reply,) = processor.process([Incoming(raw)])
    assert reply is not None and reply.status == "rejected" and reply.reason


def test_receipts_are_in_the_same_store(twin: ValleyTwin, processor: IngestProcessor) -> None:
    processor.process([message(1)])
    from twin.receipts import receipt_id

    receipt = twin.repository.get(receipt_id("gateway-1", "m-1"))
    assert isinstance(receipt, MessageReceipt) and not receipt.rejected


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=70)
    | st.binary(max_size=8)
)
_BODY_KEYS = sorted({f.name for fields in BODY_SCHEMAS.values() for f in fields} | {"extra"})
_ENVELOPE_SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "version": st.sampled_from([1, 2, 0]) | _SCALARS,
        "id": st.text(min_size=1, max_size=8) | _SCALARS,
        "source": st.just("gateway-1") | _SCALARS,
        "device": st.just("DEV") | _SCALARS,
        "asset": st.sampled_from(["B-1", "BLE-1", "EP-1", "c-1"]) | _SCALARS,
        "kind": st.sampled_from(sorted(BODY_SCHEMAS)) | _SCALARS,
        "observed_at": st.integers(min_value=1_700_000_000_000, max_value=1_720_000_000_000)
        | _SCALARS,
        "body": st.dictionaries(st.sampled_from(_BODY_KEYS), _SCALARS, max_size=6) | _SCALARS,
    },
).map(lambda value: msgpack.packb(value, use_bin_type=True))


@pytest.mark.slow
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_ENVELOPE_SHAPED, min_size=1, max_size=5))
def test_envelope_shaped_garbage_is_answered_and_never_half_written(
    twin: ValleyTwin, processor: IngestProcessor, frames: list[bytes]
) -> None:
    replies = processor.process([Incoming(raw) for raw in frames])
    assert all(r is not None and (r.status in ("ack", "duplicate") or r.reason) for r in replies)
    bin_ = twin.get(Bin, "B-1")  # whatever landed, the aggregate still loads and replays
    assert 0 <= (bin_.fill_percent or 0) <= 100


def failing_saves(
    twin: ValleyTwin, monkeypatch: pytest.MonkeyPatch, failures: dict[int, Exception]
) -> None:
    """Make the n-th transaction ingest writes (1-based) raise the given error."""
    real_insert, calls = twin.storage.insert_rows, [0]

    def insert_rows(rows: Any) -> None:
        calls[0] += 1
        if calls[0] in failures:
            raise failures[calls[0]]
        real_insert(rows)

    monkeypatch.setattr(twin.storage, "insert_rows", insert_rows)


def test_a_store_failure_acknowledges_nothing_and_the_resend_lands(
    twin: ValleyTwin, processor: IngestProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing_saves(twin, monkeypatch, {1: OperationalError("disk I/O error")})
    batch = [message(1), message(2), Incoming(b"\xc1")]
    assert processor.process(batch) == [None, None, None]
    assert twin.get(Bin, "B-1").version == 1 and twin_dead_letters(twin) == []
    assert processor.stats.store_errors == 1
    assert [r.status for r in processor.process(batch)] == ["ack", "ack", "rejected"]  # the resend
    assert twin.get(Bin, "B-1").fill_percent == 2.0


def test_once_the_store_fails_one_by_one_nothing_later_is_acknowledged(
    twin: ValleyTwin, processor: IngestProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole batch trips over a bug, so it is retried message by message; the store then
    # fails on the second. Acknowledging the third would put a later fact on B-1 before the
    # second, which its sender will resend.
    failing_saves(
        twin, monkeypatch, {1: RuntimeError("bug"), 3: OperationalError("database is locked")}
    )
    replies = processor.process([message(1), message(2), message(3), message(4)])
    assert replies[0] is not None and replies[0].status == "ack"
    assert replies[1:] == [None, None, None]
    assert [r.status for r in processor.process([message(2), message(3), message(4)])] == [
        "ack"
    ] * 3
    assert twin.get(Bin, "B-1").fill_percent == 4.0 and twin_dead_letters(twin) == []


def test_a_store_failure_while_loading_is_never_a_rejection(
    twin: ValleyTwin, processor: IngestProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug sinks the commit, so the message is applied again on its own, fail-safe; this time
    # the store fails while loading the bin. That is the store's fault, not the message's: it
    # must stay unanswered (and be resent), never be dead-lettered.
    failing_saves(twin, monkeypatch, {1: RuntimeError("bug")})
    real_get, loads = twin.repository.get, [0]

    def get(*args: Any, **kwargs: Any) -> Any:
        loads[0] += 1
        if loads[0] > 1:
            raise OperationalError("database is locked")
        return real_get(*args, **kwargs)

    monkeypatch.setattr(twin.repository, "get", get)
    assert processor.process([message(1)]) == [None]
    assert loads[0] == 2 and twin_dead_letters(twin) == []
    monkeypatch.setattr(twin.repository, "get", real_get)
    assert [r.status for r in processor.process([message(1)])] == ["ack"]


def test_warming_up_loads_every_asset_so_first_readings_read_nothing(
    twin: ValleyTwin, processor: IngestProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert processor.warm_up() == 3  # the bin, the beacon and the site
    assert processor.warm_up() == 0  # loaded already

    def no_reads(aggregate_id: object) -> None:
        raise AssertionError("an asset was read from the store on the reply path")

    monkeypatch.setattr(twin, "current", no_reads)
    start_ms = int((NOW - timedelta(days=1)).timestamp() * 1000)
    replies = processor.process(
        [
            message(1),
            message(2, kind="footfall.count", asset="BLE-1", interval_start=start_ms, count=3),
            message(3, kind="site.energy", asset="EP-1", index_kwh=10.0),
        ]
    )
    assert [r.status for r in replies if r is not None] == ["ack"] * 3


def test_warming_up_reads_the_log_backwards_and_keeps_the_most_recently_active(
    twin: ValleyTwin,
) -> None:
    start_ms = int((NOW - timedelta(days=1)).timestamp() * 1000)
    first = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    replies = first.process(
        [
            message(1, kind="site.energy", asset="EP-1", index_kwh=10.0),
            message(2, kind="footfall.count", asset="BLE-1", interval_start=start_ms, count=3),
        ]
    )
    assert [r.status for r in replies if r is not None] == ["ack"] * 2
    newest_first, out_of_time = twin.recently_active_ids(limit=10, budget_s=60, page_size=2)
    codes = [twin.current(aggregate_id).code for aggregate_id in newest_first]
    assert codes == ["BLE-1", "EP-1", "B-1"] and not out_of_time  # receipts are not aggregates
    assert twin.recently_active_ids(limit=2, budget_s=60, page_size=2) == (newest_first[:2], False)
    small = IngestProcessor(twin, load_geography(), clock=lambda: NOW, cache_size=2)
    assert small.warm_up() == 2
    assert [aggregate.code for aggregate in small._cache.values()] == ["EP-1", "BLE-1"]


def test_a_warm_up_out_of_time_leaves_the_rest_to_their_first_message(
    twin: ValleyTwin, processor: IngestProcessor
) -> None:
    assert twin.recently_active_ids(limit=10, budget_s=-1) == ([], True)
    assert processor.warm_up(budget_s=-1) == 0
    assert [r.status for r in processor.process([message(1)]) if r is not None] == ["ack"]


def test_a_store_failure_forgets_only_what_the_failed_batch_touched(
    twin: ValleyTwin, processor: IngestProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert processor.warm_up() == 3
    failing_saves(twin, monkeypatch, {1: OperationalError("disk I/O error")})
    assert processor.process([message(1)]) == [None]
    assert [aggregate.code for aggregate in processor._cache.values()] == ["BLE-1", "EP-1"]
    assert [r.status for r in processor.process([message(1)]) if r is not None] == ["ack"]


def test_a_warm_up_whose_search_runs_out_of_time_still_loads_what_it_found(
    twin: ValleyTwin, processor: IngestProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(1, 6):
        assert [r.status for r in processor.process([message(number)]) if r] == ["ack"]
    select = twin.recorder.select_notifications

    def slow_pages(*args: Any, **kwargs: Any) -> Any:  # a long log: each page takes a while
        time.sleep(0.2)
        return select(*args, **kwargs)

    monkeypatch.setattr(twin.recorder, "select_notifications", slow_pages)
    pages_of_two = twin.recently_active_ids
    monkeypatch.setattr(
        twin, "recently_active_ids", lambda limit, budget_s: pages_of_two(limit, budget_s, 2)
    )
    cold = IngestProcessor(twin, load_geography(), clock=lambda: NOW)
    # Half the budget finds the bin on the newest pages (fills and receipts), then time runs out;
    # the other half loads it.
    assert cold.warm_up(budget_s=1.0) == 1
