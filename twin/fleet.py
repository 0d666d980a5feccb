"""What the collection trucks drove, from the tours they recorded.

Sums the log's ``Truck.TourRecorded`` facts as they now stand — the tours the on-board computers reported, not a
model's estimate — over an optional span of world time (a tour counts by its end). Not
responsible for routing (the simulation estimates what the trucks would drive) nor for the
lifts of the rounds (bins' facts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.utils import get_topic

from domain import Truck
from twin.events import aggregate_event

if TYPE_CHECKING:
    from twin.application import ValleyTwin


@dataclass(frozen=True)
class RecordedTours:
    """Totals of the tours recorded: trucks, tours, km driven, tip visits and net tonnes."""

    trucks: int
    tours: int
    km: float
    tips: int
    tonnes_tipped: float


def recorded_tours(
    twin: ValleyTwin, since: datetime | None = None, until: datetime | None = None
) -> RecordedTours:
    """The tours recorded in the log that ended in ``[since, until)`` (all of them by default)."""
    trucks: set[object] = set()
    tours = tips = 0
    km = tonnes = 0.0
    for stored in twin.facts(topics=(get_topic(Truck.TourRecorded),)):
        tour = aggregate_event(stored)
        assert isinstance(tour, Truck.TourRecorded)
        if (since is not None and tour.timestamp < since) or (
            until is not None and tour.timestamp >= until
        ):
            continue
        trucks.add(tour.originator_id)
        tours += 1
        km += tour.km
        tips += len(tour.tips)
        tonnes += sum(tip["tonnes"] for tip in tour.tips)
    return RecordedTours(len(trucks), tours, round(km, 3), tips, round(tonnes, 3))
