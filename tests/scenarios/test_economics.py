"""The sensor rollout's cost-benefit: figures by hand, the [rollout] table, the shipped file."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from scenarios.economics import RolloutCosts, annuity_factor, evaluate, npv, payback_years
from scenarios.errors import ScenarioError
from scenarios.loader import SHIPPED, load_scenario
from scenarios.report import ReportInput, write_report
from scenarios.runner import annual_cost, run_scenario
from scenarios.schema import validate

BASELINE = str(SHIPPED / "baseline-fixed.toml")


def test_the_worked_example_by_hand() -> None:
    # 100 sensors × (150 + 50) € + 2 gateways × 1,000 € = 22,000 €; saves 6,000 €/yr,
    # subscriptions 100 × 10 = 1,000 €/yr → 5,000 €/yr net → payback 22,000 / 5,000 = 4.4 yr.
    # NPV at 4 % over 8 yr: 1.04^8 = 1.368569; annuity (1 − 1/1.368569)/0.04 = 6.732745;
    # −22,000 + 5,000 × 6.732745 = 11,663.72 €.
    e = evaluate(16_000.0, 10_000.0, 100, RolloutCosts())
    assert e.investment_eur == 22_000.0
    assert e.annual_savings_eur == 6_000.0
    assert e.annual_subscriptions_eur == 1_000.0
    assert e.net_annual_benefit_eur == 5_000.0
    assert e.payback_years == pytest.approx(4.4)
    assert e.npv_eur == pytest.approx(11_663.72, abs=0.01)
    assert e.npv_low_eur == e.npv_eur == e.npv_high_eur  # plain numbers: no range
    assert e.lifetime_years == 8 and e.discount_rate == 0.04


def test_a_range_from_both_confidence_intervals() -> None:
    # Half-widths 300 and 400 € combine to √(300² + 400²) = 500 €.
    base = SimpleNamespace(mean=16_000.0, low=15_700.0, high=16_300.0)
    roll = SimpleNamespace(mean=10_000.0, low=9_600.0, high=10_400.0)
    e = evaluate(base, roll, 100)
    assert (e.annual_savings_low_eur, e.annual_savings_high_eur) == pytest.approx(
        (5_500.0, 6_500.0)
    )
    assert e.payback_low_years == pytest.approx(22_000 / 4_500)
    assert e.payback_high_years == pytest.approx(22_000 / 5_500)
    assert e.npv_low_eur < e.npv_eur < e.npv_high_eur
    assert e.npv_low_eur == pytest.approx(-22_000 + 4_500 * 6.732745, abs=0.01)


def test_no_payback_when_the_benefit_is_not_positive() -> None:
    e = evaluate(10_000.0, 10_500.0, 10, RolloutCosts(gateways=0))
    assert e.investment_eur == 2_000.0 and e.net_annual_benefit_eur == -600.0
    assert e.payback_years is None
    assert e.npv_eur == pytest.approx(-2_000 - 600 * annuity_factor(0.04, 8))
    assert payback_years(0.0, -1.0) == 0.0  # nothing to repay
    assert annuity_factor(0.0, 8) == 8.0 and npv(100.0, 50.0, 0.0, 3) == 50.0
    with pytest.raises(ValueError):
        evaluate(1.0, 1.0, -1)
    assert json.dumps(e.as_dict())  # JSON-ready


def scenario(**rollout: Any) -> dict[str, Any]:
    return {
        "title": "tiny rollout",
        "question": "Worth it?",
        "run": {"seed": 1, "replications": 2, "horizon_days": 7, "start": "2024-05-27"},
        "inventory": {"seed": 20240601, "communes": ["34010", "34267"], "streams": ["glass"]},
        "policy": {"kind": "threshold"},
        "rollout": {"baseline": BASELINE, **rollout},
    }


def test_the_rollout_table_is_read_with_its_overrides() -> None:
    s = validate(scenario(sensors=12, sensor_eur=120, gateways=0, discount_rate=0.03), "tiny.toml")
    assert s.rollout is not None
    assert s.rollout.baseline == BASELINE and s.rollout.sensors == 12
    assert s.rollout.costs == RolloutCosts(sensor_eur=120.0, gateways=0, discount_rate=0.03)
    assert validate(scenario(sensors="all"), "tiny.toml").rollout.sensors is None
    assert validate(scenario(), "tiny.toml").rollout.sensors is None
    no_rollout = scenario()
    del no_rollout["rollout"]
    assert validate(no_rollout, "tiny.toml").rollout is None


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ({"sensors": 0}, "rollout.sensors", "0"),
        ({"sensors": "some"}, "rollout.sensors", "some"),
        ({"sensor_eur": -1}, "rollout.sensor_eur", "-1"),
        ({"lifetime_years": 0}, "rollout.lifetime_years", "0"),
        ({"gateways": 1.5}, "rollout.gateways", "1.5"),
        ({"discount_rate": 4}, "rollout.discount_rate", "4"),
        ({"sensor_price": 100}, "rollout.sensor_price", "100"),
        ({"baseline": "nowhere.toml"}, "rollout.baseline", "nowhere.toml"),
    ],
)
def test_a_wrong_rollout_value_names_file_key_and_value(
    override: dict[str, Any], key: str, value: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        validate(scenario(**override), "tiny.toml")
    message = str(caught.value)
    assert "tiny.toml" in message and key in message and value in message


def test_an_unknown_key_suggests_the_close_one() -> None:
    with pytest.raises(ScenarioError, match="sensor_eur"):
        validate(scenario(sensor_euro=100), "tiny.toml")


@pytest.fixture(scope="module")
def shipped():  # noqa: ANN201
    return run_scenario(load_scenario(SHIPPED / "sensor-rollout.toml"))


@pytest.mark.slow
def test_the_shipped_rollout_runs_with_its_economics(shipped, tmp_path: Path) -> None:  # noqa: ANN001
    s = shipped.scenario
    assert s.rollout is not None and Path(s.rollout.baseline).name == "baseline-fixed.toml"
    assert set(shipped.bins_by_stream) == {"glass", "packaging"}
    e = shipped.economics
    assert e is not None and e.sensors == shipped.bins
    assert e.investment_eur == shipped.bins * 200 + 2 * 1_000
    assert e.annual_subscriptions_eur == shipped.bins * 10
    rollout_year = annual_cost(shipped.kpis["cost_eur"], s.run.horizon_days)
    assert e.annual_savings_eur == pytest.approx(shipped.baseline_cost.mean - rollout_year.mean)
    assert e.annual_savings_low_eur <= e.annual_savings_eur <= e.annual_savings_high_eur
    plain = shipped.as_dict()["economics"]
    assert plain["npv_eur"] == pytest.approx(e.npv_eur) and json.dumps(plain)

    report = ReportInput(
        name="sensor-rollout",
        title=s.title,
        question=s.question,
        kpis=shipped.kpis,
        economics=e.as_dict(),
    )
    index = write_report(tmp_path, [report])
    html = index.read_text(encoding="utf-8")
    assert "Is it worth it?" in html and "Payback" in html and "Net present value" in html
    document = json.loads((tmp_path / "kpis.json").read_text(encoding="utf-8"))
    assert document["economics"]["sensor-rollout"]["investment_eur"] == e.investment_eur
