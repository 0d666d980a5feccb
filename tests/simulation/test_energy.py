"""Energy: night lengths against published tables, a retrofit computed by hand, exact replay."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain import Site
from domain.history import corrected
from simulation.energy import (
    EnergyFigure,
    LightingCabinet,
    LightingSchedule,
    PublicBuilding,
    building_energy,
    cabinets_from_events,
    day_length_hours,
    led_retrofit,
    lighting_energy,
    lighting_energy_for_hours,
    night_hours,
    night_profile,
    recorded_energy,
)
from simulation.parameters.energy import VALLEY_LATITUDE_DEG, EnergyTariff

MINUTE = 1 / 60
T0 = datetime(2024, 1, 1, tzinfo=UTC)


# --- Night length ------------------------------------------------------------------------------
# Published day lengths at 43.65°N — Toronto, at the valley's latitude (day length depends on
# latitude and date only; longitude only moves the clock times):
#   2010-06-21  15 h 26 min 45 s   (3edgesword.blogspot.com, Aug. 2010)
#   2006-12-21   8 h 55 min        (sunrise 7:47, sunset 16:43; asehr.blogspot.com)
#   2025-03-20  12 h 10 min        (sunposition-ralphb.blogspot.com, Mar. 2025)
TORONTO = (VALLEY_LATITUDE_DEG, -79.38)


@pytest.mark.parametrize(
    ("day", "published_hours"),
    [
        (date(2010, 6, 21), 15 + 26.75 / 60),
        (date(2006, 12, 21), 8 + 55 / 60),
        (date(2025, 3, 20), 12 + 10 / 60),
    ],
)
def test_day_and_night_lengths_at_43_65_north_match_published_values(
    day: date, published_hours: float
) -> None:
    assert day_length_hours(day, *TORONTO) == pytest.approx(published_hours, abs=10 * MINUTE)
    # At the valley: the night that starts that day is what the day leaves of 24 h, within the
    # minute or two the day length changes overnight.
    assert night_hours(day) == pytest.approx(24 - published_hours, abs=10 * MINUTE)


def test_a_year_of_nights_is_close_to_the_published_burning_hours() -> None:
    nights = night_profile(date(2024, 1, 1), 366).night_hours
    # Syndicat de l'éclairage / AFE: 3,500–4,300 h a year; sunset-to-sunrise is the upper bound.
    assert 4_250 < nights.sum() < 4_400
    assert nights.min() == pytest.approx(8.55, abs=0.1) and nights.max() == pytest.approx(
        15.08, abs=0.1
    )


# --- The retrofit case, by hand --------------------------------------------------------------
# 100 points × 150 W high-pressure sodium + 10 % ballast = 16.5 kW, 4,000 h:
#   66,000 kWh; × 0.11 €/kWh = 7,260 €; × 0.048 kg/kWh = 3,168 kg CO2.
# LED at 60 W: 6 kW × 4,000 h = 24,000 kWh; 2,640 €; 1,152 kg.
# LED dimmed to 50 % from 23:00 to 05:00 every night (6 h × 365 = 2,190 h):
#   6 kW × (4,000 − 2,190 × 0.5) h = 17,430 kWh; 1,917.30 €; 836.64 kg.
# LED dimmed 23:00–01:00 and off 01:00–05:00 (730 h dimmed, 1,460 h off):
#   6 kW × (4,000 − 1,460 − 730 × 0.5) h = 13,050 kWh; 1,435.50 €; 626.40 kg.
TARIFF = EnergyTariff(price_eur_per_kwh=0.11, co2_kg_per_kwh=0.048)
SODIUM = LightingCabinet(code="EP-1", commune_insee="34114", light_points=100, point_power_w=150.0)


def figures(figure: EnergyFigure) -> tuple[float, float, float]:
    return (round(figure.kwh, 6), round(figure.cost_eur, 6), round(figure.co2_kg, 6))


def test_the_retrofit_case_computed_by_hand() -> None:
    led = led_retrofit(SODIUM, led_power_w=60.0)
    dimmed = led.with_schedule(LightingSchedule(50.0, "23:00", "05:00"))
    assert SODIUM.power_kw == pytest.approx(16.5) and led.power_kw == pytest.approx(6.0)
    assert figures(lighting_energy_for_hours(SODIUM, 4_000, tariff=TARIFF)) == (
        66_000,
        7_260,
        3_168,
    )
    assert figures(lighting_energy_for_hours(led, 4_000, tariff=TARIFF)) == (24_000, 2_640, 1_152)
    assert figures(lighting_energy_for_hours(dimmed, 4_000, dimmed_hours=2_190, tariff=TARIFF)) == (
        17_430,
        1_917.3,
        836.64,
    )
    assert figures(
        lighting_energy_for_hours(dimmed, 4_000, dimmed_hours=730, off_hours=1_460, tariff=TARIFF)
    ) == (13_050, 1_435.5, 626.4)
    assert led_retrofit(SODIUM).point_power_w == pytest.approx(60.0)  # the assumed 0.4 factor


def test_the_astronomical_year_dims_exactly_six_hours_a_night_daylight_saving_included() -> None:
    led = led_retrofit(SODIUM, led_power_w=60.0)
    schedule = LightingSchedule(50.0, "23:00", "05:00")
    full_year = night_profile(date(2024, 1, 1), 366)
    dimmed = night_profile(date(2024, 1, 1), 366, schedule)
    assert dimmed.dimmed_hours.sum() == pytest.approx(6 * 366)
    report = lighting_energy(
        [led, led.with_schedule(schedule)], date(2024, 1, 1), date(2025, 1, 1), TARIFF
    )
    plain, with_dimming = (row.kwh for row in report.rows)
    assert plain == pytest.approx(6.0 * full_year.night_hours.sum())
    assert with_dimming == pytest.approx(6.0 * (full_year.night_hours.sum() - 6 * 366 * 0.5))


def test_windows_follow_the_local_clock_across_daylight_saving_changes() -> None:
    schedule = LightingSchedule(50.0, "23:00", "05:00", "01:00", "04:00")
    # 2024-03-30/31: 02:00 CET → 03:00 CEST, the window lasts 5 h; 2024-10-26/27: 7 h.
    spring = night_profile(date(2024, 3, 29), 3, schedule)
    autumn = night_profile(date(2024, 10, 25), 3, schedule)
    assert list(spring.dimmed_hours + spring.off_hours) == [6.0, 5.0, 6.0]
    assert list(spring.off_hours) == [3.0, 2.0, 3.0]  # 01:00–04:00, less the skipped hour
    assert list(autumn.dimmed_hours + autumn.off_hours) == [6.0, 7.0, 6.0]
    assert list(autumn.off_hours) == [3.0, 4.0, 3.0]


def test_a_window_running_into_daylight_only_counts_while_lit() -> None:
    evening = LightingSchedule(0.0, None, None, "18:00", "23:00")  # off from 18:00 local
    june, december = (
        night_profile(date(2024, 6, 21), 1, evening),
        night_profile(date(2024, 12, 21), 1, evening),
    )
    # June: lit from about 21:30 local, so only 23:00 − sunset is off; December: all five hours.
    sunset_june = night_profile(date(2024, 6, 21), 1).sunsets[0]
    assert june.off_hours[0] == pytest.approx(
        (datetime(2024, 6, 21, 21, tzinfo=UTC) - sunset_june) / timedelta(hours=1)
    )
    assert 1.4 < june.off_hours[0] < 1.6
    assert december.off_hours[0] == pytest.approx(5.0)
    never = night_profile(
        date(2024, 12, 21), 1, LightingSchedule(0.0, None, None, "01:00", "01:00")
    )
    assert never.off_hours[0] == 0.0


# --- Reports -------------------------------------------------------------------------------------


def test_energy_per_site_commune_and_year() -> None:
    cabinets = [
        LightingCabinet("EP-A", "34114", 10, 100.0, ballast_loss=0.0),
        LightingCabinet("EP-B", "34010", 20, 100.0, ballast_loss=0.0),
    ]
    buildings = [PublicBuilding("MAIRIE-GIGNAC", "34114", floor_area_m2=1_000.0)]
    start, end = date(2024, 7, 1), date(2025, 7, 1)
    report = lighting_energy(cabinets, start, end, TARIFF) + building_energy(
        buildings, start, end, TARIFF
    )
    nights = night_profile(start, (end - start).days).night_hours
    lighting = nights.sum()
    assert report.by_site()["EP-B"].kwh == pytest.approx(2 * report.by_site()["EP-A"].kwh)
    assert report.by_site()["EP-A"].kwh == pytest.approx(1.0 * lighting)
    # 150 kWh/m² a year: 184/366 of 2024 and 181/365 of 2025.
    building = 150_000 * (184 / 366 + 181 / 365)
    assert report.by_commune()["34114"].kwh == pytest.approx(lighting + building)
    assert report.by_commune()["34010"].kwh == pytest.approx(2 * lighting)
    assert set(report.by_year()) == {2024, 2025}
    assert report.by_year()[2024].kwh == pytest.approx(3 * nights[:184].sum() + 150_000 * 184 / 366)
    assert report.total().cost_eur == pytest.approx(report.total().kwh * 0.11)
    assert report.by_use()["building"].co2_kg == pytest.approx(building * 0.048)


def test_cabinets_from_the_log_follow_their_schedule_changes() -> None:
    site = Site.register(
        code="EP-9",
        name="Armoire 9",
        site_kind="lighting_cabinet",
        geometry_wkt="POINT (752000 6283000)",
        commune_insee="34114",
        at=T0,
        light_points=40,
        point_power_w=100.0,
    )
    site.change_lighting_schedule(
        datetime(2024, 1, 3, 12, tzinfo=UTC), off_from="00:00", off_to="05:00"
    )
    [cabinet] = cabinets_from_events(site.collect_events())
    assert (cabinet.code, cabinet.light_points, cabinet.power_kw) == (
        "EP-9",
        40,
        pytest.approx(4.4),
    )
    report = lighting_energy([cabinet], date(2024, 1, 1), date(2024, 1, 5), TARIFF)
    nights = night_profile(date(2024, 1, 1), 4).night_hours
    assert report.total().kwh == pytest.approx(
        4.4 * (nights.sum() - 2 * 5)
    )  # off from the third night


# --- Replay of recorded energy -------------------------------------------------------------------


def metered_site() -> Site:
    site = Site.register(
        code="MAIRIE",
        name="Mairie",
        site_kind="public_building",
        geometry_wkt="POINT (752000 6283000)",
        commune_insee="34114",
        at=T0,
    )
    readings = [  # (UTC time, index) — local midnight is 23:00 UTC in winter
        (datetime(2024, 1, 1, 23, tzinfo=UTC), 1_000.5),
        (datetime(2024, 1, 2, 11, tzinfo=UTC), 1_010.0),
        (datetime(2024, 1, 2, 23, tzinfo=UTC), 1_030.25),
        (datetime(2024, 1, 3, 5, tzinfo=UTC), 1_031.0),
    ]
    for moment, index in readings:
        site.meter_energy(index, moment)
    site.replace_meter(1_040.0, 3.0, datetime(2024, 1, 3, 17, tzinfo=UTC))
    site.meter_energy(10.5, datetime(2024, 1, 3, 23, tzinfo=UTC))
    site.meter_energy(12.0, datetime(2024, 1, 5, 23, tzinfo=UTC))  # two days in one interval
    return site


def test_replay_reproduces_recorded_energy_exactly() -> None:
    site = metered_site()
    recorded = recorded_energy(site.collect_events())
    assert recorded.total_kwh[site.id] == site.consumption_kwh == 1_040.0 - 1_000.5 + 12.0 - 3.0
    assert recorded.meter_replacements[site.id] == site.meter_replacements == 1
    # Each interval on the local day of its middle: 9.5 + 20.25 on 2 Jan; 0.75 + 9.0 + 7.5 on
    # 3 Jan (the replacement closes the old meter at 1,040); 1.5 on 5 Jan (middle of 3→5 Jan).
    assert recorded.daily_kwh[site.id] == {
        date(2024, 1, 2): 29.75,
        date(2024, 1, 3): 17.25,
        date(2024, 1, 5): 1.5,
    }
    [row] = recorded.report(TARIFF).rows
    assert (row.site, row.commune_insee, row.year, row.kwh) == ("MAIRIE", "34114", 2024, 48.5)


def test_replay_matches_the_aggregate_to_the_last_bit_on_decimal_readings() -> None:
    site = Site.register(
        code="ECOLE",
        name="École",
        site_kind="public_building",
        geometry_wkt="POINT (752000 6283000)",
        commune_insee="34114",
        at=T0,
    )
    index = 12_345.6
    for hour in range(24 * 30):
        index += 0.1 * (hour % 7) + 0.3
        site.meter_energy(round(index, 1), T0 + timedelta(hours=hour))
    recorded = recorded_energy(site.collect_events())
    assert recorded.total_kwh[site.id] == site.consumption_kwh
    assert sum(recorded.daily_kwh[site.id].values()) == pytest.approx(
        site.consumption_kwh, rel=1e-12
    )
    assert len(recorded.daily_kwh[site.id]) == 30


def test_an_index_going_down_in_world_time_without_a_replacement_stops_the_replay() -> None:
    first, second = metered_site().collect_events()[1:3]
    lower = corrected(second, {"index_kwh": first.index_kwh - 1.0})  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="no meter replacement"):
        recorded_energy([first, lower])


def test_indexes_arriving_late_are_counted_in_world_time() -> None:
    events = metered_site().collect_events()
    in_order = recorded_energy(events)
    arrived = recorded_energy([events[0], *reversed(events[1:])])
    assert arrived.daily_kwh == in_order.daily_kwh
    assert arrived.total_kwh == in_order.total_kwh
