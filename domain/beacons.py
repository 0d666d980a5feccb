"""The Beacon aggregate: a BLE scanner counting footfall in a zone or at a site.

Footfall is counted, never tracked: a beacon records counts per interval and nothing that
identifies a phone or a person. Not responsible for deduplicating detections (the adapter is).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Self

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
        interval_start: datetime
        count: int

        def apply(self, aggregate: Beacon) -> None:
            aggregate.total_count += self.count
            aggregate.last_count = self.count
            aggregate.counted_until = self.timestamp

    def count_footfall(self, interval_start: datetime, interval_end: datetime, count: int) -> None:
        """Record ``count`` visitors detected between two instants (dated at the end)."""
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
        if self.counted_until is not None and start < self.counted_until:
            raise OutOfOrderError(
                f"interval overlaps the one counted until {self.counted_until.isoformat()}",
                "interval_start",
                start.isoformat(),
            )
        self._record(
            self.FootfallCounted,
            end,
            interval_start=start,
            count=whole_number("count", count, high=MAX_COUNT_PER_INTERVAL),
        )

    class BatteryReported(ValleyAggregate.Event):
        LATE_ALLOWED = True
        battery_percent: float

        def apply(self, aggregate: Beacon) -> None:
            if aggregate._newest("battery_percent", self.timestamp):
                aggregate.battery_percent = self.battery_percent

    def report_battery(self, battery_percent: float, at: datetime) -> None:
        """Record the scanner's battery level in percent."""
        level = number_in_range("battery_percent", battery_percent, 0.0, 100.0)
        self._record(self.BatteryReported, at, battery_percent=level)

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

    def move(self, position: Position, commune_insee: str, zone_code: str, at: datetime) -> None:
        """Move the scanner, possibly to another zone."""
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
