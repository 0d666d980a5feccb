"""Corrections and retractions: a wrong fact put right, by the API and over the wire, with the
original kept in history and state as known at any recording instant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.wire import Envelope, encode
from domain import (
    Bin,
    InvalidValueError,
    OutOfOrderError,
    OutOfRangeError,
    Position,
    Site,
    recorded_at,
)
from tests.conftest import T0, a_town_hall
from twin import ValleyTwin, load_geography, open_twin
from twin.errors import InvalidInputError
from twin.ingest import Incoming, IngestProcessor

DAY = timedelta(days=1)
TYPO = 163_555.0  # 16,355 typed with an extra digit


class Clock:
    """The twin's recording clock, moved by hand: "known at" needs known recording times."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    twin = open_twin(store_url)
    twin.clock = Clock()
    twin.add(
        a_town_hall(),
        Bin.install(
            code="B-1",
            stream="residual",
            capacity_l=660,
            depth_cm=120,
            position=Position(752000.0, 6283000.0),
            commune_insee="34114",
            at=T0,
        ),
    )
    try:
        yield twin
    finally:
        twin.close()


def metered_with_a_typo(twin: ValleyTwin) -> int:
    """Indexes 16,000 / 16,200 / the typo / 16,400: the last is refused while the typo stands.
    Return the typo's version."""
    twin.meter_energy("EP-1", 16_000.0, T0 + DAY)
    twin.meter_energy("EP-1", 16_200.0, T0 + 2 * DAY)
    typo = twin.meter_energy("EP-1", TYPO, T0 + 3 * DAY).version
    with pytest.raises(OutOfRangeError, match="decreased below 163555"):
        twin.meter_energy("EP-1", 16_400.0, T0 + 4 * DAY)
    return typo


def test_a_corrected_meter_index_unblocks_the_readings_after_it(twin: ValleyTwin) -> None:
    typo = metered_with_a_typo(twin)
    assert twin.get(Site, "EP-1").consumption_kwh == pytest.approx(TYPO - 16_000.0)
    twin.correct_fact(
        "EP-1", {"index_kwh": 16_355.0}, "agent-technique", "extra digit", version=typo
    )
    site = twin.get(Site, "EP-1")
    assert (site.meter_index_kwh, site.consumption_kwh) == (16_355.0, pytest.approx(355.0))
    twin.meter_energy("EP-1", 16_400.0, T0 + 4 * DAY)
    site = twin.get(Site, "EP-1")
    assert (site.meter_index_kwh, site.consumption_kwh) == (16_400.0, pytest.approx(400.0))
    as_of = twin.state_at(site.id, T0 + 3 * DAY + timedelta(hours=1))
    assert isinstance(as_of, Site)
    assert (as_of.meter_index_kwh, as_of.consumption_kwh) == (16_355.0, pytest.approx(355.0))


def test_history_keeps_the_original_and_the_correction_each_with_when_it_was_recorded(
    twin: ValleyTwin,
) -> None:
    typo = metered_with_a_typo(twin)
    twin.correct_fact("EP-1", {"index_kwh": 16_355.0}, "agent", "extra digit", version=typo)
    history = twin.history(Site.id_for("EP-1"))
    original, correction = history[typo - 1], history[-1]
    assert original.index_kwh == TYPO  # type: ignore[attr-defined]
    assert isinstance(correction, Site.FactCorrected)
    assert (correction.original_version, correction.changes) == (typo, {"index_kwh": 16_355.0})
    assert (correction.corrected_by, correction.reason) == ("agent", "extra digit")
    assert correction.timestamp == original.timestamp  # the fact keeps its world time
    first, second = recorded_at(original), recorded_at(correction)
    assert first is not None and second is not None and first < second


def test_state_as_known_at_a_recording_instant_is_what_the_twin_believed_then(
    twin: ValleyTwin,
) -> None:
    typo = metered_with_a_typo(twin)
    believed_at = twin.clock()
    twin.correct_fact("EP-1", {"index_kwh": 16_355.0}, "agent", "extra digit", version=typo)
    late_reading_at = T0 + 2 * DAY + timedelta(hours=12)
    twin.meter_energy("EP-1", 16_300.0, late_reading_at)  # late, between two others
    site_id = Site.id_for("EP-1")
    then = twin.state_at(site_id, T0 + 10 * DAY, known_at=believed_at)
    now = twin.state_at(site_id, T0 + 10 * DAY)
    assert isinstance(then, Site) and isinstance(now, Site)
    assert then.meter_index_kwh == TYPO and now.meter_index_kwh == 16_355.0
    # Before the late reading arrived, the twin did not know of it, even as of a later instant.
    before_late = twin.state_at(site_id, late_reading_at, known_at=believed_at)
    assert isinstance(before_late, Site) and before_late.meter_index_kwh == 16_200.0
    assert twin.state_at(site_id, T0 - DAY, known_at=believed_at) is None
    with pytest.raises(InvalidInputError, match="known_at"):
        twin.state_at(site_id, T0, known_at=datetime(2025, 1, 1))  # noqa: DTZ001 - the error


def test_a_retracted_reading_is_as_if_it_never_arrived(twin: ValleyTwin) -> None:
    twin.measure_fill_level("B-1", 40.0, T0 + DAY)
    wrong = twin.measure_fill_level("B-1", 95.0, T0 + 2 * DAY).version
    twin.retract_fact("B-1", "agent", "reading of the neighbouring bin", version=wrong)
    bin_ = twin.get(Bin, "B-1")
    assert bin_.fill_percent == 40.0
    assert bin_.amendments == {wrong: "retracted"}
    with pytest.raises(InvalidValueError, match="retracted already"):
        twin.retract_fact("B-1", "agent", "again", version=wrong)
    with pytest.raises(InvalidValueError, match="retracted already"):
        twin.correct_fact("B-1", {"fill_percent": 50.0}, "agent", "x", version=wrong)


@pytest.mark.parametrize(
    ("changes", "version", "field", "fragment"),
    [
        ({"index_kwh": -5.0}, 2, "index_kwh", "0"),
        ({"site_kind": "zone"}, 2, "site_kind", "not a correctable field"),
        ({}, 2, "changes", "names no field"),
        ({"name": "x"}, 1, "original_version", "cannot be corrected"),
        ({"index_kwh": 16_300.0}, 99, "original_version", "history"),
        ({"index_kwh": 16_300.0}, 2, "index_kwh", "above the later reading 16200"),
    ],
)
def test_a_wrong_correction_is_refused_naming_the_field_and_changes_nothing(
    twin: ValleyTwin, changes: dict[str, Any], version: int, field: str, fragment: str
) -> None:
    twin.meter_energy("EP-1", 16_000.0, T0 + DAY)
    twin.meter_energy("EP-1", 16_200.0, T0 + 2 * DAY)
    before = twin.history(Site.id_for("EP-1"))
    with pytest.raises((InvalidValueError, OutOfRangeError, InvalidInputError)) as refused:
        twin.correct_fact("EP-1", changes, "agent", "why", version=version)
    assert refused.value.field == field  # type: ignore[union-attr]
    assert fragment in str(refused.value)
    assert len(twin.history(Site.id_for("EP-1"))) == len(before)


def test_exactly_one_way_of_naming_the_fact(twin: ValleyTwin) -> None:
    twin.meter_energy("EP-1", 16_000.0, T0 + DAY)
    for named in ({}, {"version": 2, "message": "gw/m-1"}):
        with pytest.raises(InvalidInputError, match="exactly one"):
            twin.correct_fact("EP-1", {"index_kwh": 1.0}, "agent", "why", **named)


def wire(number: int, kind: str, asset: str, at: datetime, **body: Any) -> Incoming:
    envelope = Envelope(f"m-{number}", "meters", "MTR-1", asset, kind, at, body)
    return Incoming(encode(envelope))


def test_a_correction_over_the_wire_names_the_fact_by_its_message(twin: ValleyTwin) -> None:
    now = T0 + 30 * DAY
    processor = IngestProcessor(twin, load_geography(), clock=lambda: now)
    replies = processor.process(
        [
            wire(1, "site.energy", "EP-1", T0 + DAY, index_kwh=16_000.0),
            # Two digits swapped: plausible, so recorded (a 10x typo is quarantined at once).
            wire(2, "site.energy", "EP-1", T0 + 2 * DAY, index_kwh=16_535.0),
            # Refused while the typo stands...
            wire(3, "site.energy", "EP-1", T0 + 3 * DAY, index_kwh=16_400.0),
            # ...corrected by the message that brought it, then the next reading lands, all in
            # one batch: the batch sees the correction at once.
            wire(
                4,
                "fact.correct",
                "EP-1",
                now,
                original_message="m-2",
                field="index_kwh",
                value=16_355.0,
                by="agent-technique",
                reason="extra digit",
            ),
            wire(5, "site.energy", "EP-1", T0 + 4 * DAY, index_kwh=16_500.0),
            wire(
                6,
                "fact.correct",
                "EP-1",
                now,
                original_message="meters/m-404",
                field="index_kwh",
                value=1.0,
                by="a",
                reason="b",
            ),
            wire(
                7,
                "fact.retract",
                "EP-1",
                now,
                original_version=2,
                original_message="m-1",
                by="a",
                reason="b",
            ),
        ]
    )
    assert [r.status for r in replies] == [
        "ack",
        "ack",
        "rejected",
        "ack",
        "ack",
        "rejected",
        "rejected",
    ]
    assert "original_message" in (replies[5].reason or "")
    assert "exactly one" in (replies[6].reason or "")
    site = twin.get(Site, "EP-1")
    assert (site.meter_index_kwh, site.consumption_kwh) == (16_500.0, pytest.approx(500.0))
    # The ingest's own cache holds the corrected state too.
    processor.process([wire(8, "site.energy", "EP-1", T0 + 5 * DAY, index_kwh=16_600.0)])
    assert twin.get(Site, "EP-1").consumption_kwh == pytest.approx(600.0)


def test_a_correction_is_judged_in_its_own_place_among_facts_of_one_instant(
    twin: ValleyTwin,
) -> None:
    twin.meter_energy("EP-1", 100.0, T0 + DAY)
    two = twin.meter_energy("EP-1", 200.0, T0 + 2 * DAY).version
    twin.meter_energy("EP-1", 300.0, T0 + 3 * DAY)
    twin.meter_energy("EP-1", 250.0, T0 + 2 * DAY)  # late, same instant, recorded after 200
    with pytest.raises(OutOfRangeError, match="above the later reading 250"):
        twin.correct_fact("EP-1", {"index_kwh": 290.0}, "agent", "x", version=two)
    twin.correct_fact("EP-1", {"index_kwh": 240.0}, "agent", "x", version=two)
    assert twin.get(Site, "EP-1").consumption_kwh == pytest.approx(200.0)


def test_a_replacement_follows_every_index_read(twin: ValleyTwin) -> None:
    twin.meter_energy("EP-1", 100.0, T0 + 2 * DAY)
    with pytest.raises(OutOfOrderError, match="follows every index read"):
        twin.change(Site, "EP-1", lambda site: site.replace_meter(150.0, 0.0, T0 + DAY))


def test_retracting_the_newest_fact_gives_the_aggregate_its_time_back(twin: ValleyTwin) -> None:
    twin.measure_fill_level("B-1", 40.0, T0 + DAY)
    bogus = twin.measure_fill_level("B-1", 95.0, T0 + 300 * DAY).version
    twin.retract_fact("B-1", "agent", "dated a year ahead", version=bogus)
    bin_ = twin.get(Bin, "B-1")
    assert bin_.modified_on == T0 + DAY and bin_.fill_percent == 40.0
    twin.change(Bin, "B-1", lambda b: b.remove("replaced", T0 + 2 * DAY))
    assert twin.get(Bin, "B-1").retired


def test_an_amended_aggregate_is_rebuilt_once_then_loads_from_its_snapshot(
    twin: ValleyTwin,
) -> None:
    for day in range(1, 6):
        twin.meter_energy("EP-1", 100.0 * day, T0 + day * DAY)
    twin.correct_fact("EP-1", {"index_kwh": 250.0}, "agent", "x", version=3)
    twin.get(Site, "EP-1")  # rebuilt, and kept as a snapshot
    raw = twin.repository.get(Site.id_for("EP-1"))
    assert not raw.needs_rebuild
    assert raw.consumption_kwh == pytest.approx(400.0)
    twin.meter_energy("EP-1", 600.0, T0 + 6 * DAY)
    assert twin.get(Site, "EP-1").consumption_kwh == pytest.approx(500.0)


def test_a_snapshot_taken_before_the_site_kept_its_first_mark_is_rebuilt(
    twin: ValleyTwin,
) -> None:
    for day in range(1, 4):
        twin.meter_energy("EP-1", 100.0 * day, T0 + day * DAY)
    old = twin.get(Site, "EP-1")
    for derived in ("_derived_state", "_meter_first"):
        del vars(old)[derived]  # as a snapshot written before they existed
    twin._keep_rebuilt(old)
    assert twin.repository.get(Site.id_for("EP-1")).needs_rebuild
    twin.meter_energy("EP-1", 50.0, T0 + timedelta(hours=12))  # late, before the first
    assert twin.get(Site, "EP-1").consumption_kwh == pytest.approx(250.0)
    as_of = twin.state_at(Site.id_for("EP-1"), T0 + 2 * DAY + timedelta(hours=1))
    assert isinstance(as_of, Site) and as_of.consumption_kwh == pytest.approx(150.0)


def test_a_message_that_also_fitted_a_sensor_names_its_reading(twin: ValleyTwin) -> None:
    processor = IngestProcessor(twin, load_geography(), clock=lambda: T0 + 30 * DAY)
    first = Envelope(
        "m-1", "sensors", "A84041000181C9B2", "B-1", "bin.fill", T0 + DAY, {"fill_percent": 64.0}
    )
    fix = Envelope(
        "m-2",
        "desk",
        "DESK",
        "B-1",
        "fact.correct",
        T0 + 30 * DAY,
        {
            "original_message": "sensors/m-1",
            "field": "fill_percent",
            "value": 46.0,
            "by": "agent",
            "reason": "digits swapped",
        },
    )
    replies = processor.process([Incoming(encode(first)), Incoming(encode(fix))])
    assert [r.status for r in replies] == ["ack", "ack"], replies
    bin_ = twin.get(Bin, "B-1")
    assert (bin_.fill_percent, bin_.sensor_device_id) == (46.0, "A84041000181C9B2")


def test_a_late_reading_is_judged_against_the_readings_as_they_stand(twin: ValleyTwin) -> None:
    processor = IngestProcessor(twin, load_geography(), clock=lambda: T0 + 30 * DAY)
    hour = timedelta(hours=1)

    def reading(number: int, at: datetime, fill: float) -> Incoming:
        body = {"fill_percent": fill}
        return Incoming(
            encode(Envelope(f"m-{number}", "s", "SENSOR-1", "B-1", "bin.fill", at, body))
        )

    assert [
        r.status
        for r in processor.process(
            [
                reading(1, T0 + 10 * hour, 70.0),
                reading(2, T0 + 11 * hour, 2.0),
                reading(3, T0 + 20 * hour, 80.0),
            ]
        )
    ] == ["ack"] * 3
    twin.retract_fact("B-1", "agent", "a glitch", message="s/m-2")
    processor = IngestProcessor(twin, load_geography(), clock=lambda: T0 + 30 * DAY)
    (reply,) = processor.process([reading(4, T0 + 12 * hour, 75.0)])
    assert reply.status == "ack", reply.reason
