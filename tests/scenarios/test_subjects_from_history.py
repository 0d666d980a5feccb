"""Lighting and footfall scenarios read from a twin's store ([history]) rather than the inventory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain import Beacon, Site, SiteKind
from scenarios import run_scenario
from scenarios.schema import Scenario, validate
from twin import load_geography, open_twin, plan_inventory

# Every test here reads one store holding months of recorded history, built once (about 3 s).
pytestmark = pytest.mark.slow

ANIANE = "34010"
SITE = "SITE-SAINT-GUILHEM"
DEVICES_PER_BEACON_HOUR = 11
FIT_FROM = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Aniane's cabinets (one dimmed since 1 January) and Saint-Guilhem's beacons, 28 days of counts."""
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'twin.sqlite'}"
    assets = plan_inventory(load_geography(), 20240601)
    cabinets = [
        a
        for a in assets
        if isinstance(a, Site)
        and a.site_kind == SiteKind.LIGHTING_CABINET
        and a.commune_insee == ANIANE
    ]
    beacons = [a for a in assets if isinstance(a, Beacon) and a.zone_code == SITE]
    cabinets[0].change_lighting_schedule(
        datetime(2024, 1, 2, tzinfo=UTC), dim_percent=50.0, dim_from="23:00", dim_to="05:00"
    )
    twin = open_twin(url)
    try:
        twin.add(*cabinets, *beacons)
        for hour in range(28 * 24):  # a steady 11 devices an hour at each beacon
            start = FIT_FROM + timedelta(hours=hour)
            for beacon in beacons:
                twin.count_footfall(
                    beacon.code, start, start + timedelta(hours=1), DEVICES_PER_BEACON_HOUR
                )
    finally:
        twin.close()
    return url


def scenario(
    subject: str, store: str, table: dict[str, Any], run: dict[str, Any], **extra: Any
) -> Scenario:
    return validate(
        {
            "subject": subject,
            "title": subject,
            "question": "?",
            "run": run,
            "history": {"store": store, "fit_days": 28},
            subject: table,
            **extra,
        },
        source=f"{subject}.toml",
    )


def test_footfall_is_fitted_on_the_sites_counts_before_the_start(store: str) -> None:
    # Fitted on 1–28 June, projected on 29–30 June: the same month, a flat rate.
    run = {"seed": 1, "replications": 10, "horizon_days": 2, "start": "2024-06-29"}
    result = run_scenario(scenario("footfall", store, {"site": SITE, "capacity": 5000}, run))
    # The site's three scanners stand within 100 m of each other and see the same crowd: the
    # fit takes the counts per scanner-hour (simulation.fit_arrivals), never their sum.
    per_hour = DEVICES_PER_BEACON_HOUR / 0.11  # devices / detection ratio
    # The valley's days start at 22:00 UTC in June: 29 June 00:00 local is 28 June 22:00 UTC,
    # inside the counts; the two days are whole local days.
    visitors = result.kpis["visitors"]
    assert visitors.low <= per_hour * 48 <= visitors.high
    assert "counts of SITE-SAINT-GUILHEM fitted on 28 days" in result.origin


def test_a_site_without_counts_in_the_window_is_a_clear_error(store: str) -> None:
    run = {"seed": 1, "replications": 2, "horizon_days": 2, "start": "2024-03-01"}
    with pytest.raises(ValueError, match="no footfall counts of SITE-SAINT-GUILHEM in sqlite:///"):
        run_scenario(scenario("footfall", store, {"site": SITE, "capacity": 5000}, run))


def test_lighting_today_follows_the_schedules_the_log_records(store: str) -> None:
    run = {"seed": 1, "replications": 1, "horizon_days": 7, "start": "2024-01-08"}
    recorded = run_scenario(
        scenario("lighting", store, {"led": False}, run, inventory={"communes": [ANIANE]})
    )
    planned = run_scenario(
        validate(
            {
                "subject": "lighting",
                "title": "t",
                "question": "?",
                "run": run,
                "inventory": {"seed": 20240601, "communes": [ANIANE]},
                "lighting": {"led": False},
            },
        )
    )
    # The scenario keeps today's lamps as recorded: the one dimmed cabinet uses less than planned,
    # and "today" (the baseline) already includes that dimming, so nothing is saved.
    assert recorded.kpis["electricity_kwh"].mean < planned.kpis["electricity_kwh"].mean
    assert recorded.kpis["kwh_saved"].mean == pytest.approx(0.0, abs=1e-9)
    assert recorded.kpis["light_points"].mean == planned.kpis["light_points"].mean
    assert {p.code for p in recorded.places} == {p.code for p in planned.places}
