"""Policy settings in scenario files (issue 13): validated, and built into the policy."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

from scenarios.errors import ScenarioError
from scenarios.loader import load_scenario
from scenarios.runner import build_policy
from simulation.waste import FixedSchedule, Integrated, Predictive, Round, Threshold

if TYPE_CHECKING:
    from pathlib import Path

BASE = """
title = "Base"
question = "What if?"
[run]
seed = 1
replications = 1
horizon_days = 28
start = 2024-05-06
[inventory]
seed = 20240601
communes = ["34261"]
[policy]
{policy}
"""


def _load(tmp_path: Path, policy: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(BASE.format(policy=policy)), encoding="utf-8")
    return path, load_scenario


def _error(tmp_path: Path, policy: str) -> tuple[str, ScenarioError]:
    path, load = _load(tmp_path, policy)
    with pytest.raises(ScenarioError) as caught:
        load(path)
    return str(path.resolve()), caught.value


def test_integrated_settings_build_the_integrated_policy(tmp_path: Path) -> None:
    path, load = _load(
        tmp_path,
        'kind = "integrated"\nrisk = 0.1\nhorizon_days = 6\nmin_fill = 0.4\nprize_scale = 2.0\n'
        'round_days = ["tue", "mon", "thu"]',
    )
    policy = build_policy(load(path))
    assert isinstance(policy, Integrated)
    assert (policy.risk, policy.horizon, policy.min_fill, policy.prize_scale) == (0.1, 6, 0.4, 2.0)
    assert policy.round_days == frozenset({0, 1, 3})


def test_other_kinds_take_their_settings(tmp_path: Path) -> None:
    path, load = _load(
        tmp_path,
        'kind = "fixed"\n[policy.rounds.glass]\nweekdays = ["wed"]\nevery_weeks = 2\n'
        '[policy.rounds.paper]\nweekdays = ["mon", "fri"]',
    )
    fixed = build_policy(load(path))
    assert isinstance(fixed, FixedSchedule)
    assert fixed.rounds["glass"] == Round(frozenset({2}), 2)
    assert fixed.rounds["paper"] == Round(frozenset({0, 4}), 1)
    assert fixed.rounds["residual"] == Round(frozenset({0, 3}))  # untouched default
    path, load = _load(tmp_path, 'kind = "threshold"\nthreshold = 0.9\nround_days = ["mon"]')
    threshold = build_policy(load(path))
    assert isinstance(threshold, Threshold) and threshold.round_days == frozenset({0})
    path, load = _load(tmp_path, 'kind = "predictive"\ndetour_m = 250.0\nmin_fill = 0.5')
    predictive = build_policy(load(path))
    assert isinstance(predictive, Predictive)
    assert (predictive.detour_m, predictive.min_fill) == (250.0, 0.5)


@pytest.mark.parametrize(
    ("policy", "key", "value", "expected"),
    [
        ('kind = "integrated"\ndetour_m = 500.0', "policy.detour_m", 500.0, "no detour_m"),
        ('kind = "integrated"\nprize_scale = -1.0', "policy.prize_scale", -1.0, "0 <= x"),
        ('kind = "integrated"\nmin_fill = 1.5', "policy.min_fill", 1.5, "fill fraction"),
        ('kind = "integrated"\nhorizon_days = 2', "policy.horizon_days", 2, "at least 4"),
        ('kind = "threshold"\nprize_scale = 2.0', "policy.prize_scale", 2.0, "integrated"),
        (
            'kind = "predictive"\nround_days = ["mon", "funday"]',
            "policy.round_days",
            ["mon", "funday"],
            "day names",
        ),
        (
            'kind = "threshold"\n[policy.rounds.glass]\nweekdays = ["fri"]',
            "policy.rounds",
            {"glass": {"weekdays": ["fri"]}},
            "only for ['fixed']",
        ),
        (
            'kind = "fixed"\n[policy.rounds.glass]\nweekdays = ["fri"]\nevery_weeks = 0',
            "policy.rounds.glass.every_weeks",
            0,
            "from 1 to 52",
        ),
        (
            'kind = "fixed"\n[policy.rounds.glas]\nweekdays = ["fri"]',
            "policy.rounds.glas",
            {"weekdays": ["fri"]},
            "did you mean 'glass'",
        ),
        (
            'kind = "fixed"\n[policy.rounds.glass]\nevery_weeks = 4',
            "policy.rounds.glass.weekdays",
            None,
            "required",
        ),
    ],
)
def test_errors_name_the_file_the_key_and_the_value(
    tmp_path: Path, policy: str, key: str, value: object, expected: str
) -> None:
    file, error = _error(tmp_path, policy)
    assert (error.file, error.key, error.value) == (file, key, value)
    assert expected in error.expected
