"""Lighting, footfall and childcare scenarios: validation, figures checked by hand, seeds."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from scenarios import ScenarioError, load_scenario, run_scenario, shipped_scenarios
from scenarios.schema import Scenario, known_creches, validate
from simulation import assumed_arrivals, erlang_c, night_hours
from simulation.footfall import expected_visitors
from twin import load_geography
from twin.inventory import INHABITANTS_PER_LIGHT_POINT

ANIANE = "34010"
RUN = {"seed": 3, "replications": 1, "horizon_days": 7, "start": "2024-01-08"}


def lighting(**table: Any) -> Scenario:
    return validate(
        {
            "subject": "lighting",
            "title": "lights",
            "question": "?",
            "run": RUN,
            "inventory": {"seed": 20240601, "communes": [ANIANE]},
            "lighting": table,
        },
        source="lights.toml",
    )


def footfall(festival: dict[str, Any] | None = None, **table: Any) -> Scenario:
    doc: dict[str, Any] = {
        "subject": "footfall",
        "title": "visitors",
        "question": "?",
        "run": {"seed": 5, "replications": 12, "horizon_days": 14, "start": "2024-07-01"},
        "footfall": {"site": "SITE-SAINT-GUILHEM", "capacity": 2500, **table},
    }
    if festival is not None:
        doc["festival"] = festival
    return validate(doc, source="visitors.toml")


def childcare(**table: Any) -> Scenario:
    return validate(
        {
            "subject": "childcare",
            "title": "crèche",
            "question": "?",
            "run": {"seed": 9, "replications": 30, "horizon_days": 3652, "start": "2025-01-01"},
            "childcare": {"creche": "CRECHE-34010", **table},
        },
        source="creche.toml",
    )


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "key", "value", "expected"),
    [
        ({"subject": "parking"}, "subject", "parking", "one of"),
        ({"policy": {"kind": "fixed"}}, "policy", {"kind": "fixed"}, "belongs to subject 'waste'"),
        ({"festival": {"name": "x"}}, "festival", {"name": "x"}, "belongs to subject 'footfall'"),
        (
            {"lighting": {"dim_from": "23:00"}},
            "lighting.dim_to",
            None,
            "both ends of the dim window",
        ),
        (
            {"lighting": {"off_from": "25:00", "off_to": "05:00"}},
            "lighting.off_from",
            "25:00",
            "local time",
        ),
        ({"lighting": {"dim_percent": 150}}, "lighting.dim_percent", 150.0, "0–100"),
        ({"lighting": {"led_power_w": -4}}, "lighting.led_power_w", -4.0, "> 0"),
        (
            {"kpis": {"focus": ["truck_km"]}},
            "kpis.focus",
            "truck_km",
            "KPI names of subject 'lighting'",
        ),
        (
            {"inventory": {"seed": 1, "streams": ["glass"]}},
            "inventory.streams",
            ["glass"],
            "no waste streams",
        ),
        ({"run": {"replications": 3}}, "run.replications", 3, "nothing random to replicate"),
    ],
)
def test_lighting_files_are_checked_naming_key_and_value(
    doc: dict[str, Any], key: str, value: Any, expected: str
) -> None:
    base: dict[str, Any] = {
        "subject": "lighting",
        "title": "t",
        "question": "q",
        "run": RUN,
        "inventory": {"seed": 1},
        "lighting": {"led": True},
    }
    for name, table in doc.items():
        base[name] = {**base[name], **table} if isinstance(base.get(name), dict) else table
    with pytest.raises(ScenarioError) as caught:
        validate(base, source="bad.toml")
    assert caught.value.file == "bad.toml"
    assert caught.value.key == key and caught.value.value == value
    assert expected in caught.value.expected


def test_a_lighting_scenario_needs_its_table_and_a_waste_one_its_policy() -> None:
    with pytest.raises(ScenarioError, match=r"lighting = None: expected a \[lighting\] table"):
        validate(
            {
                "subject": "lighting",
                "title": "t",
                "question": "q",
                "run": RUN,
                "inventory": {"seed": 1},
            }
        )
    with pytest.raises(ScenarioError, match=r"policy = None: expected a \[policy\] table"):
        validate({"title": "t", "question": "q", "run": RUN, "inventory": {"seed": 1}})


def test_footfall_and_childcare_files_are_checked() -> None:
    with pytest.raises(
        ScenarioError, match="footfall.site = 'SITE-ST-GUILHEM'.*did you mean 'SITE-SAINT-GUILHEM'"
    ):
        footfall(site="SITE-ST-GUILHEM")
    with pytest.raises(
        ScenarioError, match="footfall.visitors_per_year = None: expected a yearly visitor count"
    ):
        footfall(site="SITE-CLAMOUSE")
    assert footfall(site="SITE-CLAMOUSE", visitors_per_year=120_000).footfall is not None
    with pytest.raises(
        ScenarioError, match="festival.last_day = '2024-07-01': expected a day on or after"
    ):
        footfall(
            {"name": "f", "first_day": "2024-07-03", "last_day": "2024-07-01", "multiplier": 2}
        )
    with pytest.raises(ScenarioError, match="footfall.capacity = -1.0"):
        footfall(capacity=-1)
    with pytest.raises(
        ScenarioError, match="childcare.creche = 'CRECHE-34267': expected crèches of the valley"
    ):
        childcare(creche="CRECHE-34267")  # Saint-Jean-de-Fos is too small for a crèche
    with pytest.raises(ScenarioError, match="childcare.mean_stay_years = 5.0"):
        childcare(mean_stay_years=5)


def test_every_shipped_scenario_is_valid() -> None:
    subjects = {load_scenario(path).subject for path in shipped_scenarios()}
    assert subjects == {"waste", "lighting", "footfall", "childcare"}


# --- lighting --------------------------------------------------------------------------------


@pytest.mark.slow
def test_todays_lamps_burn_every_night_hour_at_their_power_with_ballast() -> None:
    result = run_scenario(lighting(led=False))
    aniane = load_geography().commune(ANIANE)
    points = max(1, round(aniane.population / INHABITANTS_PER_LIGHT_POINT))
    hours = sum(night_hours(date(2024, 1, 8) + timedelta(days=n)) for n in range(7))
    assert result.kpis["light_points"].mean == points
    assert result.kpis["electricity_kwh"].mean == pytest.approx(
        points * 0.140 * 1.1 * hours, rel=1e-9
    )
    assert result.kpis["kwh_saved"].mean == pytest.approx(0.0, abs=1e-6)
    assert result.economics is None  # nothing bought, nothing to repay
    assert math.isnan(
        result.kpis["electricity_kwh"].low
    )  # computed once: no interval, never a fake one
    assert len(result.series) == 7 and sum(
        r["electricity_kwh"] for r in result.series
    ) == pytest.approx(result.kpis["electricity_kwh"].mean)
    assert {p.commune for p in result.places} == {ANIANE} and len(result.places) >= 1


@pytest.mark.slow
def test_an_led_retrofit_saves_the_ballast_and_60_percent_of_the_lamp_and_is_appraised() -> None:
    today, led = run_scenario(lighting(led=False)), run_scenario(lighting(led=True))
    before = today.kpis["electricity_kwh"].mean
    # 140 W + 10 % ballast → 0.4 × 140 = 56 W with no ballast.
    assert led.kpis["electricity_kwh"].mean == pytest.approx(before * 56 / 154, rel=1e-9)
    assert led.kpis["kwh_saved"].mean == pytest.approx(before * (1 - 56 / 154), rel=1e-9)
    assert led.kpis["eur_saved"].mean == pytest.approx(led.kpis["kwh_saved"].mean * 0.11)
    e = led.economics
    assert e is not None
    points = led.kpis["light_points"].mean
    assert e.investment_eur == points * 600
    yearly = led.kpis["eur_saved"].mean * 365 / 7
    assert e.annual_savings_eur == pytest.approx(yearly)
    assert e.payback_years == pytest.approx(points * 600 / yearly)


@pytest.mark.slow
def test_dimming_and_switching_off_save_more_and_buy_a_controller_per_cabinet() -> None:
    led = run_scenario(lighting(led=True))
    dimmed = run_scenario(lighting(led=True, dim_percent=50, dim_from="23:00", dim_to="05:00"))
    off = run_scenario(
        lighting(
            led=True,
            dim_percent=50,
            dim_from="23:00",
            dim_to="05:00",
            off_from="01:00",
            off_to="05:00",
        )
    )
    kwh = [r.kpis["electricity_kwh"].mean for r in (led, dimmed, off)]
    assert kwh[0] > kwh[1] > kwh[2] > 0
    # 23:00–05:00 local in January is 6 h of each night at half power: 3 h saved a night.
    assert kwh[0] - kwh[1] == pytest.approx(
        led.kpis["electricity_kwh"].mean / led.kpis["full_power_hours"].mean * 3 * 7
    )
    assert dimmed.economics is not None and off.economics is not None
    cabinets = len(dimmed.places)
    assert dimmed.economics.investment_eur == led.kpis["light_points"].mean * 600 + cabinets * 1500


# --- footfall --------------------------------------------------------------------------------


def test_assumed_arrivals_hold_the_published_yearly_visitors() -> None:
    model = assumed_arrivals("SITE-SAINT-GUILHEM", 650_000)
    year = expected_visitors(model, datetime(2023, 1, 1, tzinfo=UTC), 365 * 24)
    assert year.total() == pytest.approx(650_000, rel=0.03)  # months of unequal length
    july = expected_visitors(model, datetime(2023, 7, 1, tzinfo=UTC), 31 * 24).total()
    january = expected_visitors(model, datetime(2023, 1, 1, tzinfo=UTC), 31 * 24).total()
    assert july > 5 * january  # summer 58 % of the Hérault's stays, winter 7 %


def test_visitors_estimate_covers_the_expected_number_and_a_festival_adds_its_multiplier() -> None:
    plain = run_scenario(footfall())
    model = assumed_arrivals("SITE-SAINT-GUILHEM", 650_000)
    expected = expected_visitors(model, datetime(2024, 7, 1, tzinfo=UTC), 14 * 24).total()
    est = plain.kpis["visitors"]
    assert est.replications == 12 and est.low <= expected <= est.high
    assert plain.kpis["visitor_waste_kg"].mean == pytest.approx(est.mean * 0.1)
    festival = run_scenario(
        footfall(
            {"name": "Fête", "first_day": "2024-07-05", "last_day": "2024-07-07", "multiplier": 3.0}
        )
    )
    days = {row["day"]: row["visitors"] for row in festival.series}
    usual = {row["day"]: row["visitors"] for row in plain.series}
    on = sum(days[d] for d in ("2024-07-05", "2024-07-06", "2024-07-07"))
    base = sum(usual[d] for d in ("2024-07-05", "2024-07-06", "2024-07-07"))
    assert 2.6 < on / base < 3.4
    assert festival.kpis["peak_present"].mean > plain.kpis["peak_present"].mean
    assert festival.kpis["hours_over_capacity"].mean >= plain.kpis["hours_over_capacity"].mean
    assert festival.places[0].code == "SITE-SAINT-GUILHEM" and festival.places[0].commune == "34261"


def test_footfall_runs_are_reproducible() -> None:
    assert run_scenario(footfall()).kpis == run_scenario(footfall()).kpis
    assert run_scenario(footfall()).kpis != run_scenario(footfall().reseeded(6)).kpis


# --- childcare -------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_creche_queue_agrees_with_erlang_c_and_more_places_shorten_the_wait() -> None:
    places = known_creches()["CRECHE-34010"]  # Aniane: 18 places
    # 7 requests a year, 2-year stays: 14 erlangs on 18 places (utilisation 0.78).
    today = run_scenario(childcare(requests_per_year=7.0))
    theory = erlang_c(places, 7.0, 2.0)  # in years
    assert today.kpis["places"].mean == places
    util = today.kpis["utilisation"]
    assert util.low <= theory.utilisation <= util.high
    assert today.kpis["requests"].mean == pytest.approx(7.0 * 10, rel=0.05)
    # Waits are rare and long (P(wait) 0.23, 42 days on average): over a century the waiting
    # share settles near Erlang C; a decade is too short for the mean wait to (see docs/validation.md).
    century = run_scenario(
        replace(
            childcare(requests_per_year=7.0), run=replace(today.scenario.run, horizon_days=36_525)
        )
    )
    assert century.kpis["share_waited"].mean == pytest.approx(theory.p_wait, abs=0.06)
    assert century.kpis["mean_wait_days"].mean == pytest.approx(
        theory.mean_wait_hours * 365.25, rel=0.4
    )
    more = run_scenario(childcare(requests_per_year=7.0, extra_places=6))
    assert more.kpis["places"].mean == places + 6
    assert more.kpis["mean_wait_days"].mean < today.kpis["mean_wait_days"].mean
    assert more.kpis["running_cost_eur"].mean == pytest.approx(
        (places + 6) * 16_000 * 3652 / 365.25
    )
    assert today.kpis == run_scenario(childcare(requests_per_year=7.0)).kpis
    assert today.series and all(str(row["day"]) >= "2025-01-01" for row in today.series)


def test_default_requests_follow_the_assumed_ratio_to_places() -> None:
    from scenarios.childcare import childcare_model

    model = childcare_model(replace(childcare(), run=replace(childcare().run, horizon_days=10)))
    assert model.servers == 18
    assert model.arrivals_per_hour * 365.25 * 24 == pytest.approx(18 * 15 / 30)


# --- the report ------------------------------------------------------------------------------


@pytest.mark.slow
def test_subject_reports_show_their_sentence_series_map_places_and_economics(tmp_path) -> None:  # noqa: ANN001
    import json

    from scenarios import report_input, write_report

    july = run_scenario(footfall())
    fest = run_scenario(
        footfall(
            {"name": "Fête", "first_day": "2024-07-05", "last_day": "2024-07-07", "multiplier": 3.0}
        )
    )
    page = write_report(tmp_path / "fest", [report_input("july", july), report_input("fest", fest)])
    html = page.read_text(encoding="utf-8")
    assert "Against visitors, visitors over 2 weeks: visitors +" in html
    assert 'id="map-0-places"' in html and 'id="map-1-places"' in html
    assert "Day by day: visitors, and the most people on site at once" in html
    assert "01/07/2024 – 14/07/2024" in html  # the scenario's period, in the valley's days
    document = json.loads((tmp_path / "fest" / "kpis.json").read_text(encoding="utf-8"))
    assert {row["kpi"] for row in document["kpis"]} >= {
        "visitors",
        "peak_present",
        "hours_over_capacity",
    }

    today, led = run_scenario(lighting(led=False)), run_scenario(lighting(led=True))
    page = write_report(
        tmp_path / "light", [report_input("today", today), report_input("led", led)]
    )
    html = page.read_text(encoding="utf-8")
    assert 'id="economics-led"' in html and "LED luminaires fitted" in html
    assert "1 simulated run per scenario" in html and "CO2 emitted −" in html
    assert "Night by night" in html
