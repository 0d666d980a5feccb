"""Collection policies: given the day, the current levels and the forecasts, which bins to empty.

A policy is an object with ``horizon`` (days of forecast it wants) and
``choose(day: DayView) -> bool mask``. Policies decide only; they never touch levels, trucks or
randomness (the engine does), so the same view always gives the same choice.

* ``FixedSchedule`` — per stream (optionally per stream and commune) weekdays, every n weeks.
* ``Threshold`` — on round days, the bins whose expected level reaches x % before the next round.
* ``Predictive`` — the bins whose probability of overflowing before their next chance exceeds a
  risk, plus nearby bins of the same stream at risk within ``horizon`` days, pulled in when the
  detour to them is short (few extra km now instead of a dedicated trip later).

Not responsible for routing (``simulation.routing``) nor for forecasting
(``simulation.waste.fitting``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Mapping

WORKING_DAYS = frozenset(range(5))  # Monday to Friday


@dataclass(frozen=True)
class DayView:
    """What a policy sees at the start of a day (arrays in the engine's bin order)."""

    day: date
    levels_l: np.ndarray
    capacity_l: np.ndarray
    stream: tuple[str, ...]
    commune: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    forecast_l: np.ndarray
    """Expected litres per bin for each day from today, shape (bins, horizon)."""
    cv: np.ndarray
    """Day-to-day coefficient of variation of each bin's inflow."""
    collection_share: float
    """Share of the day's inflow that arrives before the collection."""


class Policy(Protocol):
    """Decides which bins are emptied today."""

    @property
    def horizon(self) -> int:
        """Days of forecast the policy reads (a frozen dataclass's field satisfies this)."""
        ...

    def choose(self, view: DayView) -> np.ndarray:
        """Boolean mask of the bins to empty today."""
        ...


@dataclass(frozen=True)
class Round:
    """A fixed round: on these weekdays (0 = Monday), every ``every_weeks`` weeks.

    Weeks are counted from a fixed Monday rather than by ISO week number, so that a round every
    four weeks stays four weeks apart across a 53-week year.
    """

    weekdays: frozenset[int]
    every_weeks: int = 1
    week_offset: int = 0

    def runs_on(self, day: date) -> bool:
        """Whether the round runs on ``day``."""
        week = (day.toordinal() - _FIRST_MONDAY_ORDINAL) // 7
        return day.weekday() in self.weekdays and (week - self.week_offset) % self.every_weeks == 0


_FIRST_MONDAY_ORDINAL = 1  # date(1, 1, 1), a Monday


def _round(*days: int, every_weeks: int = 1) -> Round:
    return Round(frozenset(days), every_weeks)


DEFAULT_ROUNDS: dict[str, Round] = {
    "residual": _round(0, 3),  # Monday and Thursday
    "biowaste": _round(0, 3),
    "packaging": _round(1),  # weekly, Tuesday
    "paper": _round(2),  # weekly, Wednesday
    "glass": _round(4, every_weeks=4),  # every four weeks, Friday
}
"""Assumed usual rounds (the CCVH's real calendar is not in our sources)."""


@dataclass(frozen=True)
class FixedSchedule:
    """Empty every bin of a stream (and commune) on its round's days, whatever its level."""

    rounds: Mapping[str, Round] = field(default_factory=lambda: dict(DEFAULT_ROUNDS))
    by_commune: Mapping[tuple[str, str], Round] = field(default_factory=dict)
    horizon: int = 1

    def choose(self, view: DayView) -> np.ndarray:
        """Bins whose round runs today."""
        runs: dict[tuple[str, str], bool] = {}
        mask = np.zeros(len(view.stream), dtype=bool)
        for i, key in enumerate(zip(view.stream, view.commune, strict=True)):
            if key not in runs:
                found = self.by_commune.get(key) or self.rounds.get(key[0])
                runs[key] = found is not None and found.runs_on(view.day)
            mask[i] = runs[key]
        return mask


def next_round_gap(day: date, round_days: frozenset[int]) -> int:
    """Days from ``day`` to the next round day after it (1–7)."""
    for gap in range(1, 8):
        if (day + timedelta(days=gap)).weekday() in round_days:
            return gap
    raise ValueError("round_days is empty")


def _expected_until(view: DayView, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the inflow from now to the collection ``gap`` days ahead."""
    f = view.forecast_l
    if f.shape[1] <= gap:
        raise ValueError(f"the policy needs {gap + 1} forecast days, the engine gave {f.shape[1]}")
    c = view.collection_share
    parts = f[:, : gap + 1] * np.r_[np.ones(gap), c]
    sd = view.cv[:, None] * parts
    return parts.sum(axis=1), np.square(sd).sum(axis=1)


@dataclass(frozen=True)
class Threshold:
    """On round days, empty the bins expected to pass ``fill`` of capacity before the next round."""

    fill: float = 0.8
    round_days: frozenset[int] = WORKING_DAYS
    horizon: int = 8

    def choose(self, view: DayView) -> np.ndarray:
        """Bins whose expected level at the next round reaches the threshold."""
        if view.day.weekday() not in self.round_days:
            return np.zeros(len(view.stream), dtype=bool)
        mean, _ = _expected_until(view, next_round_gap(view.day, self.round_days))
        chosen: np.ndarray = view.levels_l + mean >= self.fill * view.capacity_l
        return chosen


@dataclass(frozen=True)
class Predictive:
    """Empty what risks overflowing before its next chance; pull in nearby bins due soon.

    ``risk``: overflow probability (normal approximation of the summed gamma inflows) above which
    a bin must go today. ``horizon``: days ahead over which a bin counts as due soon.
    ``detour_m``: straight-line distance to a bin of the same stream already on today's tour
    (a must-go bin, or one pulled in before it: the rule chains through a village) under which
    a bin due soon, already at least ``min_fill`` full, is emptied on the same tour.
    """

    risk: float = 0.05
    horizon: int = 8
    detour_m: float = 1000.0
    min_fill: float = 0.3
    round_days: frozenset[int] = WORKING_DAYS

    def choose(self, view: DayView) -> np.ndarray:
        """Bins at risk before the next round, plus the cheap neighbours due within the horizon."""
        n = len(view.stream)
        if view.day.weekday() not in self.round_days:
            return np.zeros(n, dtype=bool)
        gap = next_round_gap(view.day, self.round_days)
        must = self.overflow_probability(view, gap) > self.risk
        due = self.overflow_probability(view, self.horizon - 1) > self.risk
        ready = view.levels_l >= self.min_fill * view.capacity_l
        candidates = due & ready & ~must
        if not must.any() or not candidates.any():
            return must
        chosen = must.copy()
        streams = np.asarray(view.stream)
        points = np.column_stack([view.x, view.y])
        for stream in np.unique(streams[must]):
            near = np.flatnonzero(candidates & (streams == stream))
            anchors = np.flatnonzero(must & (streams == stream))
            from scipy.spatial import cKDTree  # SciPy is loaded where used: importing stays cheap

            while near.size and anchors.size:  # chain: a pulled-in bin anchors its own neighbours
                dist, _ = cKDTree(points[anchors]).query(points[near], k=1)
                close = dist <= self.detour_m
                if not close.any():
                    break
                chosen[near[close]] = True
                anchors, near = near[close], near[~close]
        return chosen

    @staticmethod
    def overflow_probability(view: DayView, gap: int) -> np.ndarray:
        """Probability that each bin passes its capacity before the collection ``gap`` days ahead."""
        from scipy.special import ndtr  # SciPy is loaded where used: importing stays cheap

        mean, var = _expected_until(view, gap)
        room = view.capacity_l - view.levels_l - mean
        sd = np.sqrt(np.maximum(var, 1e-9))
        probability: np.ndarray = ndtr(-room / sd)  # SciPy is untyped
        return probability
