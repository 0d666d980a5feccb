"""The words and numbers of a report: KPI labels and units, French number formatting,
differences between scenarios with their intervals, and the plain-language summary.

Not responsible for charts (``scenarios._report_charts``) or for the page's markup
(``scenarios._report_html``). Everything here returns plain text, never HTML: the caller escapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from simulation import Estimate

NBSP = "\u00a0"  # between a number and its unit, and as the thousands separator


@dataclass(frozen=True)
class KpiSpec:
    """How a KPI is shown to a reader: its label, its unit and which way is better."""

    label: str
    unit: str = ""
    percent: bool = False
    """A share in 0–1 shown as a percentage."""
    lower_is_better: bool | None = True
    """None when neither direction is better (e.g. tonnes collected)."""
    non_negative: bool = True
    """Whether the figure can never be below 0 (a count, a cost); a share is also at most 1."""

    @property
    def bounds(self) -> tuple[float, float]:
        """The values the figure can take: its confidence interval is clipped to them."""
        return (0.0 if self.non_negative else -math.inf, 1.0 if self.percent else math.inf)


KPI_SPECS: dict[str, KpiSpec] = {
    "truck_km": KpiSpec("Distance driven by trucks", "km"),
    "driving_hours": KpiSpec("Driving time", "h"),
    "fuel_l": KpiSpec("Fuel burnt", "L"),
    "co2_kg": KpiSpec("CO2 emitted", "kg"),
    "collections": KpiSpec("Containers emptied", "", lower_is_better=None),
    "tonnes": KpiSpec("Waste collected", "t", lower_is_better=None),
    "mean_fill_at_emptying": KpiSpec(
        "Mean fill when emptied", "%", percent=True, lower_is_better=False
    ),
    "overflow_events": KpiSpec("Overflows", ""),
    "overflow_bin_hours": KpiSpec("Time containers spent overflowing", "bin-h"),
    "unserved_stops": KpiSpec("Planned stops not served", ""),
    "trips": KpiSpec("Trips (a truck leaving the depot)", "", lower_is_better=None),
    "km_per_trip": KpiSpec("Distance per trip", "km", lower_is_better=None),
    "stops_per_trip": KpiSpec("Containers emptied per trip", "", lower_is_better=False),
    "operating_cost_eur": KpiSpec("Fleet operating cost", "€"),
    "overflow_penalty_eur": KpiSpec("Overflow penalties", "€"),
    "cost_eur": KpiSpec("Total cost (fleet and overflow penalties)", "€"),
    # Not "the same whatever the policy": it follows the tonnes collected, which differ by what
    # is still in the bins at the end of the run and what overflowed beside them.
    "reference_cost_eur": KpiSpec(
        "Treatment cost of the tonnes collected (€ per tonne × tonnes; not a saving)",
        "€",
        lower_is_better=None,
    ),
    # Public lighting
    "electricity_kwh": KpiSpec("Electricity used by street lights", "kWh"),
    "electricity_cost_eur": KpiSpec("Electricity bill of street lights", "€"),
    "kwh_saved": KpiSpec(
        "Electricity saved against today's lamps", "kWh", lower_is_better=False, non_negative=False
    ),
    "eur_saved": KpiSpec(
        "Money saved on the bill against today's lamps",
        "€",
        lower_is_better=False,
        non_negative=False,
    ),
    "co2_saved_kg": KpiSpec(
        "CO2 avoided against today's lamps", "kg", lower_is_better=False, non_negative=False
    ),
    "full_power_hours": KpiSpec("Hours at full power (equivalent)", "h"),
    "light_points": KpiSpec("Light points", "", lower_is_better=None),
    # Footfall
    "visitors": KpiSpec("Visitors", "", lower_is_better=None),
    "peak_day_visitors": KpiSpec("Visitors on the busiest day", "", lower_is_better=None),
    "peak_hour_visitors": KpiSpec("Arrivals in the busiest hour", "", lower_is_better=None),
    "p95_hour_visitors": KpiSpec(
        "Arrivals in a busy hour (95th percentile)", "", lower_is_better=None
    ),
    "peak_present": KpiSpec("Most people on site at once", ""),
    "hours_over_capacity": KpiSpec("Hours with more people than the site holds", "h"),
    "visitor_waste_kg": KpiSpec("Waste left by visitors", "kg"),
    # Childcare
    "requests": KpiSpec("Requests for a place", "", lower_is_better=None),
    "mean_wait_days": KpiSpec("Mean wait for a place", "days"),
    "p95_wait_days": KpiSpec("Wait of the 5 % who wait longest", "days"),
    "share_waited": KpiSpec("Families who had to wait", "%", percent=True),
    "mean_waiting_list": KpiSpec("Families on the waiting list (average)", ""),
    "max_waiting_list": KpiSpec("Longest waiting list", ""),
    "utilisation": KpiSpec("Places occupied", "%", percent=True, lower_is_better=False),
    "turned_away_share": KpiSpec("Requests turned away (list full)", "%", percent=True),
    "places": KpiSpec("Places", "", lower_is_better=None),
    "waiting_list": KpiSpec("Families on the waiting list", ""),  # a daily series, not a total
    "running_cost_eur": KpiSpec("Running cost of the places", "€"),
}


def spec(kpi: str) -> KpiSpec:
    """The spec of a KPI; an unknown KPI is shown under its own name, without unit."""
    return KPI_SPECS.get(
        kpi, KpiSpec(kpi.replace("_", " "), "", lower_is_better=None, non_negative=False)
    )


def bounded_interval(kpi: str, low: float, high: float) -> tuple[float, float]:
    """A KPI's confidence interval clipped to the values it can take (a share to 0–1, a count
    to ≥ 0): a t-interval over few runs may overshoot them; NaN (one run) stays NaN."""
    lowest, highest = spec(kpi).bounds
    if math.isfinite(low):
        low = min(max(low, lowest), highest)
    if math.isfinite(high):
        high = min(max(high, lowest), highest)
    return low, high


def number(value: float, digits: int | None = None) -> str:
    """A number for French readers: ``12 345,6`` (no-break space for thousands, decimal comma).

    ``digits`` None picks a sensible precision from the magnitude. NaN is shown as an em dash.
    """
    if value is None or not math.isfinite(value):
        return "—"
    if digits is None:
        size = abs(value)
        digits = 0 if size >= 100 or size == 0 else 1 if size >= 10 else 2
    text = f"{value:,.{digits}f}"
    if text.startswith("-"):
        text = "−" + text[1:]  # a true minus sign
    if text in ("−0", "−0.0", "−0.00"):
        text = text[1:]
    return text.replace(",", NBSP).replace(".", ",")


def rounded(value: float) -> float:
    """Two significant figures, for amounts quoted in a sentence ("about 4 100 €")."""
    if not math.isfinite(value) or value == 0:
        return value
    magnitude: float = 10 ** (math.floor(math.log10(abs(value))) - 1)
    return round(value / magnitude) * magnitude


def shown(kpi: str, value: float) -> float:
    """The value as displayed (shares become percentages)."""
    return value * 100 if spec(kpi).percent else value


def with_unit(kpi: str, value: float, digits: int | None = None) -> str:
    """A value with its unit: ``1 234 km``, ``87,5 %``."""
    unit = spec(kpi).unit
    text = number(shown(kpi, value), digits)
    return f"{text}{NBSP}{unit}" if unit else text


@dataclass(frozen=True)
class Difference:
    """A scenario minus the baseline, with a 95 % interval (half-widths in quadrature)."""

    mean: float
    half_width: float
    baseline: float

    @property
    def low(self) -> float:
        """Lower bound of the interval."""
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        """Upper bound of the interval."""
        return self.mean + self.half_width

    @property
    def clear(self) -> bool:
        """Whether the interval excludes zero (a difference beyond the noise)."""
        return math.isfinite(self.half_width) and (self.low > 0 or self.high < 0)

    @property
    def relative(self) -> float:
        """The difference as a share of the baseline (NaN when the baseline is zero)."""
        return self.mean / self.baseline if self.baseline else math.nan

    @property
    def relative_half_width(self) -> float:
        """The interval's half-width as a share of the baseline."""
        return self.half_width / abs(self.baseline) if self.baseline else math.nan


def difference(estimate: Estimate, baseline: Estimate) -> Difference:
    """Difference of means; the CI half-widths combined in quadrature (independent runs)."""
    half = math.hypot(estimate.half_width, baseline.half_width)
    return Difference(estimate.mean - baseline.mean, half, baseline.mean)


def span_words(span: int) -> str:
    """A number of days in words: "1 year", "5 years", "4 weeks", "10 days"."""
    years = span / 365.25
    if span >= 365 and abs(years - round(years)) < 0.01:
        return "1 year" if round(years) == 1 else f"{round(years)} years"
    if span % 7 == 0 and span >= 14:
        return f"{span // 7} weeks"
    return "1 day" if span == 1 else f"{span} days"


def period(days: Sequence[Mapping[str, object]], horizon_days: int = 0) -> str:
    """The horizon in words ("4 weeks"), given or from the daily rows; "" when unknown."""
    if horizon_days > 0:
        return span_words(horizon_days)
    labels = sorted({str(row["day"])[:10] for row in days if "day" in row})
    if not labels:
        return ""
    try:
        span = (date.fromisoformat(labels[-1]) - date.fromisoformat(labels[0])).days + 1
    except ValueError:
        span = len(labels)
    return span_words(span)


def date_range(days: Sequence[Mapping[str, object]], start: str = "", horizon_days: int = 0) -> str:
    """ "03/06/2024 – 30/06/2024"-style range in dd/mm/yyyy (given, or from the daily rows)."""
    if start and horizon_days > 0:
        first = date.fromisoformat(start)
        return f"{first:%d/%m/%Y} – {first + timedelta(days=horizon_days - 1):%d/%m/%Y}"
    labels = sorted({str(row["day"])[:10] for row in days if "day" in row})
    try:
        first, last = date.fromisoformat(labels[0]), date.fromisoformat(labels[-1])
    except (IndexError, ValueError):
        return ""
    return f"{first:%d/%m/%Y} – {last:%d/%m/%Y}"


def _percent(value: float) -> str:
    return f"{number(abs(value) * 100, 0)}{NBSP}%"


def _money_or_mass(kpi: str, amount: float) -> str:
    if kpi == "co2_kg":
        tonnes = abs(amount) / 1000
        return f"{number(tonnes, 1 if tonnes < 100 else 0)}{NBSP}t of CO2"
    return f"about {number(rounded(abs(amount)), 0)}{NBSP}€"


def comparison_sentence(
    title: str,
    baseline_title: str,
    kpis: Mapping[str, Estimate],
    baseline: Mapping[str, Estimate],
    horizon: str,
) -> str:
    """One sentence an elected official reads in a minute, e.g.

    "Predictive drives 12 % fewer km than Fixed rounds (± 5 %), saves about 4 100 € and
    2,1 t of CO2 over 4 weeks, with as many overflows."
    """
    diffs = {k: difference(kpis[k], baseline[k]) for k in kpis if k in baseline}
    if "truck_km" not in diffs:
        return _generic_comparison(title, baseline_title, diffs, horizon)
    parts: list[str] = []
    km = diffs.get("truck_km")
    if km is not None and math.isfinite(km.relative):
        if km.clear:
            way = "fewer" if km.mean < 0 else "more"
            parts.append(
                f"drives {_percent(km.relative)} {way} km than {baseline_title}"
                f" (±{NBSP}{number(km.relative_half_width * 100, 0)}{NBSP}%)"
            )
        else:
            parts.append(f"drives about as many km as {baseline_title}")
    savings, extra, same = [], [], []
    for kpi in ("cost_eur", "co2_kg"):
        d = diffs.get(kpi)
        if d is None:
            continue
        if not d.clear:
            same.append("cost" if kpi == "cost_eur" else "CO2")
        elif d.mean < 0:
            savings.append(_money_or_mass(kpi, d.mean))
        else:
            extra.append(_money_or_mass(kpi, d.mean))
    if savings:
        parts.append("saves " + " and ".join(savings))
    if extra:
        parts.append("costs " + " and ".join(extra) + " more")
    if same:
        parts.append("with about the same " + " and ".join(same))
    if not parts:
        parts.append(f"compares with {baseline_title} as the table below shows")
    sentence = f"{title} " + ", ".join(parts)
    if horizon:
        sentence += f" over {horizon}"
    overflows = diffs.get("overflow_events")
    if overflows is not None:
        if not overflows.clear:
            sentence += ", with as many overflows"
        else:
            way = "fewer" if overflows.mean < 0 else "more"
            sentence += f", with {number(abs(overflows.mean), 0)} {way} overflows"
    return sentence + "."


_HEADLINES = (
    "electricity_kwh",
    "eur_saved",
    "co2_kg",
    "visitors",
    "peak_present",
    "hours_over_capacity",
    "visitor_waste_kg",
    "mean_wait_days",
    "share_waited",
    "mean_waiting_list",
    "running_cost_eur",
)
"""The figures a lighting, footfall or childcare comparison speaks of first, in this order."""


def _generic_comparison(
    title: str, baseline_title: str, diffs: Mapping[str, Difference], horizon: str
) -> str:
    """A comparison in the subject's own headline figures: what differs beyond the noise."""
    clear, same = [], []
    for kpi in [k for k in _HEADLINES if k in diffs][:4]:
        d = diffs[kpi]
        text = spec(kpi).label
        label = text if text[:2].isupper() else text[0].lower() + text[1:]  # "CO2" stays "CO2"
        if not d.clear and math.isfinite(d.half_width):
            same.append(label)
            continue
        if d.mean == 0:
            same.append(label)
            continue
        way = "less" if d.mean < 0 else "more"
        share = (
            f" ({_percent(d.relative)} {way})"
            if math.isfinite(d.relative) and not spec(kpi).percent
            else ""
        )
        amount = (
            f"{number(abs(d.mean) * 100, 0)} points"
            if spec(kpi).percent
            else with_unit(kpi, abs(d.mean))
        )
        clear.append(f"{label} {'−' if d.mean < 0 else '+'}{amount}{share}")
    if not clear and not same:
        return f"{title} compares with {baseline_title} as the table below shows."
    sentence = f"Against {baseline_title}, {title}" + (f" over {horizon}" if horizon else "")
    if clear:
        sentence += ": " + "; ".join(clear)
    if same:
        sentence += ("; " if clear else ": ") + "about the same " + " and ".join(same)
    return sentence + "."


def _subject_sentence(kpis: Mapping[str, Estimate]) -> str | None:
    """What a lighting, footfall or childcare scenario comes to, in one clause (None for waste)."""

    def value(kpi: str, digits: int | None = 0) -> str:
        return with_unit(kpi, rounded(kpis[kpi].mean) if digits == 0 else kpis[kpi].mean, digits)

    if "electricity_kwh" in kpis:
        text = (
            f"street lights use {value('electricity_kwh')}, a bill of about "
            f"{value('electricity_cost_eur')} and {_money_or_mass('co2_kg', kpis['co2_kg'].mean)}"
        )
        if "kwh_saved" in kpis and kpis["kwh_saved"].mean > 0:
            before = kpis["electricity_kwh"].mean + kpis["kwh_saved"].mean
            text += (
                f" — {_percent(kpis['kwh_saved'].mean / before)} less electricity and about "
                f"{value('eur_saved')} less than today's lamps burning all night"
            )
        return text
    if "visitors" in kpis:
        return (
            f"about {number(rounded(kpis['visitors'].mean), 0)} visitors, up to "
            f"{number(rounded(kpis['peak_day_visitors'].mean), 0)} on the busiest day and "
            f"{number(rounded(kpis['peak_present'].mean), 0)} on site at once; more people than "
            f"the site holds during {number(kpis['hours_over_capacity'].mean, 0)} hours"
        )
    if "mean_wait_days" in kpis:
        return (
            f"families wait {number(kpis['mean_wait_days'].mean, 0)} days on average for a place "
            f"({_percent(kpis['share_waited'].mean)} of them wait at all), with "
            f"{number(kpis['mean_waiting_list'].mean, 1)} families on the waiting list on average; "
            f"the places cost about {number(rounded(kpis['running_cost_eur'].mean), 0)}{NBSP}€ to run"
        )
    return None


def single_sentence(title: str, kpis: Mapping[str, Estimate], horizon: str) -> str:
    """The summary of one scenario on its own: what it drives, empties, overflows and costs."""
    lead = f"Over {horizon}, {title}" if horizon else title
    subject = _subject_sentence(kpis)
    if subject is not None:
        return f"{lead}: {subject}."
    parts = []
    if "truck_km" in kpis:
        km = with_unit("truck_km", rounded(kpis["truck_km"].mean), 0)
        parts.append(f"trucks drive about {km}")
    if "collections" in kpis:
        parts.append(f"empty {number(kpis['collections'].mean, 0)} containers")
    if "overflow_events" in kpis:
        parts.append(f"{number(kpis['overflow_events'].mean, 0)} overflows")
    money = [_money_or_mass(k, kpis[k].mean) for k in ("cost_eur", "co2_kg") if k in kpis]
    if money:
        parts.append("for " + " and ".join(money))
    if not parts:
        return f"{lead}: see the table below."
    return f"{lead}: " + ", ".join(parts) + "."
