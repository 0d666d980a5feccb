"""The report of a scenario run or a comparison: one self-contained HTML page, plus CSV and JSON.

``write_report(folder, results)`` writes into ``folder``:

- ``index.html`` — one page that opens offline (no CDN, no external CSS, fonts or scripts, no
  JavaScript at all): a plain-language summary, the KPI table with 95 % confidence intervals
  and, for a comparison, the differences against the first scenario (the baseline), KPI bar
  charts with CI error bars, daily series, and a map of the valley's 28 communes per scenario
  with the bins coloured by overflows (or collections), tours, commune names, scale and north;
  for waste runs, which comparison it is (same horizon and seed, equal service), why the km
  change (trips, km per trip, containers per trip, fill at emptying), a sensitivity table on
  the most uncertain prices and the assumptions the answer rests on
  (``scenarios._report_planner``);
- ``summary.txt`` — for waste runs, the comparison in plain text: which comparison, km, trips,
  km and containers per trip, fill at emptying, overflows and cost per scenario, and whether
  a low or high uncertain price changes which is cheapest;
- ``kpis.csv`` — one row per (scenario, KPI): ``scenario,kpi,mean,low,high,n``;
- ``kpis.json`` — the same rows under ``"kpis"``, the differences under ``"differences"`` and
  the scenarios' titles and questions under ``"scenarios"`` (NaN is written as ``null``),
  for a sensor rollout its cost-benefit under ``"economics"`` (per scenario name), and for a
  waste run the assumptions it rests on (``"assumptions"``) and the costs at the low and high
  uncertain prices (``"sensitivity"``).

Machine files keep raw values (a share stays in 0–1); the page shows percentages. A
confidence interval never leaves the values its figure can take (a share 0–1, a count ≥ 0):
it is clipped to them, here and on the page.
``ReportInput`` holds plain data so this module does not depend on how the scenario ran.
Not responsible for running anything (``scenarios.runner``) or for the KPI arithmetic
(``simulation``).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scenarios._report_planner import sensitivity_rows, text_summary
from scenarios._report_text import KPI_SPECS, KpiSpec, bounded_interval, difference
from twin import Geography, load_geography

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from simulation import Estimate

__all__ = [
    "Assumption",
    "BinOnMap",
    "KPI_SPECS",
    "KpiSpec",
    "PlaceOnMap",
    "ReportInput",
    "kpi_order",
    "write_report",
]


@dataclass(frozen=True)
class BinOnMap:
    """One container as the map shows it: Lambert-93 position and what happened to it."""

    code: str
    x: float
    y: float
    stream: str
    commune: str
    collections: float = 0.0
    overflow_events: float = 0.0


@dataclass(frozen=True)
class PlaceOnMap:
    """A site, lighting cabinet or crèche on the map: Lambert-93 position, sized by ``value``."""

    code: str
    name: str
    x: float
    y: float
    commune: str
    value: float


@dataclass(frozen=True)
class Assumption:
    """A figure that decides the answer, as the report lists it: what, its value, its basis."""

    topic: str
    """What it is ("Truck cost per km, fuel excluded")."""
    value: str
    """Its value in words, with its unit ("1,5 €/km")."""
    basis: str = ""
    """Where it comes from: a source, or "assumed" and why."""


@dataclass(frozen=True)
class ReportInput:
    """One scenario's results, as plain data."""

    name: str
    """Short identifier (file stem), used in the CSV/JSON and in element ids."""
    title: str
    """What a reader calls it ("Predictive collection")."""
    question: str
    """The question the scenario answers, in plain words."""
    kpis: Mapping[str, Estimate]
    by_day: Sequence[Mapping[str, object]] = ()
    """Rows with ``day`` (ISO date) and KPI names (``truck_km``, ``overflow_events``…)."""
    bins: Sequence[BinOnMap] = ()
    tours: Sequence[Sequence[tuple[float, float]]] = ()
    """Tours of a typical day, as Lambert-93 polylines (depot → stops → tip … → depot)."""
    tours_day: str = ""
    """Which day ``tours`` are, in words ("Tuesday 14 May 2024, 37 containers emptied …")."""
    focus: Sequence[str] = field(default=())
    """KPI names to show first."""
    economics: Mapping[str, float | str | None] | None = None
    """An investment's cost-benefit (``scenarios.economics.Economics.as_dict()``), if any."""
    places: Sequence[PlaceOnMap] = ()
    """The cabinets, site or crèche of a lighting, footfall or childcare scenario."""
    place_value: str = ""
    """What a place's ``value`` is, in words ("kWh over the period")."""
    start: str = ""
    """The first day of the period (ISO date); with ``horizon_days``, what the page calls it."""
    horizon_days: int = 0
    seed: int | None = None
    """The run's seed: scenarios with the same seed, start and horizon face the same waste."""
    policy: str = ""
    """The collection policy's kind (fixed, threshold, predictive, integrated), if any."""
    assumptions: Sequence[Assumption] = ()
    """The figures that decide the answer (fleet, depot, tip, prices…), for the report to list."""
    prices: Mapping[str, float] = field(default_factory=dict)
    """The base prices the sensitivity table varies (``scenarios.economics.SENSITIVITY``), and
    ``sensors``: how many fill sensors the policy needs (0 for fixed rounds)."""
    by_stream: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Totals per stream of one run (trips, km, collections…), for "why the km change"."""
    comparison: str = ""
    """How the scenario was made comparable, when not only by horizon and seed (equal service)."""


def kpi_order(results: Sequence[ReportInput]) -> list[str]:
    """The KPIs present in any result: focus first, then the table's order, then the unknown."""
    present = {k for r in results for k in r.kpis}
    ordered: list[str] = []
    for kpi in [k for r in results for k in r.focus] + list(KPI_SPECS) + sorted(present):
        if kpi in present and kpi not in ordered:
            ordered.append(kpi)
    return ordered


def _plain(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _rows(results: Sequence[ReportInput]) -> list[dict[str, object]]:
    return [
        {
            "scenario": r.name,
            "kpi": kpi,
            "mean": e.mean,
            "low": bounded_interval(kpi, e.low, e.high)[0],
            "high": bounded_interval(kpi, e.low, e.high)[1],
            "n": e.replications,
        }
        for r in results
        for kpi in kpi_order(results)
        if (e := r.kpis.get(kpi)) is not None
    ]


def _differences(results: Sequence[ReportInput]) -> list[dict[str, object]]:
    baseline = results[0]
    out: list[dict[str, object]] = []
    for result in results[1:]:
        for kpi in kpi_order(results):
            if kpi in result.kpis and kpi in baseline.kpis:
                d = difference(result.kpis[kpi], baseline.kpis[kpi])
                out.append(
                    {
                        "scenario": result.name,
                        "baseline": baseline.name,
                        "kpi": kpi,
                        "difference": _plain(d.mean),
                        "low": _plain(d.low),
                        "high": _plain(d.high),
                    }
                )
    return out


def _write_machine_files(folder: Path, results: Sequence[ReportInput]) -> None:
    rows = _rows(results)
    with (folder / "kpis.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["scenario", "kpi", "mean", "low", "high", "n"])
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: ("" if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in row.items()
                }
            )
    document = {
        "scenarios": [{"name": r.name, "title": r.title, "question": r.question} for r in results],
        "kpis": [
            {k: (_plain(v) if isinstance(v, float) else v) for k, v in row.items()} for row in rows
        ],
        "differences": _differences(results),
    }
    economics = {
        r.name: {k: (_plain(v) if isinstance(v, float) else v) for k, v in r.economics.items()}
        for r in results
        if r.economics is not None
    }
    if economics:
        document["economics"] = economics
    assumptions = {
        r.name: [{"topic": a.topic, "value": a.value, "basis": a.basis} for a in r.assumptions]
        for r in results
        if r.assumptions
    }
    if assumptions:
        document["assumptions"] = assumptions
    sensitivity = [
        {
            "price": row.price.key,
            "case": row.case,
            "value": row.value,
            "cost_eur": {r.name: cost for r, cost in zip(results, row.costs, strict=True)},
            "npv_eur": {
                r.name: npv for r, npv in zip(results, row.npvs, strict=True) if npv is not None
            },
            "cheapest_first": [results[i].name for i in row.ranking],
        }
        for row in sensitivity_rows(results)
    ]
    if sensitivity:
        document["sensitivity"] = sensitivity
    (folder / "kpis.json").write_text(
        json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
        encoding="utf-8",
    )


def write_report(
    folder: Path,
    results: Sequence[ReportInput],
    *,
    geography: Geography | None = None,
) -> Path:
    """Write the report of one scenario, or of several compared with the first; return index.html.

    ``geography`` defaults to the twin's 28 communes (``twin.load_geography()``).
    """
    from scenarios._report_html import page  # matplotlib is imported only when a report is made

    if not results:
        raise ValueError("a report needs at least one scenario's results")
    names = [r.name for r in results]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must be distinct, got {names}")
    if geography is None:
        geography = load_geography()
    folder.mkdir(parents=True, exist_ok=True)
    _write_machine_files(folder, results)
    summary = text_summary(results)
    if summary:
        (folder / "summary.txt").write_text(summary, encoding="utf-8")
    index = folder / "index.html"
    index.write_text(page(results, kpi_order(results), geography), encoding="utf-8")
    return index
