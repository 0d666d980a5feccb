"""Read models kept up to date from the notification log, with tracking.

Seven projections (:data:`PROJECTIONS`) keep plain SQL tables in the events' own database:
``asset_state``, ``bin_fill_hourly``, ``footfall_hourly``, ``energy_daily``,
``citizen_reports``, ``idea_ranking`` and ``service_occupancy``. Each has one tracking row;
a page of events and the new position commit in one transaction, so every event is applied
exactly once and a projection resumes where it stopped after a crash::

    catch_up(twin)                      # apply what was recorded since the last run
    rebuild(twin, "bin_fill_hourly")    # drop and rebuild one (all, with None)
    status(twin)                        # positions, log head, lag, rows

Module map: ``base`` (what a projection is), ``catalogue`` (which ones), ``sql`` and ``rows``
(tables, dialects, batched reads and writes), ``store`` (tables and tracking on top of the
library's tracking recorders), ``runner`` (pages and transactions), ``status``, ``progress``,
``cli``, ``timebins`` (hours and local days), and one module per view: ``assets``, ``fill``,
``footfall``, ``energy``, ``reports``, ``ideas``, ``services``. Not responsible for queries
over the views (callers read the tables with SQL) nor for the events themselves.
"""

from __future__ import annotations

from twin.projections.base import Projection, ProjectionError
from twin.projections.catalogue import PROJECTIONS
from twin.projections.progress import ProgressBar, StatusLine
from twin.projections.runner import DEFAULT_PAGE_SIZE, Progress, catch_up, follow, rebuild
from twin.projections.status import ProjectionStatus, status
from twin.projections.store import view_store

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "PROJECTIONS",
    "Progress",
    "ProgressBar",
    "Projection",
    "ProjectionError",
    "ProjectionStatus",
    "StatusLine",
    "catch_up",
    "follow",
    "rebuild",
    "status",
    "view_store",
]
