"""Is a sensor rollout worth it? Investment, yearly savings, payback and net present value.

Fitting fill-level sensors to containers lets the collection move from fixed rounds to a
threshold or predictive policy. ``evaluate`` weighs what the sensors cost (units, installation,
LoRaWAN gateways, yearly network subscriptions) against what the simulation says the change
saves in a year (km, fuel, labour and overflow penalties: the ``cost_eur`` KPI of the baseline
minus that of the rollout, annualised).

``appraise`` is the same arithmetic for any investment repaid by yearly savings (an LED
retrofit and its dimming controllers, say): payback and NPV with the savings' range.

Every price in ``RolloutCosts`` is an **assumption** (no public figure in
``/work/shared/data/PARAMETERS.md``): a scenario parameter a planner overrides in ``[rollout]``.
Pure functions, no I/O. Not responsible for running the simulation (``scenarios.runner``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Protocol

__all__ = [
    "COST_FIELDS",
    "Economics",
    "RolloutCosts",
    "annuity_factor",
    "appraise",
    "evaluate",
    "npv",
    "payback_years",
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
