"""Overflow episodes: one per bin from the first sign of overflowing (a report or a full
reading) to the next emptying, whatever the order the facts arrive in."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import Bin, Position
from domain.overflows import count_episodes, episodes
from tests.conftest import T0

HERE = Position(752_000.0, 6_283_000.0)
Fact = Callable[[Bin], None]


def new_bin() -> Bin:
    return Bin.install(
        code="B-OVER-1",
        stream="glass",
        capacity_l=3000,
        position=HERE,
        commune_insee="34114",
        at=T0,
    )


def hour(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def full(n: float) -> Fact:
    return lambda b: b.measure_fill_level(100.0, hour(n))


def reading(n: float, fill: float) -> Fact:
    return lambda b: b.measure_fill_level(fill, hour(n))


def report(n: float, by: str = "citizen") -> Fact:
    return lambda b: b.report_overflow(by, hour(n))


def lift(n: float) -> Fact:
    return lambda b: b.empty(f"R-{n}", 80.0, hour(n))


def recorded(*facts: Fact) -> Bin:
    bin_ = new_bin()
    for fact in facts:
        fact(bin_)
    return bin_


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ((full(1), report(2)), 1),  # a full reading, then a citizen: one episode
        ((report(1), full(2)), 1),  # the other way round
        ((report(1), report(2, "crew"), report(3, "sensor")), 1),  # many reports, one episode
        ((full(1), lift(2), report(3)), 2),  # an emptying between them: two episodes
        ((reading(1, 99.9), reading(2, 60.0)), 0),  # below 100 %: no sign
        ((full(1), lift(1)), 1),  # full, then lifted at that instant
        ((lift(1), full(1)), 1),  # the same facts the other way round
        ((lift(1), report(1), lift(2)), 1),  # a sign at a lift's instant precedes it
    ],
)
def test_one_episode_per_stretch_between_emptyings(facts: tuple[Fact, ...], expected: int) -> None:
    assert recorded(*facts).overflow_count == expected


def test_a_late_emptying_between_a_reading_and_a_report_splits_them_in_two() -> None:
    bin_ = recorded(full(1), report(5))
    assert bin_.overflow_count == 1
    lift(3)(bin_)  # arrives late, dated between the two signs
    assert bin_.overflow_count == 2
    assert [(e.began, e.ended) for e in bin_.overflow_episodes()] == [
        (hour(1), hour(3)),
        (hour(5), None),
    ]
    assert bin_.overflowing_since() == hour(5)


def test_a_late_sign_in_an_episode_already_counted_adds_nothing() -> None:
    bin_ = recorded(full(4), lift(6))
    report(2)(bin_)  # late: the same stretch before the lift
    assert bin_.overflow_count == 1
    assert bin_.overflow_episodes()[0].began == hour(2)
    assert bin_.overflowing_since() is None
    report(1)(bin_)  # late again, same stretch
    lift(3)(bin_)  # late lift between the reports and the full reading: now two
    assert bin_.overflow_count == 2


def test_a_late_emptying_before_every_sign_splits_nothing() -> None:
    bin_ = recorded(full(4), report(5))
    lift(2)(bin_)
    assert bin_.overflow_count == 1
    assert bin_.overflowing_since() == hour(4)


def test_a_bin_from_a_snapshot_of_before_episodes_goes_on_from_its_count() -> None:
    bin_ = recorded(report(1), lift(2), report(3))
    # What a snapshot taken before episodes were kept restores: the count, not the instants.
    del bin_.__dict__["_emptyings"], bin_.__dict__["_overflow_signs"]
    bin_.overflow_count = 2
    report(4)(bin_)  # after its last emptying: nothing tells it apart from the one at 3
    lift(5)(bin_)
    report(6)(bin_)
    assert bin_.overflow_count == 4


# ---- the rule in any order: counting the sorted facts by hand --------------------------------
facts_strategy = st.lists(
    st.tuples(st.sampled_from(["full", "report", "lift", "reading"]), st.integers(1, 40)),
    max_size=20,
)


def by_hand(facts: list[tuple[str, int]]) -> int:
    """Walk the facts in world time (a lift after the signs of its own instant), counting a new
    episode at each first sign after a lift."""
    rank = {"full": 0, "report": 0, "reading": 0, "lift": 1}
    count, open_ = 0, False
    for kind, _ in sorted(facts, key=lambda fact: (fact[1], rank[fact[0]])):
        if kind == "lift":
            open_ = False
        elif kind in ("full", "report") and not open_:
            count, open_ = count + 1, True
    return count


@settings(max_examples=25, deadline=None)  # fast tier: under 0.1 s
@given(facts_strategy, st.randoms(use_true_random=False))
def test_the_count_is_the_hand_count_in_any_arrival_order(
    facts: list[tuple[str, int]], shuffler: random.Random
) -> None:
    arrival = list(facts)
    shuffler.shuffle(arrival)
    makers = {"full": full, "report": report, "lift": lift}
    bin_ = new_bin()
    for kind, n in arrival:
        (makers[kind] if kind in makers else (lambda n: reading(n, 50.0)))(n)(bin_)
    assert bin_.overflow_count == by_hand(facts)
    emptyings = sorted(hour(n) for kind, n in facts if kind == "lift")
    signs = sorted({hour(n) for kind, n in facts if kind in ("full", "report")})
    assert count_episodes(emptyings, signs) == len(episodes(emptyings, signs)) == by_hand(facts)
