"""Device simulators: deterministic streams, in formats the real adapters accept, with the valley's shapes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters import simulators
from adapters.ble_footfall import BleFootfallAdapter
from adapters.citizen_app import CitizenAppAdapter
from adapters.energy_meter import EnergyMeterAdapter
from adapters.fill_level import LorawanUltrasonicAdapter
from adapters.payloads import parse_uplink
from adapters.sdk import Adapter, AdapterRunner, Outbox
from adapters.simulators import (
    LIFT_LOG_HEADER,
    SimulatedBin,
    SimulatedMeter,
    SimulatedScanner,
    ble_sightings,
    citizen_posts,
    fill_uplinks,
    meter_readings,
    night_hours,
    tag_of,
    truck_lift_log,
    utc,
    write_simulated_payloads,
)
from adapters.truck_lifts import TruckLiftsAdapter
from adapters.wire import InMemoryTransport

START = utc(2024, 5, 6)  # a Monday
MONDAY, THURSDAY = 0, 3
BINS = [
    SimulatedBin("B-34114-OM-0001", "24E124713B200001", 660, 1200, 90.0, (MONDAY, THURSDAY)),
    SimulatedBin("B-34114-VER-0001", "24E124713B200002", 3000, 2000, 60.0, (THURSDAY,)),
]
SCANNERS = [
    SimulatedScanner("gw-zae-1", "BLE-34114-ZAE-1", 40.0, 12),
    SimulatedScanner("gw-centre", "BLE-34114-CTR-1", 25.0, 16),
]
METERS = [
    SimulatedMeter("M-EP-1", "EP-34114-001", lighting_kw=3.0),
    SimulatedMeter("M-MAIRIE", "BAT-34114-001", building_kwh_per_day=80.0),
]
CITIZENS = [(f"c-34114-{n:03d}", "34114", 3.5489, 43.6535) for n in range(12)]
NOW = datetime(2025, 1, 1, tzinfo=UTC)

STREAMS: dict[str, Callable[[int], Iterator[tuple[datetime, str]]]] = {
    "fill": lambda seed: fill_uplinks(BINS, START, 7, 12, seed),
    "ble": lambda seed: ble_sightings(SCANNERS, START, 2, seed),
    "energy": lambda seed: meter_readings(METERS, START, 7, seed),
    "citizen": lambda seed: citizen_posts(CITIZENS, START, 7, seed),
}


def fill_adapter() -> LorawanUltrasonicAdapter:
    return LorawanUltrasonicAdapter(
        {"devices": {b.dev_eui: {"bin": b.code, "depth_mm": b.depth_mm} for b in BINS}}
    )


ADAPTERS: dict[str, Callable[[], Adapter]] = {
    "fill": fill_adapter,
    "ble": lambda: BleFootfallAdapter(
        {
            "scanners": {s.scanner: s.beacon_code for s in SCANNERS},
            "salt": "simulated-salt-0123456789",
        }
    ),
    "energy": lambda: EnergyMeterAdapter({}),
    "citizen": lambda: CitizenAppAdapter({}),
}


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_same_seed_same_stream_other_seed_other_stream(name: str) -> None:
    first = list(STREAMS[name](7))
    assert first, "the stream is not empty"
    assert first == list(STREAMS[name](7))
    assert first != list(STREAMS[name](8))


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_streams_are_in_time_order(name: str) -> None:
    times = [at for at, _ in STREAMS[name](3)]
    assert times == sorted(times)
    assert all(START <= at < START + timedelta(days=8) for at in times)


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_payload_is_accepted_by_its_real_adapter(name: str) -> None:
    payloads = [line for _, line in STREAMS[name](11)]
    transport = InMemoryTransport()
    with Outbox() as outbox:
        runner = AdapterRunner(
            ADAPTERS[name](), transport, outbox, f"sim-{name}", clock=lambda: NOW
        )
        runner.submit_many(payloads)
        runner.flush(NOW)
        assert not runner.stats.unreadable, runner.stats.unreadable
        assert runner.stats.payloads == len(payloads)
        assert outbox.pending() > 0


def test_fill_stream_uses_both_network_servers() -> None:
    networks = {parse_uplink(line).network for _, line in fill_uplinks(BINS, START, 1, 12, 1)}
    assert networks == {"chirpstack", "ttn"}


def fill_series(
    every_hours: int, days: int, seed: int = 5
) -> dict[str, list[tuple[datetime, float]]]:
    adapter = fill_adapter()
    series: dict[str, list[tuple[datetime, float]]] = {b.code: [] for b in BINS}
    for at, line in fill_uplinks(BINS, START, days, every_hours, seed):
        for reading in adapter.readings(line, at):
            if reading.kind == "bin.fill":
                assert reading.observed_at == at
                series[reading.asset].append((at, reading.body["fill_percent"]))
    return series


def test_fill_rises_between_collections_and_drops_on_collection_days() -> None:
    series = fill_series(every_hours=12, days=21)
    for spec in BINS:
        points = series[spec.code]
        assert len(points) == 42
        for (_, before), (at, after) in zip(points, points[1:], strict=False):
            if at.weekday() in spec.collection_weekdays and at.hour == 12:
                assert after < 5.0, f"{spec.code} not emptied on {at}"
                assert before > after + 5.0
            else:
                assert after >= before - 2.0, f"{spec.code} emptied outside a collection at {at}"
        emptied = {
            at.weekday() for (_, b), (at, a) in zip(points, points[1:], strict=False) if a < b - 5.0
        }
        assert emptied == set(spec.collection_weekdays)


def test_daily_samples_at_midnight_still_see_the_collection() -> None:
    series = fill_series(every_hours=24, days=21)
    weekly = series["B-34114-VER-0001"]  # collected on Thursdays at 06:00
    fridays = [fill for at, fill in weekly if at.weekday() == THURSDAY + 1]
    thursdays = [fill for at, fill in weekly if at.weekday() == THURSDAY]
    assert len(fridays) == 3
    assert all(fill < 5.0 for fill in fridays)
    assert all(fill > 10.0 for fill in thursdays[1:])


def test_battery_drains_slowly_and_stays_valid() -> None:
    frames = [line for _, line in fill_uplinks(BINS[:1], START, 400, 12, 1)]
    adapter = fill_adapter()
    batteries = [
        r.body["battery_percent"]
        for line in frames
        for r in adapter.readings(line, NOW)
        if r.kind == "device.battery"
    ]
    assert batteries[0] == 100.0 and 97.0 <= batteries[-1] < 100.0
    assert batteries == sorted(batteries, reverse=True)


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (datetime(2024, 12, 21, tzinfo=UTC), 15.2),  # winter solstice
        (datetime(2023, 12, 22, tzinfo=UTC), 15.2),
        (datetime(2024, 6, 21, tzinfo=UTC), 8.8),  # summer solstice
        (datetime(2024, 3, 20, tzinfo=UTC), 12.0),  # equinoxes
        (datetime(2024, 9, 22, tzinfo=UTC), 12.0),
    ],
)
def test_night_length_at_the_valleys_latitude(day: datetime, hours: float) -> None:
    assert night_hours(day) == pytest.approx(hours, abs=0.15)


def test_night_length_shape() -> None:
    year = [night_hours(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=n)) for n in range(366)]
    assert max(year) == pytest.approx(15.25, abs=0.1) and min(year) == pytest.approx(8.75, abs=0.1)
    assert night_hours(datetime(2024, 6, 21, tzinfo=UTC)) + night_hours(
        datetime(2024, 12, 21, tzinfo=UTC)
    ) == pytest.approx(24.0, abs=0.05)
    assert night_hours(datetime(2024, 6, 21, tzinfo=UTC), latitude_deg=0.0) == pytest.approx(
        12.0, abs=0.01
    )
    assert night_hours(datetime(2024, 6, 21, tzinfo=UTC), latitude_deg=80.0) == 0.0  # midnight sun
    assert night_hours(datetime(2024, 12, 21, tzinfo=UTC), latitude_deg=80.0) == 24.0


def test_lighting_meter_burns_through_the_night() -> None:
    lines = [json.loads(line) for _, line in meter_readings(METERS, utc(2024, 12, 18), 4, 3)]
    lighting = [doc["index_kwh"] for doc in lines if doc["meter"] == "M-EP-1"]
    steps = [b - a for a, b in zip(lighting, lighting[1:], strict=False)]
    assert steps == pytest.approx([3.0 * 15.25] * 3, abs=0.5)
    building = [doc["index_kwh"] for doc in lines if doc["meter"] == "M-MAIRIE"]
    assert all(
        64.0 - 0.01 <= b - a <= 96.0 + 0.01 for a, b in zip(building, building[1:], strict=False)
    )
    assert all(doc["read_at"].endswith("T06:00:00Z") for doc in lines)


def test_citizens_register_before_they_post() -> None:
    posts = [json.loads(line) for _, line in citizen_posts(CITIZENS, START, 7, 4)]
    registered: set[str] = set()
    for post in posts:
        if post["type"] == "register":
            registered.add(post["citizen"])
        else:
            assert post["citizen"] in registered
    assert registered == {c[0] for c in CITIZENS}


def devices_file() -> dict[str, Any]:
    return {
        "start": "2024-05-06T00:00:00+00:00",
        "days": 3,
        "seed": 9,
        "fill_every_hours": 12,
        "bins": [{**vars(b), "collection_weekdays": list(b.collection_weekdays)} for b in BINS],
        "scanners": [vars(s) for s in SCANNERS],
        "meters": [vars(m) for m in METERS],
        "citizens": [list(c) for c in CITIZENS],
    }


def test_write_simulated_payloads_counts_lines(tmp_path: Path) -> None:
    counts = write_simulated_payloads(devices_file(), tmp_path / "out")
    assert set(counts) == {"fill.jsonl", "ble.jsonl", "energy.jsonl", "citizen.jsonl", "lifts.csv"}
    for name, count in counts.items():
        lines = (tmp_path / "out" / name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == count
        if name.endswith(".jsonl"):
            assert all(json.loads(line) for line in lines)
    lifts = (tmp_path / "out" / "lifts.csv").read_text(encoding="utf-8").splitlines()
    assert lifts[0] == LIFT_LOG_HEADER
    assert counts["fill.jsonl"] == 2 * 3 * 2  # two bins, three days, twice a day
    assert counts["energy.jsonl"] == 2 * 3


def test_a_start_without_offset_is_utc(tmp_path: Path) -> None:
    naive = write_simulated_payloads(
        {**devices_file(), "start": "2024-05-06T00:00:00"}, tmp_path / "naive"
    )
    aware = write_simulated_payloads(devices_file(), tmp_path / "aware")
    assert naive == aware
    for name in naive:
        assert (tmp_path / "naive" / name).read_text() == (tmp_path / "aware" / name).read_text()
    first = json.loads((tmp_path / "naive" / "fill.jsonl").read_text().splitlines()[0])
    assert parse_uplink(first).received_at == START


def test_module_exposes_the_valleys_latitude() -> None:
    assert simulators.LATITUDE_DEG == pytest.approx(43.65)


def test_the_truck_empties_what_the_sensors_saw_fill_up() -> None:
    # Two weeks: every collection the fill stream shows (a drop after 06:00 on a collection
    # day) is one lift in the truck's log, whose net mass is the litres lifted × the density.
    uplinks = [(at, parse_uplink(line)) for at, line in fill_uplinks(BINS, START, 14, 12, 5)]
    lifts = [line for _, line in truck_lift_log(BINS, START, 14, 12, 5)]
    adapter = TruckLiftsAdapter({"tags": {tag_of(b): b.code for b in BINS}})
    readings = [r for line in lifts for r in adapter.readings(line, NOW)]
    assert readings and all(r.kind == "bin.emptied" for r in readings)
    for spec in BINS:
        times = sorted(r.observed_at for r in readings if r.asset == spec.code)
        expected = [
            day.replace(hour=6) + timedelta(minutes=2 * (BINS.index(spec) % 120))
            for day in (START + timedelta(days=n) for n in range(14))
            if day.weekday() in spec.collection_weekdays
        ]
        assert times == expected
    masses = [r.body["mass_kg"] for r in readings]
    assert all(0 < mass <= 2_500 for mass in masses)
    assert len(uplinks) == 14 * 2 * len(BINS)
    assert lifts == [line for _, line in truck_lift_log(BINS, START, 14, 12, 5)]  # same seed
