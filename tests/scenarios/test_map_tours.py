"""The report's map from a real run: each container's own figures, the tours of a typical day."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING

import pytest

from scenarios.presenting import report_input
from scenarios.report import ReportInput, write_report
from scenarios.runner import ScenarioResult, run_scenario
from scenarios.schema import validate
from simulation.parameters import fleet as fp

if TYPE_CHECKING:
    from pathlib import Path

DEPOT = (fp.DEPOT.position.x, fp.DEPOT.position.y)
TIP = (fp.TIP.position.x, fp.TIP.position.y)
# Spelt out: strftime's %A and %B follow the locale.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@pytest.fixture(scope="module")
def result() -> ScenarioResult:
    """Aniane and Saint-Jean-de-Fos, glass and packaging columns, two weeks at 80 %, seeded."""
    return run_scenario(
        validate(
            {
                "title": "Columns at 80 %",
                "question": "Which columns fill first?",
                "run": {"seed": 3, "replications": 2, "horizon_days": 14, "start": "2024-05-06"},
                "inventory": {
                    "seed": 20240601,
                    "communes": ["34010", "34267"],
                    "streams": ["glass", "packaging"],
                    # The columns as installed fill unevenly enough for the map to tell them
                    # apart within a commune (sized to their rounds, hardly one overflows).
                    "sizing": "as_installed",
                },
                "policy": {"kind": "threshold", "threshold": 0.8},
            },
            source="columns.toml",
        )
    )


@pytest.fixture(scope="module")
def shown(result: ScenarioResult) -> ReportInput:
    return report_input("columns", result)


@pytest.mark.slow
def test_each_container_carries_its_own_collections_and_overflows(
    result: ScenarioResult, shown: ReportInput
) -> None:
    engine = result.representative.by_container()
    assert [b.code for b in shown.bins] == list(result.containers.codes)
    for b in shown.bins:
        assert (b.collections, b.overflow_events) == (
            engine[b.code]["collections"],
            engine[b.code]["overflow_events"],
        )
    totals = result.representative.totals()
    assert sum(b.collections for b in shown.bins) == totals["collections"]
    assert sum(b.overflow_events for b in shown.bins) == totals["overflow_events"]
    # The engine tells containers of one commune apart, and so does the map's input.
    per_commune = defaultdict(set)
    for b in shown.bins:
        per_commune[b.commune].add(b.collections)
    assert all(len(values) > 1 for values in per_commune.values())


@pytest.mark.slow
def test_the_tours_are_those_of_the_typical_day(result: ScenarioResult, shown: ReportInput) -> None:
    typical = result.representative.typical_day
    assert typical is not None and shown.tours
    for tour in shown.tours:
        assert tour[0] == DEPOT and tour[-1] == DEPOT and tour[-2] == TIP
    bins = result.containers
    position = dict(zip(bins.codes, zip(bins.x, bins.y, strict=True), strict=True))
    stops = [p for tour in shown.tours for p in tour[1:-1] if p != TIP]
    # A small day: the fleet takes every container emptied that day, each once.
    assert sorted(stops) == sorted(position[c] for c in typical.codes)
    day = date.fromisoformat(typical.day)
    words = f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"
    assert shown.tours_day.startswith(f"{words}, {len(typical.codes)} containers emptied")


@pytest.mark.slow
def test_the_map_draws_the_tours_and_colours_containers_of_one_commune_apart(
    shown: ReportInput, tmp_path: Path
) -> None:
    page = write_report(tmp_path, [shown]).read_text(encoding="utf-8")
    start = page.index('<g id="map-0-tours"')
    tours = page[start : page.index('<g id="', start + 1)]
    assert len(re.findall(r"<path ", tours)) == len(shown.tours)
    assert f"tours of {shown.tours_day}" in page  # the map says which day it shows
    start = page.index('<g id="map-0-bins"')
    group = page[start : page.index('<g id="', start + 1)]
    fills = re.findall(r'<use [^>]*style="fill: (#[0-9a-f]{6})', group)
    assert len(fills) == len(shown.bins)
    colour_of = defaultdict(set)  # commune → colours of its containers
    for b, fill in zip(shown.bins, fills, strict=True):
        colour_of[b.commune].add(fill)
    assert all(len(colours) > 1 for colours in colour_of.values())
    # The same figure, the same colour: overflows when the run had any, else collections.
    by_overflows = any(b.overflow_events > 0 for b in shown.bins)
    same = defaultdict(set)
    for b, fill in zip(shown.bins, fills, strict=True):
        same[b.overflow_events if by_overflows else b.collections].add(fill)
    assert all(len(colours) == 1 for colours in same.values())
    # The daily series has its fill panel.
    assert "Fill before collection (%)" in page
