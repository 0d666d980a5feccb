"""Per-bin history read from a plain iterable of domain events, in one pass.

Each container gets its static description (stream, capacity, position, commune) and its
series: fill measurements, emptyings with their mass and overflow reports. Events of other
aggregates are skipped; a bin event for a container never installed in the iterable stops the
read (a log cut mid-history cannot be read silently wrong). Not responsible for deriving inflow
(``simulation.waste.inflow``) nor for replaying in simulated time (``simulation.waste.engine``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from domain.bins import Bin

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime
    from uuid import UUID


class UnknownBinError(ValueError):
    """A bin event arrived for a container the iterable never installed."""


@dataclass
class BinRecord:
    """One container's static description and its recorded series, in time order."""

    bin_id: UUID
    code: str
    stream: str
    capacity_l: int
    x_l93: float
    y_l93: float
    commune_insee: str
    installed_at: datetime
    removed_at: datetime | None = None
    fills: list[tuple[datetime, float]] = field(default_factory=list)
    """(instant, fill percent) of each measurement."""
    emptyings: list[tuple[datetime, str, float]] = field(default_factory=list)
    """(instant, round id, mass in kg) of each emptying."""
    overflows: list[datetime] = field(default_factory=list)
    """Instants of overflow reports (100 % readings, the other sign, are in ``fills``; episodes
    are counted by ``domain.overflows``)."""


@dataclass
class History:
    """Every container seen in the events, by aggregate id, with the span of time covered."""

    bins: dict[UUID, BinRecord]
    first: datetime | None
    last: datetime | None
    events_read: int

    def records(self) -> list[BinRecord]:
        """The containers in a stable order (by code)."""
        return sorted(self.bins.values(), key=lambda r: r.code)


def read_history(events: Iterable[object]) -> History:
    """Read the bins' history from events in log order, streaming over them once."""
    bins: dict[UUID, BinRecord] = {}
    first: datetime | None = None
    last: datetime | None = None
    count = 0
    for event in events:
        count += 1
        if not isinstance(event, Bin.Installed | Bin.Event):
            continue
        at: datetime = event.timestamp
        first = at if first is None or at < first else first
        last = at if last is None or at > last else last
        if isinstance(event, Bin.Installed):
            bins[event.originator_id] = BinRecord(
                event.originator_id,
                event.code,
                event.stream,
                event.capacity_l,
                event.x_l93,
                event.y_l93,
                event.commune_insee,
                at,
            )
            continue
        record = bins.get(event.originator_id)
        if record is None:
            raise UnknownBinError(
                f"{type(event).__qualname__} at {at.isoformat()} for bin {event.originator_id}, "
                "which these events never installed"
            )
        _apply(record, event, at)
    for record in bins.values():
        # Facts may be recorded late: each series in world-time order (nearly sorted: cheap).
        record.fills.sort(key=_when)
        record.emptyings.sort(key=_when)
        record.overflows.sort()
    return History(bins, first, last, count)


def _when(fact: tuple[Any, ...]) -> datetime:
    when: datetime = fact[0]
    return when


def _apply(record: BinRecord, event: object, at: datetime) -> None:
    if isinstance(event, Bin.FillLevelMeasured):
        record.fills.append((at, float(event.fill_percent)))
    elif isinstance(event, Bin.Emptied):
        record.emptyings.append((at, event.round_id, float(event.mass_kg)))
    elif isinstance(event, Bin.OverflowReported):
        record.overflows.append(at)
    elif isinstance(event, Bin.Moved):
        record.x_l93, record.y_l93, record.commune_insee = (
            event.x_l93,
            event.y_l93,
            event.commune_insee,
        )
    elif isinstance(event, Bin.Removed):
        record.removed_at = at
    # sensor attachment, battery and fault events do not change the waste record
