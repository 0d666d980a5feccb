"""``[inventory] sizing``: containers sized to the rounds, validated like the rest (issue 13)."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pytest

from scenarios.errors import ScenarioError
from scenarios.loader import load_scenario

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
{history}
[inventory]
{inventory}
[policy]
kind = "fixed"
"""


def _write(tmp_path: Path, inventory: str, history: str = "") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(
        textwrap.dedent(BASE.format(inventory=inventory, history=history)), encoding="utf-8"
    )
    return path


def test_sizing_defaults_to_the_rounds_and_may_keep_the_inventory(tmp_path: Path) -> None:
    assert load_scenario(_write(tmp_path, "seed = 1")).inventory.sizing == "to_rounds"
    kept = load_scenario(_write(tmp_path, 'seed = 1\nsizing = "as_installed"'))
    assert kept.inventory.sizing == "as_installed"


@pytest.mark.parametrize(
    ("inventory", "history", "words"),
    [
        ('seed = 1\nsizing = "bigger"', "", "to_rounds"),
        ('sizing = "to_rounds"', '[history]\nstore = "sqlite:///x.db"', "as_installed"),
    ],
)
def test_sizing_errors_name_the_key(
    tmp_path: Path, inventory: str, history: str, words: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_write(tmp_path, inventory, history))
    assert caught.value.key == "inventory.sizing" and words in str(caught.value)


@pytest.mark.slow  # plans the valley's inventory twice
def test_the_sized_village_holds_its_inflow_between_rounds(tmp_path: Path) -> None:
    from scenarios.runner import prepare
    from simulation.waste.policies import DEFAULT_ROUNDS
    from simulation.waste.sizing import SIZING_MARGIN, longest_gap_days

    village = 'seed = 20240601\ncommunes = ["34261"]\nwarm_start = false'
    sized = prepare(load_scenario(_write(tmp_path, village)))
    kept = prepare(load_scenario(_write(tmp_path, village + '\nsizing = "as_installed"')))
    # the same waste, shared among the containers a collectivity would set up
    start = load_scenario(_write(tmp_path, village)).run.start
    assert sized.models.expected_days(start, 1).sum() == pytest.approx(
        kept.models.expected_days(start, 1).sum()
    )
    assert len(sized.bins) >= len(kept.bins)
    peak = sized.models.mean * sized.models.season.max(axis=1)
    gap = np.array([longest_gap_days(DEFAULT_ROUNDS[s]) for s in sized.bins.streams])
    assert (peak * gap * SIZING_MARGIN <= sized.bins.capacity_l + 1e-9).all()
    assert set(kept.bins.codes) <= set(sized.bins.codes)  # extra containers: code.2, code.3 …
    assert "sized to the rounds" in sized.origin
