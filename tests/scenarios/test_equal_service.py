"""Calendar policy in scenario files, horizons of whole cycles, equal-service tuning (issue 13)."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

from scenarios.errors import ScenarioError
from scenarios.loader import load_scenario
from scenarios.runner import build_policy, prepare
from scenarios.sweep import at_equal_service, service_rate, tune_to_service
from simulation.waste.policies import Calendar

if TYPE_CHECKING:
    from pathlib import Path

BASE = """
title = "Base"
question = "What if?"
[run]
seed = 1
replications = 1
horizon_days = {days}
start = 2024-05-06
{run}
[inventory]
seed = 20240601
communes = ["34261"]
{inventory}
[policy]
{policy}
"""


def _write(tmp_path: Path, policy: str, days: int = 28, run: str = "", inventory: str = "") -> Path:
    path = tmp_path / "s.toml"
    text = BASE.format(days=days, run=run, inventory=inventory, policy=policy)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _error(tmp_path: Path, policy: str, **kw: object) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_write(tmp_path, policy, **kw))  # type: ignore[arg-type]
    return caught.value


@pytest.mark.slow  # plans the valley's inventory
def test_calendar_settings_build_a_planned_calendar(tmp_path: Path) -> None:
    scenario = load_scenario(
        _write(
            tmp_path,
            'kind = "calendar"\nservice_level = 0.9\nfrequencies = ["weekly", "four-weekly"]',
        )
    )
    assert scenario.policy is not None and scenario.policy.service_level == 0.9
    policy = build_policy(scenario, prepare(scenario))
    assert isinstance(policy, Calendar)
    assert set(policy.frequency) <= {"weekly", "four-weekly"} and "four-weekly" in policy.frequency


@pytest.mark.parametrize(
    ("policy", "kw", "key", "words"),
    [
        ('kind = "calendar"\nservice_level = 1.5', {}, "policy.service_level", "0 < x < 1"),
        ('kind = "calendar"\nfrequencies = ["daily"]', {}, "policy.frequencies", "four-weekly"),
        ('kind = "threshold"\nservice_level = 0.9', {}, "policy.service_level", "calendar"),
        ('kind = "fixed"', {"days": 14}, "run.horizon_days", "glass round every 4 weeks"),
        ('kind = "calendar"', {"days": 21}, "run.horizon_days", "four-weekly"),
        ('kind = "fixed"', {"run": "equal_service = 5.0"}, "run.equal_service", "calendar"),
        ('kind = "threshold"', {"run": "equal_service = -1.0"}, "run.equal_service", "1,000"),
        (
            'kind = "fixed"',
            {"inventory": "catchment_cv = -0.1"},
            "inventory.catchment_cv",
            "[0, 3]",
        ),
    ],
)
def test_schema_errors_name_the_key(
    tmp_path: Path, policy: str, kw: dict[str, object], key: str, words: str
) -> None:
    error = _error(tmp_path, policy, **kw)
    assert error.key == key and words in str(error)


def test_a_horizon_of_whole_cycles_is_accepted(tmp_path: Path) -> None:
    fortnight = load_scenario(_write(tmp_path, 'kind = "threshold"', days=14))  # no rounds
    assert fortnight.run.horizon_days == 14
    no_glass = _write(tmp_path, 'kind = "fixed"', days=7, inventory='streams = ["residual"]')
    assert load_scenario(no_glass).run.horizon_days == 7  # the slowest round is then weekly


@pytest.mark.slow  # eight short runs of a village
def test_equal_service_tuning_converges(tmp_path: Path) -> None:
    # The inventory's own sizes: their overflow rates span the target (sized to the rounds,
    # no threshold lets a village overflow 250 times per 1,000 container-weeks).
    scenario = load_scenario(
        _write(tmp_path, 'kind = "threshold"', inventory='sizing = "as_installed"')
    )
    loose = tune_to_service(scenario, 1000.0, steps=3)  # more than any threshold gives
    assert loose.value == pytest.approx(1.0, abs=0.1)
    target = 250.0
    tuning = tune_to_service(scenario, target, steps=7)
    values = [v for v, _ in tuning.tries]
    assert values[0] == pytest.approx(0.65) and len(set(values)) == 7  # it bisects
    assert abs(tuning.achieved - target) == min(abs(r - target) for _, r in tuning.tries)
    assert abs(tuning.achieved - target) <= 0.25 * target
    assert tuning.scenario.policy is not None and tuning.scenario.policy.threshold == tuning.value
    assert "equal service at 250 overflows per 1,000 container-weeks" in tuning.comparison
    assert tuning == tune_to_service(scenario, target, steps=7)  # same seed, same answer


def test_fixed_is_tuned_as_a_calendar_and_the_rate_is_per_container_week(tmp_path: Path) -> None:
    tuned = at_equal_service(load_scenario(_write(tmp_path, 'kind = "fixed"')), 10.0)
    assert tuned.policy is not None and tuned.policy.kind == "calendar"
    assert tuned.run.equal_service == 10.0 and "calendar" in tuned.title
    assert service_rate(3.0, 100, 14) == pytest.approx(15.0)


class _Totals:
    def __init__(self, overflows: float, unserved: float) -> None:
        self._totals = {"overflow_events": overflows, "unserved_stops": unserved}

    def totals(self) -> dict[str, float]:
        return self._totals


@pytest.mark.slow  # plans a village's calendar at each try
def test_tuning_backs_off_a_knob_the_fleet_cannot_carry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On the whole valley a calendar tuned for more service asked more visits than its fleet
    # could make: stops went unserved and overflows rose again, so bisecting "too many
    # overflows → more service" ran to the far end (0.9929, 40 per 1,000 container-weeks,
    # where 0.95 gave 9). A try the fleet could not serve now means "less work".
    import scenarios.sweep as sweep

    def fake_simulate(bins: object, policy: Calendar, *args: object, **kwargs: object) -> _Totals:
        service = policy.service_level
        if service > 0.97:  # past what the fleet can carry
            return _Totals(overflows=1_000.0 * service, unserved=50.0)
        return _Totals(overflows=(1.0 - service) * 200.0, unserved=0.0)

    monkeypatch.setattr(sweep, "simulate", fake_simulate)
    scenario = load_scenario(_write(tmp_path, 'kind = "calendar"'))
    bins = len(prepare(scenario).bins)
    # The rate the fake gives at service level s: (1 − s)·200 overflows over 4 weeks.
    target = service_rate((1 - 0.95) * 200.0, bins, 28)
    tuning = tune_to_service(scenario, target, steps=8)
    assert tuning.value <= 0.97  # never a setting the fleet cannot serve
    assert tuning.value == pytest.approx(0.95, abs=0.01)
