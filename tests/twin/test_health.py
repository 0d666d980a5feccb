"""Data health on a valley with known healthy, silent and faulty devices (see health_valley)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.twin.health_valley import ANIANE, GIGNAC, NOW, record_valley
from twin import ValleyTwin, open_twin
from twin.errors import InvalidInputError
from twin.health import battery_bucket, data_health
from valley_twin.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    record_valley(application)
    yield application
    application.close()


def test_fill_sensors_count_reporting_freshness_gaps_faults_and_batteries(twin: ValleyTwin) -> None:
    fill = data_health(twin, NOW).kind("fill_sensor")
    assert fill.expected_interval_s == 12 * 3600
    figures = fill.figures
    assert (figures.assets, figures.reporting, figures.reporting_in_interval) == (3, 3, 2)
    assert figures.share_in_interval == pytest.approx(2 / 3)
    assert figures.freshness_median_s == 6 * 3600  # B-OK and B-FAULT read at 06:00
    assert figures.freshness_worst_s == (4 * 24 + 6) * 3600  # B-SILENT, since 4 June 06:00
    assert (figures.expected_hours, figures.gap_hours) == (3 * 168, 90)
    assert figures.with_faults == 1
    assert figures.battery == {
        "0-10": 1,
        "10-20": 1,
        "20-50": 0,
        "50-80": 0,
        "80-100": 1,
        "unknown": 0,
    }
    gignac, aniane = fill.by_commune[GIGNAC], fill.by_commune[ANIANE]
    assert (gignac.assets, gignac.reporting_in_interval, gignac.gap_hours) == (2, 1, 90)
    assert (aniane.assets, aniane.reporting_in_interval, aniane.gap_hours) == (1, 1, 0)


def test_beacons_meters_and_door_counters(twin: ValleyTwin) -> None:
    health = data_health(twin, NOW)
    beacons = health.kind("ble_scanner").figures
    assert (beacons.assets, beacons.reporting_in_interval, beacons.freshness_worst_s) == (1, 1, 0)
    assert (beacons.expected_hours, beacons.gap_hours) == (168, 96)  # counted from 5 June 12:00
    meters = health.kind("energy_meter")
    assert (meters.figures.assets, meters.figures.reporting) == (2, 1)
    assert (meters.figures.expected_hours, meters.figures.gap_hours) == (336, 168)
    assert meters.by_commune[ANIANE].gap_share == 1.0  # EP-2 never reported
    counters = health.kind("door_counter").figures
    assert (counters.assets, counters.reporting_in_interval) == (1, 0)
    assert counters.freshness_worst_s == 48 * 3600
    assert counters.gap_hours is None  # no read model keeps occupancy over time
    assert health.communes == {ANIANE: "Aniane", GIGNAC: "Gignac"}


def test_refused_messages_by_category(twin: ValleyTwin) -> None:
    health = data_health(twin, NOW)
    counts = {r.category: (r.rejected_in_window, r.open) for r in health.refusals}
    assert counts == {
        "wire": (1, 1),
        "auth": (0, 0),
        "unknown asset": (1, 1),
        "implausible": (1, 1),
        "domain rule": (0, 0),
        "internal": (0, 0),
    }
    assert health.refusals_by_kind == {"bin.fill": 2, "unreadable": 1}
    later = data_health(twin, NOW + timedelta(days=8))
    assert {r.category: r.rejected_in_window for r in later.refusals}["wire"] == 0
    assert json.loads(json.dumps(health.as_dict()))["now"] == NOW.isoformat()


def test_battery_buckets_and_bad_input() -> None:
    assert [battery_bucket(v) for v in (0, 9.9, 10, 19.9, 20, 50, 80, 100, None)] == [
        "0-10",
        "0-10",
        "10-20",
        "10-20",
        "20-50",
        "50-80",
        "80-100",
        "80-100",
        "unknown",
    ]


def test_naive_instant_is_refused(twin: ValleyTwin) -> None:
    with pytest.raises(InvalidInputError, match="now"):
        data_health(twin, NOW.replace(tzinfo=None))


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_twin_health_command(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    application = open_twin(store_url)
    record_valley(application)
    application.close()
    at = ["--at", NOW.isoformat()]
    assert main(["--store", store_url, "health", *at, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kinds"][0]["figures"]["gap_hours"] == 90
    assert main(["--store", store_url, "health", *at]) == 0
    table = capsys.readouterr().out
    assert "fill_sensor" in table and "Gignac" in table and "90/504" in table
    assert main(["--store", store_url, "health", "--at", "yesterday"]) == 1
