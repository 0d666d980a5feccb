"""A scenario over a store's log compares the policies with what the trucks did: the recorded
row (lifts, tonnes, overflow episodes, and the km of the trucks' own tour reports)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tomli_w

from domain import Bin, Truck
from scenarios.recorded import RECORDED, recorded, recorded_fleet
from scenarios.schema import validate
from twin import load_geography, open_twin, plan_inventory, recorded_tours
from valley_twin import scenario_commands

pytestmark = pytest.mark.slow

COMMUNE = "34267"  # Saint-Jean-de-Fos
START = datetime(2024, 6, 3, tzinfo=UTC)  # a Monday
DAYS = 7
TOURS = [  # (day, truck, km): the tours of the period, and one the day after it
    (1, "GE-482-KT", 61.25),
    (1, "GE-483-KT", 48.5),
    (4, "GE-482-KT", 57.125),
    (DAYS, "GE-482-KT", 99.0),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One village's glass columns: read twice a day for 3 weeks before and during the period,
    emptied on days 1 and 4 of it (and once before), one of them overflowing on day 3."""
    url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'twin.sqlite'}"
    glass = [
        a
        for a in plan_inventory(load_geography(), 20240601)
        if isinstance(a, Bin) and a.stream == "glass" and a.commune_insee == COMMUNE
    ]
    twin = open_twin(url)
    try:
        twin.add(*glass)
        first = START - timedelta(days=21)
        level = dict.fromkeys((b.code for b in glass), 10.0)
        for half_day in range((21 + DAYS) * 2):
            at = first + timedelta(hours=12 * half_day)
            day = (at - START).days
            for n, b in enumerate(glass):
                if at.hour == 0 and day in (-7, 1, 4):
                    twin.empty_bin(
                        b.code, f"R-{day}", level[b.code] * 15.0, at + timedelta(hours=6)
                    )
                    level[b.code] = 0.0
                rise = 45.0 if (n == 0 and day == 3) else 3.0
                level[b.code] = min(level[b.code] + rise, 100.0)
                twin.measure_fill_level(b.code, level[b.code], at + timedelta(hours=7))
        trucks = {}
        for number, (day, code, km) in enumerate(TOURS):
            truck = trucks.get(code) or Truck.register(
                code=code, commune_insee="34114", at=START + timedelta(days=day, hours=5)
            )
            trucks[code] = truck
            begin = START + timedelta(days=day, hours=5)
            truck.record_tour(
                round_id=f"VER-{number}",
                stream="glass",
                started_at=begin,
                ended_at=begin + timedelta(hours=4),
                km=km,
                tips=[("SCH-ASPIRAN", begin + timedelta(hours=3), 2.5)],
            )
        twin.add(*trucks.values())
    finally:
        twin.close()
    return url


def history_file(store: str, tmp_path: Path, kind: str = "threshold") -> Path:
    doc = {
        "title": f"{kind} over the log",
        "question": "?",
        "run": {"seed": 1, "replications": 1, "horizon_days": DAYS, "start": START.date()},
        "history": {"store": store, "fit_days": 14},
        "inventory": {"streams": ["glass"], "communes": [COMMUNE], "sizing": "as_installed"},
        "policy": {"kind": kind},
    }
    path = tmp_path / f"{kind}.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def test_the_recorded_row_has_the_tours_km_and_the_logs_lifts(store: str, tmp_path: Path) -> None:
    from scenarios import load_scenario

    scenario = load_scenario(history_file(store, tmp_path))
    row = recorded(scenario)
    in_period = [km for day, _, km in TOURS if day < DAYS]
    assert row.totals["truck_km"] == sum(in_period)  # exactly: the tours' own km, not routed
    twin = open_twin(store)
    try:
        tours = recorded_tours(twin, START, START + timedelta(days=DAYS))
        columns = sum(
            1 for b in twin.facts() if isinstance(b, Bin.Installed) and b.commune_insee == COMMUNE
        )
    finally:
        twin.close()
    assert row.totals["truck_km"] == pytest.approx(tours.km, abs=1e-9)
    assert row.totals["trips"] == len(in_period) == row.tours and row.trucks == 2
    assert row.totals["collections"] == 2 * columns  # days 1 and 4; the lift before not counted
    assert row.totals["overflow_events"] == 1  # the column that filled fast on day 3
    assert row.totals["operating_cost_eur"] > 0 and "unserved_stops" not in row.totals
    assert row.fleet == {"glass": 2} == recorded_fleet(store, START, START + timedelta(days=DAYS))
    # Per day, the km of the tours that ended that day.
    by_day = {r["day"]: r for r in row.by_day}
    assert len(by_day) == DAYS and by_day["2024-06-04"]["truck_km"] == 61.25 + 48.5
    report = row.report_input()
    assert report.policy == RECORDED and report.kpis["truck_km"].replications == 1


def test_a_history_comparison_puts_what_the_trucks_did_first(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [history_file(store, tmp_path, kind) for kind in ("threshold", "predictive")]
    code = scenario_commands.main(
        ["compare", *map(str, files), "--out", str(tmp_path / "report"), "--json"]
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)  # the report's kpis.json
    assert [s["name"] for s in document["scenarios"]] == [RECORDED, "threshold", "predictive"]
    rows = {(row["scenario"], row["kpi"]): row for row in document["kpis"]}
    assert rows[(RECORDED, "truck_km")]["mean"] == sum(km for day, _, km in TOURS if day < DAYS)
    assert rows[("threshold", "truck_km")]["mean"] > 0  # the policies are simulated
    summary = (tmp_path / "report" / "summary.txt").read_text(encoding="utf-8")
    assert summary.startswith("What the trucks did (recorded): the store's log over the same 7")
    table = [line for line in summary.splitlines() if "  " in line and "km" in line]
    assert table[1].startswith("What the trucks did (recorded)")


def test_scenarios_over_different_days_get_no_recorded_row(store: str, tmp_path: Path) -> None:
    one = validate(
        {
            "title": "a",
            "question": "?",
            "run": {"seed": 1, "replications": 1, "horizon_days": DAYS, "start": START.date()},
            "history": {"store": store},
            "inventory": {"sizing": "as_installed"},
            "policy": {"kind": "threshold"},
        }
    )
    from dataclasses import replace

    other = replace(one, run=replace(one.run, horizon_days=DAYS + 1))
    from scenarios.recorded import same_history

    assert same_history([one, one]) is one and same_history([one, other]) is None
