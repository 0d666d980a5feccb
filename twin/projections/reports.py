"""The ``citizen_reports`` view: each citizen report's category, place and times, never its words.

Per report: its reference, category, the commune it was filed in (from its position) and a
coarse position (the centre of its cell on the privacy layer's grid,
:data:`twin.privacy.REPORT_GRID_M`), its status, when it was filed, acknowledged,
resolved or rejected, and the hours to acknowledgement and to resolution. Nothing personal
is kept: no report text, status note or photo reference (the privacy layer seals those in the
events; this view does not even read them), no citizen id or pseudonym — the row's id is a
one-way hash of the citizen's id and the report's reference. Not responsible for sealing
personal text nor for erasure (:mod:`twin.privacy`).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid5

from domain import Citizen, Position
from domain.ids import VALLEY_NAMESPACE
from twin.geography import Commune, load_geography
from twin.privacy import snap_to_grid
from twin.projections.base import CannotApply, Notes, Page, Projection
from twin.projections.rows import Db, KeyedRows
from twin.projections.sql import Column, Table

_NEXT_STATUS = {"filed": {"acknowledged", "rejected"}, "acknowledged": {"resolved", "rejected"}}

CITIZEN_REPORTS = Table(
    "citizen_reports",
    (
        Column("report_id", "text"),
        Column("report_ref", "text"),
        Column("category", "text"),
        Column("commune_insee", "text"),
        Column("x_coarse", "real"),
        Column("y_coarse", "real"),
        Column("status", "text"),
        Column("filed_at", "instant"),
        Column("acknowledged_at", "instant"),
        Column("resolved_at", "instant"),
        Column("rejected_at", "instant"),
        Column("hours_to_acknowledgement", "real"),
        Column("hours_to_resolution", "real"),
    ),
    key=("report_id",),
    indexes=(("commune_insee",), ("category",), ("status",)),
    fixed=("report_ref", "category", "commune_insee", "x_coarse", "y_coarse", "filed_at"),
)


def report_id(citizen_id: Any, report_ref: str) -> str:
    """The view's id of a report: stable, and not the citizen's id."""
    return str(uuid5(VALLEY_NAMESPACE, f"report/{citizen_id}/{report_ref}"))


def coarse(position: Position, commune: Commune | None) -> Position:
    """The centre of the privacy layer's grid cell holding the place, kept in its commune.

    Places the twin recorded are such centres already (the privacy layer snaps them before
    they reach the domain) and come back unchanged; a finer place, from a log written some
    other way, is coarsened the same way here rather than copied.
    """
    if commune is None:
        return snap_to_grid(position, lambda centre: True)
    geography = load_geography()

    def inside(centre: Position) -> bool:
        found = geography.commune_at(centre)
        return found is not None and found.insee == commune.insee

    return snap_to_grid(position, inside)


def _hours(start: Any, end: Any) -> float:
    hours: float = (end - start).total_seconds() / 3600.0
    return hours


class _ReportPage(Page):
    def __init__(self, db: Db, notes: Notes) -> None:
        self.rows = KeyedRows(db, CITIZEN_REPORTS)
        self.rows.load(
            {report_id(event.originator_id, event.report_ref) for event in notes.events()}
        )

    def filed(self, event: Any) -> None:
        key = report_id(event.originator_id, event.report_ref)
        if self.rows.get(key) is not None:
            raise CannotApply(f"report {event.report_ref} is filed a second time")
        place = Position(event.x_l93, event.y_l93)
        commune = load_geography().commune_at(place)
        kept = coarse(place, commune)
        self.rows.put(
            key,
            {
                "report_id": key,
                "report_ref": event.report_ref,
                "category": event.category,
                "commune_insee": None if commune is None else commune.insee,
                "x_coarse": kept.x,
                "y_coarse": kept.y,
                "status": "filed",
                "filed_at": event.timestamp,
                "acknowledged_at": None,
                "resolved_at": None,
                "rejected_at": None,
                "hours_to_acknowledgement": None,
                "hours_to_resolution": None,
            },
        )

    def status_changed(self, event: Any) -> None:
        key = report_id(event.originator_id, event.report_ref)
        row = self.rows.get(key)
        if row is None:
            raise CannotApply(f"report {event.report_ref} changes status but was never filed")
        if event.status not in _NEXT_STATUS.get(row["status"], set()):
            raise CannotApply(
                f"report {event.report_ref} cannot go from {row['status']} to {event.status}"
            )
        row["status"] = event.status
        row[f"{event.status}_at"] = event.timestamp
        if event.status == "acknowledged":
            row["hours_to_acknowledgement"] = _hours(row["filed_at"], event.timestamp)
        elif event.status == "resolved":
            row["hours_to_resolution"] = _hours(row["filed_at"], event.timestamp)
        self.rows.put(key, row)

    def flush(self) -> None:
        self.rows.flush()


class CitizenReports(Projection):
    """Citizen reports with their time to acknowledgement and resolution."""

    name = "citizen_reports"
    description = "citizen reports: category, commune, coarse position, times (never their text)"
    tables = (CITIZEN_REPORTS,)
    page_class = _ReportPage
    handlers = {
        Citizen.ReportFiled: _ReportPage.filed,
        Citizen.ReportStatusChanged: _ReportPage.status_changed,
    }
