"""The ``service_occupancy`` view: each public service's capacity, places taken and waiting list.

As the events say: places granted (``occupied``) against ``capacity`` with the derived
``occupancy_rate``, requests ``waiting``, and for session-based services the sessions
scheduled, their seats, enrolments and attendances. Requests and participants are counted,
never named. Not responsible for granting places (the domain) nor for queueing models
(the simulation).
"""

from __future__ import annotations

from typing import Any

from domain import Service
from twin.projections.base import CannotApply, Notes, Page, Projection, id_text
from twin.projections.rows import Db, KeyedRows
from twin.projections.sql import Column, Table

SERVICE_OCCUPANCY = Table(
    "service_occupancy",
    (
        Column("service_id", "text"),
        Column("code", "text"),
        Column("name", "text"),
        Column("service_kind", "text"),
        Column("commune_insee", "text"),
        Column("capacity", "int"),
        Column("occupied", "int"),
        Column(
            "occupancy_rate",
            "real",
            generated="CASE WHEN capacity > 0 "
            "THEN CAST(occupied AS DOUBLE PRECISION) / capacity END",
        ),
        Column("waiting", "int"),
        Column("sessions", "int"),
        Column("session_seats", "int"),
        Column("enrolled", "int"),
        Column("attended", "int"),
        Column("closed", "bool"),
        Column("updated_at", "instant"),
    ),
    key=("service_id",),
    indexes=(("code",),),
    fixed=("code", "name", "service_kind", "commune_insee"),
)


class _ServicePage(Page):
    def __init__(self, db: Db, notes: Notes) -> None:
        self.rows = KeyedRows(db, SERVICE_OCCUPANCY)
        self.rows.load([id_text(service_id) for service_id in notes.originator_ids()])

    def _row(self, event: Any) -> dict[str, Any]:
        service_id = id_text(event.originator_id)
        row = self.rows.get(service_id)
        if row is None:
            raise CannotApply(f"service {service_id} has no row: it was never opened")
        row["updated_at"] = event.timestamp
        self.rows.put(service_id, row)
        return row

    def opened(self, event: Any) -> None:
        service_id = id_text(event.originator_id)
        if self.rows.get(service_id) is not None:
            raise CannotApply(f"service {event.code} is opened a second time")
        self.rows.put(
            service_id,
            {
                "service_id": service_id,
                "code": event.code,
                "name": event.name,
                "service_kind": event.service_kind,
                "commune_insee": event.commune_insee,
                "capacity": event.capacity,
                "occupied": 0,
                "waiting": 0,
                "sessions": 0,
                "session_seats": 0,
                "enrolled": 0,
                "attended": 0,
                "closed": False,
                "updated_at": event.timestamp,
            },
        )

    def capacity_changed(self, event: Any) -> None:
        self._row(event)["capacity"] = event.capacity

    def requested(self, event: Any) -> None:
        self._row(event)["waiting"] += 1

    def granted(self, event: Any) -> None:
        row = self._row(event)
        if row["waiting"] < 1:
            raise CannotApply(f"service {row['code']}: a place is granted with nobody waiting")
        row["waiting"] -= 1
        row["occupied"] += 1

    def released(self, event: Any) -> None:
        row = self._row(event)
        if row["occupied"] < 1:
            raise CannotApply(f"service {row['code']}: a place is released with none granted")
        row["occupied"] -= 1

    def session_scheduled(self, event: Any) -> None:
        row = self._row(event)
        row["sessions"] += 1
        row["session_seats"] += event.seats

    def enrolled(self, event: Any) -> None:
        self._row(event)["enrolled"] += 1

    def attended(self, event: Any) -> None:
        self._row(event)["attended"] += 1

    def closed(self, event: Any) -> None:
        self._row(event)["closed"] = True

    def flush(self) -> None:
        self.rows.flush()


class ServiceOccupancy(Projection):
    """Service occupancy and waiting lists."""

    name = "service_occupancy"
    description = "public services: capacity, places taken, waiting list, sessions"
    tables = (SERVICE_OCCUPANCY,)
    page_class = _ServicePage
    handlers = {
        Service.Opened: _ServicePage.opened,
        Service.CapacityChanged: _ServicePage.capacity_changed,
        Service.PlaceRequested: _ServicePage.requested,
        Service.PlaceGranted: _ServicePage.granted,
        Service.PlaceReleased: _ServicePage.released,
        Service.SessionScheduled: _ServicePage.session_scheduled,
        Service.Enrolled: _ServicePage.enrolled,
        Service.AttendanceRecorded: _ServicePage.attended,
        Service.Closed: _ServicePage.closed,
    }
