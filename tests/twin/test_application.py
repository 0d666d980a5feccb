"""One application test suite, run on the embedded SQLite store and on real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain import Beacon, Bin, Citizen, OutOfRangeError, Position, Service, Site
from tests.conftest import T0, at
from twin import AlreadyExistsError, NotFoundError, ValleyTwin, open_twin

HERE = Position(752_000.0, 6_283_000.0)


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    yield application
    application.close()


def one_of_each() -> list:  # type: ignore[type-arg]
    return [
        Bin.install(
            code="B-1",
            stream="residual",
            capacity_l=660,
            position=HERE,
            commune_insee="34114",
            at=T0,
        ),
        Beacon.install(code="BLE-1", zone_code="ZAE", position=HERE, commune_insee="34114", at=T0),
        Site.register(
            code="EP-1",
            name="Armoire",
            site_kind="lighting_cabinet",
            geometry_wkt="POINT (752000 6283000)",
            commune_insee="34114",
            at=T0,
            light_points=10,
            point_power_w=100,
        ),
        Service.open(
            code="CRECHE-1",
            name="Crèche",
            service_kind="childcare",
            capacity=3,
            position=HERE,
            commune_insee="34114",
            at=T0,
        ),
        Citizen.register(pseudonym="c-1", commune_insee="34114", at=T0),
    ]


def exercise(aggregate) -> None:  # type: ignore[no-untyped-def]
    """Record a few facts of every event type on an aggregate."""
    if isinstance(aggregate, Bin):
        aggregate.attach_sensor("A84041000181C9B2", at(1))
        aggregate.measure_fill_level(55.5, at(2))
        aggregate.report_sensor_fault("tilt", at(2))
        aggregate.report_overflow("crew", at(3))
        aggregate.empty("R-1", 80.0, at(3))
        aggregate.move(Position(752_010.0, 6_283_010.0), "34114", at(4))
        aggregate.detach_sensor(at(5))
    elif isinstance(aggregate, Beacon):
        aggregate.count_footfall(at(1), at(1, hours=1), 17)
        aggregate.report_battery(88.0, at(2))
        aggregate.move(HERE, "34114", "SITE-X", at(3))
    elif isinstance(aggregate, Site):
        aggregate.meter_energy(100.0, at(1))
        aggregate.replace_meter(120.0, 0.0, at(2))
        aggregate.meter_energy(5.0, at(3))
        aggregate.count_occupancy(3, at(3))
        aggregate.change_lighting_schedule(at(4), dim_percent=50, dim_from="23:00", dim_to="05:00")
        aggregate.change_opening_hours({"mon": ["08:00-12:00"]}, at(4))
    elif isinstance(aggregate, Service):
        aggregate.request_place("F1", at(1))
        aggregate.grant_place("F1", at(2))
        aggregate.change_capacity(4, at(3))
        aggregate.schedule_session("S1", at(9), 5, at(4))
        aggregate.enrol("S1", "P1", at(5))
        aggregate.record_attendance("S1", "P1", at(9))
        aggregate.release_place("F1", at(10))
    elif isinstance(aggregate, Citizen):
        aggregate.file_report("R1", "street_light", HERE, "Lampadaire éteint", at(1))
        aggregate.acknowledge_report("R1", at(2))
        idea = aggregate.submit_idea("I1", "Bancs", "Plus de bancs", at(3))
        aggregate.vote_idea(idea, at(4))
        aggregate.attend_training("FORMATION", "S1", at(5))


def test_every_aggregate_round_trips_through_the_store(twin: ValleyTwin) -> None:
    originals = one_of_each()
    for aggregate in originals:
        exercise(aggregate)
    twin.add(*originals)
    for original in originals:
        loaded = twin.find(original.code)
        assert loaded.as_dict() == original.as_dict()
        history = twin.history(original.id)
        assert len(history) == original.version
        assert all(e.timestamp.utcoffset().total_seconds() == 0 for e in history)


def test_adding_an_existing_aggregate_fails_whole(twin: ValleyTwin) -> None:
    first, second = one_of_each()[:2]
    twin.add(first)
    with pytest.raises(AlreadyExistsError, match="B-1"):
        twin.add(second, one_of_each()[0])
    assert not twin.exists(second.id)


def test_add_missing_records_each_aggregate_once(twin: ValleyTwin) -> None:
    assert twin.add_missing(one_of_each(), batch_size=2) == 5
    assert twin.add_missing(one_of_each(), batch_size=2) == 0
    assert twin.count_by_kind() == {
        "bin": 1,
        "beacon": 1,
        "site": 1,
        "service": 1,
        "citizen": 1,
        "truck": 0,
    }


def test_commands_reload_change_and_save(twin: ValleyTwin) -> None:
    twin.add(*one_of_each())
    twin.measure_fill_level("b-1", 30.0, at(1))
    twin.empty_bin("B-1", "R1", 40.0, at(2))
    twin.count_footfall("BLE-1", at(1), at(1, hours=1), 9)
    twin.meter_energy("EP-1", 12.0, at(1))
    assert twin.get(Bin, "B-1").emptied_count == 1
    assert twin.get(Beacon, "BLE-1").total_count == 9
    with pytest.raises(OutOfRangeError):
        twin.meter_energy("EP-1", 11.0, at(2))
    assert twin.get(Site, "EP-1").meter_index_kwh == 12.0  # the rejected reading left nothing


def test_unknown_references_raise_not_found(twin: ValleyTwin) -> None:
    with pytest.raises(NotFoundError, match="NOPE"):
        twin.find("NOPE")
    with pytest.raises(NotFoundError):
        twin.get(Bin, "BLE-1")
    with pytest.raises(NotFoundError):
        twin.find("00000000-0000-0000-0000-000000000000")


@pytest.mark.slow
def test_time_travel_over_a_history_of_thousands_of_events(twin: ValleyTwin) -> None:
    bin_ = one_of_each()[0]
    twin.add(bin_)
    readings = 3_000
    for number in range(1, readings + 1):
        bin_.measure_fill_level(number % 101, at(hours=number))
        if number % 500 == 0:
            twin.save(bin_)
    twin.save(bin_)
    assert twin.state_at(bin_.id, at(hours=-1)) is None
    assert twin.state_at(bin_.id, T0).version == 1
    for hour in (1, 250, 1234, 2999, readings):
        past = twin.state_at(bin_.id, at(hours=hour + 0.5))
        assert past.version == hour + 1
        assert past.fill_percent == hour % 101
        assert past.fill_measured_at == at(hours=hour)
    assert twin.state_at(bin_.id, at(days=10_000)).as_dict() == bin_.as_dict()
    assert twin.snapshots is not None
    snapshot_versions = [s.originator_version for s in twin.snapshots.get(bin_.id)]
    assert snapshot_versions[:3] == [100, 200, 300]


def test_domain_events_stream_the_whole_log_in_order_and_by_topic(twin: ValleyTwin) -> None:
    from eventsourcing.utils import get_topic

    twin.add(*one_of_each())
    for hour in range(1, 8):
        twin.measure_fill_level("B-1", 10.0 * hour, at(hours=hour))
    everything = list(twin.domain_events(page_size=3))  # several pages
    assert len(everything) == sum(twin.count_by_kind().values()) + 7
    positions = [
        (e.timestamp, e.originator_version)
        for e in everything
        if e.originator_id == everything[0].originator_id
    ]
    assert positions == sorted(positions)
    fills = list(twin.domain_events(topics=(get_topic(Bin.FillLevelMeasured),), page_size=2))
    assert [e.fill_percent for e in fills] == [10.0 * hour for hour in range(1, 8)]
