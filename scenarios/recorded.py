"""What the trucks did: a history scenario's period as the store's log recorded it.

A waste scenario over a store's log (``[history] store``) compares the policies with what was
done over the same days, the *recorded row*. Its figures are the log's facts as they now stand
(``ValleyTwin.facts``: corrections in place, retractions left out), never a model:

- collections, tonnes, fill at emptying and overflows from the replay of the bins' facts
  (``simulation.replay``, which counts one collection per lift with its recorded mass and one
  overflow per episode, as ``domain.overflows`` and the simulation count them), over the
  scenario's bins (its streams and communes) and its days: lifts, readings and reports dated
  in ``[start, start + horizon_days)``;
- km from the trucks' own tour reports (``Truck.TourRecorded``, a tour counted by its end as
  ``twin.recorded_tours`` counts it) of the scenario's streams: ``truck_km`` is exactly their
  sum, ``trips`` their number; crew hours are the tours' recorded durations, fuel, CO2 and the
  operating cost follow from the km and hours at the scenario's fleet prices, as the router
  prices a simulated tour (``simulation.routing.tour_costs``), so the cost columns compare.
  Nothing is routed again: the row has no simulated km.

A tour report names its stream, not the communes it went through: a scenario that selects
communes gets the km of its streams' whole tours, and the row says so. The fleet the tours show
(``Recorded.fleet``: the most trucks of each stream out on one day) is what a history
comparison gives the simulated policies, so that they have the trucks the valley had.

Not responsible for running what-ifs (``scenarios.runner``) nor for the page
(``scenarios.report``); it hands the report a plain ``ReportInput`` whose ``policy`` is
``RECORDED``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventsourcing.utils import get_topic

from domain import Bin, Truck
from scenarios._report_planner import RECORDED
from scenarios.economics import base_prices
from scenarios.presenting import waste_assumptions
from scenarios.report import BinOnMap, ReportInput
from scenarios.schema import known_communes
from simulation import default_fleets, estimate, lateness_needed, replay
from simulation.parameters import fleet as fp
from simulation.parameters import waste as wp
from twin import open_twin

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from scenarios.schema import Scenario
    from simulation import Estimate

__all__ = ["RECORDED", "Recorded", "recorded", "recorded_fleet", "same_history"]

TITLE = "What the trucks did (recorded)"

#: A simulated run's KPIs that the log cannot tell (what a router could not serve).
_NOT_RECORDED = ("unserved_stops",)
_TOUR_KPIS = ("truck_km", "driving_hours", "fuel_l", "co2_kg", "operating_cost_eur", "trips")


@dataclass(frozen=True)
class Recorded:
    """The recorded row of a history scenario: its totals, per stream, day and container."""

    scenario: Scenario
    totals: Mapping[str, float]
    by_stream: Mapping[str, Mapping[str, float]]
    by_day: Sequence[Mapping[str, object]]
    containers: Sequence[BinOnMap]
    tours: int
    trucks: int
    fleet: Mapping[str, int]
    """Per stream, the most trucks out on one day of the period (what the tours show)."""
    whole_tours: bool = False
    """True when the scenario selects communes: the km are those of its streams' whole tours."""
    events_read: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def kpis(self) -> dict[str, Estimate]:
        """Every figure as an estimate of one observation (no interval: it was not sampled)."""
        return {name: estimate([value]) for name, value in self.totals.items()}

    def words(self) -> str:
        """What the row is, in one sentence (for the report and the CLI)."""
        s = self.scenario
        km = (
            "km of the tours of those streams, whole (a tour report names no communes)"
            if self.whole_tours
            else "km from the trucks' own tour reports"
        )
        return (
            f"{TITLE}: the store's log over the same {s.run.horizon_days} days from "
            f"{s.run.start:%d/%m/%Y} — {self.totals['collections']:.0f} lifts, "
            f"{self.totals['overflow_events']:.0f} overflow episodes, {self.tours} tours by "
            f"{self.trucks} trucks, {km}; nothing simulated. The policies below face waste "
            "drawn from the inflow fitted on the same log."
            + "".join(f" Note: {note}." for note in self.notes)
        )

    def report_input(self) -> ReportInput:
        """The row as the report takes it, first of a comparison (``policy`` is ``RECORDED``)."""
        s = self.scenario
        origin = f"{s.history.store if s.history else ''}, {self.events_read} facts"
        return ReportInput(
            name=RECORDED,
            title=TITLE,
            question="What did the trucks do over these days, by the store's log?",
            kpis=self.kpis,
            by_day=self.by_day,
            bins=self.containers,
            focus=tuple(k for k in s.focus if k in self.totals),
            start=s.run.start.isoformat(),
            horizon_days=s.run.horizon_days,
            seed=None,
            policy=RECORDED,
            assumptions=waste_assumptions(s, origin),
            prices=base_prices(fp.TRUCK_EUR_PER_KM, wp.OVERFLOW_PENALTY_EUR.value, 0),
            by_stream=self.by_stream,
            comparison=self.words(),
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready values."""
        return {
            "scenario": RECORDED,
            "title": TITLE,
            "recorded": True,
            "start": self.scenario.run.start.isoformat(),
            "horizon_days": self.scenario.run.horizon_days,
            "tours": self.tours,
            "trucks": self.trucks,
            "fleet": dict(self.fleet),
            "km_of_whole_tours": self.whole_tours,
            "kpis": dict(self.totals),
            "by_stream": {k: dict(v) for k, v in self.by_stream.items()},
        }


def same_history(scenarios: Sequence[Scenario]) -> Scenario | None:
    """The scenario whose recorded row stands for all of ``scenarios``, if they share one: every
    one a waste scenario over the same store, days and selection of bins (else None)."""
    if not scenarios:
        return None
    first = scenarios[0]

    def key(s: Scenario) -> tuple[object, ...]:
        return (
            s.subject,
            s.history.store if s.history else None,
            s.run.start,
            s.run.horizon_days,
            s.inventory.streams,
            s.inventory.communes,
        )

    if first.subject != "waste" or first.history is None:
        return None
    return first if all(key(s) == key(first) for s in scenarios) else None


def recorded(scenario: Scenario) -> Recorded:
    """The recorded row of a waste scenario with a ``[history]``, read from its store."""
    if scenario.history is None or scenario.subject != "waste":
        raise ValueError(
            f"{scenario.source}: only a waste scenario over a store's log has a record"
        )
    start = datetime.combine(scenario.run.start, datetime.min.time(), UTC)
    end = start + timedelta(days=scenario.run.horizon_days)
    twin = open_twin(scenario.history.store)
    try:
        bins, tours, read = _read(twin.facts(), start, end)
    finally:
        twin.close()
    streams, communes = scenario.inventory.streams, scenario.inventory.communes
    everywhere = communes is None or set(known_communes()) <= set(communes)
    kept = {
        b
        for b, (stream, commune, _, _) in _where(bins).items()
        if (streams is None or stream in streams) and (everywhere or commune in (communes or ()))
    }
    facts = [e for e in bins if e.originator_id in kept]
    lifts = replay(facts, lateness=lateness_needed(facts))
    tours = [t for t in tours if streams is None or t.stream in streams]
    fleets = default_fleets(dict(scenario.fleet))

    def with_tours(
        figures: Mapping[str, float], own: Iterable[Truck.TourRecorded]
    ) -> dict[str, float]:
        out = {k: v for k, v in figures.items() if k not in _NOT_RECORDED}
        out.update(dict.fromkeys(_TOUR_KPIS, 0.0))
        for tour in own:
            for name, value in _priced(tour, fleets[tour.stream]).items():
                out[name] += value
        trips = out["trips"]
        out["km_per_trip"] = out["truck_km"] / trips if trips else 0.0
        out["stops_per_trip"] = out["collections"] / trips if trips else 0.0
        out["cost_eur"] = out["operating_cost_eur"] + out["overflow_penalty_eur"]
        return out

    by_day_tours: dict[str, list[Truck.TourRecorded]] = defaultdict(list)
    for tour in tours:
        by_day_tours[tour.timestamp.date().isoformat()].append(tour)
    days = {
        (scenario.run.start + timedelta(days=d)).isoformat()
        for d in range(scenario.run.horizon_days)
    }
    by_day = [
        {"day": row["day"], **with_tours(_numbers(row), by_day_tours.get(str(row["day"]), []))}
        for row in lifts.by_day()
        if row["day"] in days
    ]
    per_container = lifts.by_container()
    places = _where(facts)
    containers = [
        BinOnMap(
            code,
            x,
            y,
            stream,
            commune,
            collections=per_container.get(code, {}).get("collections", 0.0),
            overflow_events=per_container.get(code, {}).get("overflow_events", 0.0),
        )
        for stream, commune, code, (x, y) in places.values()
    ]
    present = {e.stream for e in facts if isinstance(e, Bin.Installed)}
    return Recorded(
        scenario=scenario,
        totals=with_tours(lifts.totals(), tours),
        by_stream={
            s: with_tours(v, [t for t in tours if t.stream == s])
            for s, v in lifts.by_stream().items()
            if s in present or any(t.stream == s for t in tours)
        },
        by_day=by_day,
        containers=containers,
        tours=len(tours),
        trucks=len({t.originator_id for t in tours}),
        fleet=_fleet(tours),
        whole_tours=not everywhere,
        events_read=read,
        notes=overfull_lifts(facts, start, end),
    )


# A lift this much heavier than a full container of its stream's loose waste is evidence the
# container overflowed before it (the density is an assumption: the margin keeps the noise out).
OVERFULL_MARGIN = 1.1


def overfull_lifts(facts: Iterable[object], start: datetime, end: datetime) -> tuple[str, ...]:
    """A note when lifts in ``[start, end)`` weighed more than their container can hold at its
    stream's loose density (× ``OVERFULL_MARGIN``): overflows a fill sensor that cannot read
    a full container (its blind zone) never reports, so the recorded overflows are a floor."""
    sized: dict[object, tuple[str, float]] = {}
    heavy: dict[str, int] = defaultdict(int)
    for fact in facts:
        if isinstance(fact, Bin.Installed):
            sized[fact.originator_id] = (fact.stream, float(fact.capacity_l))
        elif isinstance(fact, Bin.Emptied) and start <= fact.timestamp < end:
            stream, capacity_l = sized.get(fact.originator_id, ("", 0.0))
            if not stream or not capacity_l:
                continue
            litres = fact.mass_kg / wp.density_kg_per_l(stream)
            if litres > OVERFULL_MARGIN * capacity_l:
                heavy[stream] += 1
    if not heavy:
        return ()
    count = sum(heavy.values())
    streams = ", ".join(f"{n} {stream}" for stream, n in sorted(heavy.items()))
    return (
        f"{count} lift{'' if count == 1 else 's'} ({streams}) weighed more than their container "
        "holds at its stream's "
        "loose density: overflows the fill sensors did not report, so the recorded overflows "
        "are a floor",
    )


def recorded_fleet(store: str, start: datetime, end: datetime) -> dict[str, int]:
    """Per stream, the most trucks out on one day among the tours that ended in ``[start,
    end)``: the fleet a history comparison gives the simulated policies."""
    twin = open_twin(store)
    try:
        tours = [
            t
            for t in twin.facts(topics=(get_topic(Truck.TourRecorded),))
            if isinstance(t, Truck.TourRecorded) and start <= t.timestamp < end
        ]
    finally:
        twin.close()
    return _fleet(tours)


def _fleet(tours: Iterable[Truck.TourRecorded]) -> dict[str, int]:
    out: dict[str, dict[date, set[object]]] = defaultdict(lambda: defaultdict(set))
    for tour in tours:
        out[tour.stream][tour.timestamp.date()].add(tour.originator_id)
    return {s: max(len(v) for v in days.values()) for s, days in sorted(out.items())}


def _read(
    facts: Iterable[object], start: datetime, end: datetime
) -> tuple[list[Bin.Event], list[Truck.TourRecorded], int]:
    """One pass over the log: the bins' facts of the period (and every bin's installation,
    moves and removal before its end), and the tours that ended in it."""
    lifecycle = (Bin.Installed, Bin.Moved, Bin.Removed)
    bins: list[Bin.Event] = []
    tours: list[Truck.TourRecorded] = []
    read = 0
    for event in facts:
        read += 1
        if isinstance(event, Bin.Event):
            at = event.timestamp
            if at < end and (at >= start or isinstance(event, lifecycle)):
                bins.append(event)
        elif isinstance(event, Truck.TourRecorded) and start <= event.timestamp < end:
            tours.append(event)
    return bins, tours, read


def _where(
    facts: Iterable[Bin.Event],
) -> dict[object, tuple[str, str, str, tuple[float, float]]]:
    """Each bin's stream, commune, code and position, as its last installation or move has it."""
    out: dict[object, tuple[str, str, str, tuple[float, float]]] = {}
    for event in facts:
        if isinstance(event, Bin.Installed):
            out[event.originator_id] = (
                event.stream,
                event.commune_insee,
                event.code,
                (event.x_l93, event.y_l93),
            )
        elif isinstance(event, Bin.Moved) and event.originator_id in out:
            stream, _, code, _ = out[event.originator_id]
            out[event.originator_id] = (
                stream,
                event.commune_insee,
                code,
                (event.x_l93, event.y_l93),
            )
    return out


def _priced(tour: Truck.TourRecorded, fleet: fp.Fleet) -> dict[str, float]:
    """A recorded tour at the fleet's prices, as ``simulation.routing.tour_costs`` prices a
    planned one: crew per hour of the tour (depot to depot), truck per km, diesel."""
    hours = max((tour.timestamp - tour.started_at).total_seconds() / 3600.0, 0.0)
    fuel = tour.km * fleet.truck.fuel_l_per_100km / 100.0
    return {
        "truck_km": tour.km,
        "driving_hours": tour.km / fleet.speed_kmh,
        "fuel_l": fuel,
        "co2_kg": fuel * fleet.co2_kg_per_l,
        "operating_cost_eur": hours * fleet.crew_eur_per_h
        + tour.km * fleet.truck_eur_per_km
        + fuel * fleet.diesel_eur_per_l,
        "trips": 1.0,
    }


def _numbers(row: Mapping[str, object]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items() if isinstance(v, int | float)}
