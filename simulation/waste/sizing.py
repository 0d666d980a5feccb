"""Container sizing to the rounds that serve them: the planning a collectivity does first.

A valley built from the seeded inventory installs one container size per stream (660 L
residual bins for 20 inhabitants, 3 m³ paper columns for 250 …) whatever the households each
one actually serves (``simulation.waste.inflow.catchment_inflow``). A collectivity setting up
its rounds does the opposite: it chooses each point's container (or puts a second one beside
it) so that what is thrown in between two rounds fits. ``size_to_rounds`` does that with the
standard sizes (EN 840 wheeled bins, drop-off columns) and ``SIZING_MARGIN``; the scenario's
``[inventory] sizing = "to_rounds"`` applies it (``"as_installed"`` keeps the inventory's
sizes). The twin's stored inventory is never changed: this is the simulation's planning input.

Not responsible for the inflow (``simulation.waste.inflow``) nor for the rounds themselves
(``simulation.waste.policies``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulation.waste.planning import WHEELED_BIN_MAX_L

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from simulation.waste.policies import Round

__all__ = [
    "COLUMN_SIZES_L",
    "SIZING_MARGIN",
    "WHEELED_BIN_SIZES_L",
    "Sizing",
    "longest_gap_days",
    "size_to_rounds",
]

SIZING_MARGIN = 1.25
"""Assumed headroom of a container over its expected inflow between two planned rounds.

A container is sized so that its expected inflow over the longest gap between two rounds of its
stream (Thursday → Monday for a twice-weekly round: 4 days; 28 days for a four-weekly one), in
its busiest season, times this margin fits its capacity: it is then about 80 % full on average
when that round comes (1 / 1.25), the level at which services usually plan a collection. The
margin covers the day-to-day spread of the inflow (with the scenario's ``inflow_cv`` 0.3, four
days' inflow has a spread of 15 %: 1.25 is 1.7 spreads, some 5 % of overflowing longest gaps),
not a catchment that is wrong (each container is sized to its own catchment). An assumption:
the CCVH's own sizing rule is not in our sources.
"""
WHEELED_BIN_SIZES_L = (240, 360, 660, 1100)
"""EN 840 wheeled bins in common use: 2 wheels up to 400 L (240, 360 L), 4 wheels 660 and 1,100 L."""
COLUMN_SIZES_L = (2000, 3000, 4000)
"""Drop-off columns (glass, packaging, paper): 2–4 m³ (Cercle National du Recyclage)."""


def longest_gap_days(rnd: Round) -> int:
    """The most days between two runs of ``rnd`` (Monday and Thursday: 4; every 4 weeks: 28)."""
    cycle = 7 * rnd.every_weeks
    first = 7 * rnd.week_offset + 1  # a Monday of a week the round runs (date ordinal 1 is one)
    days = [d for d in range(first, first + 2 * cycle) if _runs_on_ordinal(rnd, d)]
    if not days:
        raise ValueError("the round never runs")
    return max(b - a for a, b in zip(days, days[1:], strict=False)) if len(days) > 1 else cycle


def _runs_on_ordinal(rnd: Round, ordinal: int) -> bool:
    from datetime import date

    return rnd.runs_on(date.fromordinal(ordinal))


@dataclass(frozen=True)
class Sizing:
    """The sized containers: which installed one each stands for, and its capacity.

    Arrays over the sized containers, in order: every installed container's point keeps its
    first container where it was, followed by the extra ones put beside it.
    """

    source: np.ndarray
    """Index of the installed container each sized one stands at (its point and catchment)."""
    capacity_l: np.ndarray
    """Capacity of each sized container, a standard size."""
    count: np.ndarray
    """Per installed container: how many sized containers stand at its point (1 or more)."""
    required_l: np.ndarray
    """Per installed container: the expected inflow between rounds times the margin."""

    @property
    def share(self) -> np.ndarray:
        """Share of its point's inflow each sized container takes (1 / containers there)."""
        share: np.ndarray = 1.0 / self.count[self.source]
        return share

    def codes(self, installed: Sequence[str]) -> tuple[str, ...]:
        """Codes of the sized containers: the installed code, then ``code.2``, ``code.3`` …"""
        out: list[str] = []
        seen: dict[int, int] = {}
        for i in self.source.tolist():
            seen[i] = seen.get(i, 0) + 1
            out.append(installed[i] if seen[i] == 1 else f"{installed[i]}.{seen[i]}")
        return tuple(out)

    def summary(self, installed_capacity_l: np.ndarray) -> dict[str, int]:
        """Counts for a report: points, containers, resized points and points given extra ones."""
        first = np.r_[True, self.source[1:] != self.source[:-1]]
        return {
            "points": len(self.count),
            "containers": len(self.source),
            "resized": int((self.capacity_l[first] != np.asarray(installed_capacity_l)).sum()),
            "with_extra": int((self.count > 1).sum()),
        }


def size_to_rounds(
    streams: Sequence[str],
    installed_capacity_l: np.ndarray | Sequence[float],
    peak_l_per_day: np.ndarray | Sequence[float],
    gap_days: Mapping[str, int],
    *,
    margin: float = SIZING_MARGIN,
) -> Sizing:
    """Each point's containers: the fewest of one standard size that hold its inflow between rounds.

    ``required = peak_l_per_day × gap_days[stream] × margin``. A point whose installed container
    is a drop-off column (above ``WHEELED_BIN_MAX_L``) gets columns (``COLUMN_SIZES_L``), else
    wheeled bins (``WHEELED_BIN_SIZES_L``). It gets ``n = ⌈required / largest size⌉``
    containers (at least one), each of the smallest size with ``n × size ≥ required``; the
    inflow is shared evenly among them (``Sizing.share``).
    """
    if margin <= 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    installed = np.asarray(installed_capacity_l, dtype=float)
    peak = np.asarray(peak_l_per_day, dtype=float)
    if not len(streams) == len(installed) == len(peak):
        raise ValueError("one stream, capacity and inflow per container")
    missing = sorted(set(streams) - set(gap_days))
    if missing:
        raise ValueError(f"no planned round for streams {missing}")
    gaps = np.array([gap_days[s] for s in streams], dtype=float)
    required = np.maximum(peak, 0.0) * gaps * margin
    capacity = np.zeros(len(streams))
    count = np.ones(len(streams), dtype=int)
    for i in range(len(streams)):
        sizes = COLUMN_SIZES_L if installed[i] > WHEELED_BIN_MAX_L else WHEELED_BIN_SIZES_L
        n = max(1, math.ceil(required[i] / sizes[-1]))
        count[i] = n
        capacity[i] = next(s for s in sizes if n * s >= required[i])
    source = np.repeat(np.arange(len(streams)), count)
    return Sizing(source, capacity[source], count, required)
