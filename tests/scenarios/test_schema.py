"""Scenario files: every validation rule with its message, inheritance, the shipped files."""

from __future__ import annotations

import textwrap
from datetime import date
from typing import TYPE_CHECKING

import pytest

from scenarios.errors import ScenarioError
from scenarios.loader import load_scenario, shipped_scenarios
from scenarios.schema import DEFAULT_FOCUS, KPI_NAMES

if TYPE_CHECKING:
    from pathlib import Path

BASE = """
title = "Base"
question = "What if?"
[run]
seed = 1
replications = 2
horizon_days = 28
start = 2024-05-06
[inventory]
seed = 20240601
communes = ["34010", "34261"]
streams = ["glass"]
[policy]
kind = "fixed"
[fleet]
glass = 1
residual = 6
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def replace_in_base(tmp_path: Path, old: str, new: str) -> Path:
    assert old in BASE
    return write(tmp_path, "s.toml", BASE.replace(old, new))


def error_of(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return caught.value


def test_a_valid_file_gives_a_frozen_scenario(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, "s.toml", BASE))
    assert s.run.start == date(2024, 5, 6) and s.run.replications == 2
    assert s.inventory.communes == ("34010", "34261") and s.inventory.streams == ("glass",)
    assert s.policy.kind == "fixed" and s.fleet == (("glass", 1), ("residual", 6))
    assert s.focus == DEFAULT_FOCUS and s.extends == ()
    with pytest.raises(AttributeError):
        s.title = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("old", "new", "key", "value", "expected"),
    [
        (
            'kind = "fixed"',
            'kind = "fixed"\nthreshhold = 0.8',
            "policy.threshhold",
            0.8,
            "did you mean 'threshold'?",
        ),
        ("[run]", "titel = 'x'\n[run]", "titel", "x", "did you mean 'title'?"),
        ("seed = 1\n", 'seed = "one"\n', "run.seed", "one", "an integer"),
        ("seed = 1\n", "seed = true\n", "run.seed", True, "an integer"),
        (
            "horizon_days = 28",
            "horizon_days = 0",
            "run.horizon_days",
            0,
            "a number of days from 1 to 3,660",
        ),
        (
            "replications = 2",
            "replications = -3",
            "run.replications",
            -3,
            "1 to 1,000 replications",
        ),
        ("start = 2024-05-06", 'start = "May"', "run.start", "May", "a date"),
        ('"34261"]', '"99999"]', "inventory.communes", "99999", "INSEE codes of the valley"),
        (
            'streams = ["glass"]',
            'streams = ["glas"]',
            "inventory.streams",
            "glas",
            "did you mean 'glass'?",
        ),
        (
            'kind = "fixed"',
            'kind = "random"',
            "policy.kind",
            "random",
            "one of ['fixed', 'calendar', 'threshold', 'predictive', 'integrated']",
        ),
        (
            'kind = "fixed"',
            'kind = "threshold"\nthreshold = 1.5',
            "policy.threshold",
            1.5,
            "0 < x <= 1",
        ),
        (
            'kind = "fixed"',
            'kind = "threshold"\nthreshold = 0',
            "policy.threshold",
            0.0,
            "0 < x <= 1",
        ),
        (
            'kind = "fixed"',
            'kind = "fixed"\nthreshold = 0.5',
            "policy.threshold",
            0.5,
            "only for ['threshold']",
        ),
        ('kind = "fixed"', 'kind = "predictive"\nrisk = 1.2', "policy.risk", 1.2, "a probability"),
        (
            'kind = "fixed"',
            'kind = "predictive"\nhorizon_days = 3',
            "policy.horizon_days",
            3,
            "at least 4 days",
        ),
        ("residual = 6", "residual = 0", "fleet.residual", 0, "a number of trucks > 0"),
        ("residual = 6", "trash = 2", "fleet.trash", 2, "one of ['biowaste'"),
        (
            "[fleet]",
            '[kpis]\nfocus = ["truck_kms"]\n[fleet]',
            "kpis.focus",
            "truck_kms",
            "did you mean 'truck_km'?",
        ),
        ("seed = 20240601\n", "", "inventory.seed", None, "an inventory seed"),
    ],
)
def test_each_rule_names_file_key_value_and_expectation(
    tmp_path: Path, old: str, new: str, key: str, value: object, expected: str
) -> None:
    path = replace_in_base(tmp_path, old, new)
    error = error_of(path)
    assert (error.file, error.key, error.value) == (str(path.resolve()), key, value)
    assert expected in error.expected
    assert str(path.resolve()) in str(error) and key in str(error) and expected in str(error)


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    error = error_of(replace_in_base(tmp_path, "horizon_days = 28\n", ""))
    assert error.key == "run.horizon_days" and "required" in error.expected


def test_a_toml_syntax_error_gives_file_and_line(tmp_path: Path) -> None:
    path = replace_in_base(tmp_path, "horizon_days = 28", "horizon_days = = 7")
    error = error_of(path)
    assert error.file == str(path.resolve()) and error.key is None
    assert "line 7" in str(error)


def test_kpi_names_are_those_a_run_reports() -> None:
    assert {"truck_km", "overflow_events", "co2_kg", "cost_eur", "mean_fill_at_emptying"} <= set(
        KPI_NAMES
    )
    assert "fill_at_emptying_sum" not in KPI_NAMES


def test_a_child_overrides_one_key_and_keeps_the_rest(tmp_path: Path) -> None:
    write(tmp_path, "base.toml", BASE)
    child = write(
        tmp_path,
        "child.toml",
        """
        extends = "base.toml"
        title = "Child"
        [run]
        seed = 7
        [policy]
        kind = "threshold"
        threshold = 0.6
        [fleet]
        glass = 2
        """,
    )
    s = load_scenario(child)
    assert s.title == "Child" and s.question == "What if?"
    assert (s.run.seed, s.run.horizon_days, s.run.replications) == (7, 28, 2)  # nested table merged
    assert s.policy.kind == "threshold" and s.policy.threshold == 0.6
    assert s.fleet == (("glass", 2), ("residual", 6))
    assert s.inventory.communes == ("34010", "34261")
    assert s.extends == (str((tmp_path / "base.toml").resolve()),)


def test_lists_are_replaced_not_appended(tmp_path: Path) -> None:
    write(tmp_path, "base.toml", BASE)
    child = write(tmp_path, "c.toml", 'extends = "base.toml"\n[inventory]\ncommunes = ["34114"]\n')
    assert load_scenario(child).inventory.communes == ("34114",)


def test_an_inherited_bad_value_blames_the_parent_file(tmp_path: Path) -> None:
    base = write(tmp_path, "base.toml", BASE.replace("horizon_days = 28", "horizon_days = -1"))
    child = write(tmp_path, "c.toml", 'extends = "base.toml"\ntitle = "C"\n')
    error = error_of(child)
    assert error.file == str(base.resolve()) and error.key == "run.horizon_days"


def test_a_missing_parent_is_named(tmp_path: Path) -> None:
    child = write(tmp_path, "c.toml", 'extends = "nowhere.toml"\n')
    error = error_of(child)
    assert (error.file, error.key, error.value) == (str(child.resolve()), "extends", "nowhere.toml")
    assert "existing scenario file" in error.expected


def test_an_extends_cycle_is_named(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", 'extends = "b.toml"\n')
    write(tmp_path, "b.toml", 'extends = "a.toml"\n')
    error = error_of(tmp_path / "a.toml")
    assert error.key == "extends" and "cycle: a.toml → b.toml → a.toml" in error.expected


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.name)
def test_every_shipped_file_loads_and_validates(path: Path) -> None:
    s = load_scenario(path)
    assert s.title and s.question
    # Lighting is computed, not sampled: one run; every sampled subject gets an interval.
    assert s.run.replications == 1 if s.subject == "lighting" else s.run.replications >= 3


def test_the_shipped_comparison_differs_only_by_policy() -> None:
    names = {p.name for p in shipped_scenarios()}
    assert {"baseline-fixed.toml", "threshold.toml", "predictive.toml"} <= names
    base, *variants = (
        load_scenario(next(p for p in shipped_scenarios() if p.name == n))
        for n in ("baseline-fixed.toml", "threshold.toml", "predictive.toml")
    )
    for v in variants:
        assert (v.run, v.inventory, v.fleet, v.focus) == (
            base.run,
            base.inventory,
            base.fleet,
            base.focus,
        )
    assert [v.policy.kind for v in (base, *variants)] == ["fixed", "threshold", "predictive"]
