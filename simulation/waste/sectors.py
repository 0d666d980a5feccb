"""Round days by sector: spread a stream's fixed rounds over the week so each day fits the fleet.

A collectivity does not send every truck of a stream to every commune on the same weekday: it
cuts its territory into sectors, one per round day, each a day's work for the crews. On three
villages every round fits the stream's usual day; on the whole valley the same calendar asks a
Monday of five days' work, and the fleet leaves most of it unserved, which says nothing about
the calendar and everything about the plan. ``sector_rounds`` keeps each container's frequency
and moves whole villages (a commune's containers of one stream and frequency stay together) to
another weekday, or another week of a fortnightly or four-weekly round, when their usual slot
would ask more than ``LEVELLING_SHARE`` of the fleet's shift hours, by the continuous
approximation of ``estimated_shift_hours``. A group that fits no slot goes where the busiest
day it touches is least busy. Groups are placed largest first, so the big villages spread and
the small ones fill in.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from simulation.parameters.waste import density_kg_per_l
from simulation.waste.planning import estimated_shift_hours, service_minutes
from simulation.waste.policies import LEVELLING_SHARE, WORKING_DAYS, Round

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from domain import Position
    from simulation.parameters import fleet as fp

Slot = tuple[int, int]
"""(week of the cycle, weekday)."""


@dataclass(frozen=True)
class Sectoring:
    """Each container's round once sectored, and how busy each stream's busiest day is."""

    rounds: tuple[Round, ...]
    peak_share: Mapping[str, float]
    """Per stream: the busiest day's estimated truck-hours ÷ the fleet's shift hours."""
    moved: int
    """Groups (a commune's containers of one stream and round) moved off their usual slot."""


@dataclass(frozen=True)
class Stops:
    """Where the containers stand and what a visit takes from them."""

    x: np.ndarray
    y: np.ndarray
    capacity_l: np.ndarray
    litres_per_day: np.ndarray


def sector_rounds(
    rounds: Sequence[Round],
    streams: Sequence[str],
    communes: Sequence[str],
    stops: Stops,
    fleets: Mapping[str, fp.Fleet],
    *,
    depot: Position,
    tip: Position,
    circuity: float,
    working_days: frozenset[int] = WORKING_DAYS,
) -> Sectoring:
    """Each container's round moved, with its village, to a slot the stream's fleet can serve."""
    n = len(rounds)
    if not (len(streams) == len(communes) == len(stops.x) == n):
        raise ValueError("rounds, streams, communes and stops must describe the same containers")
    cycle = math.lcm(1, *(r.every_weeks for r in rounds))
    service = service_minutes(stops.capacity_l)
    visit_l = np.array(
        [
            min(float(stops.capacity_l[i]), float(stops.litres_per_day[i]) * _mean_gap_days(r))
            for i, r in enumerate(rounds)
        ]
    )
    groups: dict[tuple[str, Round, str], list[int]] = defaultdict(list)
    for i in range(n):
        groups[(streams[i], rounds[i], communes[i])].append(i)
    placed = list(rounds)
    peak: dict[str, float] = {}
    moved = 0

    def hours(members: list[int], fleet: fp.Fleet, density: float) -> float:
        idx = np.asarray(members, dtype=int)
        volume = visit_l[idx]
        return estimated_shift_hours(
            stops.x[idx],
            stops.y[idx],
            volume,
            volume * density,
            service[idx],
            fleet,
            depot,
            tip,
            circuity,
        )

    for stream in sorted({s for s, _, _ in groups}):
        fleet = fleets[stream]
        capacity_h = fleet.trucks * fleet.shift_h
        density = density_kg_per_l(stream)
        slots: dict[Slot, list[int]] = defaultdict(list)
        mine = [(key, members) for key, members in groups.items() if key[0] == stream]
        mine.sort(key=lambda item: (-float(visit_l[item[1]].sum()), item[0][2]))
        for (_, usual, _), members in mine:
            best, best_peak = usual, math.inf
            for candidate in _candidates(usual, working_days):
                busiest = max(
                    hours(slots[s] + members, fleet, density) for s in _slots(candidate, cycle)
                )
                if busiest <= LEVELLING_SHARE * capacity_h:
                    best = candidate
                    break
                if busiest < best_peak:
                    best, best_peak = candidate, busiest
            moved += best != usual
            for s in _slots(best, cycle):
                slots[s].extend(members)
            for i in members:
                placed[i] = best
        busiest_h = max((hours(m, fleet, density) for m in slots.values()), default=0.0)
        peak[stream] = busiest_h / capacity_h if capacity_h else math.inf
    return Sectoring(tuple(placed), peak, moved)


def _mean_gap_days(r: Round) -> float:
    return 7.0 * r.every_weeks / max(1, len(r.weekdays))


def _slots(r: Round, cycle: int) -> list[Slot]:
    return [
        (week, day)
        for week in range(cycle)
        if (week - r.week_offset) % r.every_weeks == 0
        for day in sorted(r.weekdays)
    ]


def _candidates(usual: Round, working_days: frozenset[int]) -> list[Round]:
    """The usual round first, then other weeks of the same weekdays, then later weekdays."""
    found = []
    for shift in range(7):
        days = frozenset((d + shift) % 7 for d in usual.weekdays)
        if not days <= working_days:
            continue
        for step in range(usual.every_weeks):
            offset = (usual.week_offset + step) % usual.every_weeks
            found.append(Round(days, usual.every_weeks, offset))
    return found


def trucks_needed(
    rounds: Sequence[Round],
    streams: Sequence[str],
    communes: Sequence[str],
    stops: Stops,
    fleets: Mapping[str, fp.Fleet],
    *,
    depot: Position,
    tip: Position,
    circuity: float,
    working_days: frozenset[int] = WORKING_DAYS,
    most: int = 60,
) -> dict[str, int]:
    """Per stream, the fewest trucks whose sectored rounds keep every day within the levelled shift.

    Streams whose fleet already suffices keep their count; ``most`` bounds the search (a stream
    that needs more is reported at ``most``).
    """
    needed: dict[str, int] = {}
    for stream in sorted(set(streams)):
        mine = [i for i, s in enumerate(streams) if s == stream]
        at = np.asarray(mine, dtype=int)
        sub = Stops(stops.x[at], stops.y[at], stops.capacity_l[at], stops.litres_per_day[at])
        trucks = max(1, fleets[stream].trucks)
        while trucks < most:
            trial = {stream: replace(fleets[stream], trucks=trucks)}
            share = sector_rounds(
                [rounds[i] for i in mine],
                [stream] * len(mine),
                [communes[i] for i in mine],
                sub,
                trial,
                depot=depot,
                tip=tip,
                circuity=circuity,
                working_days=working_days,
            ).peak_share[stream]
            if share <= LEVELLING_SHARE + 1e-9:
                break
            trucks += 1
        needed[stream] = trucks
    return needed
