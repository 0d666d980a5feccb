"""Round days by sector: a stream's villages spread over the week when one day cannot hold them."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from domain.values import Position
from simulation.parameters import fleet as fp
from simulation.waste.planning import default_fleets
from simulation.waste.policies import DEFAULT_ROUNDS, LEVELLING_SHARE, Round
from simulation.waste.sectors import Sectoring, Stops, sector_rounds, trucks_needed

DEPOT, TIP = Position(0.0, 0.0), Position(5_000.0, 0.0)
PER_VILLAGE = 40


def _villages(count: int) -> tuple[list[str], list[str], Stops]:
    """``count`` villages of 40 residual wheeled bins each, 3 km apart along a line."""
    communes = [f"V{v:02d}" for v in range(count) for _ in range(PER_VILLAGE)]
    rng = np.random.default_rng(3)
    x = np.array([3_000.0 * (v + 1) for v in range(count) for _ in range(PER_VILLAGE)])
    y = rng.uniform(-300, 300, len(x))
    x = x + rng.uniform(-300, 300, len(x))
    capacity = np.full(len(x), 660.0)
    return ["residual"] * len(x), communes, Stops(x, y, capacity, np.full(len(x), 120.0))


def _sectored(rounds: list[Round], communes: list[str], stops: Stops, trucks: int) -> Sectoring:
    return sector_rounds(
        rounds,
        ["residual"] * len(rounds),
        communes,
        stops,
        default_fleets({"residual": trucks}),
        depot=DEPOT,
        tip=TIP,
        circuity=fp.ROAD_CIRCUITY,
    )


def _sector(count: int, trucks: int) -> tuple[list[str], Sectoring]:
    streams, communes, stops = _villages(count)
    return communes, _sectored([DEFAULT_ROUNDS["residual"]] * len(streams), communes, stops, trucks)


@pytest.mark.slow  # the first hull loads SciPy (0.2 s)
def test_a_few_villages_keep_their_streams_usual_day() -> None:
    _, result = _sector(2, trucks=4)
    assert set(result.rounds) == {DEFAULT_ROUNDS["residual"]}
    assert result.moved == 0
    assert result.peak_share["residual"] <= LEVELLING_SHARE


def test_a_valley_spreads_whole_villages_over_the_week_within_the_fleet() -> None:
    communes, result = _sector(16, trucks=2)
    rounds = result.rounds
    by_village = {
        c: {r for r, cc in zip(rounds, communes, strict=True) if cc == c} for c in set(communes)
    }
    assert all(len(rs) == 1 for rs in by_village.values())  # a village's bins stay together
    used = Counter(next(iter(rs)) for rs in by_village.values())
    assert set(used) == {Round(frozenset({0, 3})), Round(frozenset({1, 4}))}  # Mon/Thu, Tue/Fri
    assert result.moved >= 1
    # The frequency is kept: every container still goes twice a week, three or four days apart.
    for r in used:
        days = sorted(r.weekdays)
        assert r.every_weeks == 1 and days[1] - days[0] == 3


def test_multi_week_rounds_move_to_another_week_before_another_weekday() -> None:
    streams, communes, stops = _villages(12)
    glass = Round(frozenset({4}), every_weeks=4)
    columns = Stops(stops.x, stops.y, np.full(len(streams), 3_000.0), stops.litres_per_day / 10)
    result = _sectored([glass] * len(streams), communes, columns, trucks=1)
    fridays = {r.week_offset for r in result.rounds if r.weekdays == frozenset({4})}
    other_days = {r for r in result.rounds if r.weekdays != frozenset({4})}
    assert len(fridays) > 1  # moved to another week first …
    assert not other_days or fridays == {0, 1, 2, 3}  # … and to another day only when all are taken
    # Whatever the week, each column still comes every four weeks.
    monday = date(2024, 5, 6)
    for r in set(result.rounds):
        runs = [d for d in range(56) if r.runs_on(monday + timedelta(days=d))]
        assert len(runs) == 2 and runs[1] - runs[0] == 28


def test_trucks_needed_is_the_fewest_that_keep_every_day_within_the_levelled_shift() -> None:
    streams, communes, stops = _villages(16)
    rounds = [DEFAULT_ROUNDS["residual"]] * len(streams)
    needed = trucks_needed(
        rounds,
        streams,
        communes,
        stops,
        default_fleets({"residual": 1}),
        depot=DEPOT,
        tip=TIP,
        circuity=fp.ROAD_CIRCUITY,
    )
    n = needed["residual"]

    def peak(trucks: int) -> float:
        return _sectored(rounds, communes, stops, trucks).peak_share["residual"]

    assert peak(n) <= LEVELLING_SHARE
    assert n == 1 or peak(n - 1) > LEVELLING_SHARE


def test_the_inputs_must_describe_the_same_containers() -> None:
    streams, communes, stops = _villages(1)
    with pytest.raises(ValueError, match="same containers"):
        sector_rounds(
            [DEFAULT_ROUNDS["residual"]],
            streams,
            communes,
            stops,
            default_fleets(),
            depot=DEPOT,
            tip=TIP,
            circuity=fp.ROAD_CIRCUITY,
        )


@pytest.mark.slow  # prepares the whole valley's inventory (about 3,800 containers)
def test_the_valley_files_fleet_is_the_fewest_that_serves_its_sectored_rounds() -> None:
    from scenarios.loader import load_scenario
    from scenarios.runner import expected_litres_per_day, prepare
    from simulation.waste.policies import DEFAULT_ROUNDS as ROUNDS

    scenario = load_scenario(Path(__file__).parents[2] / "scenarios/files/valley-fixed.toml")
    prepared = prepare(scenario)
    models, bins = prepared.models, prepared.bins
    rate = expected_litres_per_day(scenario, prepared)
    needed = trucks_needed(
        [ROUNDS[s] for s in models.streams],
        models.streams,
        models.communes,
        Stops(np.asarray(bins.x), np.asarray(bins.y), np.asarray(models.capacity_l), rate),
        default_fleets({s: 1 for s in ROUNDS}),
        depot=fp.DEPOT.position,
        tip=fp.TIP.position,
        circuity=fp.ROAD_CIRCUITY,
    )
    assert needed == dict(scenario.fleet)
