"""The report's "Is it worth it?" section: an investment's cost-benefit in plain words.

Reads the plain mapping ``ReportInput.economics`` (``Economics.as_dict()``); draws nothing.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, cast

from scenarios._report_text import number

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scenarios.report import ReportInput

__all__ = ["economics_section", "verdict"]


def _eur(value: float | None) -> str:
    return (
        "—"
        if value is None
        else f"{number(round(value, -1) if abs(value) >= 1000 else value, 0)} €"
    )


def _years(value: float | None) -> str:
    return "never" if value is None else f"{number(value, 1)} years"


def _amount(e: Mapping[str, float | str | None], key: str) -> float | None:
    """A sum, rate or duration of ``Economics.as_dict()``: only its descriptions are text."""
    return cast("float | None", e.get(key))


def verdict(e: Mapping[str, float | str | None]) -> str:
    """One sentence: does the investment pay for itself within its lifetime?"""
    who = str(e.get("who") or "the sensors")
    life = int(e.get("lifetime_years") or 0)
    payback, npv = _amount(e, "payback_years"), _amount(e, "npv_eur") or 0.0
    low, high = _amount(e, "npv_low_eur"), _amount(e, "npv_high_eur")
    if payback is None:
        return (
            f"No: {who} never pay for themselves — the change saves less each year than it costs "
            f"to run (or costs more than today), so over {life} years it loses about "
            f"{_eur(-npv)} in today's money."
        )
    if npv > 0:
        sure = (
            " even in the least favourable case"
            if low is not None and low > 0 and low != high
            else ""
        )
        return (
            f"Yes: {who} pay for themselves in about {_years(payback)}, within their "
            f"{life}-year life, and leave about {_eur(npv)} in today's money{sure}."
        )
    maybe = (
        " (it could pay off if the savings sit at the top of their range)"
        if high is not None and high > 0
        else ""
    )
    return (
        f"Not within their life: {who} would take about {_years(payback)} to pay back, "
        f"longer than their {life} years, a loss of about {_eur(-npv)} in today's money{maybe}."
    )


def economics_section(result: ReportInput) -> str:
    """The HTML section for one scenario carrying economics."""
    e = result.economics or {}
    rate = 100 * float(e.get("discount_rate") or 0.0)
    low, high = _amount(e, "annual_savings_low_eur"), _amount(e, "annual_savings_high_eur")
    savings_range = f" (likely between {_eur(low)} and {_eur(high)})" if low != high else ""
    npv_low, npv_high = _amount(e, "npv_low_eur"), _amount(e, "npv_high_eur")
    npv_range = f" (between {_eur(npv_low)} and {_eur(npv_high)})" if npv_low != npv_high else ""
    rows = [
        ("Investment", f"{_eur(_amount(e, 'investment_eur'))} — {e.get('investment_what') or ''}"),
        (
            "Yearly savings",
            f"{_eur(_amount(e, 'annual_savings_eur'))}{savings_range} {e.get('savings_what') or ''}",
        ),
        (
            "Yearly running costs (subscriptions, maintenance)",
            _eur(_amount(e, "annual_subscriptions_eur")),
        ),
        ("Net gain a year", _eur(_amount(e, "net_annual_benefit_eur"))),
        ("Payback", _years(_amount(e, "payback_years"))),
        (
            f"Net present value over {int(e.get('lifetime_years') or 0)} years",
            f"{_eur(_amount(e, 'npv_eur'))}{npv_range}, "
            f"future money discounted at {number(rate, 1)} % a year",
        ),
    ]
    body = "".join(
        f'<tr><th scope="row">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in rows
    )
    return (
        f'<section id="economics-{escape(result.name)}" class="economics"><h2>Is it worth it? '
        f"({escape(result.title)})</h2><p>{escape(verdict(e))}</p>"
        f'<table class="economics-table"><tbody>{body}</tbody></table>'
        '<p class="note">Savings are the simulated yearly cost of the baseline minus that of this '
        "scenario (the simulated period scaled to a year), with their 95 % confidence range when "
        "the simulation is sampled. Prices, lifetime and discount rate are assumptions, set in "
        "the scenario file ([rollout] or [lighting]).</p></section>"
    )
