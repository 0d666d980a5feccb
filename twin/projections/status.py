"""Where each projection stands: its position, the log's head, how far behind, how many rows.

``lag`` counts log positions the projection has not read yet (a run that finds nothing
more for it moves it to the head, so a caught-up projection has lag 0). Preparing missing
tables is the one thing this does to the store (as ``open_twin`` creates the event tables).
Not responsible for moving anything forward (the runner).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import PersistenceError

from twin.errors import StoreUnavailableError
from twin.projections.catalogue import PROJECTIONS
from twin.projections.store import view_store

if TYPE_CHECKING:
    from twin.application import ValleyTwin


@dataclass(frozen=True)
class ProjectionStatus:
    """One projection's standing."""

    name: str
    description: str
    version: int
    position: int
    head: int
    lag: int | None  # None when its tables need a rebuild
    rows: dict[str, int]  # rows per table, the view's own table first
    state: str  # "up to date", "behind", or why it needs a rebuild

    def as_dict(self) -> dict[str, Any]:
        """Plain values, as ``twin projections status --json`` prints them."""
        return asdict(self)


def status(twin: ValleyTwin) -> list[ProjectionStatus]:
    """The standing of every projection, in catalogue order."""
    try:
        store = view_store(twin)
        projections = list(PROJECTIONS.values())
        store.ensure(projections)
        tracked = store.tracked()
        head = twin.recorder.max_notification_id() or 0
        report = []
        for projection in projections:
            rows = {table.name: store.count(table.name) for table in projection.tables}
            position = tracked.get(projection.tracking_name)
            if position is None:
                stale = store.stale(projection, tracked)
                others = [v for a, v in tracked.items() if a.startswith(f"{projection.name}:v")]
                report.append(
                    ProjectionStatus(
                        projection.name,
                        projection.description,
                        projection.version,
                        max(others, default=0),
                        head,
                        None,
                        rows,
                        f"needs a rebuild: {stale.reason}",
                    )
                )
                continue
            lag = max(head - position, 0)
            report.append(
                ProjectionStatus(
                    projection.name,
                    projection.description,
                    projection.version,
                    position,
                    head,
                    lag,
                    rows,
                    "up to date" if lag == 0 else "behind",
                )
            )
        return report
    except PersistenceError as error:
        raise StoreUnavailableError(f"projections: the event store failed: {error}") from error
