"""Collection policies: given the day, the current levels and the forecasts, which bins to empty.

A policy is an object with ``horizon`` (days of forecast it wants) and
``choose(day: DayView) -> bool mask``. A policy may also offer ``select(day) -> Selection``: the
bins that must go today and, for the others worth taking, a prize in km (optional stops that the
router takes only when their detour costs less). Policies decide only; they never touch levels,
trucks or randomness (the engine does), so the same view always gives the same choice.

* ``FixedSchedule`` — per stream (optionally per stream and commune) weekdays, every n weeks.
* ``Calendar`` — fixed rounds done well: each container its own frequency (twice weekly …
  four-weekly), planned once from its expected inflow to reach a service level.
* ``Threshold`` — on round days, the bins expected to be at least x % full when the truck passes
  today, and those that would overflow before the next round day.
* ``Predictive`` — the bins whose probability of overflowing before their next chance exceeds a
  risk, plus nearby bins of the same stream at risk within ``horizon`` days, pulled in when the
  detour to them is short (few extra km now instead of a dedicated trip later).
* ``Integrated`` — selection and routing together: the bins at risk before their next chance
  must go; the bins due within ``horizon`` days are optional stops with a prize (``prize_km``,
  documented there), and the router decides which are worth their detour. A stream with no
  must-go bin is not dispatched.

Not responsible for routing (``simulation.routing``) nor for forecasting
(``simulation.waste.fitting``).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Protocol

import numpy as np

from simulation.parameters import fleet as fp
from simulation.parameters.waste import density_kg_per_l
from simulation.waste.planning import default_fleets, estimated_shift_hours, service_minutes

if TYPE_CHECKING:
    from collections.abc import Mapping

    from domain import Position

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
class Selection:
    """A day's choice with optional stops: what must go, and what the others are worth.

    ``must``: boolean mask of the bins that must be emptied today (mandatory stops; one the
    fleet cannot reach is reported unserved). ``prize_km``: for each other bin worth taking,
    the km of extra driving it is worth (an optional stop with that drop penalty); NaN for the
    bins that are not candidates (and for the must-go ones). An optional stop the router leaves
    out is simply not collected today: it is not unserved.
    """

    must: np.ndarray
    prize_km: np.ndarray

    @property
    def optional(self) -> np.ndarray:
        """Mask of the optional stops (a finite prize, not must-go)."""
        optional: np.ndarray = np.isfinite(self.prize_km) & ~self.must
        return optional


class SelectingPolicy(Policy, Protocol):
    """A policy that also offers optional stops with their prizes (the engine prefers this)."""

    def select(self, view: DayView) -> Selection:
        """Must-go mask and prizes of today's optional stops."""
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


CALENDAR_FREQUENCIES: dict[str, tuple[tuple[int, ...] | None, int, int]] = {
    "thrice-weekly": ((0, 2, 4), 1, 3),
    "twice-weekly": ((0, 3), 1, 4),
    "weekly": (None, 1, 7),
    "fortnightly": (None, 2, 14),
    "four-weekly": (None, 4, 28),
}
"""Calendar frequencies a container may be given: name → (weekdays, every n weeks, longest gap).

Weekdays None: the stream's usual round day (``DEFAULT_ROUNDS``, its first weekday). The
longest gap is the most days a container waits between two visits (Thursday → Monday: 4).
"""
DEFAULT_CALENDAR_FREQUENCIES = ("twice-weekly", "weekly", "fortnightly", "four-weekly")
"""The frequencies a rural service runs when a scenario names none."""


def calendar_gap_days(frequency: str) -> int:
    """The longest wait in days between two visits of a container at ``frequency``."""
    return CALENDAR_FREQUENCIES[frequency][2]


def overflow_risk(
    capacity_l: np.ndarray, mean_l_per_day: np.ndarray, cv: np.ndarray, gap_days: int
) -> np.ndarray:
    """Probability that an emptied container passes its capacity within ``gap_days`` days.

    Each day's inflow is a gamma variable of mean ``mean_l_per_day`` and coefficient of
    variation ``cv`` (as the projection draws it), independent from day to day, so their sum
    over the gap is a gamma variable of shape ``gap / cv²`` and scale ``mean × cv²``.
    """
    from scipy.special import gammaincc  # SciPy is loaded where used: importing stays cheap

    cv = np.maximum(np.asarray(cv, dtype=float), 1e-6)
    mean = np.maximum(np.asarray(mean_l_per_day, dtype=float), 1e-12)
    risk: np.ndarray = gammaincc(gap_days / cv**2, np.asarray(capacity_l) / (mean * cv**2))
    return risk


@dataclass(frozen=True)
class Calendar:
    """Fixed rounds done well: each container its own calendar frequency, whatever its level.

    Planned once (``Calendar.plan``) from each container's expected inflow and capacity: the
    least frequent of the allowed ``frequencies`` whose risk of overflowing before the next
    visit (``overflow_risk`` over its longest gap) stays at or below ``1 − service_level``; a
    container that no allowed frequency serves that well gets the most frequent one (counted in
    ``short_of_target``). A fortnightly or four-weekly container goes on its stream's day in the
    weeks its commune's round runs (an offset per commune spreads the communes over the weeks,
    and keeps a village's containers on the same trip). Then it empties, on each day, the
    containers whose round runs that day, as ``FixedSchedule`` does, without looking at levels.
    """

    rounds: tuple[Round, ...]
    frequency: tuple[str, ...]
    service_level: float = 0.95
    short_of_target: int = 0
    horizon: int = 1

    @classmethod
    def plan(
        cls,
        streams: tuple[str, ...] | list[str],
        communes: tuple[str, ...] | list[str],
        capacity_l: np.ndarray,
        mean_l_per_day: np.ndarray,
        cv: np.ndarray | float,
        *,
        service_level: float = 0.95,
        frequencies: tuple[str, ...] | list[str] = DEFAULT_CALENDAR_FREQUENCIES,
    ) -> Calendar:
        """Each container's least frequent round that keeps its overflow risk within target."""
        if not 0 < service_level < 1:
            raise ValueError(f"service_level must lie in (0, 1), got {service_level}")
        unknown = [f for f in frequencies if f not in CALENDAR_FREQUENCIES]
        if unknown or not frequencies:
            raise ValueError(f"frequencies must be among {list(CALENDAR_FREQUENCIES)}: {unknown}")
        n = len(streams)
        capacity = np.asarray(capacity_l, dtype=float)
        cvs = np.broadcast_to(np.asarray(cv, dtype=float), (n,))
        by_gap = sorted(set(frequencies), key=calendar_gap_days)  # most frequent first
        chosen = np.full(n, by_gap[0], dtype=object)
        allowed = 1.0 - service_level
        for name in by_gap[1:]:  # a longer gap is kept while it still meets the target
            ok = overflow_risk(capacity, mean_l_per_day, cvs, calendar_gap_days(name)) <= allowed
            chosen[ok] = name
        short = overflow_risk(capacity, mean_l_per_day, cvs, calendar_gap_days(by_gap[0]))
        rounds = tuple(_calendar_round(str(chosen[i]), streams[i], communes[i]) for i in range(n))
        return cls(
            rounds,
            tuple(str(f) for f in chosen),
            service_level,
            int((short > allowed).sum()),
        )

    def choose(self, view: DayView) -> np.ndarray:
        """Containers whose own round runs today."""
        if len(self.rounds) != len(view.stream):
            raise ValueError(
                f"the calendar was planned for {len(self.rounds)} containers, the day has "
                f"{len(view.stream)}"
            )
        runs: dict[Round, bool] = {}
        mask = np.zeros(len(self.rounds), dtype=bool)
        for i, rnd in enumerate(self.rounds):
            if rnd not in runs:
                runs[rnd] = rnd.runs_on(view.day)
            mask[i] = runs[rnd]
        return mask

    def counts(self) -> dict[str, int]:
        """How many containers run at each frequency (most frequent first)."""
        order = sorted(set(self.frequency), key=calendar_gap_days)
        return {f: self.frequency.count(f) for f in order}


def _calendar_round(frequency: str, stream: str, commune: str) -> Round:
    weekdays, every, _ = CALENDAR_FREQUENCIES[frequency]
    if weekdays is None:
        usual = DEFAULT_ROUNDS.get(stream)
        weekdays = (min(usual.weekdays),) if usual is not None else (0,)
    offset = zlib.crc32(commune.encode()) % every if every > 1 else 0
    return Round(frozenset(weekdays), every, offset)


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
    """On round days, empty the bins that have reached ``fill`` of capacity by the truck's visit.

    A bin is chosen when its expected level at today's collection (its level this morning plus
    the share of today's inflow that arrives before the collection hour) reaches ``fill`` —
    the trigger of a fill sensor set at ``fill``, not one day's inflow short of it (earlier
    versions chose the bins that *would* reach ``fill`` by the next round day, so they emptied
    them a day early, three days on Fridays). A bin below ``fill`` is also chosen when its
    expected level at the next round day's collection would reach its capacity: waiting for it
    to reach ``fill`` would let it overflow (Friday → Monday, or a fast filler).
    """

    fill: float = 0.8
    round_days: frozenset[int] = WORKING_DAYS
    horizon: int = 8

    def choose(self, view: DayView) -> np.ndarray:
        """Bins at ``fill`` by today's collection, or full before the next round day's."""
        if view.day.weekday() not in self.round_days:
            return np.zeros(len(view.stream), dtype=bool)
        today = view.levels_l + view.collection_share * view.forecast_l[:, 0]
        mean, _ = _expected_until(view, next_round_gap(view.day, self.round_days))
        chosen: np.ndarray = (today >= self.fill * view.capacity_l) | (
            view.levels_l + mean >= view.capacity_l
        )
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


def _collections_ahead(view: DayView) -> tuple[np.ndarray, np.ndarray]:
    """Overflow probability and expected litres at each collection 1 … horizon − 1 days ahead.

    Both of shape (bins, horizon − 1); column ``g − 1`` is the collection ``g`` days ahead,
    with the same normal approximation as ``Predictive.overflow_probability``.
    """
    from scipy.special import ndtr  # SciPy is loaded where used: importing stays cheap

    f, c = view.forecast_l, view.collection_share
    gaps = np.arange(1, f.shape[1])
    mean = np.cumsum(f, axis=1)[:, gaps - 1] + c * f[:, gaps]
    sd_parts = view.cv[:, None] * f
    var = np.cumsum(np.square(sd_parts), axis=1)[:, gaps - 1] + np.square(c * sd_parts[:, gaps])
    expected = view.levels_l[:, None] + mean
    room = view.capacity_l[:, None] - expected
    probability: np.ndarray = ndtr(-room / np.sqrt(np.maximum(var, 1e-9)))
    return probability, expected


def prize_km(
    x: np.ndarray,
    y: np.ndarray,
    streams: tuple[str, ...] | list[str],
    today_l: np.ndarray,
    due_l: np.ndarray,
    *,
    fleets: Mapping[str, fp.Fleet],
    depot: Position = fp.DEPOT.position,
    tip: Position = fp.TIP.position,
    circuity: float = fp.ROAD_CIRCUITY,
    scale: float = 1.0,
    neighbours: np.ndarray | None = None,
) -> np.ndarray:
    """What emptying each may-go bin today is worth, in km of extra driving.

    ``prize_km = scale × trip_km / sharing × urgency``, where

    * ``trip_km`` is the road km of a dedicated visit: depot → bin → tip → depot, straight
      lines times ``circuity`` (the trip its later visit would pay for if nothing else went);
    * ``sharing`` is how many bins would share that later trip: the bins of its stream around
      it (``neighbours``: the scenario's policy counts those of its stream in its commune),
      but no more than one load of the stream's truck carries when each is as full as it will
      be when due (``due_l``: payload over their mass, body over the litres they take in it,
      compacted or not, ``Truck.body_litres``), and at least 1. So ``trip_km / sharing`` is the
      bin's share of the trip that would otherwise come for it — about 1 km for a wheeled
      residual bin among 60 in its village, 5 km for one of a dozen packaging columns, 10 km
      for a glass column (a load holds five or six);
    * ``urgency = today_l / due_l`` is how far through its cycle the bin is: its expected level
      at today's collection over its expected level on the day it will have to go. Emptying it
      at that share of what it would hold then brings its next visits forward by the rest:
      the prize falls to zero for an empty bin and reaches the whole share for one due
      tomorrow;
    * ``scale`` (the scenario's ``prize_scale``, 1 by default) weighs it all: above 1 it keeps
      the stream's bins in step (fewer trips, emptied less full), below 1 it empties them fuller.

    The router takes the bin when its detour costs fewer km than the prize (in the solver,
    the stop's drop penalty).
    """
    today_l, due_l = np.asarray(today_l, dtype=float), np.asarray(due_l, dtype=float)
    out_m = np.hypot(x - depot.x, y - depot.y)
    trip_km = (
        circuity
        * (out_m + np.hypot(x - tip.x, y - tip.y) + math.dist((tip.x, tip.y), (depot.x, depot.y)))
        / 1000.0
    )
    per_load = np.ones(len(today_l))
    names = np.asarray(streams, dtype=object)
    for stream in np.unique(names):
        at = names == stream
        truck = fleets[str(stream)].truck
        litres = np.maximum(due_l[at], 1e-9)
        mass = litres * density_kg_per_l(str(stream))
        body = (
            litres
            if truck.compaction_density_kg_m3 is None
            else np.minimum(litres, 1000.0 * mass / truck.compaction_density_kg_m3)
        )
        per_load[at] = np.maximum(
            1.0, np.minimum(truck.payload_kg / mass, truck.body_volume_m3 * 1000.0 / body)
        )
    urgency = np.clip(today_l / np.maximum(due_l, 1e-9), 0.0, 1.0)
    sharing = per_load if neighbours is None else np.clip(neighbours, 1.0, per_load)
    prize: np.ndarray = scale * trip_km / sharing * urgency
    return prize


LEVELLING_SHARE = 0.8
"""Share of its fleet's shift hours a stream's day of must-go work is planned to fill at most.

The integrated policy's look-ahead (``Integrated.look_ahead``) estimates each coming round
day's must-go work in truck-hours (``estimated_shift_hours``, the continuous approximation)
and moves what passes this share of ``trucks × shift_h`` to the round day before. The 20 %
left covers the approximation's error (its tours are not drawn) and the optional stops the
router adds. An assumption, like the shift itself.
"""


def round_offsets(day: date, round_days: frozenset[int], within: int) -> list[int]:
    """Days from ``day`` to each round day after it, up to ``within`` days ahead (inclusive)."""
    return [g for g in range(1, within + 1) if (day + timedelta(days=g)).weekday() in round_days]


@dataclass(frozen=True)
class Integrated:
    """Selection and routing together: must-go bins, and may-go bins as optional stops.

    On round days, per stream:

    * **must-go**: bins whose probability of overflowing before their next chance (the next
      round day's collection) exceeds ``risk`` (as ``Predictive.overflow_probability``);
    * **may-go**: bins that will be must-go within ``horizon − 1`` days (the forecast the
      policy reads) and are expected to be at least ``min_fill`` full at today's collection.
      They are optional stops with a prize in km (``prize_km``, scaled by ``prize_scale``):
      the router (``FleetRouter.route``) takes one only when its detour costs less;
    * **no must-go, no trip**: a stream with no must-go bin today offers no optional stop
      either, so it is not dispatched (a trip is only worth its haul when something has to go);
    * **look-ahead** (``look_ahead``, on by default): a rolling plan over the round days the
      forecast reaches. Each bin's *deadline* is the last round day on which it can still be
      emptied before it is at risk (today for the must-go ones; Friday for a bin at risk by
      Monday). Each stream's work of each coming round day, the bins whose deadline it is at
      their expected levels then, is estimated in truck-hours (``estimated_shift_hours``);
      from the furthest day back to tomorrow, when it passes ``LEVELLING_SHARE`` of the
      fleet's shift hours, the fewest bins that bring it within move to the round day before
      (found by bisection), the bins fullest on that earlier day first (they lose least of
      their cycle). What reaches today is must-go today. So Friday's
      three-day gap and the weekend's inflow are worked off on the days before, within the
      shift, instead of leaving must-go stops the trucks cannot take. Deterministic: the same
      view gives the same plan.

    ``fleets``, ``depot``, ``tip`` and ``circuity`` calibrate the prizes (what a later trip
    costs and how many bins a load carries); they default to the engine's fleet and sites.
    ``choose`` returns the must-go bins alone (what a router without optional stops would get).
    """

    risk: float = 0.05
    horizon: int = 8
    min_fill: float = 0.3
    prize_scale: float = 1.0
    round_days: frozenset[int] = WORKING_DAYS
    fleets: Mapping[str, fp.Fleet] | None = None
    depot: Position = fp.DEPOT.position
    tip: Position = fp.TIP.position
    circuity: float = fp.ROAD_CIRCUITY
    look_ahead: bool = True

    def choose(self, view: DayView) -> np.ndarray:
        """The must-go bins."""
        return self.select(view).must

    def select(self, view: DayView) -> Selection:
        """Must-go bins, and the prizes of today's may-go ones (NaN for the others)."""
        n = len(view.stream)
        prize = np.full(n, np.nan)
        if view.day.weekday() not in self.round_days:
            return Selection(np.zeros(n, dtype=bool), prize)
        gap = next_round_gap(view.day, self.round_days)
        if view.forecast_l.shape[1] <= gap:
            raise ValueError(
                f"the policy needs {gap + 1} forecast days, the engine gave {view.forecast_l.shape[1]}"
            )
        probability, expected = _collections_ahead(view)
        at_risk = probability > self.risk
        must = at_risk[:, gap - 1].copy()
        streams = np.asarray(view.stream, dtype=object)
        today = view.levels_l + view.collection_share * view.forecast_l[:, 0]
        if self.look_ahead:
            must |= self.pulled_forward(view, at_risk, expected, today)
        candidates = (
            at_risk.any(axis=1)
            & ~must
            & (today >= self.min_fill * view.capacity_l)
            & np.isin(streams, np.unique(streams[must]))
        )
        idx = np.flatnonzero(candidates)
        if idx.size:
            first_due = np.argmax(at_risk[idx], axis=1)
            due = np.minimum(expected[idx, first_due], view.capacity_l[idx])
            prize[idx] = prize_km(
                view.x[idx],
                view.y[idx],
                [view.stream[i] for i in idx],
                today[idx],
                due,
                fleets=self.fleets if self.fleets is not None else default_fleets(),
                depot=self.depot,
                tip=self.tip,
                circuity=self.circuity,
                scale=self.prize_scale,
                neighbours=_same_stream_and_commune(view)[idx],
            )
        return Selection(must, prize)

    def pulled_forward(
        self, view: DayView, at_risk: np.ndarray, expected: np.ndarray, today: np.ndarray
    ) -> np.ndarray:
        """The bins the look-ahead brings forward to today (see the class docstring).

        ``at_risk`` and ``expected``: as ``_collections_ahead`` gives them (column ``g − 1``
        for the collection ``g`` days ahead); ``today``: expected litres at today's collection.
        """
        n = len(view.stream)
        pulled = np.zeros(n, dtype=bool)
        offsets = [0, *round_offsets(view.day, self.round_days, at_risk.shape[1])]
        if len(offsets) < 3:
            return pulled  # the forecast reaches no round day after tomorrow's next one
        # deadline[i] = k: the k-th round day (0 today) is the last before bin i is at risk.
        deadline = np.full(n, -1)
        for k in range(len(offsets) - 2, -1, -1):
            deadline[at_risk[:, offsets[k + 1] - 1]] = k
        level = np.column_stack(
            [today, *(expected[:, g - 1] for g in offsets[1:])]
        )  # expected litres at each round day's collection
        level = np.minimum(level, view.capacity_l[:, None])
        fleets = self.fleets if self.fleets is not None else default_fleets()
        service = service_minutes(view.capacity_l)
        streams = np.asarray(view.stream, dtype=object)
        for stream in np.unique(streams[deadline > 0]):
            fleet = fleets[str(stream)]
            limit = LEVELLING_SHARE * fleet.trucks * fleet.shift_h
            density = density_kg_per_l(str(stream))
            planned = np.where(streams == stream, deadline, -1)

            def hours(
                idx: np.ndarray, k: int, fleet: fp.Fleet = fleet, density: float = density
            ) -> float:
                volume = level[idx, k]
                return estimated_shift_hours(
                    view.x[idx], view.y[idx], volume, volume * density, service[idx],
                    fleet, self.depot, self.tip, self.circuity,
                )  # fmt: skip

            for k in range(len(offsets) - 2, 0, -1):
                idx = np.flatnonzero(planned == k)
                if idx.size == 0 or hours(idx, k) <= limit:
                    continue
                order = idx[np.argsort(-level[idx, k - 1], kind="stable")]  # fullest first
                lo, hi = 1, idx.size  # the fewest to move so that the rest fits: bisection
                while lo < hi:
                    mid = (lo + hi) // 2
                    if hours(order[mid:], k) <= limit:
                        hi = mid
                    else:
                        lo = mid + 1
                planned[order[:lo]] = k - 1
            pulled |= planned == 0
        pulled &= deadline != 0
        return pulled


def _same_stream_and_commune(view: DayView) -> np.ndarray:
    """For each bin, how many bins of its stream stand in its commune (itself included)."""
    keys = [f"{s}\x00{c}" for s, c in zip(view.stream, view.commune, strict=True)]
    _, inverse, counts = np.unique(np.asarray(keys), return_inverse=True, return_counts=True)
    shared: np.ndarray = counts[inverse].astype(float)
    return shared
