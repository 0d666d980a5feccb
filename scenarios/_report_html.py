"""The report's page: one HTML5 document with inline CSS and inline SVG charts, no JavaScript.

Every piece of text from the inputs goes through ``html.escape``; the SVG comes from
matplotlib, which escapes its own text. Not responsible for the numbers' wording
(``scenarios._report_text``) or drawing (``scenarios._report_charts``).
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

from scenarios._report_charts import colour, daily_series, kpi_bars, valley_map
from scenarios._report_economics import economics_section
from scenarios._report_planner import (
    assumptions_section,
    comparison_words,
    sensitivity_section,
    why_section,
)
from scenarios._report_text import (
    NBSP,
    bounded_interval,
    comparison_sentence,
    date_range,
    difference,
    number,
    period,
    shown,
    single_sentence,
    spec,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scenarios.report import ReportInput
    from simulation import Estimate
    from twin import Geography

_CHART_DEFAULT = ("truck_km", "cost_eur", "co2_kg", "overflow_events", "collections")
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;
color:#1d232a;background:#fff;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:1.5rem}
h1{font-size:1.7rem;margin:.2rem 0}h2{font-size:1.25rem;margin-top:2.2rem;
border-bottom:2px solid #e3e6ea;padding-bottom:.2rem}
.meta{color:#5b6670}.summary{background:#eef5ee;border-left:6px solid #2f8a3b;
padding:.8rem 1.1rem;font-size:1.15rem}.summary p{margin:.4rem 0}
.question{font-style:italic;color:#39434d}
table{border-collapse:collapse;font-size:.9rem;margin-top:.5rem}
th,td{padding:.35rem .6rem;border-bottom:1px solid #e3e6ea;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}thead th{background:#f5f6f8}
.ci{display:block;color:#6b7680;font-size:.8rem}
.better{color:#1d7a2d}.worse{color:#b3261e}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.3em}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}
.maps{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:1rem}
figcaption,.note{color:#5b6670;font-size:.85rem}
td.text,th.text{text-align:left}caption{text-align:left;color:#5b6670;font-size:.85rem;padding:.6rem 0 .2rem}
.comparison{font-weight:600}
"""


def _estimate_cell(kpi: str, est: Estimate | None) -> str:
    if est is None:
        return "<td>—</td>"
    low, high = (shown(kpi, v) for v in bounded_interval(kpi, est.low, est.high))
    interval = f"{number(low)} – {number(high)}" if math.isfinite(low) else "no interval (1 run)"
    mean = escape(number(shown(kpi, est.mean)))
    return f'<td>{mean}<span class="ci">{escape(interval)}</span></td>'


def _difference_cell(kpi: str, est: Estimate | None, base: Estimate | None) -> str:
    if est is None or base is None:
        return "<td>—</td>"
    d = difference(est, base)
    sign = "+" if d.mean > 0 else ""
    text = f"{sign}{number(shown(kpi, d.mean))}"
    if math.isfinite(d.relative) and not spec(kpi).percent:
        text += f" ({sign}{number(d.relative * 100, 0)}{NBSP}%)"
    interval = (
        f"{number(shown(kpi, d.low))} – {number(shown(kpi, d.high))}"
        if math.isfinite(d.half_width)
        else "no interval"
    )
    verdict = ""
    lower = spec(kpi).lower_is_better
    if d.clear and lower is not None:
        verdict = ' class="better"' if (d.mean < 0) == lower else ' class="worse"'
    return f'<td{verdict}>{escape(text)}<span class="ci">{escape(interval)}</span></td>'


def _table(results: Sequence[ReportInput], kpis: Sequence[str]) -> str:
    head = ["<th>Indicator</th><th>Unit</th>"]
    for i, r in enumerate(results):
        head.append(
            f'<th><span class="swatch" style="background:{colour(i)}"></span>{escape(r.title)}</th>'
        )
    for r in results[1:]:
        head.append(f"<th>{escape(r.title)} − {escape(results[0].title)}</th>")
    body = []
    for kpi in kpis:
        cells = [f"<td>{escape(spec(kpi).label)}</td><td>{escape(spec(kpi).unit)}</td>"]
        cells += [_estimate_cell(kpi, r.kpis.get(kpi)) for r in results]
        cells += [
            _difference_cell(kpi, r.kpis.get(kpi), results[0].kpis.get(kpi)) for r in results[1:]
        ]
        body.append(f'<tr id="kpi-{escape(kpi)}">{"".join(cells)}</tr>')
    return (
        '<table id="kpi-table"><thead><tr>'
        + "".join(head)
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table>"
    )


def _summary(results: Sequence[ReportInput], horizon: str) -> list[str]:
    if len(results) == 1:
        return [single_sentence(results[0].title, results[0].kpis, horizon)]
    base = results[0]
    return [
        comparison_sentence(r.title, base.title, r.kpis, base.kpis, horizon) for r in results[1:]
    ]


def _series_caption(results: Sequence[ReportInput]) -> str:
    keys = {k for r in results for row in r.by_day for k in row}
    if "truck_km" in keys:
        fill = ", and how full the containers were before collection" if "mean_fill" in keys else ""
        return f"Day by day: distance driven, containers emptied and overflows{fill}"
    if "electricity_kwh" in keys:
        return "Night by night: the street lights' electricity, longer in winter nights"
    if "visitors" in keys:
        return "Day by day: visitors, and the most people on site at once"
    if "waiting_list" in keys:
        return "Week by week: families on the waiting list"
    return "Day by day"


def _map_caption(result: ReportInput, what: str) -> str:
    parts = [f"{result.title}: the 28 communes"]
    if result.bins:
        parts.append(f"each container coloured by its number of {what} (same scale on every map)")
    if result.tours:
        parts.append(f"the tours of {result.tours_day or 'a typical day'} in blue")
    if result.places:
        parts.append(
            f"each disc's area proportional to its {result.place_value} (same scale on every map)"
        )
    return (
        ", ".join(parts[:-1]) + (" and " if len(parts) > 2 else ", ") + parts[-1] + "."
        if len(parts) > 1
        else parts[0] + "."
    )


def page(results: Sequence[ReportInput], kpis: Sequence[str], geography: Geography) -> str:
    """The whole HTML document."""
    days = [row for r in results for row in r.by_day]
    spans = {(r.start, r.horizon_days) for r in results}
    start, horizon_days = (
        spans.pop() if len(spans) == 1 else ("", 0)
    )  # one period, or read the rows
    horizon = period(days, horizon_days)
    runs = sorted({e.replications for r in results for e in r.kpis.values()})
    runs_text = " or ".join(str(n) for n in runs) if runs else "?"
    titles = " vs ".join(r.title for r in results)
    heading = results[0].title if len(results) == 1 else f"Comparison: {titles}"

    focus = [k for k in kpis if any(k in r.focus for r in results)]
    charted = (focus or [k for k in _CHART_DEFAULT if k in kpis] or list(kpis))[:6]

    bins = [b for r in results for b in r.bins]
    colour_by = "overflow_events" if any(b.overflow_events > 0 for b in bins) else "collections"
    vmax = max((float(getattr(b, colour_by)) for b in bins), default=1.0)
    place_max = max((p.value for r in results for p in r.places), default=0.0)

    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(heading)} — Valley Twin</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f'<header><p class="meta">Valley Twin · Communauté de communes Vallée de l\'Hérault</p>'
        f"<h1>{escape(heading)}</h1>",
        f'<p class="meta">{escape(" · ".join(x for x in (horizon, date_range(days, start, horizon_days)) if x))}'
        f" · {escape(runs_text)} simulated run{'' if runs == [1] else 's'} per scenario</p></header>",
        '<section id="summary"><h2>In short</h2><div class="summary">',
        *(f"<p>{escape(sentence)}</p>" for sentence in _summary(results, horizon)),
        "</div>",
        *(
            [f'<p class="comparison" id="comparison">{escape(which)}</p>']
            if (which := comparison_words(results))
            else []
        ),
        *(
            f'<p class="question"><strong>{escape(r.title)}</strong> — {escape(r.question)}</p>'
            for r in results
            if r.question
        ),
        '<p class="note">“±” and the small grey ranges are 95 % confidence intervals over the '
        "simulated runs: the true average very likely lies within them. A difference whose "
        "interval contains zero is within the noise of the simulation.</p></section>",
        '<section id="kpis"><h2>Key figures</h2>',
        _table(results, kpis),
        '<p class="note">Each cell: mean over the runs, and below it the 95 % confidence '
        "interval (Student's t), clipped to the values the figure can take (a share within "
        "0–100 %, a count or a cost not below 0).",
    ]
    if len(results) > 1:
        out.append(
            f" Difference columns: the scenario's mean minus the mean of the baseline "
            f"({escape(results[0].title)}), in the KPI's unit and as a share of the baseline; "
            "its interval combines the two scenarios' half-widths in quadrature "
            "(√(h₁² + h₂²), the runs being independent). Green is better, red worse, "
            "black within the noise."
        )
    out.append("</p></section>")
    out += [why_section(results), sensitivity_section(results)]
    out += [economics_section(r) for r in results if r.economics is not None]
    out += [
        '<section id="charts"><h2>Charts</h2><figure id="kpi-charts">',
        kpi_bars(results, charted),
        "<figcaption>Mean of each indicator, with its 95 % confidence interval as an error "
        "bar.</figcaption></figure>",
    ]
    series = daily_series(results)
    if series is not None:
        out += [
            '<figure id="daily-series">',
            series,
            f"<figcaption>{escape(_series_caption(results))} (one line per scenario, one run)."
            "</figcaption></figure>",
        ]
    out.append('</section><section id="maps"><h2>The valley</h2><div class="maps">')
    what = "overflows" if colour_by == "overflow_events" else "collections"
    # A sweep's points carry only totals: one map of the valley then, not one empty map each.
    mapped = [(i, r) for i, r in enumerate(results) if r.bins or r.places or r.tours] or [
        (0, results[0])
    ]
    for i, result in mapped:
        map_id = f"map-{i}"
        out += [
            f'<figure id="{map_id}" class="valley-map">',
            valley_map(geography, result, colour_by, vmax, map_id, place_max),
            f"<figcaption>{escape(_map_caption(result, what))}</figcaption></figure>",
        ]
    out.append("</div></section>")
    out.append(assumptions_section(results))
    out += [
        '<footer><p class="note">Commune boundaries: IGN ADMIN EXPRESS COG 2018 '
        "and INSEE Code officiel géographique, via france-geojson, Licence Ouverte (Etalab). "
        "Coordinates in Lambert-93 (EPSG:2154). Machine-readable figures: kpis.csv and "
        "kpis.json beside this page.</p></footer>",
        "</main></body></html>",
    ]
    return "\n".join(out) + "\n"
