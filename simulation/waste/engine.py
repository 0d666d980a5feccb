"""The waste-collection engine on SimPy: counterfactual replay and projection.

* The plain replay of the recorded log, ``replay(events)``, lives beside it in
  ``simulation.waste.log_replay``: it feeds the recorded events, in log order, at their event
  times and counts what they record (collections, tonnes and overflows are the recorded
  figures, exactly).
* ``simulate(...)`` runs one SimPy process that wakes once per day and updates every container
  at once with NumPy arrays (not one process per bin): the day's inflow is added, the policy
  chooses from the levels and forecasts, the chosen containers are routed per stream from the
  depot through the tip (``simulation.waste.planning``); a policy with ``select`` adds optional
  stops with their prizes, which the router takes when worth their detour, and a stream with
  no mandatory stop is not dispatched at all. The served ones are emptied at the
  mean collection hour, and overflow events and bin-hours are counted assuming waste arrives
  evenly over the day. With a ``RecordedInflow`` it is the counterfactual replay; with a
  ``ProjectedInflow`` (fitted models and a seed) it is the projection.
* Each container's collections, tonnes and overflows are kept too (``WasteKpis.by_container``,
  in the order of ``Bins``), and every day the levels are measured once, just before the
  collection hour's emptying (capped at capacity, so an overflowing bin reads 100 %): the
  day's ``mean_fill`` and ``share_above_80`` in ``WasteKpis.by_day``. The containers emptied
  on a typical working day are kept for drawing its tours (rule in ``simulation.waste.kpis``).
* Each dispatch records its trips (``Routed.tours``: the trucks that left the depot), so the
  report can say why the km change: trips, km per trip and stops per trip.

Same inputs and seed, same numbers: the only randomness is the generator made from ``seed``.
Not responsible for reading history (``simulation.waste.history``), deriving inflow or fitting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import numpy as np
import simpy

from simulation.parameters.waste import COLLECTION_HOUR, STREAMS, density_kg_per_l
from simulation.waste.fitting import season_of
from simulation.waste.kpis import Ledger, WasteKpis
from simulation.waste.policies import DayView, Selection

if TYPE_CHECKING:
    from collections.abc import Sequence

    from simulation.waste.fitting import FillModels
    from simulation.waste.history import History
    from simulation.waste.inflow import Inflow
    from simulation.waste.planning import Router
    from simulation.waste.policies import Policy

__all__ = ["Bins", "ProjectedInflow", "RecordedInflow", "levels_at", "simulate"]


@dataclass(frozen=True)
class Bins:
    """The containers of a run as arrays, in one fixed order."""

    codes: tuple[str, ...]
    streams: tuple[str, ...]
    communes: tuple[str, ...]
    capacity_l: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def build(
        cls,
        codes: Sequence[str],
        streams: Sequence[str],
        communes: Sequence[str],
        capacity_l: Sequence[float] | np.ndarray,
        x: Sequence[float] | np.ndarray,
        y: Sequence[float] | np.ndarray,
    ) -> Bins:
        """Containers from plain sequences (checked to be of one length and known streams)."""
        n = len(codes)
        if not all(len(s) == n for s in (streams, communes, capacity_l, x, y)):
            raise ValueError("every bin attribute needs one value per bin")
        unknown = set(streams) - set(STREAMS)
        if unknown:
            raise ValueError(f"unknown streams {sorted(unknown)}; known: {STREAMS}")
        return cls(
            tuple(codes),
            tuple(streams),
            tuple(communes),
            np.asarray(capacity_l, dtype=float),
            np.asarray(x, dtype=float),
            np.asarray(y, dtype=float),
        )

    @classmethod
    def from_history(
        cls, history: History, start: datetime | None = None, end: datetime | None = None
    ) -> Bins:
        """The containers of a history, ordered by code: those standing at some time in
        [``start``, ``end``) when given (a counterfactual of a past period), else those not removed.
        """
        if start is None or end is None:
            rows = [r for r in history.records() if r.removed_at is None]
        else:
            rows = [
                r
                for r in history.records()
                if r.installed_at < end and (r.removed_at is None or r.removed_at > start)
            ]
        return cls.build(
            [r.code for r in rows],
            [r.stream for r in rows],
            [r.commune_insee for r in rows],
            [r.capacity_l for r in rows],
            [r.x_l93 for r in rows],
            [r.y_l93 for r in rows],
        )


class InflowSource(Protocol):
    """Where each day's waste comes from."""

    def litres(self, day_index: int, day: date, rng: np.random.Generator) -> np.ndarray:
        """Litres thrown into each container on that day."""
        ...


@dataclass(frozen=True)
class RecordedInflow:
    """Counterfactual: the inflow the world produced (bins × days from ``start``)."""

    litres_per_day: np.ndarray
    start: date | None = None  # the first day of the columns; a run must start on it

    @classmethod
    def from_inflow(cls, inflow: Inflow, bins: Bins) -> RecordedInflow:
        """Rows of a derived ``Inflow`` reordered to ``bins`` (unobserved days at each bin's mean)."""
        row = {code: i for i, code in enumerate(inflow.codes)}
        filled = inflow.filled()
        return cls(filled[[row[c] for c in bins.codes]], inflow.start.date())

    def litres(self, day_index: int, day: date, rng: np.random.Generator) -> np.ndarray:
        """The recorded inflow of that day (no randomness)."""
        if day_index >= self.litres_per_day.shape[1]:
            raise ValueError(
                f"the recorded inflow covers {self.litres_per_day.shape[1]} days, not day {day_index}"
            )
        return self.litres_per_day[:, day_index]


@dataclass(frozen=True)
class ProjectedInflow:
    """Projection: each day drawn from the fitted models with the run's generator.

    The models are read as fixed: the gamma parameters of a day depend only on its weekday and
    season, so they are computed once per pair (the same arithmetic as ``FillModels.sample``,
    so the same draws bit for bit).
    """

    models: FillModels
    _parameters: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def litres(self, day_index: int, day: date, rng: np.random.Generator) -> np.ndarray:
        """A draw of that day's inflow."""
        key = (day.weekday(), season_of(day))
        found = self._parameters.get(key)
        if found is None:
            shape = 1.0 / np.square(self.models.cv)
            found = (shape, self.models.expected(day) / shape)
            if len(self._parameters) >= _FORECASTS_KEPT:  # a week's: memory flat in the horizon
                self._parameters.clear()
            self._parameters[key] = found
        litres: np.ndarray = rng.gamma(*found)
        return litres


def levels_at(history: History, bins: Bins, instant: datetime) -> np.ndarray:
    """Litres in each container at ``instant`` by the log: its last reading, 0 if emptied since.

    The starting levels of a counterfactual run, so that it does not begin with every container
    empty. A container never read before ``instant`` starts empty.
    """
    records = {r.code: r for r in history.records()}
    levels = np.zeros(len(bins))
    for i, code in enumerate(bins.codes):
        record = records[code]
        read = [(t, pct) for t, pct in record.fills if t <= instant]
        if not read:
            continue
        read_at, percent = read[-1]
        if not any(read_at < t <= instant for t, _round, _mass in record.emptyings):
            levels[i] = record.capacity_l * percent / 100.0
    return levels


def simulate(
    bins: Bins,
    policy: Policy,
    inflow: InflowSource,
    forecast: FillModels,
    router: Router,
    *,
    start: date,
    days: int,
    seed: int,
    initial_levels_l: np.ndarray | None = None,
    collection_hour: float = COLLECTION_HOUR.value,
    env: simpy.Environment | None = None,
) -> WasteKpis:
    """Run ``days`` days from ``start`` under ``policy``; ``forecast`` is what the policy knows.

    ``forecast`` must list the same containers in the same order as ``bins``. ``env`` may be a
    ``simpy.RealtimeEnvironment`` for paced demonstrations (one simulated hour = 1 time unit).
    """
    if forecast.codes != bins.codes:
        raise ValueError("forecast and bins must list the same containers in the same order")
    if isinstance(inflow, RecordedInflow) and inflow.start is not None and inflow.start != start:
        raise ValueError(
            f"start={start}: the recorded inflow begins on {inflow.start}; a run must start then"
        )
    env = env if env is not None else simpy.Environment()
    run = _DailyRun(bins, policy, inflow, forecast, router, start, seed, collection_hour / 24.0)
    if initial_levels_l is not None:
        run.levels = np.minimum(np.asarray(initial_levels_l, dtype=float), bins.capacity_l).copy()
    process = env.process(run.days(env, days))
    env.run(until=process)
    return run.ledger.result()


_FORECASTS_KEPT = 7
"""Forecasts (with their memos) a run keeps, and days' gamma parameters: a week's."""


class _DailyRun:
    """State of one run: levels, overflow flags, the ledger; one SimPy process steps it by day."""

    def __init__(
        self,
        bins: Bins,
        policy: Policy,
        inflow: InflowSource,
        forecast: FillModels,
        router: Router,
        start: date,
        seed: int,
        share: float,
    ) -> None:
        self.bins, self.policy, self.inflow, self.forecast, self.router = (
            bins,
            policy,
            inflow,
            forecast,
            router,
        )
        self.start, self.share = start, share
        self.rng = np.random.default_rng(seed)
        n = len(bins)
        self.levels = np.zeros(n)
        self.overflowing = np.zeros(n, dtype=bool)
        self.ledger = Ledger(sorted(set(bins.communes)), list(bins.codes))
        self.stream_idx = np.array([STREAMS.index(s) for s in bins.streams], dtype=int)
        self.commune_idx = np.array(
            [self.ledger.communes.index(c) for c in bins.communes], dtype=int
        )
        self.density = np.array([density_kg_per_l(s) for s in STREAMS])[self.stream_idx]
        self.members = tuple(np.flatnonzero(self.stream_idx == s) for s in range(len(STREAMS)))
        self.cv = forecast.cv.view()
        self.cv.setflags(write=False)
        # The forecast of a day depends only on the weekdays and seasons of the days it covers:
        # the last few patterns are kept with what the policy derived from them (a week's).
        self._forecasts: dict[
            tuple[tuple[int, int], ...], tuple[np.ndarray, dict[object, object]]
        ] = {}

    def forecast_from(self, today: date) -> tuple[np.ndarray, dict[object, object]]:
        """``forecast.expected_days(today, horizon)`` (read-only: the days with the same
        pattern of weekdays and seasons share it) and the policy's memo for it."""
        horizon = self.policy.horizon
        days = [today + timedelta(days=k) for k in range(horizon)]
        key = tuple((d.weekday(), season_of(d)) for d in days)
        found = self._forecasts.pop(key, None)
        if found is None:
            forecast = self.forecast.expected_days(today, horizon)
            forecast.setflags(write=False)
            found = (forecast, {})
        self._forecasts[key] = found  # the most recent last
        while len(self._forecasts) > _FORECASTS_KEPT:
            del self._forecasts[next(iter(self._forecasts))]
        return found

    def days(self, env: simpy.Environment, count: int):  # type: ignore[no-untyped-def]
        """The SimPy process: one step per day."""
        for d in range(count):
            self.step(d, self.start + timedelta(days=d))
            yield env.timeout(24.0)

    def step(self, d: int, today: date) -> None:
        """One day for every container at once."""
        bins, cap = self.bins, self.bins.capacity_l
        inflow = np.maximum(self.inflow.litres(d, today, self.rng), 0.0)
        forecast, memo = self.forecast_from(today)
        view = DayView(
            today,
            self.levels.copy(),
            cap,
            bins.streams,
            bins.communes,
            bins.x,
            bins.y,
            forecast,
            self.cv,
            self.share,
            memo,
        )
        chosen, optional, prize = self._selection(view)
        before = self.levels + inflow * self.share  # uncapped level at the collection hour
        at_collection = np.minimum(before, cap)
        self.ledger.measure_levels(at_collection / cap)
        served = np.zeros(len(bins), dtype=bool)
        stopping = chosen | optional
        for s, stream in enumerate(STREAMS):
            members = self.members[s]
            if not chosen[members].any():
                continue  # optional stops alone never dispatch a truck
            idx = members[stopping[members]]  # in bin order, as members are
            volume = at_collection[idx]
            args = (stream, today, bins.x[idx], bins.y[idx], volume)
            if optional[idx].any():
                routed = self.router.route(
                    *args, volume * self.density[idx], cap[idx], prize_km=prize[idx]
                )
            else:  # a router without optional stops (the Router protocol's minimum) will do
                routed = self.router.route(*args, volume * self.density[idx], cap[idx])
            served[idx[routed.served]] = True
            self.ledger.add_tour(
                s,
                self.commune_idx[idx[routed.served]],
                truck_km=routed.km,
                driving_hours=routed.hours,
                fuel_l=routed.fuel_l,
                co2_kg=routed.co2_kg,
                operating_cost_eur=routed.cost_eur,
                # A router that does not count its trucks drove at least one when it drove.
                trips=float(routed.tours or (routed.km > 0)),
            )
            # A mandatory stop the fleet could not take is unserved; an optional one left out
            # (its detour cost more than its prize) is simply not collected today.
            unserved = idx[~routed.served & ~optional[idx]]
            self.ledger.add(
                "unserved_stops", self.stream_idx[unserved], self.commune_idx[unserved], 1.0
            )
        # Levels through the day: one stretch for the others, two around the emptying for the served.
        hours = np.where(served, self.share * 24.0, 24.0)
        end_first = np.where(served, before, self.levels + inflow)
        self._stretch(self.levels, end_first, hours)
        got = np.flatnonzero(served)
        sidx, cidx = self.stream_idx[got], self.commune_idx[got]
        self.ledger.add("collections", sidx, cidx, 1.0, got)
        self.ledger.add("tonnes", sidx, cidx, at_collection[got] * self.density[got] / 1000.0, got)
        self.ledger.add("fill_at_emptying_sum", sidx, cidx, at_collection[got] / cap[got])
        self.ledger.note_emptied(today.isoformat(), got, at_collection[got])
        self.overflowing[got] = False
        start_second = np.where(served, 0.0, np.minimum(end_first, cap))
        self.levels = start_second
        after = inflow * (1.0 - self.share)
        self._stretch(
            self.levels[got], after[got], np.full(got.size, (1.0 - self.share) * 24.0), got
        )
        self.levels[got] = np.minimum(after[got], cap[got])
        self.ledger.close_day(today.isoformat())

    def _selection(self, view: DayView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Must-go mask, optional mask and prizes (NaN where not optional) of today's choice."""
        select = getattr(self.policy, "select", None)
        if select is None:
            chosen = np.asarray(self.policy.choose(view), dtype=bool)
            return chosen, np.zeros_like(chosen), np.full(len(chosen), np.nan)
        selection: Selection = select(view)
        must = np.asarray(selection.must, dtype=bool)
        prize = np.where(must, np.nan, np.asarray(selection.prize_km, dtype=float))
        return must, np.isfinite(prize), prize

    def _stretch(
        self, a: np.ndarray, b: np.ndarray, hours: np.ndarray, idx: np.ndarray | None = None
    ) -> None:
        """Count overflows while levels rise linearly from ``a`` to uncapped ``b`` over ``hours``.

        ``idx``: the bins the arrays are of (all, in order, when not given). The stretch's
        share above capacity is worked out for the overflowing bins alone (element by element,
        the same numbers as for all of them).
        """
        cap = self.bins.capacity_l if idx is None else self.bins.capacity_l[idx]
        over = np.flatnonzero(b > cap)
        if over.size == 0:
            return
        at = over if idx is None else idx[over]  # the overflowing bins
        a, b, cap = a[over], b[over], cap[over]
        with np.errstate(invalid="ignore", divide="ignore"):
            part = np.where(a >= cap, 1.0, (b - cap) / np.where(b > a, b - a, 1.0))
        bin_hours = hours[over] * np.clip(part, 0.0, 1.0)
        starts = ~self.overflowing[at]
        sidx, cidx = self.stream_idx[at], self.commune_idx[at]
        self.ledger.add("overflow_events", sidx[starts], cidx[starts], 1.0, at[starts])
        self.ledger.add("overflow_bin_hours", sidx, cidx, bin_hours, at)
        self.overflowing[at] = True
