"""Is a sensor rollout worth it? Investment, yearly savings, payback and net present value.

Fitting fill-level sensors to containers lets the collection move from fixed rounds to a
threshold or predictive policy. ``evaluate`` weighs what the sensors cost (units, installation,
LoRaWAN gateways, yearly network subscriptions) against what the simulation says the change
saves in a year (km, fuel, labour and overflow penalties: the ``cost_eur`` KPI of the baseline
minus that of the rollout, annualised).

``appraise`` is the same arithmetic for any investment repaid by yearly savings (an LED
retrofit and its dimming controllers, say): payback and NPV with the savings' range.

``sensitivity`` reprices a comparison at the low and high values of its most uncertain prices
(``SENSITIVITY``: cost per km, overflow penalty, sensor price) from the runs' KPIs, without
running them again: the cost is linear in those prices and the policies do not see them.

Every price in ``RolloutCosts`` is an **assumption** (no public figure in
``/work/shared/data/PARAMETERS.md``): a scenario parameter a planner overrides in ``[rollout]``.
Pure functions, no I/O. Not responsible for running the simulation (``scenarios.runner``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "COST_FIELDS",
    "SENSITIVITY",
    "Economics",
    "PriceRange",
    "PricedRun",
    "RolloutCosts",
    "SensitivityRow",
    "annuity_factor",
    "appraise",
    "base_prices",
    "evaluate",
    "npv",
    "payback_years",
    "repriced_cost",
    "sensitivity",
    "sensor_cost_per_period",
]


@dataclass(frozen=True)
class RolloutCosts:
    """What a sensor rollout costs. Every default is assumed (reason beside it)."""

    sensor_eur: float = 150.0
    """Assumed: an ultrasonic LoRaWAN fill-level sensor for a column, typical list price
    100–200 € per unit in 2023–24 vendor catalogues; no public source in PARAMETERS.md."""
    installation_eur_per_sensor: float = 50.0
    """Assumed: about half an hour of a technician on site per column, with fixings."""
    gateways: int = 2
    """Assumed: two LoRaWAN gateways for three villages in the gorges (relief blocks line of
    sight; one per side of the valley). Zero if an operator's public network is used."""
    gateway_eur: float = 1000.0
    """Assumed: an outdoor LoRaWAN gateway, installed, around 1,000 €."""
    subscription_eur_per_sensor_year: float = 10.0
    """Assumed: network and platform subscription, about 10 € per sensor per year."""
    lifetime_years: int = 8
    """Assumed: sensor battery and housing last 8–10 years; the lower end, to be prudent."""
    discount_rate: float = 0.04
    """Assumed: 4 % a year, in the range French public bodies use for investment appraisal."""


COST_FIELDS: tuple[str, ...] = tuple(asdict(RolloutCosts()))
"""The names of ``RolloutCosts`` fields (what ``[rollout]`` may override)."""


class _Interval(Protocol):
    # Read-only, so that frozen dataclasses (an estimate, ``Annual``) satisfy it.
    @property
    def mean(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def high(self) -> float: ...


@dataclass(frozen=True)
class Economics:
    """The cost-benefit of a rollout: € and years; each ``_low``/``_high`` from the savings CI."""

    sensors: int
    gateways: int
    investment_eur: float
    annual_savings_eur: float
    annual_savings_low_eur: float
    annual_savings_high_eur: float
    annual_subscriptions_eur: float
    net_annual_benefit_eur: float
    payback_years: float | None
    """Investment over net yearly benefit; None when the benefit is not positive (never pays)."""
    payback_low_years: float | None
    """Payback with the low end of the savings (the slowest)."""
    payback_high_years: float | None
    """Payback with the high end of the savings (the fastest)."""
    npv_eur: float
    npv_low_eur: float
    npv_high_eur: float
    lifetime_years: int
    discount_rate: float
    investment_what: str = ""
    """What the investment buys, in words ("60 sensors fitted and installed, 2 gateways")."""
    savings_what: str = ""
    """Where the savings come from, in words."""
    who: str = "the sensors"
    """What pays (or not) for itself, for the verdict ("the new lighting")."""

    def as_dict(self) -> dict[str, float | str | None]:
        """Plain, JSON-ready values."""
        return {k: (float(v) if isinstance(v, int | float) else v) for k, v in asdict(self).items()}


def annuity_factor(rate: float, years: int) -> float:
    """Present value of 1 € a year at the end of each of ``years`` years: (1 − (1+r)^−n) / r."""
    if years < 0:
        raise ValueError(f"years must be >= 0, not {years}")
    if rate == 0:
        return float(years)
    return (1.0 - (1.0 + rate) ** -years) / rate


def npv(investment: float, net_annual: float, rate: float, years: int) -> float:
    """Net present value: −investment today, then ``net_annual`` at the end of each year."""
    return -investment + net_annual * annuity_factor(rate, years)


def payback_years(investment: float, net_annual: float) -> float | None:
    """Simple (undiscounted) payback; None if the yearly benefit never repays the investment."""
    if investment <= 0:
        return 0.0
    if net_annual <= 0:
        return None
    return investment / net_annual


def _bounds(value: float | _Interval) -> tuple[float, float, float]:
    if isinstance(value, int | float):
        return float(value), float(value), float(value)
    return float(value.mean), float(value.low), float(value.high)


def evaluate(
    baseline_cost_eur_per_year: float | _Interval,
    rollout_cost_eur_per_year: float | _Interval,
    sensors: int,
    costs: RolloutCosts = RolloutCosts(),  # noqa: B008 - frozen, so a shared default is safe
) -> Economics:
    """The cost-benefit of fitting ``sensors`` sensors, from the yearly cost of both policies.

    Costs are a number or anything with ``mean``/``low``/``high`` (a ``simulation.Estimate``
    scaled to a year). Savings are baseline − rollout; their range combines the two intervals'
    half-widths in quadrature (√(h₁² + h₂²), the runs being independent), as the report's
    differences do.
    """
    if sensors < 0:
        raise ValueError(f"sensors must be >= 0, not {sensors}")
    base, base_low, base_high = _bounds(baseline_cost_eur_per_year)
    roll, roll_low, roll_high = _bounds(rollout_cost_eur_per_year)
    half = math.hypot((base_high - base_low) / 2, (roll_high - roll_low) / 2)
    investment = (
        sensors * (costs.sensor_eur + costs.installation_eur_per_sensor)
        + costs.gateways * costs.gateway_eur
    )
    appraisal = appraise(
        investment,
        _Range(base - roll, base - roll - half, base - roll + half),
        running_eur_per_year=sensors * costs.subscription_eur_per_sensor_year,
        lifetime_years=costs.lifetime_years,
        discount_rate=costs.discount_rate,
        investment_what=f"{sensors} sensors fitted and installed, {costs.gateways} LoRaWAN gateways",
        savings_what="in km, fuel, labour and overflow penalties, against the baseline",
    )
    return replace(appraisal, sensors=sensors, gateways=costs.gateways)


@dataclass(frozen=True)
class _Range:
    mean: float
    low: float
    high: float


def appraise(
    investment_eur: float,
    annual_savings_eur: float | _Interval,
    *,
    running_eur_per_year: float,
    lifetime_years: int,
    discount_rate: float,
    investment_what: str = "",
    savings_what: str = "",
    who: str = "the sensors",
) -> Economics:
    """Payback and net present value of ``investment_eur`` repaid by yearly savings.

    ``annual_savings_eur`` is a number or anything with ``mean``/``low``/``high``; the yearly
    net benefit is the savings minus ``running_eur_per_year`` (subscriptions, maintenance).
    """
    if investment_eur < 0:
        raise ValueError(f"investment must be >= 0, not {investment_eur}")
    savings, low, high = _bounds(annual_savings_eur)
    rate, years = discount_rate, lifetime_years

    def net(s: float) -> float:
        return s - running_eur_per_year

    return Economics(
        sensors=0,
        gateways=0,
        investment_eur=investment_eur,
        annual_savings_eur=savings,
        annual_savings_low_eur=low,
        annual_savings_high_eur=high,
        annual_subscriptions_eur=running_eur_per_year,
        net_annual_benefit_eur=net(savings),
        payback_years=payback_years(investment_eur, net(savings)),
        payback_low_years=payback_years(investment_eur, net(low)),
        payback_high_years=payback_years(investment_eur, net(high)),
        npv_eur=npv(investment_eur, net(savings), rate, years),
        npv_low_eur=npv(investment_eur, net(low), rate, years),
        npv_high_eur=npv(investment_eur, net(high), rate, years),
        lifetime_years=years,
        discount_rate=rate,
        investment_what=investment_what,
        savings_what=savings_what,
        who=who,
    )


# --- Sensitivity of the comparison to its most uncertain prices ------------------------------


@dataclass(frozen=True)
class PriceRange:
    """One uncertain price the sensitivity table varies: its low and high as factors of its base."""

    key: str
    """Its key in a run's prices (``base_prices``)."""
    label: str
    unit: str
    low_factor: float
    high_factor: float
    why: str
    """Why that range, in words."""


SENSITIVITY: tuple[PriceRange, ...] = (
    PriceRange(
        "truck_eur_per_km",
        "Truck cost per km, fuel excluded",
        "€/km",
        2 / 3,
        4 / 3,
        "assumed ± a third: the truck's write-off spread over 15,000–30,000 km a year",
    ),
    PriceRange(
        "overflow_penalty_eur",
        "Penalty per overflow (besides the per-hour nuisance)",
        "€",
        0.5,
        2.0,
        "assumed: half to twice a crew's call-out; no public figure",
    ),
    PriceRange(
        "sensor_eur",
        "Fill-level sensor, per unit",
        "€",
        2 / 3,
        4 / 3,
        "vendor list prices of 100–200 € a unit around the assumed base",
    ),
)
"""The two or three prices that most decide the comparison and are least known."""


def base_prices(
    truck_eur_per_km: float,
    overflow_penalty_eur: float,
    sensors: int,
    costs: RolloutCosts = RolloutCosts(),  # noqa: B008 - frozen, so a shared default is safe
) -> dict[str, float]:
    """A run's prices as the sensitivity table reads them (``sensors``: 0 for fixed rounds)."""
    return {
        "truck_eur_per_km": float(truck_eur_per_km),
        "overflow_penalty_eur": float(overflow_penalty_eur),
        "sensors": float(sensors),
        **{k: float(v) for k, v in asdict(costs).items()},
    }


def _costs_of(prices: Mapping[str, float]) -> RolloutCosts:
    kept = {k: prices[k] for k in COST_FIELDS if k in prices}
    for whole in ("gateways", "lifetime_years"):
        if whole in kept:
            kept[whole] = int(kept[whole])
    return replace(RolloutCosts(), **kept)  # type: ignore[arg-type]


def sensor_cost_per_period(prices: Mapping[str, float], horizon_days: int) -> float:
    """The sensors' share of a period: their equivalent yearly cost (investment spread over
    their life at the discount rate, plus subscriptions) times the period's share of a year."""
    sensors = int(prices.get("sensors", 0))
    if sensors <= 0 or horizon_days <= 0:
        return 0.0
    costs = _costs_of(prices)
    investment = (
        sensors * (costs.sensor_eur + costs.installation_eur_per_sensor)
        + costs.gateways * costs.gateway_eur
    )
    factor = annuity_factor(costs.discount_rate, costs.lifetime_years)
    yearly = (investment / factor if factor else investment) + (
        sensors * costs.subscription_eur_per_sensor_year
    )
    return yearly * horizon_days / 365.0


def repriced_cost(
    kpis: Mapping[str, float], prices: Mapping[str, float], changed: Mapping[str, float]
) -> float:
    """A run's ``cost_eur`` (fleet and overflow penalties) with some prices changed.

    The cost is linear in them: each km costs ``truck_eur_per_km`` more or less, each overflow
    event ``overflow_penalty_eur``; no re-simulation (the policies do not see prices).
    """
    cost = float(kpis["cost_eur"])
    if "truck_eur_per_km" in changed:
        delta = changed["truck_eur_per_km"] - prices["truck_eur_per_km"]
        cost += float(kpis.get("truck_km", 0.0)) * delta
    if "overflow_penalty_eur" in changed:
        delta = changed["overflow_penalty_eur"] - prices["overflow_penalty_eur"]
        cost += float(kpis.get("overflow_events", 0.0)) * delta
    return cost


@dataclass(frozen=True)
class PricedRun:
    """What the sensitivity table needs of one scenario: its mean KPIs, prices and period."""

    title: str
    kpis: Mapping[str, float]
    prices: Mapping[str, float]
    horizon_days: int


@dataclass(frozen=True)
class SensitivityRow:
    """The comparison at one value of one price."""

    price: PriceRange
    case: str
    """"low", "base" or "high"."""
    value: float
    costs: tuple[float, ...]
    """Each scenario's cost over its period: fleet, overflow penalties and its sensors' share."""
    npvs: tuple[float | None, ...]
    """Each scenario's sensors against the first scenario: NPV over their life (None: no sensors,
    or the first scenario itself)."""
    ranking: tuple[int, ...]
    """Scenario indices, cheapest first."""


def sensitivity(runs: Sequence[PricedRun]) -> list[SensitivityRow]:
    """Each price of ``SENSITIVITY`` at its low, base and high value, the others at their base.

    Costs come from the runs' mean KPIs (``repriced_cost``) plus ``sensor_cost_per_period``;
    the NPV weighs each sensor-driven scenario's yearly savings against the first scenario
    (``evaluate``), as ``[rollout]`` does. A price absent from every run is left out.
    """
    rows: list[SensitivityRow] = []
    if not runs:
        return rows
    for price in SENSITIVITY:
        if not all(price.key in r.prices for r in runs):
            continue
        base_value = runs[0].prices[price.key]
        for case, factor in (("low", price.low_factor), ("base", 1.0), ("high", price.high_factor)):
            value = base_value * factor
            changed = {price.key: value}
            fleet_costs = [repriced_cost(r.kpis, r.prices, changed) for r in runs]
            repriced = [{**r.prices, **changed} for r in runs]
            costs = tuple(
                c + sensor_cost_per_period(p, r.horizon_days)
                for c, p, r in zip(fleet_costs, repriced, runs, strict=True)
            )
            npvs: list[float | None] = [None]
            for r, c, p in zip(runs[1:], fleet_costs[1:], repriced[1:], strict=True):
                sensors = int(p.get("sensors", 0))
                if sensors <= 0 or r.horizon_days <= 0 or runs[0].horizon_days <= 0:
                    npvs.append(None)
                    continue
                yearly = 365.0 / r.horizon_days
                base_yearly = fleet_costs[0] * 365.0 / runs[0].horizon_days
                npvs.append(evaluate(base_yearly, c * yearly, sensors, _costs_of(p)).npv_eur)
            ranking = tuple(sorted(range(len(runs)), key=lambda i: costs[i]))
            rows.append(SensitivityRow(price, case, value, costs, tuple(npvs), ranking))
    return rows
