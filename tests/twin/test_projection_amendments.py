"""Read models under corrections, retractions and late meter readings: each view ends up as a
log holding the right facts from the start would leave it, whether the projections catch up
after every fact, once at the end, or in pages that cut the log anywhere; and a rebuild gives
the same tables.

Every test runs in memory (the fast tier), on SQLite and on PostgreSQL (``store_url``); the
log without the mistakes is recorded on a second twin, in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from domain import Beacon, Bin, Position, Site
from tests.conftest import T0, a_town_hall
from tests.twin.test_projections import rows
from tests.twin.test_projections_runs import dump
from twin import ValleyTwin, open_twin
from twin.projections import PROJECTIONS, Projection, catch_up, rebuild
from twin.storage import drop_memory_store

HERE = Position(752000.0, 6283000.0)
SENSOR = "A84041000181C9B2"
# When the projections catch up: after every fact, once at the end, at the end two events a
# page (so that pages begin and end next to the amendments).
EVERY_STEP, AT_THE_END, IN_SMALL_PAGES = "every step", "at the end", "in small pages"
MODES = (EVERY_STEP, AT_THE_END, IN_SMALL_PAGES)
# asset_state's columns a fact's value shows in (the rest: codes, versions, creation).
BIN_STATE = (
    "fill_percent",
    "fill_measured_at",
    "emptied_count",
    "emptied_mass_kg",
    "last_emptied_at",
    "overflow_count",
    "overflowing_since",
    "overflow_last_sign_at",
    "battery_percent",
    "battery_at",
)
METER_STATE = (
    "meter_index_kwh",
    "meter_read_at",
    "meter_first_index_kwh",
    "meter_first_at",
    "meter_replacements",
)


def t(day: int, hour: int = 7, minute: int = 0) -> datetime:
    """An instant ``day`` days after T0 (07:00 UTC is 08:00 in the valley in winter)."""
    return T0 + timedelta(days=day, hours=hour, minutes=minute)


def record_assets(twin: ValleyTwin) -> None:
    """The site, bin and two beacons every test here records facts on."""
    twin.add(
        a_town_hall(),
        Bin.install(
            code="B-1",
            stream="residual",
            capacity_l=660,
            position=HERE,
            commune_insee="34114",
            at=T0,
        ),
        Beacon.install(
            code="BE-1", zone_code="Z-CENTRE", position=HERE, commune_insee="34114", at=T0
        ),
        Beacon.install(
            code="BE-2", zone_code="Z-CENTRE", position=HERE, commune_insee="34114", at=T0
        ),
    )


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    twin = open_twin(store_url)
    record_assets(twin)
    try:
        yield twin
    finally:
        twin.close()


@contextmanager
def right_log() -> Iterator[ValleyTwin]:
    """A second twin, in memory, for the log without the mistakes."""
    name = f"right-{uuid.uuid4().hex}"
    twin = open_twin(f"memory://{name}")
    record_assets(twin)
    try:
        yield twin
    finally:
        twin.close()
        drop_memory_store(name)


class Steps:
    """Catches the projections up as ``mode`` says: call it after each fact, then ``finish``."""

    def __init__(self, twin: ValleyTwin, mode: str) -> None:
        self.twin = twin
        self.mode = mode

    def __call__(self) -> None:
        if self.mode == EVERY_STEP:
            catch_up(self.twin)

    def finish(self) -> None:
        catch_up(self.twin, page_size=2 if self.mode == IN_SMALL_PAGES else 50_000)


def energy_days(twin: ValleyTwin) -> list[dict[str, Any]]:
    return rows(twin, "energy_daily", "site_id, day")


def asset(twin: ValleyTwin, code: str, columns: tuple[str, ...]) -> dict[str, Any]:
    (row,) = [r for r in rows(twin, "asset_state", "aggregate_id") if r["code"] == code]
    return {column: row[column] for column in columns}


def version_in_view(twin: ValleyTwin, aggregate_id: uuid.UUID) -> int:
    (row,) = [
        r
        for r in rows(twin, "asset_state", "aggregate_id")
        if r["aggregate_id"] == str(aggregate_id)
    ]
    version: int = row["version"]
    return version


def assert_a_rebuild_gives_the_same_tables(twin: ValleyTwin) -> None:
    kept = dump(twin)
    rebuild(twin)
    assert dump(twin) == kept


# ---- the meter typo --------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_a_corrected_meter_typo_leaves_the_days_a_log_without_it_gives(
    twin: ValleyTwin, mode: str
) -> None:
    step = Steps(twin, mode)
    twin.meter_energy("EP-1", 16_000.0, t(1))
    step()
    twin.meter_energy("EP-1", 16_200.0, t(2))
    step()
    typo = twin.meter_energy("EP-1", 16_535.0, t(3)).version
    step()
    twin.correct_fact("EP-1", {"index_kwh": 16_355.0}, "agent", "digits swapped", version=typo)
    step()
    twin.meter_energy("EP-1", 16_500.0, t(4))
    step.finish()

    with right_log() as right:
        for day, index in enumerate((16_000.0, 16_200.0, 16_355.0, 16_500.0), start=1):
            right.meter_energy("EP-1", index, t(day))
        catch_up(right)
        assert energy_days(twin) == energy_days(right)
        assert asset(twin, "EP-1", METER_STATE) == asset(right, "EP-1", METER_STATE)
    assert sum(day["kwh_micro"] for day in energy_days(twin)) == 500_000_000
    assert asset(twin, "EP-1", ("consumption_kwh",)) == {"consumption_kwh": pytest.approx(500.0)}
    assert version_in_view(twin, Site.id_for("EP-1")) == len(twin.history(Site.id_for("EP-1")))
    assert_a_rebuild_gives_the_same_tables(twin)


@pytest.mark.parametrize("mode", [EVERY_STEP, AT_THE_END])
@pytest.mark.parametrize(
    ("late_at", "late_index"),
    [(t(2, 19), 16_300.0), (t(0, 19), 15_900.0)],
    ids=["between two readings", "before the first"],
)
def test_a_late_meter_index_lands_in_its_day_and_its_neighbours(
    twin: ValleyTwin, mode: str, late_at: datetime, late_index: float
) -> None:
    step = Steps(twin, mode)
    readings = [(t(1), 16_000.0), (t(2), 16_200.0), (t(3), 16_355.0)]
    for at, index in readings:
        twin.meter_energy("EP-1", index, at)
        step()
    twin.meter_energy("EP-1", late_index, late_at)
    step.finish()

    with right_log() as right:
        for at, index in sorted([*readings, (late_at, late_index)]):
            right.meter_energy("EP-1", index, at)
        catch_up(right)
        assert energy_days(twin) == energy_days(right)
        assert asset(twin, "EP-1", METER_STATE) == asset(right, "EP-1", METER_STATE)
        assert asset(twin, "EP-1", ("consumption_kwh",))["consumption_kwh"] == pytest.approx(
            asset(right, "EP-1", ("consumption_kwh",))["consumption_kwh"]
        )
    assert_a_rebuild_gives_the_same_tables(twin)


def test_a_late_meter_index_then_its_correction(twin: ValleyTwin) -> None:
    for day, index in enumerate((16_000.0, 16_200.0, 16_355.0), start=1):
        twin.meter_energy("EP-1", index, t(day))
    catch_up(twin)
    late = twin.meter_energy("EP-1", 16_330.0, t(2, 19)).version
    catch_up(twin)
    twin.correct_fact("EP-1", {"index_kwh": 16_300.0}, "agent", "misread", version=late)
    catch_up(twin)

    with right_log() as right:
        for at, index in [
            (t(1), 16_000.0),
            (t(2), 16_200.0),
            (t(2, 19), 16_300.0),
            (t(3), 16_355.0),
        ]:
            right.meter_energy("EP-1", index, at)
        catch_up(right)
        assert energy_days(twin) == energy_days(right)
    assert_a_rebuild_gives_the_same_tables(twin)


# ---- fill readings and emptyings ------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_retracted_fill_readings_leave_the_hours_and_the_state_a_log_without_them_gives(
    twin: ValleyTwin, mode: str
) -> None:
    step = Steps(twin, mode)
    twin.measure_fill_level("B-1", 40.0, t(1, 10))
    step()
    wrong_full = twin.measure_fill_level("B-1", 100.0, t(2, 10)).version  # counted an overflow
    step()
    twin.measure_fill_level("B-1", 60.0, t(2, 10, 20))  # the same hour: it stays
    step()
    wrong_alone = twin.measure_fill_level("B-1", 70.0, t(2, 12)).version  # alone in its hour
    step()
    twin.retract_fact("B-1", "agent", "the neighbouring bin's", version=wrong_full)
    step()
    twin.measure_fill_level("B-1", 50.0, t(2, 11, 30))  # late: 12:00 is newer, until retracted
    step()
    twin.retract_fact("B-1", "agent", "the neighbouring bin's", version=wrong_alone)
    step()
    emptied = twin.empty_bin("B-1", "R-1", 120.0, t(3, 8)).version
    step()
    twin.correct_fact("B-1", {"mass_kg": 12.0}, "crew", "a zero too many", version=emptied)
    step.finish()

    with right_log() as right:
        right.measure_fill_level("B-1", 40.0, t(1, 10))
        right.measure_fill_level("B-1", 60.0, t(2, 10, 20))
        right.measure_fill_level("B-1", 50.0, t(2, 11, 30))
        right.empty_bin("B-1", "R-1", 12.0, t(3, 8))
        catch_up(right)
        hours = rows(twin, "bin_fill_hourly", "bin_id, hour")
        assert hours == rows(right, "bin_fill_hourly", "bin_id, hour")
        assert asset(twin, "B-1", BIN_STATE) == asset(right, "B-1", BIN_STATE)
    assert t(2, 12) not in {hour["hour"] for hour in hours}
    assert asset(twin, "B-1", ("overflow_count", "emptied_mass_kg")) == {
        "overflow_count": 0,
        "emptied_mass_kg": 12.0,
    }
    assert version_in_view(twin, Bin.id_for("B-1")) == len(twin.history(Bin.id_for("B-1")))
    assert_a_rebuild_gives_the_same_tables(twin)


def test_a_reading_corrected_twice_counts_with_its_last_correction(twin: ValleyTwin) -> None:
    reading = twin.measure_fill_level("B-1", 85.0, t(1, 10)).version
    twin.measure_fill_level("B-1", 30.0, t(1, 10, 30))
    catch_up(twin)
    twin.correct_fact("B-1", {"fill_percent": 58.0}, "agent", "first try", version=reading)
    catch_up(twin)
    twin.correct_fact("B-1", {"fill_percent": 35.0}, "agent", "second try", version=reading)
    catch_up(twin)

    (hour,) = rows(twin, "bin_fill_hourly", "bin_id, hour")
    assert (hour["readings"], hour["fill_mean"], hour["fill_max"]) == (2, 32.5, 35.0)
    assert_a_rebuild_gives_the_same_tables(twin)


# ---- footfall --------------------------------------------------------------------------------
def count(twin: ValleyTwin, beacon: str, start: datetime, value: int) -> int:
    """Record a quarter hour's count; return its version."""
    return twin.count_footfall(beacon, start, start + timedelta(minutes=15), value).version


def move_to_the_port(twin: ValleyTwin) -> None:
    twin.change(Beacon, "BE-1", lambda b: b.move(HERE, "34114", "Z-PORT", t(1, 11)))


@pytest.mark.parametrize("mode", MODES)
def test_a_corrected_footfall_count_changes_its_hour_in_the_zone_it_was_counted_in(
    twin: ValleyTwin, mode: str
) -> None:
    step = Steps(twin, mode)
    count(twin, "BE-1", t(1, 10), 12)
    step()
    typo = count(twin, "BE-1", t(1, 10, 15), 300)
    step()
    count(twin, "BE-2", t(1, 10), 5)
    step()
    move_to_the_port(twin)  # before the correction: the count stays in the centre's hour
    step()
    count(twin, "BE-1", t(1, 11), 8)
    step()
    wrong = count(twin, "BE-2", t(1, 12), 7)  # BE-2's only count of its hour
    step()
    twin.correct_fact("BE-1", {"count": 30}, "agent", "an extra zero", version=typo)
    step()
    twin.retract_fact("BE-2", "agent", "a test of the scanner", version=wrong)
    step()
    count(twin, "BE-1", t(1, 11, 15), 4)
    step.finish()

    with right_log() as right:
        count(right, "BE-1", t(1, 10), 12)
        count(right, "BE-1", t(1, 10, 15), 30)
        count(right, "BE-2", t(1, 10), 5)
        move_to_the_port(right)
        count(right, "BE-1", t(1, 11), 8)
        count(right, "BE-1", t(1, 11, 15), 4)
        catch_up(right)
        for table, order in [
            ("footfall_hourly", "zone_code, hour"),
            ("footfall_scanner_hourly", "scanner_hour"),
            ("footfall_beacons", "beacon_id"),
        ]:
            assert rows(twin, table, order) == rows(right, table, order)
        for beacon in ("BE-1", "BE-2"):
            columns = ("footfall_total", "counted_until", "zone_code")
            assert asset(twin, beacon, columns) == asset(right, beacon, columns)
    centre = {r["hour"]: r for r in rows(twin, "footfall_hourly", "zone_code, hour")}
    assert (centre[t(1, 10)]["devices"], centre[t(1, 10)]["scanners"]) == (47, 2)
    assert t(1, 12) not in centre
    assert_a_rebuild_gives_the_same_tables(twin)


# ---- facts only asset_state shows -------------------------------------------------------------
def test_a_corrected_battery_or_occupancy_reaches_the_state_and_nothing_else(
    twin: ValleyTwin,
) -> None:
    twin.measure_fill_level("B-1", 40.0, t(1, 10))
    battery = twin.change(
        Bin, "B-1", lambda b: b.report_sensor_battery(9.0, t(1, 11), device_id=SENSOR)
    ).version
    occupancy = twin.change(Site, "EP-1", lambda s: s.count_occupancy(400, t(1, 12))).version
    twin.meter_energy("EP-1", 16_000.0, t(1))
    twin.meter_energy("EP-1", 16_200.0, t(2))
    catch_up(twin)
    views = dump(twin)

    twin.correct_fact("B-1", {"battery_percent": 90.0}, "agent", "a digit lost", version=battery)
    twin.correct_fact("EP-1", {"occupancy": 40}, "agent", "a zero too many", version=occupancy)
    catch_up(twin)

    assert asset(twin, "B-1", ("battery_percent",)) == {"battery_percent": 90.0}
    assert asset(twin, "EP-1", ("occupancy",)) == {"occupancy": 40}
    changed = {name for name, table in dump(twin).items() if table != views[name]}
    assert changed == {"asset_state"}
    assert_a_rebuild_gives_the_same_tables(twin)


def test_every_projection_that_applies_amendable_facts_can_forget_them() -> None:
    for projection in PROJECTIONS.values():
        amendable = [cls for cls in projection.handlers if getattr(cls, "CORRECTABLE", None)]
        assert bool(amendable) == bool(projection.amendment_topics), projection.name
        assert set(projection.amendment_topics) <= set(projection.topics)
        if amendable:
            assert type(projection).forget is not Projection.forget, projection.name
