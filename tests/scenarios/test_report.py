"""The report folder: a self-contained page, the KPI table for machines, escaped text."""

from __future__ import annotations

import csv
import json
import re
from datetime import date, timedelta
from html import unescape

import pytest

from scenarios.report import BinOnMap, ReportInput, write_report
from simulation import Estimate
from twin import load_geography

# The tests share one report of a Monte Carlo comparison, run once for the module.
pytestmark = pytest.mark.slow

GIGNAC = "34114"


def _estimate(mean: float, half: float, n: int = 10) -> Estimate:
    return Estimate(mean=mean, low=mean - half, high=mean + half, std=half, replications=n)


def _days(km: float, overflows: int) -> list[dict[str, object]]:
    start = date(2024, 6, 3)
    return [
        {
            "day": (start + timedelta(days=d)).isoformat(),
            "truck_km": km + d % 3,
            "collections": 20.0,
            "overflow_events": float(overflows * (d % 2)),
        }
        for d in range(28)
    ]


@pytest.fixture(scope="module")
def geography():
    return load_geography()


@pytest.fixture(scope="module")
def results(geography) -> list[ReportInput]:
    point = geography.commune(GIGNAC).boundary.representative_point()
    bins = [
        BinOnMap(
            f"B-34114-GLA-000{i}",
            point.x + 40 * i,
            point.y,
            "glass",
            GIGNAC,
            collections=4 + i,
            overflow_events=i % 2,
        )
        for i in range(4)
    ]
    tour = [(point.x - 500, point.y - 500), (point.x, point.y), (point.x + 500, point.y)]
    baseline = ReportInput(
        name="fixed",
        title="Fixed rounds <b>&</b>",
        question="What do fixed rounds cost?",
        kpis={
            "truck_km": _estimate(1000, 30),
            "cost_eur": _estimate(10_000, 200),
            "co2_kg": _estimate(2600, 50),
            "overflow_events": _estimate(10, 3),
            "mean_fill_at_emptying": _estimate(0.55, 0.02),
        },
        by_day=_days(36, 1),
        bins=bins,
    )
    predictive = ReportInput(
        name="predictive",
        title="Predictive",
        question="Can sensors save <km>?",
        kpis={
            "truck_km": _estimate(880, 40),
            "cost_eur": _estimate(5_900, 300),
            "co2_kg": _estimate(500, 50),
            "overflow_events": _estimate(11, 4),
            "mean_fill_at_emptying": _estimate(0.8, 0.02),
        },
        by_day=_days(31, 1),
        bins=bins,
        tours=[tour],
        focus=["cost_eur"],
    )
    return [baseline, predictive]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, results, geography):
    out = tmp_path_factory.mktemp("report")
    index = write_report(out, results, geography=geography)
    assert index == out / "index.html"
    return out


@pytest.fixture(scope="module")
def page(folder) -> str:
    return (folder / "index.html").read_text(encoding="utf-8")


def _text(page: str) -> str:
    without_svg = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", without_svg))).replace("\xa0", " ")


def test_the_folder_holds_the_page_and_the_machine_files(folder) -> None:
    assert {p.name for p in folder.iterdir()} >= {"index.html", "kpis.csv", "kpis.json"}


def test_the_page_loads_nothing_from_elsewhere(page) -> None:
    assert page.startswith("<!DOCTYPE html>")
    external = re.findall(
        r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""",
        page,
        flags=re.I,
    )
    assert external == []
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()


def test_the_summary_states_the_difference_with_its_interval(page) -> None:
    assert (
        "Predictive drives 12 % fewer km than Fixed rounds <b>&</b> (± 5 %), saves about "
        "4 100 € and 2,1 t of CO2 over 4 weeks, with as many overflows."
    ) in _text(page)


def test_the_map_draws_every_commune_once_per_scenario(page, geography) -> None:
    assert len(geography.communes) == 28
    for i in range(2):
        ids = re.findall(rf'id="map-{i}-commune-(\d{{5}})"', page)
        assert sorted(ids) == sorted(c.insee for c in geography.communes)
    assert "Gignac" in page and "km</text>" in page.replace("\xa0", " ")


def test_the_table_has_one_row_per_kpi_focus_first(page) -> None:
    rows = re.findall(r'<tr id="kpi-([a-z0-9_]+)">', page)
    assert rows == ["cost_eur", "truck_km", "co2_kg", "mean_fill_at_emptying", "overflow_events"]
    text = _text(page)
    assert "Distance driven by trucks" in text and "1 000 970 – 1 030" in text
    assert "−120 (−12 %)" in text and "−170 – −70" in text  # 120 ± √(30² + 40²)
    fill = _text(re.search(r'<tr id="kpi-mean_fill_at_emptying">.*?</tr>', page).group())
    assert "Mean fill when emptied % 55,0 53,0 – 57,0 80,0" in fill  # a share shown in %


def test_html_special_characters_are_escaped(page) -> None:
    assert "<b>&</b>" not in page and "<km>" not in page
    assert "Fixed rounds &lt;b&gt;&amp;&lt;/b&gt;" in page
    assert "Can sensors save &lt;km&gt;?" in page


def test_the_csv_holds_one_row_per_scenario_and_kpi(folder) -> None:
    with (folder / "kpis.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["scenario", "kpi", "mean", "low", "high", "n"]
    assert len(rows) == 10
    km = next(r for r in rows if r["scenario"] == "predictive" and r["kpi"] == "truck_km")
    assert (float(km["mean"]), float(km["low"]), float(km["high"])) == (880, 840, 920)
    assert km["n"] == "10"


def test_the_json_holds_the_rows_and_the_differences(folder) -> None:
    document = json.loads((folder / "kpis.json").read_text(encoding="utf-8"))
    assert len(document["kpis"]) == 10
    km = next(d for d in document["differences"] if d["kpi"] == "truck_km")
    assert km == {
        "scenario": "predictive",
        "baseline": "fixed",
        "kpi": "truck_km",
        "difference": -120.0,
        "low": -170.0,
        "high": -70.0,
    }


def test_one_scenario_alone_gets_a_summary_and_one_map(tmp_path, results, geography) -> None:
    single = ReportInput(
        name="alone",
        title="Alone",
        question="",
        kpis={
            "truck_km": Estimate(
                mean=500.0, low=float("nan"), high=float("nan"), std=float("nan"), replications=1
            )
        },
    )
    page = write_report(tmp_path, [single], geography=geography).read_text(encoding="utf-8")
    assert "trucks drive about 500 km" in _text(page)
    assert len(re.findall(r'id="map-0-commune-', page)) == 28
    assert json.loads((tmp_path / "kpis.json").read_text())["kpis"][0]["low"] is None
