"""The Service aggregate: a public service with places (childcare) or sessions (training).

A service with places keeps a waiting list of requests and grants them up to its capacity;
a service with sessions schedules sessions with seats, enrols and records attendance. People
are named by opaque references only. Not responsible for who may request a place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from domain._aggregate import ValleyAggregate
from domain._checks import member, text, utc_instant, whole_number
from domain.errors import (
    CapacityExceededError,
    DuplicateError,
    OutOfRangeError,
    UnknownReferenceError,
)
from domain.ids import normalise_code
from domain.values import Position, ServiceKind

MAX_CAPACITY = 100_000


def _ref(field: str, value: object) -> str:
    return normalise_code(field, value)


class Service(ValleyAggregate):
    """A public service of the valley."""

    KIND = "service"

    class Opened(ValleyAggregate.Created):
        code: str
        name: str
        service_kind: str
        capacity: int
        x_l93: float
        y_l93: float
        commune_insee: str

    def __init__(
        self,
        code: str,
        name: str,
        service_kind: str,
        capacity: int,
        x_l93: float,
        y_l93: float,
        commune_insee: str,
    ) -> None:
        self.code = code
        self.name = name
        self.service_kind = service_kind
        self.capacity = capacity
        self.x_l93 = x_l93
        self.y_l93 = y_l93
        self.commune_insee = commune_insee
        self.waiting: list[str] = []
        self.granted: list[str] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self.retired = False

    @classmethod
    def open(
        cls,
        *,
        code: str,
        name: str,
        service_kind: str,
        capacity: int,
        position: Position,
        commune_insee: str,
        at: datetime,
    ) -> Self:
        """Open a service with a capacity (places, desks or seats)."""
        return cls._begin(
            cls.Opened,
            at,
            code=normalise_code("code", code),
            name=text("name", name),
            service_kind=member("service_kind", service_kind, ServiceKind).value,
            capacity=whole_number("capacity", capacity, high=MAX_CAPACITY),
            x_l93=position.x,
            y_l93=position.y,
            commune_insee=text("commune_insee", commune_insee, max_length=5),
        )

    class CapacityChanged(ValleyAggregate.Event):
        capacity: int

        def apply(self, aggregate: Service) -> None:
            aggregate.capacity = self.capacity

    def change_capacity(self, capacity: int, at: datetime) -> None:
        """Change the number of places; never below the places already granted."""
        capacity = whole_number("capacity", capacity, high=MAX_CAPACITY)
        if capacity < len(self.granted):
            raise CapacityExceededError(
                f"{len(self.granted)} places are granted; release some first", "capacity", capacity
            )
        self._record(self.CapacityChanged, at, capacity=capacity)

    class PlaceRequested(ValleyAggregate.Event):
        request_ref: str

        def apply(self, aggregate: Service) -> None:
            aggregate.waiting.append(self.request_ref)

    def request_place(self, request_ref: str, at: datetime) -> None:
        """Put a request on the waiting list."""
        ref = _ref("request_ref", request_ref)
        if ref in self.waiting or ref in self.granted:
            raise DuplicateError("a request with this reference exists", "request_ref", ref)
        self._record(self.PlaceRequested, at, request_ref=ref)

    class PlaceGranted(ValleyAggregate.Event):
        request_ref: str

        def apply(self, aggregate: Service) -> None:
            aggregate.waiting.remove(self.request_ref)
            aggregate.granted.append(self.request_ref)

    def grant_place(self, request_ref: str, at: datetime) -> None:
        """Grant a waiting request a place, within capacity."""
        ref = _ref("request_ref", request_ref)
        if ref not in self.waiting:
            raise UnknownReferenceError("no waiting request has this reference", "request_ref", ref)
        if len(self.granted) >= self.capacity:
            raise CapacityExceededError(
                f"all {self.capacity} places are granted", "request_ref", ref
            )
        self._record(self.PlaceGranted, at, request_ref=ref)

    class PlaceReleased(ValleyAggregate.Event):
        request_ref: str

        def apply(self, aggregate: Service) -> None:
            aggregate.granted.remove(self.request_ref)

    def release_place(self, request_ref: str, at: datetime) -> None:
        """Free a granted place."""
        ref = _ref("request_ref", request_ref)
        if ref not in self.granted:
            raise UnknownReferenceError("no granted place has this reference", "request_ref", ref)
        self._record(self.PlaceReleased, at, request_ref=ref)

    class SessionScheduled(ValleyAggregate.Event):
        session_ref: str
        starts_at: datetime
        seats: int

        def apply(self, aggregate: Service) -> None:
            aggregate.sessions[self.session_ref] = {
                "starts_at": self.starts_at,
                "seats": self.seats,
                "enrolled": [],
                "attended": [],
            }

    def schedule_session(
        self, session_ref: str, starts_at: datetime, seats: int, at: datetime
    ) -> None:
        """Schedule a session (e.g. a digital-skills workshop) with a number of seats."""
        ref = _ref("session_ref", session_ref)
        if ref in self.sessions:
            raise DuplicateError("a session with this reference exists", "session_ref", ref)
        self._record(
            self.SessionScheduled,
            at,
            session_ref=ref,
            starts_at=utc_instant("starts_at", starts_at),
            seats=whole_number("seats", seats, low=1, high=MAX_CAPACITY),
        )

    class Enrolled(ValleyAggregate.Event):
        session_ref: str
        participant_ref: str

        def apply(self, aggregate: Service) -> None:
            aggregate.sessions[self.session_ref]["enrolled"].append(self.participant_ref)

    def enrol(self, session_ref: str, participant_ref: str, at: datetime) -> None:
        """Enrol a participant in a session, within its seats."""
        session = self._session(session_ref)
        who = _ref("participant_ref", participant_ref)
        if who in session["enrolled"]:
            raise DuplicateError("already enrolled in this session", "participant_ref", who)
        if len(session["enrolled"]) >= session["seats"]:
            raise CapacityExceededError(
                f"all {session['seats']} seats are taken", "participant_ref", who
            )
        self._record(
            self.Enrolled, at, session_ref=_ref("session_ref", session_ref), participant_ref=who
        )

    class AttendanceRecorded(ValleyAggregate.Event):
        session_ref: str
        participant_ref: str

        def apply(self, aggregate: Service) -> None:
            aggregate.sessions[self.session_ref]["attended"].append(self.participant_ref)

    def record_attendance(self, session_ref: str, participant_ref: str, at: datetime) -> None:
        """Record that an enrolled participant attended a session that has started."""
        at = utc_instant("at", at)
        session = self._session(session_ref)
        who = _ref("participant_ref", participant_ref)
        if who not in session["enrolled"]:
            raise UnknownReferenceError("not enrolled in this session", "participant_ref", who)
        if who in session["attended"]:
            raise DuplicateError("attendance already recorded", "participant_ref", who)
        if at < session["starts_at"]:
            raise OutOfRangeError("the session has not started", "at", at.isoformat())
        self._record(
            self.AttendanceRecorded,
            at,
            session_ref=_ref("session_ref", session_ref),
            participant_ref=who,
        )

    def _session(self, session_ref: str) -> dict[str, Any]:
        ref = _ref("session_ref", session_ref)
        try:
            return self.sessions[ref]
        except KeyError:
            raise UnknownReferenceError(
                "no session has this reference", "session_ref", ref
            ) from None

    class Closed(ValleyAggregate.Event):
        RETIRES = True  # nothing may follow it: checked against every fact, late ones too
        reason: str

        def apply(self, aggregate: Service) -> None:
            aggregate.retired = True

    def close(self, reason: str, at: datetime) -> None:
        """Close the service for good."""
        self._record(self.Closed, at, reason=text("reason", reason))
