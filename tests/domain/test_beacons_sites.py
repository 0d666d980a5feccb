from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import (
    Beacon,
    InvalidValueError,
    OutOfOrderError,
    OutOfRangeError,
    Position,
    RetiredAssetError,
    Site,
)
from tests.conftest import T0, at

HERE = Position(752_000.0, 6_283_000.0)


def new_beacon() -> Beacon:
    return Beacon.install(
        code="BLE-1", zone_code="ZAE-CAMALCE", position=HERE, commune_insee="34114", at=T0
    )


def new_cabinet() -> Site:
    return Site.register(
        code="EP-1",
        name="Armoire 1",
        site_kind="lighting_cabinet",
        geometry_wkt="POINT (752000 6283000)",
        commune_insee="34114",
        at=T0,
        light_points=40,
        point_power_w=140,
    )


def test_footfall_counts_accumulate_and_are_dated_at_interval_end() -> None:
    beacon = new_beacon()
    beacon.count_footfall(at(1), at(1, hours=1), 12)
    beacon.count_footfall(at(1, hours=1), at(1, hours=2), 30)
    assert (beacon.total_count, beacon.last_count, beacon.counted_until) == (42, 30, at(1, hours=2))
    assert beacon.collect_events()[-1].timestamp == at(1, hours=2)


@pytest.mark.parametrize(
    ("start", "end", "count", "error", "field"),
    [
        (at(1, hours=1), at(1), 3, OutOfRangeError, "interval_end"),
        (at(1), at(3), 3, OutOfRangeError, "interval_end"),
        (at(1), at(1, hours=1), -1, OutOfRangeError, "count"),
        (at(1), at(1, hours=1), 2.5, InvalidValueError, "count"),
    ],
)
def test_bad_counts_are_rejected(start, end, count, error, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error) as raised:
        new_beacon().count_footfall(start, end, count)
    assert raised.value.field == field


def test_overlapping_intervals_are_rejected() -> None:
    beacon = new_beacon()
    beacon.count_footfall(at(1), at(1, hours=1), 5)
    with pytest.raises(OutOfOrderError) as raised:
        beacon.count_footfall(at(1, hours=0.5), at(1, hours=2), 5)
    assert raised.value.field == "interval_start"


def test_decommissioned_beacon_accepts_nothing_more() -> None:
    beacon = new_beacon()
    beacon.report_battery(80, at(1))
    beacon.decommission("vandalised", at(2))
    with pytest.raises(RetiredAssetError):
        beacon.report_battery(70, at(3))


def test_energy_index_may_only_decrease_after_a_meter_replacement() -> None:
    site = new_cabinet()
    site.meter_energy(1000, at(1))
    site.meter_energy(1150, at(2))
    with pytest.raises(OutOfRangeError, match="meter replacement") as raised:
        site.meter_energy(20, at(3))
    assert raised.value.field == "index_kwh" and raised.value.value == 20
    site.replace_meter(final_index_kwh=1160, new_index_kwh=0, at=at(3))
    site.meter_energy(20, at(4))
    assert site.consumption_kwh == pytest.approx(150 + 10 + 20)
    assert site.meter_replacements == 1


@pytest.mark.slow
@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=30))
def test_consumption_is_last_minus_first_index_without_replacement(increments: list[float]) -> None:
    site = new_cabinet()
    index = 0.0
    for day, increment in enumerate(increments, start=1):
        index += increment
        site.meter_energy(index, at(day))
    assert site.consumption_kwh == pytest.approx(index - increments[0], rel=1e-9, abs=1e-6)


def test_lighting_schedule_and_opening_hours() -> None:
    site = new_cabinet()
    site.change_lighting_schedule(at(1), dim_percent=50, dim_from="23:00", dim_to="05:00")
    assert site.lighting_schedule == {
        "dim_percent": 50.0,
        "dim_from": "23:00",
        "dim_to": "05:00",
        "off_from": None,
        "off_to": None,
    }
    with pytest.raises(InvalidValueError) as raised:
        site.change_lighting_schedule(at(2), off_from="25:00", off_to="05:00")
    assert raised.value.field == "off_from"
    site.change_opening_hours({"mon": ["08:00-12:00", "14:00-18:00"]}, at(3))
    with pytest.raises(OutOfRangeError):
        site.change_opening_hours({"tue": ["18:00-08:00"]}, at(4))


def test_site_geometry_must_be_valid_wkt() -> None:
    with pytest.raises(InvalidValueError) as raised:
        Site.register(
            code="X",
            name="X",
            site_kind="third_place",
            geometry_wkt="POINT (1",
            commune_insee="34114",
            at=T0,
        )
    assert raised.value.field == "geometry_wkt"


def test_public_building_has_no_lighting_schedule() -> None:
    hall = Site.register(
        code="MAIRIE",
        name="Mairie",
        site_kind="public_building",
        geometry_wkt="POINT (752000 6283000)",
        commune_insee="34114",
        at=T0,
    )
    with pytest.raises(InvalidValueError) as raised:
        hall.change_lighting_schedule(at(1), dim_percent=50, dim_from="23:00", dim_to="05:00")
    assert raised.value.field == "site_kind"
