"""The Truck aggregate: a collection truck of the valley's fleet and the tours it drove.

A tour (a round) is recorded once it is over, from the truck's on-board computer: which round
and stream, when it left and came back, the kilometres driven (from the trip counter, or the
odometer at both ends), and the tip visits with their weighbridge tickets (where, when, the
net tonnes tipped). The fact is dated at the tour's end. A truck's tours come in time order and
never overlap; its odometer never goes back. Not responsible for the lifts of the round (each
is a bin's fact, ``Bin.empty``) nor for routing (the simulation plans tours).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Self

from domain._aggregate import ValleyAggregate
from domain._checks import member, number_in_range, text, utc_instant
from domain.errors import (
    DuplicateError,
    InvalidValueError,
    OutOfOrderError,
    OutOfRangeError,
)
from domain.ids import normalise_code
from domain.values import WasteStream

MAX_TOUR_HOURS = 24.0
MAX_TOUR_KM = 1_000.0  # a day's rounds in a rural valley stay well under this
MAX_ODOMETER_KM = 5_000_000.0
# The trip counter (or a GPS track) and the odometer may disagree by a few km over a tour.
KM_TOLERANCE = 3.0
# Averaged over the whole tour, stops and tip visits included; above it, km or times are wrong.
MAX_AVERAGE_SPEED_KMH = 90.0
MAX_TIPS_PER_TOUR = 8
# A rear-loader's payload is 8.5–12 t: one tip visit unloads at most that.
MAX_TIP_TONNES = 12.0


class Tip(NamedTuple):
    """One tip visit of a tour: the weighbridge ticket's site, instant and net tonnes."""

    site: str
    at: datetime
    tonnes: float


class Truck(ValleyAggregate):
    """A collection truck, known by its fleet code (or registration), based at a depot."""

    KIND = "truck"

    class Registered(ValleyAggregate.Created):
        code: str
        commune_insee: str

    def __init__(self, code: str, commune_insee: str) -> None:
        self.code = code
        self.commune_insee = commune_insee  # the commune of the truck's depot
        self.tours_count = 0
        self.km_total = 0.0
        self.tips_count = 0
        self.tonnes_tipped = 0.0
        self.odometer_km: float | None = None
        self.last_round_id: str | None = None
        self.last_tour_ended_at: datetime | None = None
        self.retired = False
        # Every round recorded, to refuse one recorded twice: private, so not in the state
        # shown (a year of tours would crowd it), but kept in snapshots.
        self._round_ids: list[str] = []

    @classmethod
    def register(cls, *, code: str, commune_insee: str, at: datetime) -> Self:
        """Register a truck based at a depot in a commune."""
        return cls._begin(
            cls.Registered,
            at,
            code=normalise_code("code", code),
            commune_insee=text("commune_insee", commune_insee, max_length=5),
        )

    class TourRecorded(ValleyAggregate.Event):
        """A tour driven, dated at its end (``timestamp``)."""

        round_id: str
        stream: str
        started_at: datetime
        km: float
        odometer_start_km: float | None
        odometer_end_km: float | None
        # One map per tip visit ({"site", "at", "tonnes"}), in time order: maps and lists keep
        # their shape through the store's JSON, tuples would come back as lists.
        tips: list[dict[str, Any]]

        @property
        def ended_at(self) -> datetime:
            """When the tour ended: the fact's own time."""
            return self.timestamp

        def apply(self, aggregate: Truck) -> None:
            aggregate.tours_count += 1
            # Totals kept to the metre and the kilogram, so that sums of decimals stay exact.
            aggregate.km_total = round(aggregate.km_total + self.km, 3)
            aggregate.tips_count += len(self.tips)
            tipped = sum(tip["tonnes"] for tip in self.tips)
            aggregate.tonnes_tipped = round(aggregate.tonnes_tipped + tipped, 3)
            if self.odometer_end_km is not None:
                aggregate.odometer_km = self.odometer_end_km
            aggregate.last_round_id = self.round_id
            aggregate.last_tour_ended_at = self.timestamp
            aggregate._round_ids = [*aggregate._round_ids, self.round_id]

    def record_tour(
        self,
        *,
        round_id: str,
        stream: str,
        started_at: datetime,
        ended_at: datetime,
        km: float | None = None,
        odometer_start_km: float | None = None,
        odometer_end_km: float | None = None,
        tips: Sequence[tuple[str, datetime, float]] = (),
    ) -> None:
        """Record a tour the truck drove, once it is over.

        The distance is ``km`` (trip counter or GPS track), or the odometer's difference; with
        both, they must agree within :data:`KM_TOLERANCE` km. ``tips`` are (site, instant,
        net tonnes) tuples, each within the tour.
        """
        round_id = text("round_id", round_id, max_length=64)
        if round_id in self._round_ids:
            raise DuplicateError(
                f"truck {self.code} has a tour of this round already", "round_id", round_id
            )
        stream = member("stream", stream, WasteStream).value
        started_at = utc_instant("started_at", started_at)
        ended_at = utc_instant("ended_at", ended_at)
        self._check_interval(started_at, ended_at)
        driven = self._check_distance(km, odometer_start_km, odometer_end_km)
        hours = (ended_at - started_at) / timedelta(hours=1)
        if driven / hours > MAX_AVERAGE_SPEED_KMH:
            raise OutOfRangeError(
                f"{driven:g} km in {hours:.2f} h is more than {MAX_AVERAGE_SPEED_KMH:g} km/h on "
                "average over the tour",
                "km",
                driven,
            )
        self._record(
            self.TourRecorded,
            ended_at,
            round_id=round_id,
            stream=stream,
            started_at=started_at,
            km=driven,
            odometer_start_km=None if odometer_start_km is None else float(odometer_start_km),
            odometer_end_km=None if odometer_end_km is None else float(odometer_end_km),
            tips=self._checked_tips(tips, started_at, ended_at),
        )

    def _check_interval(self, started_at: datetime, ended_at: datetime) -> None:
        if ended_at <= started_at:
            raise OutOfRangeError(
                f"must be after the tour's start ({started_at.isoformat()})",
                "ended_at",
                ended_at.isoformat(),
            )
        if ended_at - started_at > timedelta(hours=MAX_TOUR_HOURS):
            raise OutOfRangeError(
                f"a tour lasts at most {MAX_TOUR_HOURS:g} h; it ended {ended_at.isoformat()}",
                "started_at",
                started_at.isoformat(),
            )
        if started_at < self.created_on:
            raise OutOfOrderError(
                f"truck {self.code} exists since {self.created_on.isoformat()}; "
                "no tour of it can start before",
                "started_at",
                started_at.isoformat(),
            )
        previous = self.last_tour_ended_at
        if previous is not None and started_at < previous:
            raise OutOfOrderError(
                f"overlaps truck {self.code}'s previous tour ({self.last_round_id}), which "
                f"ended {previous.isoformat()}",
                "started_at",
                started_at.isoformat(),
            )

    def _check_distance(
        self, km: object, odometer_start_km: object, odometer_end_km: object
    ) -> float:
        """The km driven, checked against the odometer when it is given."""
        if (odometer_start_km is None) != (odometer_end_km is None):
            missing = "odometer_start_km" if odometer_start_km is None else "odometer_end_km"
            raise InvalidValueError("give both odometer readings or neither", missing, None)
        trip = None if km is None else number_in_range("km", km, 0.0, MAX_TOUR_KM)
        if odometer_start_km is None:
            if trip is None:
                raise InvalidValueError(
                    "give the km driven or the odometer at the start and the end", "km", None
                )
            return trip
        start = number_in_range("odometer_start_km", odometer_start_km, 0.0, MAX_ODOMETER_KM)
        end = number_in_range("odometer_end_km", odometer_end_km, 0.0, MAX_ODOMETER_KM)
        if end < start:
            raise OutOfRangeError(
                f"the odometer cannot go back during a tour; it read {start:g} km at the start",
                "odometer_end_km",
                end,
            )
        if self.odometer_km is not None and start < self.odometer_km:
            raise OutOfRangeError(
                f"the odometer cannot go back; truck {self.code}'s read {self.odometer_km:g} km "
                "at the end of its previous tour",
                "odometer_start_km",
                start,
            )
        by_odometer = round(end - start, 3)
        if by_odometer > MAX_TOUR_KM:
            raise OutOfRangeError(
                f"the odometer says {by_odometer:g} km were driven, more than {MAX_TOUR_KM:g} "
                "km in one tour",
                "odometer_end_km",
                end,
            )
        if trip is None:
            return by_odometer
        if abs(trip - by_odometer) > KM_TOLERANCE:
            raise OutOfRangeError(
                f"disagrees with the odometer ({by_odometer:g} km from {start:g} to {end:g}) by "
                f"more than {KM_TOLERANCE:g} km",
                "km",
                trip,
            )
        return trip

    def _checked_tips(
        self, tips: object, started_at: datetime, ended_at: datetime
    ) -> list[dict[str, Any]]:
        if not isinstance(tips, Sequence) or isinstance(tips, str):
            raise InvalidValueError("must be a list of (site, instant, tonnes)", "tips", tips)
        if len(tips) > MAX_TIPS_PER_TOUR:
            raise OutOfRangeError(
                f"a tour has at most {MAX_TIPS_PER_TOUR} tip visits", "tips", len(tips)
            )
        checked = []
        for number, tip in enumerate(tips):
            field = f"tips[{number}]"
            if not isinstance(tip, tuple | list) or len(tip) != 3:
                raise InvalidValueError("must be (site, instant, tonnes)", field, tip)
            site, at, tonnes = tip
            at = utc_instant(f"{field}.at", at)
            if not started_at <= at <= ended_at:
                raise OutOfRangeError(
                    f"must be within the tour, {started_at.isoformat()} to {ended_at.isoformat()}",
                    f"{field}.at",
                    at.isoformat(),
                )
            checked.append(
                {
                    "site": normalise_code(f"{field}.site", site),
                    "at": at,
                    "tonnes": number_in_range(f"{field}.tonnes", tonnes, 0.0, MAX_TIP_TONNES),
                }
            )
        return sorted(checked, key=lambda tip: tip["at"])
