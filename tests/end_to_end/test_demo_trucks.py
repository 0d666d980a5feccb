"""`twin demo`'s trucks: what its summary says they drove comes from the tours recorded through
the real path, and is exactly what the device simulator's trucks drove."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from adapters.simulators import devices_tours
from domain import Truck
from twin import COMMISSIONED_AT, load_geography, open_twin, plan_inventory, recorded_tours
from valley_twin.cli import DEFAULT_SEED, main
from valley_twin.live_demo import FEED_STARTS_AFTER_COMMISSIONING, device_plan

pytestmark = [pytest.mark.live, pytest.mark.slow]
DAYS = 2  # a Tuesday of glass and a Wednesday of paper


def test_the_demo_summary_shows_the_km_the_simulated_trucks_drove(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    assert main(["--store", store, "demo", "--days", str(DAYS), "--no-report"]) == 0
    out = capsys.readouterr().out
    # What the simulator's trucks drove, from the same devices as the demo's.
    geography = load_geography()
    plan = device_plan(
        plan_inventory(geography, DEFAULT_SEED),
        geography,
        COMMISSIONED_AT + FEED_STARTS_AFTER_COMMISSIONING,
        DAYS,
        DEFAULT_SEED,
    )
    driven = devices_tours(plan)
    assert driven and {tour.stream for tour in driven} == {"glass", "paper"}
    km_by_truck: dict[str, float] = defaultdict(float)
    for tour in driven:
        km_by_truck[tour.vehicle] += tour.km
    twin = open_twin(store)
    try:
        recorded = recorded_tours(twin)
        assert recorded.tours == len(driven) and recorded.trucks == len(km_by_truck)
        assert recorded.km == pytest.approx(sum(km_by_truck.values()), abs=1e-6)
        assert recorded.tonnes_tipped == pytest.approx(
            sum(tonnes for tour in driven for _, _, tonnes in tour.tips), abs=1e-6
        )
        for vehicle, km in km_by_truck.items():
            truck = twin.get(Truck, vehicle)
            assert truck.km_total == pytest.approx(km, abs=1e-6)
            assert truck.commune_insee == "34114"  # registered by its first tour, at the depot
    finally:
        twin.close()
    line = re.search(
        r"trucks \(recorded tours\): (\d+) trucks drove (\d+) tours, ([\d,.]+) km, "
        r"and tipped ([\d,.]+) t in (\d+) weighbridge tickets",
        out,
    )
    assert line, out
    assert (int(line[1]), int(line[2])) == (recorded.trucks, recorded.tours)
    assert float(line[3].replace(",", "")) == round(recorded.km, 1)
    assert float(line[4].replace(",", "")) == round(recorded.tonnes_tipped, 1)
    # Next to it, the replay's figure: the same lifts' days routed again.
    assert re.search(r"trucks \(recorded lifts\): \d+ containers emptied", out)
    assert re.search(r"ingest: \d+ messages received, \d+ committed, 0 duplicates, 0 dead", out)


def test_the_demo_ends_comparing_what_the_trucks_did_with_the_policies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    days = 7  # one whole cycle of the demo's weekly rounds, so fixed rounds run too
    report = tmp_path / "report"
    assert main(["--store", store, "demo", "--days", str(days), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    twin = open_twin(store)
    try:
        recorded = recorded_tours(twin)
    finally:
        twin.close()
    ending = out[out.index("what the trucks did vs the policies") :].splitlines()
    rows = [line for line in ending if re.match(r"^[A-Z].*\d €$", line)]
    assert [row.split("  ")[0] for row in rows] == [
        "What the trucks did (recorded)",
        "Fixed rounds (the demo's)",
        "Collect at 80 % full",
        "Predictive collection",
        "Integrated selection and routing",
    ]
    # The recorded row's km are the trucks' own tour reports, nothing routed again.
    km = re.match(r"What the trucks did \(recorded\)\s+([\d  ]+) km", rows[0])
    assert km and int(re.sub(r"\D", "", km[1])) == round(recorded.km)
    assert f"report: {report / 'index.html'}" in ending
    assert ending[-1].startswith("see it live:")  # then the command that opens the web view
    assert (report / "kpis.csv").is_file() and (report / "scenarios" / "threshold.toml").is_file()
