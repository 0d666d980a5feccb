"""The simulated collection trucks: their tours (km, shift, tips) and the two exports they write."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from adapters.sdk import AdapterRunner, Outbox
from adapters.simulators import (
    TOUR_LOG_HEADER,
    SimulatedBin,
    SimulatedFleet,
    SimulatedTour,
    devices_tours,
    simulated_tours,
    tag_of,
    truck_lift_log,
    truck_tour_log,
    utc,
    write_simulated_payloads,
)
from adapters.truck_lifts import TruckLiftsAdapter
from adapters.truck_tours import TruckToursAdapter
from adapters.wire import InMemoryTransport
from tests.adapters.test_simulators import devices_file

START = utc(2024, 5, 6)  # a Monday
DAYS = 14
NOW = datetime(2025, 1, 1, tzinfo=UTC)
DEPOT, TIP = (745_000.0, 6_284_000.0), (737_000.0, 6_275_000.0)
FLEET = SimulatedFleet(depot=DEPOT, tip=TIP, depot_insee="34114", service_min=5.0, shift_h=7.0)


def column(number: int, stream: str, x: float, weekdays: tuple[int, ...]) -> SimulatedBin:
    """A 3 m³ drop-off column on a line east of the depot, ``x`` metres along it."""
    return SimulatedBin(
        f"B-34114-{stream[:3].upper()}-{number:04d}",
        f"24E12471{number:08X}",
        3000,
        2000,
        400.0,
        weekdays,
        kg_per_litre=0.2 if stream == "glass" else 0.06,
        stream=stream,
        x_l93=DEPOT[0] + x,
        y_l93=DEPOT[1],
    )


# Glass on Tuesdays, packaging on Mondays and Thursdays, far enough apart to need trucks.
BINS = [column(n, "glass", 500.0 * n, (1,)) for n in range(1, 61)] + [
    column(100 + n, "packaging", 700.0 * n, (0, 3)) for n in range(1, 41)
]


@cache
def tours() -> tuple[SimulatedTour, ...]:
    """The fortnight's tours, worked out once (they are frozen)."""
    return tuple(simulated_tours(BINS, START, DAYS, 12, 5, FLEET))


def test_every_collection_is_lifted_once_by_a_tour_of_its_stream_and_day() -> None:
    driven = tours()
    lifted = [(at, spec.code) for tour in driven for at, spec, _ in tour.lifts]
    assert len(lifted) == len(set(lifted))
    for tour in driven:
        assert {spec.stream for _, spec, _ in tour.lifts} == {tour.stream}
        assert {at.date() for at, _, _ in tour.lifts} == {tour.started_at.date()}
    glass_days = {tour.started_at.date() for tour in driven if tour.stream == "glass"}
    assert {day.weekday() for day in glass_days} == {1} and len(glass_days) == 2
    # Each Tuesday the sixty glass columns are all lifted, over as many trucks as shifts need.
    assert sum(len(t.lifts) for t in driven if t.stream == "glass") == 2 * 60


def test_a_truck_keeps_to_its_shift_and_its_lifts_follow_each_other() -> None:
    for tour in tours():
        assert tour.ended_at - tour.started_at <= timedelta(hours=FLEET.shift_h)
        times = [at for at, _, _ in tour.lifts]
        assert times == sorted(times)
        assert all(b - a >= timedelta(minutes=FLEET.service_min) for a, b in pairwise(times))
        assert tour.started_at < times[0] and times[-1] < tour.ended_at


def test_the_km_are_the_legs_driven_between_depot_columns_and_tip() -> None:
    for tour in tours():
        places = [DEPOT]
        tips_at = iter(at for _, at, _ in tour.tips)
        next_tip = next(tips_at, None)
        for at, spec, _ in tour.lifts:
            while next_tip is not None and next_tip < at:  # unloaded before this lift
                places.append(TIP)
                next_tip = next(tips_at, None)
            places.append((spec.x_l93 or 0.0, spec.y_l93 or 0.0))
        places += [TIP, DEPOT]  # the last unload, then home
        legs = sum(math.dist(a, b) for a, b in pairwise(places))
        assert tour.km == pytest.approx(round(FLEET.circuity * legs / 1000, 1), abs=0.051)
        assert tour.odometer_end_km == pytest.approx(tour.odometer_start_km + tour.km)


def test_the_tickets_weigh_what_was_lifted_and_the_odometers_run_on() -> None:
    by_vehicle: dict[str, list[SimulatedTour]] = defaultdict(list)
    for tour in tours():
        lifted_t = sum(net for _, _, net in tour.lifts) / 1000
        assert sum(t for _, _, t in tour.tips) == pytest.approx(
            lifted_t, abs=0.005 * len(tour.tips)
        )
        assert all(0 < t <= FLEET.payload_kg / 1000 for _, _, t in tour.tips)
        assert all(tour.started_at < at <= tour.ended_at for _, at, _ in tour.tips)
        by_vehicle[tour.vehicle].append(tour)
    for driven in by_vehicle.values():
        for before, after in pairwise(driven):
            assert after.started_at >= before.ended_at
            assert after.odometer_start_km == before.odometer_end_km


def test_the_lift_log_and_the_tour_reports_name_the_same_rounds() -> None:
    lifts = TruckLiftsAdapter({"tags": {tag_of(spec): spec.code for spec in BINS}})
    lifted = [
        r
        for _, line in truck_lift_log(BINS, START, DAYS, 12, 5, FLEET)
        for r in lifts.readings(line, NOW)
    ]
    reports = TruckToursAdapter({"depot_insee": "34114"})
    reported = [r for _, line in truck_tour_log(tours()) for r in reports.readings(line, NOW)]
    assert {(r.device, r.body["round_id"]) for r in lifted} == {
        (r.device, r.body["round_id"]) for r in reported
    }
    assert len(reported) == len(tours())
    assert sum(r.body["km"] for r in reported) == pytest.approx(sum(t.km for t in tours()))


def test_every_tour_report_is_a_valid_wire_message() -> None:
    lines = [line for _, line in truck_tour_log(tours())]
    assert lines[0] == TOUR_LOG_HEADER
    with Outbox() as outbox:
        runner = AdapterRunner(
            TruckToursAdapter({"depot_insee": "34114"}),
            InMemoryTransport(),
            outbox,
            "sim-tours",
            clock=lambda: NOW,
        )
        runner.submit_many(lines)
        assert not runner.stats.unreadable, runner.stats.unreadable
        assert outbox.pending() == len(lines) - 1


def fleet_settings() -> dict[str, Any]:
    return {"depot": list(DEPOT), "tip": list(TIP), "depot_insee": "34114"}


def test_with_a_fleet_the_devices_file_gives_the_tour_reports_too(tmp_path: Path) -> None:
    placed = [
        {**bin_, "x_l93": DEPOT[0] + 100.0 * n, "y_l93": DEPOT[1]}
        for n, bin_ in enumerate(devices_file()["bins"])
    ]
    devices = {**devices_file(), "bins": placed, "fleet": fleet_settings()}
    counts = write_simulated_payloads(devices, tmp_path)
    assert counts["tours.csv"] == 1 + len(devices_tours(devices)) > 1
    lines = (tmp_path / "tours.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == TOUR_LOG_HEADER and len(lines) == counts["tours.csv"]
    assert "tours.csv" not in write_simulated_payloads(devices_file(), tmp_path / "no-fleet")


def test_a_fleet_needs_every_bins_position() -> None:
    with pytest.raises(ValueError, match="bin B-34114-OM-0001 has no position"):
        devices_tours({**devices_file(), "fleet": fleet_settings()})


def test_same_seed_same_tours() -> None:
    assert tuple(simulated_tours(BINS, START, DAYS, 12, 5, FLEET)) == tours()
    assert [t.km for t in tours()] != [
        t.km for t in simulated_tours(BINS, START, DAYS, 12, 6, FLEET)
    ]
