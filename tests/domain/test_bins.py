from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import (
    Bin,
    InvalidValueError,
    OutOfOrderError,
    OutOfRangeError,
    Position,
    RetiredAssetError,
    aggregate_id,
)
from tests.conftest import T0, at

HERE = Position(752_000.0, 6_283_000.0)


def new_bin(code: str = "B-TEST-1") -> Bin:
    return Bin.install(
        code=code,
        stream="glass",
        capacity_l=3000,
        position=HERE,
        commune_insee="34114",
        at=T0,
        depth_cm=180,
    )


def test_installed_bin_records_one_event_dated_in_the_world() -> None:
    bin_ = new_bin()
    (event,) = bin_.collect_events()
    assert isinstance(event, Bin.Installed)
    assert event.timestamp == T0
    assert bin_.stream == "glass" and bin_.capacity_l == 3000 and bin_.commune_insee == "34114"


def test_id_is_derived_from_the_asset_code_whatever_its_case() -> None:
    assert new_bin("ab-12").id == new_bin(" AB-12 ").id == aggregate_id("bin", "AB-12")
    assert new_bin("AB-12").id != new_bin("AB-13").id


def test_fill_levels_emptying_and_overflow_update_state() -> None:
    bin_ = new_bin()
    bin_.measure_fill_level(42.5, at(1))
    assert bin_.fill_percent == 42.5 and bin_.fill_litres() == pytest.approx(1275.0)
    bin_.report_overflow("citizen", at(2))
    bin_.empty("ROUND-7", 310.0, at(3))
    assert (bin_.fill_percent, bin_.emptied_count, bin_.emptied_mass_kg, bin_.overflow_count) == (
        0.0,
        1,
        310.0,
        1,
    )
    assert bin_.last_emptied_at == at(3)
    names = [type(e).__name__ for e in bin_.collect_events()]
    assert names == ["Installed", "FillLevelMeasured", "OverflowReported", "Emptied"]


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_fill_level_is_accepted_exactly_within_0_to_100(value: float) -> None:
    bin_ = new_bin()
    if 0.0 <= value <= 100.0:
        bin_.measure_fill_level(value, at(1))
        assert bin_.fill_percent == value
    else:
        with pytest.raises((OutOfRangeError, InvalidValueError)) as raised:
            bin_.measure_fill_level(value, at(1))
        assert raised.value.field == "fill_percent"
        assert bin_.fill_percent is None and bin_.version == 1


def test_error_message_names_rule_field_and_value() -> None:
    with pytest.raises(OutOfRangeError, match=r"at most 100.0 \(field 'fill_percent', value 130\)"):
        new_bin().measure_fill_level(130, at(1))


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("stream", {"stream": "nuclear"}),
        ("capacity_l", {"capacity_l": 0}),
        ("capacity_l", {"capacity_l": 2.5}),
        ("depth_cm", {"depth_cm": -3}),
        ("code", {"code": "  "}),
        ("at", {"at": datetime(2024, 1, 1)}),  # noqa: DTZ001 - the point of the test
    ],
)
def test_installation_rejects_bad_values_naming_the_field(
    field: str, overrides: dict[str, object]
) -> None:
    arguments: dict[str, object] = dict(
        code="B-1", stream="glass", capacity_l=660, position=HERE, commune_insee="34114", at=T0
    )
    arguments.update(overrides)
    with pytest.raises((InvalidValueError, OutOfRangeError)) as raised:
        Bin.install(**arguments)  # type: ignore[arg-type]
    assert raised.value.field == field


def test_a_late_measurement_is_kept_but_never_overwrites_a_newer_one() -> None:
    bin_ = new_bin()
    bin_.measure_fill_level(10, at(2))
    bin_.measure_fill_level(20, at(1))  # arrives late: history, not the current level
    assert (bin_.fill_percent, bin_.fill_measured_at) == (10, at(2))
    assert bin_.modified_on == at(2) and bin_.version == 3
    bin_.empty("R-1", 40.0, at(1.5))  # a late lift still counts, and leaves the newer level
    assert (bin_.emptied_count, bin_.emptied_mass_kg, bin_.fill_percent) == (1, 40.0, 10)
    bin_.report_sensor_battery(80, at(3), device_id="A84041000181C9B2")
    bin_.report_sensor_battery(90, at(2.5))
    assert bin_.sensor_battery_percent == 80


def test_facts_that_depend_on_order_must_come_in_world_time_order() -> None:
    bin_ = new_bin()
    bin_.measure_fill_level(10, at(2))
    with pytest.raises(OutOfOrderError) as raised:
        bin_.remove("worn out", at(1))  # removing it changes what every later fact means
    assert raised.value.field == "at"
    with pytest.raises(OutOfOrderError, match="exists since"):
        bin_.measure_fill_level(20, at(-1))  # before the bin was installed
    assert bin_.fill_percent == 10 and not bin_.retired


def test_sensor_lifecycle() -> None:
    bin_ = new_bin()
    with pytest.raises(InvalidValueError, match="no sensor"):
        bin_.report_sensor_fault("tilt", at(1))
    bin_.attach_sensor("a84041000181c9b2", at(1))
    assert bin_.sensor_device_id == "A84041000181C9B2"
    with pytest.raises(InvalidValueError, match="already attached"):
        bin_.attach_sensor("other", at(1))
    bin_.report_sensor_fault("tilt alarm", at(2))
    bin_.detach_sensor(at(3))
    assert bin_.sensor_device_id is None and bin_.sensor_fault_count == 1


def test_moved_bin_takes_its_new_position() -> None:
    bin_ = new_bin()
    bin_.move(Position(752_100.0, 6_283_050.0), "34239", at(1))
    assert (bin_.x_l93, bin_.y_l93, bin_.commune_insee) == (752_100.0, 6_283_050.0, "34239")


def test_removed_bin_accepts_nothing_more() -> None:
    bin_ = new_bin()
    bin_.remove("replaced by a buried column", at(1))
    with pytest.raises(RetiredAssetError) as raised:
        bin_.measure_fill_level(5, at(2))
    assert raised.value.value == "B-TEST-1"


def test_position_outside_lambert93_extent_is_rejected() -> None:
    with pytest.raises(OutOfRangeError) as raised:
        Position.checked(3.55, 43.65)  # degrees passed as metres
    assert raised.value.field == "y_l93"


def test_first_reading_from_a_device_attaches_it_and_others_are_refused() -> None:
    bin_ = new_bin()
    bin_.measure_fill_level(20, at(1), device_id="a84041000181c9b2")
    assert bin_.sensor_device_id == "A84041000181C9B2"
    with pytest.raises(InvalidValueError) as raised:
        bin_.measure_fill_level(30, at(2), device_id="0000000000000001")
    assert raised.value.field == "device_id" and bin_.fill_percent == 20
    bin_.report_sensor_battery(87, at(3), device_id="A84041000181C9B2")
    assert bin_.sensor_battery_percent == 87
    names = [type(e).__name__ for e in bin_.collect_events()]
    assert names == ["Installed", "SensorAttached", "FillLevelMeasured", "SensorBatteryReported"]
