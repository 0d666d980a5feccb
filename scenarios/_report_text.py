"""The words and numbers of a report: KPI labels and units, French number formatting,
differences between scenarios with their intervals, and the plain-language summary.

Not responsible for charts (``scenarios._report_charts``) or for the page's markup
(``scenarios._report_html``). Everything here returns plain text, never HTML: the caller escapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
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
    "operating_cost_eur": KpiSpec("Fleet operating cost", "€"),
    "overflow_penalty_eur": KpiSpec("Overflow penalties", "€"),
    "cost_eur": KpiSpec("Total cost (fleet and overflow penalties)", "€"),
    "reference_cost_eur": KpiSpec(
        "Treatment cost of the tonnes (the same whatever the policy)", "€", lower_is_better=None
    ),
}


def spec(kpi: str) -> KpiSpec:
    """The spec of a KPI; an unknown KPI is shown under its own name, without unit."""
    return KPI_SPECS.get(kpi, KpiSpec(kpi.replace("_", " "), "", lower_is_better=None))


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
    magnitude = 10 ** (math.floor(math.log10(abs(value))) - 1)
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


def period(days: Sequence[Mapping[str, object]]) -> str:
    """The horizon in words, from the daily rows: "4 weeks", "10 days", "" when unknown."""
    labels = sorted({str(row["day"])[:10] for row in days if "day" in row})
    if not labels:
        return ""
    try:
        span = (date.fromisoformat(labels[-1]) - date.fromisoformat(labels[0])).days + 1
    except ValueError:
        span = len(labels)
    if span % 7 == 0 and span >= 14:
        return f"{span // 7} weeks"
    return "1 day" if span == 1 else f"{span} days"


def date_range(days: Sequence[Mapping[str, object]]) -> str:
    """"du 03/06/2024 au 30/06/2024"-style range in dd/mm/yyyy, or "" when unknown."""
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


def single_sentence(title: str, kpis: Mapping[str, Estimate], horizon: str) -> str:
    """The summary of one scenario on its own: what it drives, empties, overflows and costs."""
    parts = []
    if "truck_km" in kpis:
        km = with_unit("truck_km", rounded(kpis["truck_km"].mean), 0)
        parts.append(f"trucks drive about {km}")
    if "collections" in kpis:
        parts.append(f"empty {number(kpis['collections'].mean, 0)} containers")
    if "overflow_events" in kpis:
        parts.append(f"{number(kpis['overflow_events'].mean, 0)} overflows")
    money = [
        _money_or_mass(k, kpis[k].mean) for k in ("cost_eur", "co2_kg") if k in kpis
    ]
    if money:
        parts.append("for " + " and ".join(money))
    lead = f"Over {horizon}, {title}" if horizon else title
    if not parts:
        return f"{lead}: see the table below."
    return f"{lead}: " + ", ".join(parts) + "."
