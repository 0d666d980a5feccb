"""Replay of the recorded log: the events in order, at their event times, in a SimPy environment.

Streaming: one pass over the iterable, state per container (stream, commune, capacity, last
fill, overflow start) and the current day's emptyings only — memory is bounded by the number of
bins, not by the length of the log. Counts are the recorded facts: one collection per
``Bin.Emptied`` with its recorded mass, one overflow event per overflow episode, as the bin's
``overflow_count`` counts them (:mod:`domain.overflows`: from the first sign, a report or a
100 % reading, to the next emptying, however many signs). Overflow bin-hours run from the
first sign to the next emptying (or the end of the log). At one instant, an emptying comes
after the bin's other facts (a sign at a lift's instant belongs to the episode it ends). The
fill at emptying is the last measured fill since the previous emptying, or, when there was none,
the emptied mass over the loose density. With a router, each day's emptied containers of one
stream are routed as that day's tours, an estimate of km the log does not record.
Collections, tonnes and overflows are also kept per container code (``WasteKpis.by_container``,
in the order the bins were installed), and the typical day's emptied containers are kept as in
a simulation; levels are not measured (the log reads some bins, not all), so ``by_day`` has no
``mean_fill``.

Not responsible for what-ifs (``simulation.waste.simulate``).
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import simpy

from domain.bins import Bin
from domain.overflows import is_overflow_reading
from simulation.clock import SimClock
from simulation.parameters.waste import STREAMS, density_kg_per_l
from simulation.waste.history import UnknownBinError
from simulation.waste.kpis import Ledger, WasteKpis

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from simulation.waste.planning import Router


# How far out of time order the log may be across bins (a gateway down for days then resending).
DEFAULT_LATENESS = timedelta(days=7)


class _BinState:
    __slots__ = ("capacity", "commune", "fill", "over_since", "row", "stream", "x", "y")

    def __init__(self, event: Bin.Installed, row: int) -> None:
        self.row = np.array([row])  # the container's index in the ledger, ready for ``add``
        self.stream = STREAMS.index(event.stream)
        self.commune = event.commune_insee
        self.capacity = float(event.capacity_l)
        self.x, self.y = event.x_l93, event.y_l93
        self.fill: float | None = None
        self.over_since: float | None = None


def replay(
    events: Iterable[object],
    *,
    router: Router | None = None,
    pace: float | None = None,
    start: datetime | None = None,
    lateness: timedelta = DEFAULT_LATENESS,
) -> WasteKpis:
    """Replay the events; ``pace``: real seconds per simulated hour (``RealtimeEnvironment``).

    Simulated time 0 is ``start`` or midnight UTC of the first event's day. The log's order is
    the order facts were recorded: each bin's facts are in time order, but a late message can
    put one bin's fact after another bin's later one. Events are therefore put back in time
    order through a buffer holding ``lateness`` of log, so memory stays bounded; an event later
    than that is refused by name.
    """
    iterator = _in_time_order(iter(events), lateness)
    first = next(iterator, None)
    if first is None:
        return Ledger([]).result()
    origin = start or first.timestamp.replace(hour=0, minute=0, second=0, microsecond=0)  # type: ignore[attr-defined]
    clock = SimClock(origin)
    if pace is None:
        env: simpy.Environment = simpy.Environment()
    else:
        env = simpy.rt.RealtimeEnvironment(factor=pace, strict=False)
    run = _Replay(clock, router)
    process = env.process(run.feed(env, _chain(first, iterator)))
    env.run(until=process)
    return run.ledger.result()


def lateness_needed(events: Iterable[object]) -> timedelta:
    """How late, at most, a bin's fact was recorded after a later-dated fact of the log: the
    ``lateness`` that replays these events (a first pass over the log, holding nothing)."""
    newest: datetime | None = None
    needed = timedelta(0)
    for event in events:
        if not isinstance(event, Bin.Event):
            continue
        at: datetime = event.timestamp
        if newest is None or at > newest:
            newest = at
        elif newest - at >= needed:
            needed = newest - at + timedelta(microseconds=1)
    return needed


def _rank(event: object) -> int:
    """Order at one instant: a lift after the bin's other facts, a removal last."""
    return 1 if isinstance(event, Bin.Emptied) else 2 if isinstance(event, Bin.Removed) else 0


def _in_time_order(events: Iterator[object], lateness: timedelta) -> Iterator[object]:
    """The bin events of ``events`` sorted by time, holding back at most ``lateness`` of them."""
    buffer: list[tuple[datetime, int, int, object]] = []
    released: datetime | None = None
    for number, event in enumerate(events):
        if not isinstance(event, Bin.Event):
            continue
        at = event.timestamp
        if released is not None and at < released:
            raise ValueError(
                f"{type(event).__qualname__} of bin {event.originator_id} at {at.isoformat()} comes "
                f"more than {lateness} after later facts in the log; replay with a larger lateness"
            )
        heapq.heappush(buffer, (at, _rank(event), number, event))
        while buffer and buffer[0][0] <= at - lateness:
            released, _, _, ready = heapq.heappop(buffer)
            yield ready
    while buffer:
        yield heapq.heappop(buffer)[3]


def _chain(first: object, rest: Iterator[object]) -> Iterator[object]:
    yield first
    yield from rest


class _Replay:
    def __init__(self, clock: SimClock, router: Router | None) -> None:
        self.clock, self.router = clock, router
        self.ledger = Ledger([])
        self.bins: dict[object, _BinState] = {}
        self.day = 0
        self.emptied: list[tuple[_BinState, float, float]] = []  # today's (bin, litres, kg)

    def feed(self, env: simpy.Environment, events: Iterator[object]):  # type: ignore[no-untyped-def]
        for event in events:
            if not isinstance(event, Bin.Event):
                continue
            at = self.clock.hours(event.timestamp)
            if at < env.now:
                raise ValueError(
                    f"event at {event.timestamp.isoformat()} is earlier than the one before it"
                )
            while at >= (self.day + 1) * 24.0:
                self._close_day()
            if at > env.now:
                yield env.timeout(at - env.now)
            self._apply(event, at)
        for state in self.bins.values():
            self._end_overflow(state, env.now)
        self._close_day()

    def _apply(self, event: Bin.Event, at: float) -> None:
        if isinstance(event, Bin.Installed):
            row = self.ledger.container_index(event.code)
            self.bins[event.originator_id] = _BinState(event, row)
            self.ledger.commune_index(event.commune_insee)
            return
        state = self.bins.get(event.originator_id)
        if state is None:
            raise UnknownBinError(
                f"{type(event).__qualname__} for bin {event.originator_id}, never installed"
            )
        one = np.array([state.stream]), np.array([self.ledger.commune_index(state.commune)])
        if isinstance(event, Bin.FillLevelMeasured):
            state.fill = float(event.fill_percent)
            if is_overflow_reading(state.fill):
                self._overflow_sign(state, at, one)
        elif isinstance(event, Bin.Emptied):
            mass = float(event.mass_kg)
            litres = min(mass / density_kg_per_l(STREAMS[state.stream]), state.capacity)
            fill = state.fill / 100.0 if state.fill is not None else litres / state.capacity
            self.ledger.add("collections", *one, 1.0, state.row)
            self.ledger.add("tonnes", *one, mass / 1000.0, state.row)
            self.ledger.add("fill_at_emptying_sum", *one, fill)
            self._end_overflow(state, at)
            state.fill = None
            self.emptied.append((state, litres, mass))
        elif isinstance(event, Bin.OverflowReported):
            self._overflow_sign(state, at, one)
        elif isinstance(event, Bin.Moved):
            state.x, state.y, state.commune = event.x_l93, event.y_l93, event.commune_insee
        elif isinstance(event, Bin.Removed):
            self._end_overflow(state, at)
            del self.bins[event.originator_id]

    def _overflow_sign(
        self, state: _BinState, at: float, one: tuple[np.ndarray, np.ndarray]
    ) -> None:
        # One overflow episode however many signs it has (a sensor, then citizens), as the
        # bin's overflow_count and the simulation count them, so that the figures compare.
        if state.over_since is None:
            self.ledger.add("overflow_events", *one, 1.0, state.row)
            state.over_since = at

    def _end_overflow(self, state: _BinState, at: float) -> None:
        if state.over_since is not None:
            one = np.array([state.stream]), np.array([self.ledger.commune_index(state.commune)])
            self.ledger.add("overflow_bin_hours", *one, at - state.over_since, state.row)
            state.over_since = None

    def _close_day(self) -> None:
        if self.router is not None and self.emptied:
            day = (self.clock.start + timedelta(days=self.day)).date()
            for s, stream in enumerate(STREAMS):
                group = [e for e in self.emptied if e[0].stream == s]
                if not group:
                    continue
                routed = self.router.route(
                    stream,
                    day,
                    np.array([b.x for b, _, _ in group]),
                    np.array([b.y for b, _, _ in group]),
                    np.array([v for _, v, _ in group]),
                    np.array([m for _, _, m in group]),
                    np.array([b.capacity for b, _, _ in group]),
                )
                communes = np.array([self.ledger.commune_index(b.commune) for b, _, _ in group])
                self.ledger.add_tour(
                    s,
                    communes,
                    truck_km=routed.km,
                    driving_hours=routed.hours,
                    fuel_l=routed.fuel_l,
                    co2_kg=routed.co2_kg,
                    operating_cost_eur=routed.cost_eur,
                )
        label = (self.clock.start + timedelta(days=self.day)).date().isoformat()
        self.ledger.note_emptied(
            label,
            np.array([int(b.row[0]) for b, _, _ in self.emptied], dtype=int),
            np.array([v for _, v, _ in self.emptied]),
        )
        self.emptied = []
        self.ledger.close_day(label)
        self.day += 1
