"""The Beacon aggregate: a BLE scanner counting footfall in a zone or at a site.

Footfall is counted, never tracked: a beacon records counts per interval and nothing that
identifies a phone or a person. A count may arrive late (a gateway's outbox emptied after an
outage): it is accepted if its interval fits in a gap between the intervals already counted,
whatever their arrival order, and refused if it overlaps one of them. A count must end after
the beacon's last move (a count belongs to the zone the beacon served when it ended; the read
models put it in the zone the beacon serves when it arrives), and a move may not predate the
end of an interval already counted. Not responsible for deduplicating detections (the adapter
is).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Self

from domain._aggregate import ValleyAggregate
from domain._checks import number_in_range, text, utc_instant, whole_number
from domain.errors import OutOfOrderError, OutOfRangeError
from domain.ids import normalise_code
from domain.values import Position

MAX_INTERVAL = timedelta(days=1)
MAX_COUNT_PER_INTERVAL = 1_000_000


class Beacon(ValleyAggregate):
    """A footfall scanner installed in an activity zone or at a remarkable site."""

    KIND = "beacon"
    DATED = ("battery_percent",)  # set by late-allowed facts: kept with their times
    if TYPE_CHECKING:
        _counted_spans: list[tuple[datetime, datetime]] | None
        _zone_since: datetime | None
    # What checking a late count needs, rebuilt by applying events: the stretches of time
    # already counted (sorted, disjoint, touching intervals merged: one stretch while the
    # beacon counts without a gap), and when the beacon began serving its zone. None in a
    # snapshot taken before they were kept: then everything up to ``counted_until`` counts as
    # counted, and the zone as served since the newest fact that depends on order.
    _counted_spans = None
    _zone_since = None

    class Installed(ValleyAggregate.Created):
        code: str
        zone_code: str
        x_l93: float
        y_l93: float
        commune_insee: str

    def __init__(
        self, code: str, zone_code: str, x_l93: float, y_l93: float, commune_insee: str
    ) -> None:
        self.code = code
        self.zone_code = zone_code
        self.x_l93 = x_l93
        self.y_l93 = y_l93
        self.commune_insee = commune_insee
        self.total_count = 0
        self.last_count: int | None = None
        self.counted_until: datetime | None = None
        self.battery_percent: float | None = None
        self.retired = False
        self._counted_spans = []
        self._zone_since = self.created_on  # set by the library before __init__ runs

    @classmethod
    def install(
        cls, *, code: str, zone_code: str, position: Position, commune_insee: str, at: datetime
    ) -> Self:
        """Install a scanner serving a zone or site (named by its code)."""
        return cls._begin(
            cls.Installed,
            at,
            code=normalise_code("code", code),
            zone_code=normalise_code("zone_code", zone_code),
            x_l93=position.x,
            y_l93=position.y,
            commune_insee=text("commune_insee", commune_insee, max_length=5),
        )

    class FootfallCounted(ValleyAggregate.Event):
        LATE_ALLOWED = True  # the overlap rule is checked against every interval counted
        CORRECTABLE = {
            "count": lambda field, value: whole_number(field, value, high=MAX_COUNT_PER_INTERVAL)
        }
        interval_start: datetime
        count: int

        def apply(self, aggregate: Beacon) -> None:
            aggregate._counted_spans = _with_span(
                aggregate._spans(), self.interval_start, self.timestamp
            )
            if aggregate._zone_since is None:  # a snapshot of before: pinned from now on
                aggregate._zone_since = aggregate._ordered_since()
            aggregate.total_count += self.count
            # A late interval is history: the last count stays the newest interval's.
            if aggregate.counted_until is None or self.timestamp >= aggregate.counted_until:
                aggregate.last_count = self.count
                aggregate.counted_until = self.timestamp

    def count_footfall(self, interval_start: datetime, interval_end: datetime, count: int) -> None:
        """Record ``count`` visitors detected between two instants (dated at the end).

        The interval may be older than the newest one counted, as long as it overlaps none of
        the intervals counted so far.
        """
        start = utc_instant("interval_start", interval_start)
        end = utc_instant("interval_end", interval_end)
        if end <= start:
            raise OutOfRangeError(
                "interval must end after it starts", "interval_end", end.isoformat()
            )
        if end - start > MAX_INTERVAL:
            raise OutOfRangeError(
                "interval must be at most one day", "interval_end", end.isoformat()
            )
        zone_since = self._zone_since or self._ordered_since()
        if end <= zone_since and zone_since > self.created_on:
            raise OutOfOrderError(
                f"beacon {self.code} serves zone {self.zone_code} since "
                f"{zone_since.isoformat()}; a count ending then or before belongs to the zone "
                "it served before and cannot be placed",
                "interval_end",
                end.isoformat(),
            )
        _check_no_overlap(self._spans(), start, end)
        self._record(
            self.FootfallCounted,
            end,
            interval_start=start,
            count=whole_number("count", count, high=MAX_COUNT_PER_INTERVAL),
        )

    class BatteryReported(ValleyAggregate.Event):
        LATE_ALLOWED = True
        CORRECTABLE = {
            "battery_percent": lambda field, value: number_in_range(field, value, 0.0, 100.0)
        }
        battery_percent: float

        def apply(self, aggregate: Beacon) -> None:
            if aggregate._newest("battery_percent", self.timestamp):
                aggregate.battery_percent = self.battery_percent

    def report_battery(self, battery_percent: float, at: datetime) -> None:
        """Record the scanner's battery level in percent."""
        level = number_in_range("battery_percent", battery_percent, 0.0, 100.0)
        self._record(self.BatteryReported, at, battery_percent=level)

    def _spans(self) -> list[tuple[datetime, datetime]]:
        """The stretches counted so far (a snapshot of before they were kept: all time up to
        ``counted_until``, as the rule was then)."""
        if self._counted_spans is None:
            until = self.counted_until
            return [] if until is None else [(self.created_on, until)]
        return [(start, end) for start, end in self._counted_spans]  # a snapshot's are lists

    class Moved(ValleyAggregate.Event):
        x_l93: float
        y_l93: float
        commune_insee: str
        zone_code: str

        def apply(self, aggregate: Beacon) -> None:
            aggregate.x_l93 = self.x_l93
            aggregate.y_l93 = self.y_l93
            aggregate.commune_insee = self.commune_insee
            aggregate.zone_code = self.zone_code
            aggregate._zone_since = self.timestamp

    def move(self, position: Position, commune_insee: str, zone_code: str, at: datetime) -> None:
        """Move the scanner, possibly to another zone (not before the end of a counted interval:
        each count belongs to one zone)."""
        at = utc_instant("at", at)
        if self.counted_until is not None and at < self.counted_until:
            raise OutOfOrderError(
                f"beacon {self.code} counted footfall until {self.counted_until.isoformat()}; "
                "it cannot have moved before",
                "at",
                at.isoformat(),
            )
        self._record(
            self.Moved,
            at,
            x_l93=position.x,
            y_l93=position.y,
            commune_insee=text("commune_insee", commune_insee, max_length=5),
            zone_code=normalise_code("zone_code", zone_code),
        )

    class Decommissioned(ValleyAggregate.Event):
        RETIRES = True  # nothing may follow it: checked against every fact, late ones too
        reason: str

        def apply(self, aggregate: Beacon) -> None:
            aggregate.retired = True

    def decommission(self, reason: str, at: datetime) -> None:
        """Take the scanner out of service for good."""
        self._record(self.Decommissioned, at, reason=text("reason", reason))


def _check_no_overlap(
    spans: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> None:
    """Refuse an interval [start, end) overlapping a stretch already counted."""
    before = bisect_right(spans, start, key=lambda span: span[0]) - 1
    if before >= 0 and start < spans[before][1]:
        counted_from, counted_until = spans[before]
        raise OutOfOrderError(
            f"interval overlaps footfall already counted from {counted_from.isoformat()} "
            f"until {counted_until.isoformat()}",
            "interval_start",
            start.isoformat(),
        )
    after = before + 1
    if after < len(spans) and spans[after][0] < end:
        counted_from, counted_until = spans[after]
        raise OutOfOrderError(
            f"interval overlaps footfall already counted from {counted_from.isoformat()} "
            f"until {counted_until.isoformat()}",
            "interval_end",
            end.isoformat(),
        )


def _with_span(
    spans: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """``spans`` (a fresh list) with [start, end) added, merged with the stretches it touches."""
    place = bisect_right(spans, start, key=lambda span: span[0])
    if place > 0 and spans[place - 1][1] >= start:
        place -= 1
        start = min(start, spans[place][0])
        end = max(end, spans[place][1])
        del spans[place]
    while place < len(spans) and spans[place][0] <= end:
        end = max(end, spans[place][1])
        del spans[place]
    spans.insert(place, (start, end))
    return spans
