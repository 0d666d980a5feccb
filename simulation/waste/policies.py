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

import functools
import math
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from simulation.parameters import fleet as fp
from simulation.parameters.waste import density_kg_per_l
from simulation.waste.planning import (
    HULL_FLOOR_M2,
    body_litres,
    default_fleets,
    hull,
    hull_candidates,
    loads_of,
    service_minutes,
    shift_hours,
    shift_loads,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from domain import Position

WORKING_DAYS = frozenset(range(5))  # Monday to Friday
_T = TypeVar("_T")


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
    memo: dict[object, object] | None = field(default=None, compare=False, repr=False)
    """Where a policy may keep what it derives from the forecast, ``cv`` and
    ``collection_share`` alone, for the other days the engine hands the same forecast (the same
    read-only array: the engine keeps one per pattern of weekdays and seasons); None: no day
    shares it."""


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
    _plans: dict[int, tuple[_Static, tuple[Round, ...], np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Per bins (by the identity of their ``_Static``): the distinct rounds, and each bin's
    (one past the last for a bin without a round). The rounds are read as fixed."""

    def choose(self, view: DayView) -> np.ndarray:
        """Bins whose round runs today."""
        static = _static(view)
        found = self._plans.get(id(static))
        if found is None or found[0] is not static:
            of_pairs = [
                self.by_commune.get(pair) or self.rounds.get(pair[0]) for pair in static.pairs
            ]
            distinct = tuple(dict.fromkeys(r for r in of_pairs if r is not None))
            position = {r: i for i, r in enumerate(distinct)}
            which = np.array([len(distinct) if r is None else position[r] for r in of_pairs])
            found = (static, distinct, which[static.pair])
            if len(self._plans) >= _STATIC_KEPT:
                self._plans.clear()
            self._plans[id(static)] = found
        _, distinct, which = found
        # many pairs share a round: each distinct one asked once a day
        runs = np.array([r.runs_on(view.day) for r in distinct] + [False], dtype=bool)
        chosen: np.ndarray = runs[which]
        return chosen


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


def _remembered(view: DayView, key: object, compute: Callable[[], _T]) -> _T:
    """``compute()``, kept in ``view.memo`` under ``key`` when the view has one.

    Only for what depends on the forecast, ``cv`` and ``collection_share`` alone (never on
    the levels or the day): the days that share a memo share those.
    """
    if view.memo is None:
        return compute()
    if key not in view.memo:
        view.memo[key] = compute()
    found: _T = view.memo[key]  # type: ignore[assignment]
    return found


def _expected_until(view: DayView, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the inflow from now to the collection ``gap`` days ahead."""
    f = view.forecast_l
    if f.shape[1] <= gap:
        raise ValueError(f"the policy needs {gap + 1} forecast days, the engine gave {f.shape[1]}")

    def compute() -> tuple[np.ndarray, np.ndarray]:
        c = view.collection_share
        parts = f[:, : gap + 1] * np.r_[np.ones(gap), c]
        sd = view.cv[:, None] * parts
        return parts.sum(axis=1), np.square(sd).sum(axis=1)

    return _remembered(view, ("expected until", gap), compute)


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
        must = _above(_overflow_z(view, gap), self.risk)
        if not must.any():
            return must
        due = _above(_overflow_z(view, self.horizon - 1), self.risk)
        ready = view.levels_l >= self.min_fill * view.capacity_l
        candidates = due & ready & ~must
        if not candidates.any():
            return must
        chosen = must.copy()
        neighbours = _static(view).neighbours(self.detour_m)
        anchors, near = np.flatnonzero(must), candidates
        while anchors.size:  # chain: a pulled-in bin anchors its own neighbours
            close = neighbours.reached(anchors, near)
            if not close.any():
                break
            chosen |= close
            near = near & ~close
            anchors = np.flatnonzero(close)
        return chosen

    @staticmethod
    def overflow_probability(view: DayView, gap: int) -> np.ndarray:
        """Probability that each bin passes its capacity before the collection ``gap`` days ahead."""
        from scipy.special import ndtr  # SciPy is loaded where used: importing stays cheap

        probability: np.ndarray = ndtr(_overflow_z(view, gap))  # SciPy is untyped
        return probability


def _overflow_z(view: DayView, gap: int) -> np.ndarray:
    """``Predictive.overflow_probability``'s normal deviate: its probability is ``ndtr`` of it."""
    mean, var = _expected_until(view, gap)
    room = view.capacity_l - view.levels_l - mean
    sd = np.sqrt(np.maximum(var, 1e-9))
    z: np.ndarray = -room / sd
    return z


_Z_MARGIN = 1e-9


def _above(z: np.ndarray, risk: float) -> np.ndarray:
    """``ndtr(z) > risk``, element by element, with ``ndtr`` computed only near the threshold.

    ``ndtr`` is increasing: for a risk between 1e-12 and 0.5, a deviate ``_Z_MARGIN`` from
    ``ndtri(risk)`` moves the probability by some 1e-9 of itself, a million times ``ndtr``'s
    error, so a deviate further than that above or below is on that side; the few in between
    are decided by ``ndtr`` itself. The answer is bit for bit the comparison of probabilities.
    """
    from scipy.special import ndtr, ndtri  # SciPy is loaded where used: importing stays cheap

    if not 1e-12 < risk <= 0.5:
        above: np.ndarray = ndtr(z) > risk
        return above
    threshold = float(ndtri(risk))
    above = z > threshold + _Z_MARGIN
    unsure = np.flatnonzero(~above & ~(z < threshold - _Z_MARGIN))  # NaN is unsure too
    if unsure.size:
        above[unsure] = ndtr(z[unsure]) > risk
    return above


def _collections_ahead(view: DayView, risk: float) -> tuple[np.ndarray, np.ndarray]:
    """Whether each bin is at risk at each collection 1 … horizon − 1 days ahead, and its
    expected litres then.

    Both of shape (bins, horizon − 1); column ``g − 1`` is the collection ``g`` days ahead,
    at risk when the probability of passing capacity by then (the same normal approximation as
    ``Predictive.overflow_probability``) exceeds ``risk``.
    """

    def compute() -> tuple[np.ndarray, np.ndarray]:
        f, c = view.forecast_l, view.collection_share
        gaps = np.arange(1, f.shape[1])
        mean = np.cumsum(f, axis=1)[:, gaps - 1] + c * f[:, gaps]
        sd_parts = view.cv[:, None] * f
        var = np.cumsum(np.square(sd_parts), axis=1)[:, gaps - 1] + np.square(c * sd_parts[:, gaps])
        return mean, np.sqrt(np.maximum(var, 1e-9))

    mean, sd = _remembered(view, "collections ahead", compute)
    expected = view.levels_l[:, None] + mean
    room = view.capacity_l[:, None] - expected
    return _above(-room / sd, risk), expected


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
    per_load = np.ones(len(today_l))
    names = np.asarray(streams, dtype=object)
    for stream in np.unique(names):
        at = names == stream
        per_load[at] = _bins_per_load(fleets[str(stream)].truck, str(stream), due_l[at])
    return _prize(_trip_km(x, y, depot, tip, circuity), per_load, today_l, due_l, scale, neighbours)


def _trip_km(
    x: np.ndarray, y: np.ndarray, depot: Position, tip: Position, circuity: float
) -> np.ndarray:
    """``prize_km``'s road km of a dedicated visit to each bin: depot → bin → tip → depot."""
    out_m = np.hypot(x - depot.x, y - depot.y)
    trip_km: np.ndarray = (
        circuity
        * (out_m + np.hypot(x - tip.x, y - tip.y) + math.dist((tip.x, tip.y), (depot.x, depot.y)))
        / 1000.0
    )
    return trip_km


def _bins_per_load(truck: fp.Truck, stream: str, due_l: np.ndarray) -> np.ndarray:
    """``prize_km``'s bins of one stream a load carries, each as full as when it is due."""
    litres = np.maximum(due_l, 1e-9)
    mass = litres * density_kg_per_l(stream)
    body = (
        litres
        if truck.compaction_density_kg_m3 is None
        else np.minimum(litres, 1000.0 * mass / truck.compaction_density_kg_m3)
    )
    per_load: np.ndarray = np.maximum(
        1.0, np.minimum(truck.payload_kg / mass, truck.body_volume_m3 * 1000.0 / body)
    )
    return per_load


def _prize(
    trip_km: np.ndarray,
    per_load: np.ndarray,
    today_l: np.ndarray,
    due_l: np.ndarray,
    scale: float,
    neighbours: np.ndarray | None,
) -> np.ndarray:
    """``prize_km`` from its parts."""
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
        at_risk, expected = _collections_ahead(view, self.risk)
        must = at_risk[:, gap - 1].copy()
        static = _static(view)
        today = view.levels_l + view.collection_share * view.forecast_l[:, 0]
        if self.look_ahead:
            must |= self.pulled_forward(view, at_risk, expected, today)
        dispatched = np.bincount(static.code[must], minlength=len(static.names)) > 0
        candidates = (
            at_risk.any(axis=1)
            & ~must
            & (today >= self.min_fill * view.capacity_l)
            & dispatched[static.code]
        )
        idx = np.flatnonzero(candidates)
        if idx.size:
            first_due = np.argmax(at_risk[idx], axis=1)
            due = np.minimum(expected[idx, first_due], view.capacity_l[idx])
            fleets = self.fleets if self.fleets is not None else default_fleets()
            code = static.code[idx]
            per_load = np.ones(idx.size)
            for s in np.bincount(code).nonzero()[0]:  # np.unique's, by counting
                at = code == s
                name = static.names[s]
                per_load[at] = _bins_per_load(fleets[name].truck, name, due[at])
            trip_km = static.sites(self.depot, self.tip, self.circuity).trip_km
            prize[idx] = _prize(
                trip_km[idx], per_load, today[idx], due, self.prize_scale, static.shared[idx]
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
        later = deadline > 0
        if not later.any():
            return pulled
        static = _static(view)
        fleets = self.fleets if self.fleets is not None else default_fleets()
        ahead = np.array(offsets[1:]) - 1  # the columns of ``expected`` of the round days
        streams = np.bincount(static.code[later], minlength=len(static.names)).nonzero()[0]
        for s in streams.tolist():  # np.unique's, by counting
            name = static.names[s]
            members = static.members[s]
            # expected litres at each round day's collection (column k: the k-th round day)
            level = np.empty((members.size, len(offsets)))
            level[:, 0] = today[members]
            level[:, 1:] = expected[members[:, None], ahead]
            np.minimum(level, view.capacity_l[members, None], out=level)
            work = static.stream_work(
                s, fleets[name], density_kg_per_l(name), self.depot, self.tip, self.circuity
            )
            planned = deadline[members]  # a copy: fancy indexing
            for k in range(len(offsets) - 2, 0, -1):
                idx = (planned == k).nonzero()[0]
                if idx.size == 0:
                    continue
                work.day(level[:, k])
                if work.fits(idx):
                    continue
                order = idx[np.argsort(-level[idx, k - 1], kind="stable")]  # fullest first
                planned[order[: work.fewest_to_move(order)]] = k - 1
            pulled[members[planned == 0]] = True
        pulled &= deadline != 0
        return pulled


_AREA_MARGIN = 1e-7
"""Relative slack on a bound of a hull's area: Qhull's rounding (some 1e-12) many times over."""
_FILTER_FROM = 200
"""Stops from which the look-ahead's hulls are of ``hull_candidates`` (measured: Qhull on 50
points 70 µs, the filter and Qhull on what it keeps 100 µs; on 400, 160 vs 120 µs)."""


class _StreamWork:
    """One stream's look-ahead: does a round day's work fit the levelled shift?

    ``fits(sub) ⟺ estimated_shift_hours(stops sub) <= LEVELLING_SHARE × trucks × shift_h``, bit
    for bit, but cheaper: the sums are those ``estimated_shift_hours`` makes (in the same order)
    and the convex hull, most of the cost, is computed only when the answer depends on it.
    ``shift_hours`` never decreases with the area, so a bound of the area on the right side
    answers too: above by the bounding box, or by the hull of a set the stops are part of; below
    by the floor, the hull of a set that is part of them, or the polygon of the vertices of a
    computed hull that the stops still hold. The bounds carry ``_AREA_MARGIN`` of slack, so an
    answer they give is the one the computed hull would give.
    """

    def __init__(
        self,
        points: np.ndarray,
        out_m: np.ndarray,
        to_tip_m: np.ndarray,
        service_min: np.ndarray,
        fleet: fp.Fleet,
        density: float,
        depot: Position,
        tip: Position,
        circuity: float,
    ) -> None:
        self.x, self.y = points[:, 0], points[:, 1]
        self.centred = points - points.mean(axis=0)  # for the polygons' areas (no cancellation)
        self.out_m, self.to_tip_m, self.service = out_m, to_tip_m, service_min
        self.fleet, self.density, self.depot, self.tip, self.circuity = (
            fleet,
            density,
            depot,
            tip,
            circuity,
        )
        self.limit = LEVELLING_SHARE * fleet.trucks * fleet.shift_h
        self.mass = self.body = np.zeros(0)
        self._reset()

    def _reset(self) -> None:
        # What is known of the sets the next question asks about: an upper bound of their
        # area and the computed hull's vertices (a set they are part of), a lower bound.
        self.upper, self.vertices, self.lower = math.inf, np.zeros(0, dtype=int), 0.0

    def day(self, volume_l: np.ndarray) -> None:
        """The levels of the round day asked about next (one per stop of the stream)."""
        self.mass = volume_l * self.density
        self.body = body_litres(self.fleet.truck, volume_l, self.mass)
        self._reset()

    def fits(self, sub: np.ndarray) -> bool:
        """Whether stops ``sub`` fit the levelled shift."""
        columns = (self.mass, self.body, self.out_m, self.to_tip_m, self.service, self.x, self.y)
        return self._fits(sub, [column[sub] for column in columns])

    def fewest_to_move(self, order: np.ndarray) -> int:
        """The fewest stops, first ones of ``order`` first, to move so that the rest fits.

        At least one (the whole ``order`` did not fit); by bisection, as the plain version did
        (``order[mid:]`` asked about in the same sequence, so the same answer when the hours do
        not fall steadily as stops leave). The stops' figures are put in ``order`` once: each
        question then takes slices of them, the same numbers in the same order. Each slice's
        sums are first bounded from running sums over ``order`` (``_Bounds``) and its extent
        read from running extremes, so that the sums themselves are made only when the bounds
        leave the answer open.
        """
        columns = (self.mass, self.body, self.out_m, self.to_tip_m, self.service, self.x, self.y)
        ordered = [column[order] for column in columns]
        bounds = _Bounds(np.array(ordered[:5]), ordered[5], ordered[6])
        rank = np.empty(len(self.x), dtype=int)
        rank[order] = np.arange(len(order))
        lo, hi = 1, len(order)
        while lo < hi:
            mid = (lo + hi) // 2
            upper, vertices, lower = self.upper, self.vertices, self.lower
            inside = rank[self.vertices] >= mid
            if self._fits(
                order[mid:],
                lambda mid=mid: [column[mid:] for column in ordered],  # type: ignore[misc]
                inside,
                bounds.of_suffix(mid),
            ):
                # the sets asked about next hold these: what bounds them from above is unknown
                hi, self.upper, self.vertices = mid, upper, vertices
            else:
                lo, self.lower = mid + 1, lower  # the next ones are part of these
        return lo

    def _fits(
        self,
        sub: np.ndarray,
        columns: list[np.ndarray] | Callable[[], list[np.ndarray]],
        inside: np.ndarray | None = None,
        known: _SuffixBounds | None = None,
    ) -> bool:
        """``fits(sub)`` given the stops' figures (mass, body, metres out and to the tip,
        service, x, y; or what makes them) and, in ``inside``, which of the known vertices are
        among them (all when not given); ``known``: bounds of their sums and their extent."""
        n = len(sub)
        made: list[list[np.ndarray]] = []

        def figures() -> list[np.ndarray]:
            if not made:
                made.append(columns() if callable(columns) else columns)
            return made[0]

        exact: list[tuple[Any, ...]] = []

        def parts() -> tuple[Any, ...]:
            if not exact:
                mass, body, out_m, to_tip_m, service = figures()[:5]
                add = (
                    np.add.reduce
                )  # what np.sum and np.mean add with, bit for bit, without their wrappers
                exact.append(
                    (
                        shift_loads(self.fleet.truck, mass, body),
                        float(add(out_m)) / n,
                        float(add(to_tip_m)) / n,
                        float(add(service)),
                        self.fleet,
                        self.depot,
                        self.tip,
                        self.circuity,
                    )
                )
            return exact[0]

        sites = (self.fleet, self.depot, self.tip, self.circuity)
        loads = -1  # the loads when the bounds of the sums settle them
        if known is not None:
            (mass_lo, mass_hi), (body_lo, body_hi) = known.sums[0], known.sums[1]
            loads = loads_of(self.fleet.truck, mass_lo, body_lo)
            if loads != loads_of(self.fleet.truck, mass_hi, body_hi):
                loads = -1

        def hours_within(area: float) -> bool:
            """``shift_hours(n, area, *parts()) <= self.limit``; the exact sums only when
            the hours at their bounds (non-decreasing in each) do not settle it."""
            if not exact and known is not None and loads > 0:
                (out_lo, out_hi), (tip_lo, tip_hi), (service_lo, service_hi) = known.sums[2:]
                high = shift_hours(n, area, loads, out_hi / n, tip_hi / n, service_hi, *sites)
                if high <= self.limit:
                    return True
                low = shift_hours(n, area, loads, out_lo / n, tip_lo / n, service_lo, *sites)
                if not low <= self.limit:
                    return False
            return shift_hours(n, area, *parts()) <= self.limit

        if n < 3:
            return hours_within(HULL_FLOOR_M2)
        upper = self.upper
        if math.isinf(upper):
            if known is not None:
                width, height = known.width, known.height
            else:
                x, y = figures()[5:]
                width = float(np.maximum.reduce(x)) - float(np.minimum.reduce(x))
                height = float(np.maximum.reduce(y)) - float(np.minimum.reduce(y))
            upper = width * height * (1 + _AREA_MARGIN)
        if hours_within(max(HULL_FLOOR_M2, upper)):
            if self.vertices.size:
                self.lower = max(self.lower, self._polygon(inside))  # for the sets holding these
            return True
        lower = max(self.lower, self._polygon(inside)) if self.vertices.size else self.lower
        if not hours_within(max(HULL_FLOOR_M2, lower)):
            return False  # the sets asked about next are part of these: the bounds still hold
        # The hull of the stops that may be its vertices is theirs, up to Qhull's rounding:
        # its area with the slack answers but when the answer is too close to call. (Below a
        # few hundred stops Qhull on them all costs less than the filter.)
        x, y = figures()[5:]
        kept = hull_candidates(x, y) if n >= _FILTER_FROM else np.arange(n)
        area, vertices = hull(x[kept], y[kept])
        if vertices is not None and kept.size < n:
            if hours_within(area * (1 + _AREA_MARGIN)):
                self.lower = max(self.lower, area * (1 - _AREA_MARGIN))
                return True
            if not hours_within(max(HULL_FLOOR_M2, area * (1 - _AREA_MARGIN))):
                self.upper, self.vertices = area * (1 + _AREA_MARGIN), sub[kept[vertices]]
                return False
            area, vertices = hull(x, y)
            kept = np.arange(n)
        fits = hours_within(area)
        if fits:
            self.lower = max(self.lower, area * (1 - _AREA_MARGIN))
        elif vertices is not None:
            self.upper, self.vertices = area * (1 + _AREA_MARGIN), sub[kept[vertices]]
        return fits

    def _polygon(self, inside: np.ndarray | None) -> float:
        """Area of the polygon of the known hull's vertices among the stops, less the slack."""
        corners = self.vertices if inside is None else self.vertices[inside]
        if corners.size < 3:
            return 0.0
        x, y = self.centred[corners, 0], self.centred[corners, 1]
        twice = float(x[:-1] @ y[1:] - x[1:] @ y[:-1]) + float(x[-1] * y[0] - x[0] * y[-1])
        return 0.5 * abs(twice) * (1 - 2 * _AREA_MARGIN)


_SUM_SLACK = 1e-15
"""Per stop, relative to the column's total: more than the rounding of a running sum, a
difference of two and a pairwise sum together (each some 1.1e-16 per addition at most)."""


@dataclass(frozen=True)
class _SuffixBounds:
    """Of the stops from some point of an order on: (low, high) of each column's sum (mass,
    body, metres out, metres to the tip, service), and their extent (exact)."""

    sums: list[tuple[float, float]]
    width: float
    height: float


class _Bounds:
    """Bounds of the sums of the stops from any point of an order on, from running sums.

    The sums ``_StreamWork`` makes are of non-negative figures, pairwise (``np.add.reduce``) or
    one after the other (``in_order_sum``); a running sum's total less its value before the
    point is within ``_SUM_SLACK`` per stop of the column's total of either, so each lies
    between the bounds. The extents are read from running extremes, which are exact.
    """

    def __init__(self, table: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        running = np.cumsum(table, axis=1)
        self.running, self.total = running, running[:, -1]
        self.slack = (table.shape[1] + 2) * _SUM_SLACK * np.abs(self.total)
        self.x_max = np.maximum.accumulate(x[::-1])[::-1]
        self.x_min = np.minimum.accumulate(x[::-1])[::-1]
        self.y_max = np.maximum.accumulate(y[::-1])[::-1]
        self.y_min = np.minimum.accumulate(y[::-1])[::-1]

    def of_suffix(self, start: int) -> _SuffixBounds:
        """Bounds for the stops from ``start`` (at least 1) on."""
        middle = self.total - self.running[:, start - 1]
        low, high = (middle - self.slack).tolist(), (middle + self.slack).tolist()
        return _SuffixBounds(
            list(zip(low, high, strict=True)),
            float(self.x_max[start]) - float(self.x_min[start]),
            float(self.y_max[start]) - float(self.y_min[start]),
        )


@dataclass(frozen=True)
class _Sites:
    """Each bin's straight-line metres from the depot and to the tip, and its trip's road km."""

    out_m: np.ndarray
    to_tip_m: np.ndarray
    trip_km: np.ndarray


@dataclass(frozen=True)
class _Static:
    """What the policies derive from the bins alone, computed once for all the days of a run."""

    stream: tuple[str, ...]
    commune: tuple[str, ...]
    points: np.ndarray
    capacity_l: np.ndarray
    names: tuple[str, ...]
    """The streams, sorted; ``code`` indexes them."""
    code: np.ndarray
    members: tuple[np.ndarray, ...]
    """Each stream's bins, in order."""
    shared: np.ndarray
    """For each bin, how many bins of its stream stand in its commune (itself included)."""
    pairs: tuple[tuple[str, str], ...]
    """The (stream, commune) pairs the bins stand in; ``pair`` indexes them."""
    pair: np.ndarray
    service: np.ndarray
    _sites: dict[tuple[float, float, float, float, float], _Sites] = field(default_factory=dict)
    _neighbours: dict[float, _Neighbours] = field(default_factory=dict)
    _works: dict[tuple[object, ...], _StreamWork] = field(default_factory=dict)

    def matches(self, view: DayView) -> bool:
        """Whether ``view`` has these bins (the same tuples, coordinates and capacities)."""
        # Tuples are immutable: the very same one (the engine hands its own every day) is equal
        # without comparing its thousands of strings.
        return (
            (self.stream is view.stream or self.stream == view.stream)
            and (self.commune is view.commune or self.commune == view.commune)
            and np.array_equal(self.points[:, 0], view.x)
            and np.array_equal(self.points[:, 1], view.y)
            and np.array_equal(self.capacity_l, view.capacity_l)
        )

    def sites(self, depot: Position, tip: Position, circuity: float) -> _Sites:
        """``_Sites`` for these depot, tip and circuity."""
        key = (depot.x, depot.y, tip.x, tip.y, circuity)
        found = self._sites.get(key)
        if found is None:
            x, y = self.points[:, 0], self.points[:, 1]
            found = _Sites(
                np.hypot(x - depot.x, y - depot.y),
                np.hypot(x - tip.x, y - tip.y),
                _trip_km(x, y, depot, tip, circuity),
            )
            self._sites[key] = found
        return found

    def stream_work(
        self,
        stream: int,
        fleet: fp.Fleet,
        density: float,
        depot: Position,
        tip: Position,
        circuity: float,
    ) -> _StreamWork:
        """The ``_StreamWork`` of stream ``stream``'s bins (``members[stream]``), made once:
        what it derives from the bins alone is the same every day, and ``day`` starts each
        round day afresh."""
        key = (stream, fleet, density, depot, tip, circuity)
        found = self._works.get(key)
        if found is None:
            members = self.members[stream]
            sites = self.sites(depot, tip, circuity)
            found = _StreamWork(
                self.points[members],
                sites.out_m[members],
                sites.to_tip_m[members],
                self.service[members],
                fleet,
                density,
                depot,
                tip,
                circuity,
            )
            if len(self._works) >= 4 * len(self.members):  # a few fleets' at most
                self._works.clear()
            self._works[key] = found
        return found

    def neighbours(self, within_m: float) -> _Neighbours:
        """``_Neighbours`` of these bins within ``within_m`` metres (computed once per distance)."""
        found = self._neighbours.get(within_m)
        if found is None:
            found = _Neighbours.of_streams(self.points, self.members, within_m)
            self._neighbours[within_m] = found
        return found


@dataclass(frozen=True)
class _Neighbours:
    """Each bin's bins of the same stream at most a distance away (itself left out), as CSR rows.

    The distance is the straight line as ``scipy.spatial.cKDTree.query`` computes it,
    ``sqrt(dx·dx + dy·dy)``, bit for bit, so that a bin is a neighbour exactly when the nearest
    anchor that ``Predictive`` used to look up with a tree built each day was close enough.
    """

    start: np.ndarray
    """Bin ``i``'s neighbours are ``index[start[i]:start[i + 1]]``."""
    index: np.ndarray

    @classmethod
    def of_streams(
        cls, points: np.ndarray, members: tuple[np.ndarray, ...], within_m: float
    ) -> _Neighbours:
        """The neighbours among each stream's ``members`` (their indices into ``points``)."""
        from scipy.spatial import cKDTree  # SciPy is loaded where used: importing stays cheap

        sources, targets = [np.zeros(0, dtype=int)], [np.zeros(0, dtype=int)]
        for group in members:
            # A wider search than needed, then the distance itself decides: the tree's radius
            # test compares squares, which may round the other way at the very edge.
            pairs = cKDTree(points[group]).query_pairs(
                within_m * (1 + 1e-6) + 1e-6, output_type="ndarray"
            )
            i, j = group[pairs[:, 0]], group[pairs[:, 1]]
            dx, dy = points[i, 0] - points[j, 0], points[i, 1] - points[j, 1]
            close = np.sqrt(dx * dx + dy * dy) <= within_m
            sources += [i[close], j[close]]
            targets += [j[close], i[close]]
        source, target = np.concatenate(sources), np.concatenate(targets)
        order = np.argsort(source, kind="stable")
        start = np.zeros(len(points) + 1, dtype=int)
        np.cumsum(np.bincount(source, minlength=len(points)), out=start[1:])
        return cls(start, target[order])

    @functools.cached_property
    def _rows(self) -> Any:
        """The lists as a SciPy CSR matrix (a 1 per pair), whose row slices and products run
        in compiled loops (SciPy's sparse arrays are untyped)."""
        from scipy.sparse import csr_array  # SciPy is loaded where used: importing stays cheap

        n = len(self.start) - 1
        ones = np.ones(self.index.size, dtype=np.int32)
        return csr_array((ones, self.index, self.start), shape=(n, n))

    @functools.cached_property
    def _count(self) -> np.ndarray:
        count: np.ndarray = self.start[1:] - self.start[:-1]
        return count

    def of(self, bins: np.ndarray) -> np.ndarray:
        """The neighbours of ``bins`` (indices, repeated when shared), bin after bin: the
        indices of the rows of ``bins``."""
        found: np.ndarray = self._rows[np.asarray(bins, dtype=int)].indices
        return found

    def reached(self, anchors: np.ndarray, near: np.ndarray) -> np.ndarray:
        """Mask of the bins of mask ``near`` that neighbour one of ``anchors`` (indices).

        The same mask as marking ``of(anchors)`` and keeping those in ``near``, but the
        neighbour lists read are those of whichever side has fewer entries in all: being
        neighbours is symmetric (each pair is kept both ways, at one distance), so a bin of
        ``near`` is reached exactly when one of its own neighbours is an anchor (its row's
        product with the anchors' indicator, a count, is positive). In a dense village the
        lists of the many anchors are long and the bins near them few.
        """
        count = self._count
        candidates = near.nonzero()[0]
        reached = np.zeros(len(near), dtype=bool)
        if int(count[candidates].sum()) < int(count[anchors].sum()):
            is_anchor = np.zeros(len(near), dtype=np.int32)
            is_anchor[anchors] = 1
            anchored = self._rows[candidates] @ is_anchor
            reached[candidates[anchored > 0]] = True
        else:
            reached[self.of(anchors)] = True
            reached &= near
        return reached


_STATIC: list[_Static] = []
_STATIC_KEPT = 4


def _static(view: DayView) -> _Static:
    """The ``_Static`` of the view's bins: the one of the day before, unless the bins changed."""
    for i, found in enumerate(_STATIC):
        if found.matches(view):
            if i:
                _STATIC.insert(0, _STATIC.pop(i))
            return found
    names, code = np.unique(np.asarray(view.stream, dtype=str), return_inverse=True)
    code = code.reshape(-1)
    pairs, pair, shared = _stream_and_commune(view)
    made = _Static(
        tuple(view.stream),
        tuple(view.commune),
        np.column_stack([view.x, view.y]).astype(float),
        np.array(view.capacity_l, dtype=float),
        tuple(str(name) for name in names),
        code,
        tuple(np.flatnonzero(code == s) for s in range(len(names))),
        shared,
        pairs,
        pair,
        service_minutes(view.capacity_l),
    )
    _STATIC.insert(0, made)
    del _STATIC[_STATIC_KEPT:]
    return made


def _stream_and_commune(
    view: DayView,
) -> tuple[tuple[tuple[str, str], ...], np.ndarray, np.ndarray]:
    """The (stream, commune) pairs of the bins, each bin's pair, and how many bins share it."""
    index: dict[tuple[str, str], int] = {}
    pair = np.array(
        [index.setdefault(key, len(index)) for key in zip(view.stream, view.commune, strict=True)],
        dtype=int,
    )
    shared: np.ndarray = np.bincount(pair, minlength=len(index))[pair].astype(float)
    return tuple(index), pair, shared
