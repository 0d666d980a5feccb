"""The report's sections a planner defends the answer with: which comparison it is, the
assumptions that decide it, why the km change, and how the answer moves with uncertain prices.

Reads the plain fields of ``ReportInput`` (``assumptions``, ``prices``, ``by_stream``, ``seed``,
``comparison``) and its KPI estimates; the sensitivity arithmetic is
``scenarios.economics.sensitivity``. Draws nothing; every text from the inputs is escaped.
"""

from __future__ import annotations

from datetime import date
from html import escape
from typing import TYPE_CHECKING

from scenarios._report_text import NBSP, number, with_unit
from scenarios.economics import PricedRun, SensitivityRow, sensitivity

RECORDED = "recorded"
"""``ReportInput.policy`` of what the trucks did (``scenarios.recorded``): not simulated."""

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scenarios.report import ReportInput

__all__ = [
    "WHY_KPIS",
    "assumptions_section",
    "comparison_words",
    "sensitivity_rows",
    "sensitivity_section",
    "short_table",
    "text_summary",
    "why_section",
]

WHY_KPIS = (
    "truck_km",
    "collections",
    "trips",
    "km_per_trip",
    "stops_per_trip",
    "mean_fill_at_emptying",
    "overflow_events",
)
"""What explains a change of km: how many containers, in how many trips, of what length."""


def comparison_words(results: Sequence[ReportInput]) -> str:
    """Which comparison the report shows, in one or two sentences."""
    if len(results) < 2:
        return ""
    record = [r for r in results if r.policy == RECORDED]
    results = [r for r in results if r.policy != RECORDED]
    words = (record[0].comparison or record[0].title) if record else ""
    if not results:
        return words
    text = _simulated_words(results)
    return f"{words} {text}" if words else text


def _simulated_words(results: Sequence[ReportInput]) -> str:
    periods = {(r.start, r.horizon_days) for r in results}
    seeds = {r.seed for r in results}
    tuned = [r for r in results if r.comparison]
    runs = sorted({e.replications for r in results for e in r.kpis.values()})
    if len(periods) == 1 and len(seeds) == 1 and None not in seeds:
        start, days = periods.pop()
        first = f" from {date.fromisoformat(start):%d/%m/%Y}" if start else ""
        text = (
            f"Comparison at the same horizon and seed: every scenario runs the same {days} days"
            f"{first} with seed {seeds.pop()} "
            f"({' or '.join(str(n) for n in runs)} runs each), so each faces the same simulated "
            "waste."
        )
    else:
        text = (
            "The scenarios do not share one period and seed: their figures differ also by the "
            "waste each was given, compare them with care."
        )
    if tuned and len(tuned) == len(results):
        text += " Equal service: " + "; ".join(f"{r.title} — {r.comparison}" for r in tuned) + "."
    elif tuned:
        text += (
            " Service is equalised only for "
            + "; ".join(f"{r.title} ({r.comparison})" for r in tuned)
            + "; the others run as their files say."
        )
    elif "overflow_events" in {k for r in results for k in r.kpis}:
        text += (
            " Service is not equalised: a policy that overflows more may drive less, so read "
            "the overflows beside the km."
        )
    return text


def assumptions_section(results: Sequence[ReportInput]) -> str:
    """The figures that decide the answer; one value where the scenarios agree, else each's."""
    topics: dict[str, list[tuple[str, str, str]]] = {}
    for r in results:
        for a in r.assumptions:
            topics.setdefault(a.topic, []).append((r.title, a.value, a.basis))
    if not topics:
        return ""
    body = []
    for topic, rows in topics.items():
        values = {v for _, v, _ in rows}
        if len(values) == 1 and len(rows) == len(results):
            value = escape(rows[0][1])
        else:
            value = "<br>".join(f"<em>{escape(t)}</em>: {escape(v)}" for t, v, _ in rows)
        basis = escape(rows[0][2])
        body.append(
            f'<tr><th scope="row">{escape(topic)}</th><td class="text">{value}</td>'
            f'<td class="text note">{basis}</td></tr>'
        )
    effective = [
        f"{r.title} {number(r.kpis['overflow_penalty_eur'].mean / r.kpis['overflow_events'].mean, 0)}"
        f"{NBSP}€"
        for r in results
        if "overflow_penalty_eur" in r.kpis
        and "overflow_events" in r.kpis
        and r.kpis["overflow_events"].mean > 0
    ]
    penalty = (
        " With the hours they last, an overflow costs on average " + ", ".join(effective) + "."
        if effective
        else ""
    )
    return (
        '<section id="assumptions"><h2>What the answer rests on</h2>'
        "<p>These figures decide the comparison. Each is read from the twin's parameters "
        "(simulation.parameters, scenarios.economics), with its source or the reason it is "
        f"assumed.{escape(penalty)}</p>"
        '<table id="assumptions-table"><thead><tr><th>Assumption</th><th class="text">Value</th>'
        '<th class="text">Basis</th></tr></thead><tbody>'
        f"{''.join(body)}</tbody></table></section>"
    )


def why_section(results: Sequence[ReportInput]) -> str:
    """Per scenario: containers emptied, trips, km per trip, stops per trip, fill at emptying."""
    shown = [k for k in WHY_KPIS if all(k in r.kpis for r in results)]
    if "trips" not in shown or "truck_km" not in shown:
        return ""
    head = "".join(f"<th>{escape(_why_label(k))}</th>" for k in shown)
    body = []
    for r in results:
        cells = "".join(f"<td>{escape(with_unit(k, r.kpis[k].mean))}</td>" for k in shown)
        body.append(f'<tr><th scope="row">{escape(r.title)}</th>{cells}</tr>')
    streams = _stream_table(results)
    lines = [_why_sentence(r, results[0]) for r in results[1:]]
    lines.append(verdict(results))
    lines.append(fleet_short(results))
    sentences = "".join(f"<p>{escape(s)}</p>" for s in lines if s)
    return (
        '<section id="why-km"><h2>Why the km change</h2>'
        "<p>Distance driven = trips × km per trip. A trip is one truck leaving the depot for a "
        "stream's collection (its visits to the tip included); each pays the haul from the "
        "depot to the villages, to the tip and home, however few containers it empties.</p>"
        f'<table id="why-table"><thead><tr><th>Scenario</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{sentences}{streams}"
        '<p class="note">Means over the runs. Km per trip and containers per trip are each '
        "run's ratio, averaged.</p></section>"
    )


def fleet_short(results: Sequence[ReportInput]) -> str:
    """A warning when a scenario's fleet left planned stops unserved; empty otherwise."""
    short = [
        f"{r.title} ({number(r.kpis['unserved_stops'].mean, 0)})"
        for r in results
        if "unserved_stops" in r.kpis and r.kpis["unserved_stops"].mean >= 1
    ]
    if not short:
        return ""
    return (
        "Warning: the fleet could not serve every planned stop in " + ", ".join(short) + ". "
        "Those km and overflows describe a fleet too small for the territory as much as the "
        "policy: give the short streams more trucks in [fleet] "
        "(simulation.waste.sectors.trucks_needed counts the fewest that serve the fixed rounds)."
    )


SENSOR_POLICIES = ("threshold", "predictive", "integrated")
CALENDAR_POLICIES = ("fixed", "calendar")


def verdict(results: Sequence[ReportInput]) -> str:
    """Whether the sensor-driven policies drive fewer km than the calendar ones shown, and,
    when they do not, the figures that say why; empty unless both kinds are compared."""
    sensors = [r for r in results if r.policy in SENSOR_POLICIES and _has_trips(r)]
    calendars = [r for r in results if r.policy in CALENDAR_POLICIES and _has_trips(r)]
    if not sensors or not calendars:
        return ""
    best = min(sensors, key=lambda r: r.kpis["truck_km"].mean)
    rival = min(calendars, key=lambda r: r.kpis["truck_km"].mean)
    km, rival_km = best.kpis["truck_km"].mean, rival.kpis["truck_km"].mean
    if not rival_km:
        return ""
    change = 100 * (km / rival_km - 1)
    service = (
        f"at the same service ({_service_target(best)})"
        if _service_target(best) and _service_target(best) == _service_target(rival)
        else f"with {number(best.kpis['overflow_events'].mean, 0)} overflows against "
        f"{number(rival.kpis['overflow_events'].mean, 0)}"
        if "overflow_events" in best.kpis and "overflow_events" in rival.kpis
        else "(service not equalised)"
    )
    figures = (
        f"{number(best.kpis['trips'].mean, 0)} trips of {number(best.kpis['km_per_trip'].mean, 0)}"
        f" km against {number(rival.kpis['trips'].mean, 0)} of "
        f"{number(rival.kpis['km_per_trip'].mean, 0)} km"
    )
    if change < 0:
        return (
            f"Verdict: with sensors, {best.title} drives {number(-change, 0)} % fewer km than "
            f"{rival.title} {service}: {figures}."
        )
    return (
        f"Verdict: here the sensors do not save km. The best sensor-driven policy, "
        f"{best.title}, drives {_signed(change)} % km against {rival.title} {service}: "
        f"{figures}. Each trip pays the haul from the depot to the villages, the tip and back "
        "whatever it empties, and a calendar set from each container's expected fill already "
        "sends trucks only where containers fill; the sensors can only add the day-to-day "
        "spread around that."
    )


def _service_target(r: ReportInput) -> str:
    """The service a scenario was tuned to ("equal service at 10 overflows per …"), else ""."""
    # Each tuned scenario's comparison ends with its own knob's value in brackets: the target
    # before it is what two scenarios share when compared at equal service.
    return (
        r.comparison.split(" (", 1)[0].strip() if r.comparison.startswith("equal service") else ""
    )


def _has_trips(r: ReportInput) -> bool:
    return all(k in r.kpis for k in ("truck_km", "trips", "km_per_trip"))


def _why_label(kpi: str) -> str:
    return {
        "truck_km": "Distance (km)",
        "collections": "Containers emptied",
        "trips": "Trips",
        "km_per_trip": "Km per trip",
        "stops_per_trip": "Containers per trip",
        "mean_fill_at_emptying": "Fill when emptied",
        "overflow_events": "Overflows",
    }[kpi]


def _why_sentence(r: ReportInput, base: ReportInput) -> str:
    k, b = r.kpis, base.kpis
    if not b["trips"].mean or not k["trips"].mean:
        return ""
    trips = k["trips"].mean / b["trips"].mean - 1
    per_trip = k["km_per_trip"].mean / b["km_per_trip"].mean - 1 if b["km_per_trip"].mean else 0.0
    fill = 100 * (k["mean_fill_at_emptying"].mean - b["mean_fill_at_emptying"].mean)
    return (
        f"{r.title} against {base.title}: {_signed(100 * trips)} % trips, "
        f"{_signed(100 * per_trip)} % km per trip, "
        f"{number(k['stops_per_trip'].mean, 0)} containers a trip instead of "
        f"{number(b['stops_per_trip'].mean, 0)}, emptied {number(abs(fill), 0)} points "
        f"{'fuller' if fill >= 0 else 'emptier'}."
    )


def _signed(value: float) -> str:
    text = number(value, 0)
    return text if text.startswith("−") or text == "0" else "+" + text


def _stream_table(results: Sequence[ReportInput]) -> str:
    """Trips and km per trip for each stream, from one run of each scenario."""
    streams = sorted({s for r in results for s in r.by_stream})
    if not streams or not all("trips" in row for r in results for row in r.by_stream.values()):
        return ""
    head = "".join(f"<th>{escape(s)}</th>" for s in streams)
    body = []
    for r in results:
        cells = []
        for s in streams:
            row = r.by_stream.get(s)
            if row is None or not row.get("trips"):
                cells.append("<td>—</td>")
                continue
            cells.append(
                f"<td>{number(row['trips'], 0)} × {number(row['km_per_trip'], 0)}{NBSP}km"
                f'<span class="ci">{number(row["stops_per_trip"], 0)} containers a trip</span></td>'
            )
        body.append(f'<tr><th scope="row">{escape(r.title)}</th>{"".join(cells)}</tr>')
    return (
        '<table id="why-streams"><caption>Per stream, one run: trips × km per trip, and '
        f"containers a trip</caption><thead><tr><th>Scenario</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def sensitivity_rows(results: Sequence[ReportInput]) -> list[SensitivityRow]:
    """The sensitivity of the comparison, from the results' mean KPIs and prices."""
    if not results or not all(r.prices and "cost_eur" in r.kpis for r in results):
        return []
    runs = [
        PricedRun(r.title, {k: e.mean for k, e in r.kpis.items()}, r.prices, r.horizon_days)
        for r in results
    ]
    return sensitivity(runs)


def sensitivity_section(results: Sequence[ReportInput]) -> str:
    """How costs, the ranking and the sensors' NPV move at the low and high uncertain prices."""
    rows = sensitivity_rows(results)
    if not rows:
        return ""
    head = "".join(f"<th>{escape(r.title)}</th>" for r in results)
    base_order = {row.price.key: row.ranking for row in rows if row.case == "base"}
    body = []
    for row in rows:
        cells = []
        for i, cost in enumerate(row.costs):
            npv = row.npvs[i]
            extra = (
                f'<span class="ci">NPV {number(round(npv, -2), 0)}{NBSP}€ against '
                f"{escape(results[0].title)}</span>"
                if npv is not None
                else ""
            )
            cells.append(f"<td>{number(round(cost, -1), 0)}{NBSP}€{extra}</td>")
        ranking = " < ".join(results[i].title for i in row.ranking)
        if row.ranking != base_order.get(row.price.key, row.ranking):
            ranking += " (the order changes)"
        unit = row.price.unit
        value = f"{number(row.value)}{NBSP}{unit}"
        label = f"{row.price.label} — {row.case}"
        body.append(
            f'<tr class="sensitivity-{row.case}" data-price="{row.price.key}">'
            f'<th scope="row">{escape(label)}</th><td>{escape(value)}</td>{"".join(cells)}'
            f'<td class="text">{escape(ranking)}</td></tr>'
        )
    why = "; ".join(
        f"{p.label}: {p.why}" for p in {row.price.key: row.price for row in rows}.values()
    )
    return (
        '<section id="sensitivity"><h2>If the prices were different</h2>'
        "<p>Each uncertain price at its low, base and high value, the others at their base: the "
        "cost of each scenario over its period (fleet, overflow penalties, and for the "
        "sensor-driven policies their sensors' yearly share — investment spread over their life "
        "at the discount rate, plus subscriptions), which is cheapest, and the sensors' net "
        "present value over their life against the first scenario. Computed from the runs' "
        "mean figures: the trucks would drive the same km whatever these prices.</p>"
        f'<table id="sensitivity-table"><thead><tr><th>Price</th><th>Value</th>{head}'
        '<th class="text">Cheapest first</th></tr></thead><tbody>'
        f"{''.join(body)}</tbody></table>"
        f'<p class="note">Ranges: {escape(why)}.</p></section>'
    )


_TEXT_COLUMNS = (
    ("truck_km", "km"),
    ("trips", "trips"),
    ("km_per_trip", "km/trip"),
    ("stops_per_trip", "bins/trip"),
    ("mean_fill_at_emptying", "fill"),
    ("overflow_events", "overflows"),
    ("cost_eur", "cost"),
)


def text_summary(results: Sequence[ReportInput]) -> str:
    """The comparison in plain text (``summary.txt``, and what ``twin scenario`` prints): which
    comparison, per scenario why the km change, and whether a low or high price reorders it."""
    columns = [(k, h) for k, h in _TEXT_COLUMNS if all(k in r.kpis for r in results)]
    if not results or not columns:
        return ""
    lines = []
    which = comparison_words(results)
    if which:
        lines += [which, ""]
    width = max(len(r.title) for r in results)
    cells = [[with_unit(k, r.kpis[k].mean).replace(NBSP, " ") for k, _ in columns] for r in results]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, (_, h) in enumerate(columns)]
    lines.append(
        " " * width
        + "  "
        + "  ".join(h.rjust(w) for (_, h), w in zip(columns, widths, strict=True))
    )
    for r, row in zip(results, cells, strict=True):
        lines.append(
            r.title.ljust(width)
            + "  "
            + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
        )
    short = fleet_short(results)
    if short:
        lines += ["", short]
    rows = sensitivity_rows(results)
    if rows:
        base = {row.price.key: row.ranking for row in rows if row.case == "base"}
        changes = [
            f"{row.price.label} at {number(row.value)} {row.price.unit}: cheapest first "
            + " < ".join(results[i].title for i in row.ranking)
            for row in rows
            if row.ranking != base[row.price.key]
        ]
        first_base = next(row for row in rows if row.case == "base")
        cheapest = results[first_base.ranking[0]].title
        lines += [
            "",
            f"Cheapest at the base prices, sensors' yearly share included: {cheapest}.",
            *(
                changes
                or [
                    "The order holds at the low and high cost per km, overflow penalty and "
                    "sensor price."
                ]
            ),
        ]
    return "\n".join(line.replace(NBSP, " ") for line in lines).rstrip() + "\n"


SHORT_COLUMNS = (
    ("truck_km", "km"),
    ("collections", "collections"),
    ("overflow_events", "overflows"),
    ("cost_eur", "cost"),
)


def _short_cell(kpi: str, value: float) -> str:
    if kpi in ("collections", "overflow_events"):  # counts: whole numbers, as the log has them
        return number(round(value), 0).replace(NBSP, " ")
    return with_unit(kpi, value).replace(NBSP, " ")


def short_table(rows: Sequence[ReportInput]) -> str:
    """km, collections, overflows and cost per row, in plain text, rows in the given order."""
    width = max(len(r.title) for r in rows)
    cells = [
        [_short_cell(k, r.kpis[k].mean) if k in r.kpis else "—" for k, _ in SHORT_COLUMNS]
        for r in rows
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in cells)) for i, (_, h) in enumerate(SHORT_COLUMNS)
    ]
    lines = [
        " " * width
        + "  "
        + "  ".join(h.rjust(w) for (_, h), w in zip(SHORT_COLUMNS, widths, strict=True))
    ]
    lines += [
        r.title.ljust(width)
        + "  "
        + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
        for r, row in zip(rows, cells, strict=True)
    ]
    return "\n".join(lines)
