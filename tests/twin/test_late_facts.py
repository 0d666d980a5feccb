"""Late facts: whatever order a bin's measurements arrive in, its state as of every instant is
the one the facts dated at or before it say."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.wire import Envelope, encode
from domain import Bin, OutOfOrderError, OutOfRangeError, Position, Site
from tests.conftest import T0, a_town_hall
from tests.twin.test_projections_runs import dump
from twin import ValleyTwin, load_geography, open_twin
from twin.asof import valley_as_of
from twin.ingest import Incoming, IngestProcessor
from twin.projections import catch_up
from twin.projections.assets import ASSET_STATE
from twin.projections.fill import BIN_FILL_HOURLY
from twin.storage import drop_memory_store

HERE = Position(752000.0, 6283000.0)
SENSOR = "A84041000181C9B2"
STATE = (
    "fill_percent",
    "fill_measured_at",
    "sensor_battery_percent",
    "emptied_count",
    "emptied_mass_kg",
    "last_emptied_at",
    "overflow_count",
    "sensor_fault_count",
    "last_sensor_fault",
)
Fact = tuple[str, int, float]  # kind, minutes after the sensor was fitted, value


def new_bin() -> Bin:
    """The bin every test here records facts on (installed at T0, no sensor yet)."""
    return Bin.install(
        code="B-1", stream="glass", capacity_l=3000, position=HERE, commune_insee="34114", at=T0
    )


def command(fact: Fact) -> Callable[[Bin], None]:
    kind, minutes, value = fact
    at = T0 + timedelta(days=1, minutes=minutes)
    if kind == "fill":
        return lambda b: b.measure_fill_level(value, at)
    if kind == "battery":
        return lambda b: b.report_sensor_battery(value, at)
    if kind == "emptied":
        return lambda b: b.empty(f"R-{minutes}", value, at)
    if kind == "overflow":
        return lambda b: b.report_overflow("crew", at)
    return lambda b: b.report_sensor_fault(f"fault {value:.0f}", at)


@contextmanager
def recorded(facts: list[Fact]) -> Iterator[ValleyTwin]:
    name = f"late-{uuid.uuid4().hex}"
    twin = open_twin(f"memory://{name}")
    bin_ = new_bin()
    bin_.attach_sensor(SENSOR, T0 + timedelta(days=1))
    twin.add(bin_)
    for fact in facts:
        twin.change(Bin, "B-1", command(fact))
    try:
        yield twin
    finally:
        twin.close()
        drop_memory_store(name)


def state(aggregate: Any) -> dict[str, Any]:
    values = {name: getattr(aggregate, name) for name in STATE}
    # A sum of masses depends on the order of its terms in the last bits of a float.
    values["emptied_mass_kg"] = round(values["emptied_mass_kg"], 6)
    return values


facts_strategy = st.lists(
    st.tuples(
        st.sampled_from(["fill", "battery", "emptied", "overflow", "fault"]),
        st.integers(min_value=1, max_value=5_000),
        st.floats(min_value=0, max_value=100, allow_nan=False).map(lambda v: round(v, 1)),
    ),
    min_size=1,
    max_size=25,
    unique_by=lambda fact: fact[1],  # one fact a minute: "newest" is never a tie
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts_strategy, st.randoms(use_true_random=False))
def test_state_as_of_every_instant_does_not_depend_on_arrival_order(
    facts: list[Fact], shuffler: Any
) -> None:
    in_time_order = sorted(facts, key=lambda fact: fact[1])
    arrival = list(facts)
    shuffler.shuffle(arrival)
    instants = [T0 + timedelta(days=1, minutes=m) for _, m, _ in in_time_order]
    instants += [at + timedelta(seconds=30) for at in instants] + [T0, T0 + timedelta(days=9)]
    with recorded(in_time_order) as ordered, recorded(arrival) as shuffled:
        bin_id = Bin.id_for("B-1")
        assert state(ordered.get(Bin, "B-1")) == state(shuffled.get(Bin, "B-1"))
        for instant in instants:
            expected = ordered.state_at(bin_id, instant)
            found = shuffled.state_at(bin_id, instant)
            assert (expected is None) == (found is None)
            if expected is not None:
                assert state(found) == state(expected), instant
        # The valley as of an instant (exports, DataFrames) folds the same way.
        for instant in instants[::3]:
            (by_fold,) = valley_as_of(shuffled, instant, kinds="bin")
            assert state(by_fold.aggregate) == state(shuffled.state_at(bin_id, instant))


def test_a_late_reading_and_a_late_lift_count_without_overwriting_the_newest(
    store_url: str,
) -> None:
    twin = open_twin(store_url)
    try:
        bin_ = new_bin()
        twin.add(bin_)
        day = T0 + timedelta(days=1)
        twin.measure_fill_level("B-1", 60.0, day + timedelta(hours=12))
        twin.measure_fill_level("B-1", 20.0, day + timedelta(hours=6))  # arrives late
        twin.empty_bin("B-1", "R-1", 80.0, day + timedelta(hours=3))  # so does the lift
        now = twin.get(Bin, "B-1")
        assert (now.fill_percent, now.emptied_count, now.modified_on) == (
            60.0,
            1,
            day + timedelta(hours=12),
        )
        morning = twin.state_at(now.id, day + timedelta(hours=7))
        assert isinstance(morning, Bin)
        assert (morning.fill_percent, morning.emptied_count) == (20.0, 1)
        before = twin.state_at(now.id, day + timedelta(hours=2))
        assert isinstance(before, Bin) and before.emptied_count == 0
        assert twin.state_at(now.id, T0 - timedelta(days=1)) is None
        history = [type(e).__name__ for e in twin.history(now.id)]
        assert history == ["Installed", "FillLevelMeasured", "FillLevelMeasured", "Emptied"]
    finally:
        twin.close()


def test_a_late_meter_index_lands_between_its_neighbours_in_world_time(store_url: str) -> None:
    twin = open_twin(store_url)
    try:
        twin.add(a_town_hall())
        twin.meter_energy("EP-1", 100.0, T0 + timedelta(hours=1))
        twin.meter_energy("EP-1", 160.0, T0 + timedelta(hours=3))
        twin.meter_energy("EP-1", 130.0, T0 + timedelta(hours=2))  # late, fits between
        twin.meter_energy("EP-1", 90.0, T0 + timedelta(minutes=30))  # late, before them all
        site = twin.get(Site, "EP-1")
        assert site.meter_index_kwh == 160.0
        assert site.meter_read_at == T0 + timedelta(hours=3)
        assert site.consumption_kwh == pytest.approx(70.0)
        as_of = twin.state_at(site.id, T0 + timedelta(hours=2, minutes=30))
        assert isinstance(as_of, Site)
        assert as_of.meter_index_kwh == 130.0
        assert as_of.consumption_kwh == pytest.approx(40.0)
    finally:
        twin.close()


@pytest.mark.parametrize(
    ("index", "minutes", "reason"),
    [
        (101.0, 30, "above the later reading 100.0"),
        (99.0, 150, "decreased below 100.0"),
        (161.0, 150, "above the later reading 160.0"),
    ],
)
def test_a_late_meter_index_that_breaks_world_time_order_is_refused(
    store_url: str, index: float, minutes: int, reason: str
) -> None:
    twin = open_twin(store_url)
    try:
        twin.add(a_town_hall())
        twin.meter_energy("EP-1", 100.0, T0 + timedelta(hours=2))
        twin.meter_energy("EP-1", 160.0, T0 + timedelta(hours=3))
        with pytest.raises(OutOfRangeError, match=reason) as refused:
            twin.meter_energy("EP-1", index, T0 + timedelta(minutes=minutes))
        assert refused.value.field == "index_kwh"
        assert refused.value.value == index
        assert twin.get(Site, "EP-1").consumption_kwh == pytest.approx(60.0)
    finally:
        twin.close()


def test_a_meter_replacement_splits_the_index_in_world_time(store_url: str) -> None:
    twin = open_twin(store_url)
    try:
        twin.add(a_town_hall())
        twin.meter_energy("EP-1", 1_000.0, T0 + timedelta(hours=1))
        twin.change(
            Site, "EP-1", lambda site: site.replace_meter(1_050.0, 0.0, T0 + timedelta(hours=2))
        )
        twin.meter_energy("EP-1", 30.0, T0 + timedelta(hours=4))
        # Late readings on either meter: each judged against its own meter's indexes.
        twin.meter_energy("EP-1", 1_020.0, T0 + timedelta(hours=1, minutes=30))
        twin.meter_energy("EP-1", 10.0, T0 + timedelta(hours=3))
        with pytest.raises(OutOfRangeError):
            twin.meter_energy("EP-1", 1_040.0, T0 + timedelta(hours=3, minutes=30))
        site = twin.get(Site, "EP-1")
        assert site.consumption_kwh == pytest.approx(80.0)
        assert site.meter_index_kwh == 30.0
    finally:
        twin.close()


def test_the_asset_state_view_keeps_the_newest_values_too(store_url: str) -> None:

    twin = open_twin(store_url)
    try:
        bin_ = new_bin()
        bin_.attach_sensor(SENSOR, T0)
        twin.add(bin_)
        day = T0 + timedelta(days=1)
        twin.change(Bin, "B-1", lambda b: b.report_sensor_battery(70.0, day + timedelta(hours=9)))
        twin.measure_fill_level("B-1", 60.0, day + timedelta(hours=12))
        catch_up(twin)  # the view has the newest values, then late facts come
        twin.measure_fill_level("B-1", 20.0, day + timedelta(hours=6))
        twin.change(Bin, "B-1", lambda b: b.report_sensor_battery(95.0, day + timedelta(hours=1)))
        twin.empty_bin("B-1", "R-1", 80.0, day + timedelta(hours=3))
        catch_up(twin)
        (row,) = dump(twin)["asset_state"]
        view = dict(zip(ASSET_STATE.names, row, strict=True))
        aggregate = twin.get(Bin, "B-1")
        assert (
            (view["fill_percent"], view["battery_percent"], view["emptied_count"])
            == (
                aggregate.fill_percent,
                aggregate.sensor_battery_percent,
                aggregate.emptied_count,
            )
            == (60.0, 70.0, 1)
        )
    finally:
        twin.close()


def test_the_hourly_view_keeps_the_hours_latest_reading_as_its_last(store_url: str) -> None:
    twin = open_twin(store_url)
    try:
        twin.add(new_bin())
        hour = T0 + timedelta(days=1, hours=10)
        twin.measure_fill_level("B-1", 30.0, hour + timedelta(minutes=40))
        catch_up(twin)  # the stored row has the 10:40 reading, then one of 10:10 comes late
        twin.measure_fill_level("B-1", 10.0, hour + timedelta(minutes=10))
        twin.measure_fill_level("B-1", 12.0, hour + timedelta(minutes=20))  # late too, same page
        catch_up(twin)
        (row,) = dump(twin)["bin_fill_hourly"]
        view = dict(zip([c.name for c in BIN_FILL_HOURLY.columns], row, strict=True))
        assert (view["readings"], view["fill_last"], view["fill_max"]) == (3, 30.0, 30.0)
    finally:
        twin.close()


def test_a_late_reading_fits_no_sensor_and_is_checked_against_the_one_fitted_then() -> None:
    bin_ = new_bin()
    day = T0 + timedelta(days=1)
    bin_.measure_fill_level(10.0, day + timedelta(hours=10), device_id="AAAA0001")
    bin_.detach_sensor(day + timedelta(hours=20))
    bin_.measure_fill_level(15.0, day + timedelta(hours=15), device_id="AAAA0001")  # late
    assert bin_.sensor_device_id is None  # the late reading fitted nothing back
    bin_.attach_sensor("BBBB0002", day + timedelta(hours=21))
    bin_.measure_fill_level(12.0, day + timedelta(hours=16), device_id="AAAA0001")  # old sensor
    with pytest.raises(Exception, match="reported through sensor AAAA0001"):
        bin_.measure_fill_level(12.0, day + timedelta(hours=16), device_id="BBBB0002")
    assert bin_.sensor_device_id == "BBBB0002"


def test_a_measurement_does_not_hold_back_a_fact_that_depends_on_order() -> None:
    site = Site.register(
        code="EP-1",
        name="Tiers-lieu",
        site_kind="public_building",
        geometry_wkt="POINT (752000 6283000)",
        commune_insee="34114",
        at=T0,
    )
    site.meter_energy(100.0, T0 + timedelta(hours=1))
    site.count_occupancy(12, T0 + timedelta(hours=2, minutes=5))  # from the door counter
    site.meter_energy(101.0, T0 + timedelta(hours=2))  # from the meter's own adapter
    assert site.meter_index_kwh == 101.0 and site.occupancy == 12
    with pytest.raises(OutOfOrderError):
        site.close("sold", T0 + timedelta(hours=2))  # closing must follow every fact


def test_a_reading_and_a_lift_at_the_same_instant_leave_the_bin_empty_either_way() -> None:
    for lift_first in (True, False):
        bin_ = new_bin()
        at = T0 + timedelta(days=1)
        bin_.measure_fill_level(10.0, at - timedelta(hours=1))
        if lift_first:
            bin_.empty("R-1", 50.0, at)
            bin_.measure_fill_level(70.0, at)
        else:
            bin_.measure_fill_level(70.0, at)
            bin_.empty("R-1", 50.0, at)
        assert bin_.fill_percent == 0.0, lift_first


def test_a_late_implausible_reading_is_judged_against_the_reading_before_it(
    store_url: str,
) -> None:
    twin = open_twin(store_url)
    try:
        twin.add(new_bin())
        start = T0 + timedelta(days=1)

        def reading(number: int, minutes: int, fill: float) -> Incoming:
            at = start + timedelta(minutes=minutes)
            envelope = Envelope(
                f"m-{number}", "gw", SENSOR, "B-1", "bin.fill", at, {"fill_percent": fill}
            )
            return Incoming(encode(envelope))

        processor = IngestProcessor(twin, load_geography(), clock=lambda: start + timedelta(days=5))
        replies = processor.process(
            [reading(1, 0, 10.0), reading(3, 60, 12.0), reading(2, 30, 95.0)]
        )
        # In world-time order the 95 % (10 → 95 in half an hour) is refused: late, it is too.
        assert [r.status for r in replies if r] == ["ack", "ack", "rejected"]
        assert "implausible" in (replies[2].reason if replies[2] else "")
    finally:
        twin.close()


def test_a_bin_from_a_snapshot_of_before_keeps_its_values_against_late_ones() -> None:
    bin_ = new_bin()
    bin_.attach_sensor(SENSOR, T0)
    bin_.report_sensor_battery(50.0, T0 + timedelta(hours=50))
    # What a snapshot taken before these times were kept restores: no times at all.
    del bin_.__dict__["_latest_at"]
    bin_.report_sensor_battery(99.0, T0 + timedelta(hours=30))  # late
    assert bin_.sensor_battery_percent == 50.0
