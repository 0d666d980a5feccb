"""Collection policies decide from a day's view, deterministically."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np

from simulation.waste.policies import (
    DayView,
    FixedSchedule,
    Predictive,
    Round,
    Threshold,
    next_round_gap,
)

MONDAY, FRIDAY, SATURDAY = date(2024, 1, 1), date(2024, 1, 5), date(2024, 1, 6)


def _view(
    day: date,
    levels: list[float],
    rate: float = 10.0,
    cv: float = 0.01,
    x: list[float] | None = None,
    streams: tuple[str, ...] | None = None,
) -> DayView:
    n = len(levels)
    return DayView(
        day,
        np.array(levels, dtype=float),
        np.full(n, 100.0),
        streams or ("residual",) * n,
        ("34114",) * n,
        np.array(x if x is not None else [0.0] * n),
        np.zeros(n),
        np.full((n, 8), rate),
        np.full(n, cv),
        0.0,
    )


def test_fixed_schedule_by_stream_and_commune() -> None:
    policy = FixedSchedule(
        rounds={"residual": Round(frozenset({0})), "glass": Round(frozenset({0}), every_weeks=2)},
        by_commune={("residual", "34010"): Round(frozenset({2}))},
    )
    view = DayView(
        MONDAY,
        np.zeros(3),
        np.full(3, 100.0),
        ("residual", "residual", "glass"),
        ("34114", "34010", "34114"),
        np.zeros(3),
        np.zeros(3),
        np.zeros((3, 1)),
        np.zeros(3),
        0.0,
    )
    assert policy.choose(view).tolist() == [
        True,
        False,
        False,
    ]  # ISO week 1: glass is off (odd week)


def test_threshold_empties_at_the_threshold_and_before_an_overflow() -> None:
    policy = Threshold(fill=0.8)
    assert (
        next_round_gap(MONDAY, policy.round_days) == 1
        and next_round_gap(FRIDAY, policy.round_days) == 3
    )
    # The trigger is the level when the truck passes today (here the collection is at 00:00, so
    # this morning's level), not the level one round later: from 80 L up, not 70 L (issue 13:
    # the old rule emptied bins one day's inflow short of the threshold).
    assert policy.choose(_view(MONDAY, [79.0, 80.0])).tolist() == [False, True]
    # Friday: next round Monday, three days of 10 L: a bin at 70 L would be full by then, so it
    # goes below the threshold; one at 69 L waits (the old rule took it from 50 L up).
    assert policy.choose(_view(FRIDAY, [69.0, 70.0])).tolist() == [False, True]
    assert not policy.choose(_view(SATURDAY, [99.0])).any()


def test_threshold_counts_todays_inflow_before_the_collection() -> None:
    # Half of today's 10 L arrives before the collection: 75 L this morning reads 80 L then.
    view = _view(MONDAY, [74.0, 75.0])
    view = replace(view, collection_share=0.5)
    assert Threshold(fill=0.8).choose(view).tolist() == [False, True]


def test_predictive_takes_risky_bins_and_cheap_neighbours() -> None:
    policy = Predictive(risk=0.05, detour_m=300.0, min_fill=0.4)
    # bin 0 overflows before Tuesday; bin 1 (200 m away, 60 %) is due within the horizon: pulled in;
    # bin 2 is due too but 5 km away; bin 3 is near but nearly empty.
    view = _view(MONDAY, [95.0, 60.0, 60.0, 5.0], x=[0.0, 200.0, 5000.0, 100.0])
    assert policy.choose(view).tolist() == [True, True, False, False]
    p = Predictive.overflow_probability(view, 1)
    assert p[0] > 0.99 and p[3] < 1e-6


def test_a_four_weekly_round_stays_four_weeks_apart_across_a_53_week_year() -> None:
    from datetime import date, timedelta

    from simulation.waste.policies import Round

    friday_every_four = Round(frozenset({4}), every_weeks=4)
    first = date(2026, 1, 1)  # 2026 has 53 ISO weeks
    days = [first + timedelta(days=n) for n in range(800)]
    rounds = [day for day in days if friday_every_four.runs_on(day)]
    assert {(later - earlier).days for earlier, later in zip(rounds, rounds[1:], strict=False)} == {
        28
    }
