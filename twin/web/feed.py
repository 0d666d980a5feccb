"""The live feed: one task follows the log and fans each asset's change out to every open page.

One background task per server, whatever the number of pages: it keeps the map's read models
current (the projections' own ``catch_up``, incremental from their tracked positions), reads
the notifications recorded since its own position (only their originators' ids), re-reads
those assets' rows and hands each page the rows that changed. The whole map lives here once
(one row per asset); each page has a bounded queue. A page that falls behind (its queue full)
loses what was queued and is told to resync (fetch ``/api/assets`` again), so a slow or
forgotten page costs at most its queue. Every ``resweep`` seconds the whole map is marked again
against the valley's clock, so a sensor turning silent shows without any new fact.

Not responsible for HTTP (the app) nor for what a row holds (:mod:`twin.web.assets`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import PersistenceError

from twin.errors import TwinError
from twin.projections import PROJECTIONS, catch_up, view_store
from twin.web.assets import MAP_VIEWS, AssetMarks, valley_clock

if TYPE_CHECKING:
    from twin.application import ValleyTwin

log = logging.getLogger(__name__)
NOTIFICATIONS_PAGE = 5_000
MOST_CHANGES_BY_ID = 2_000
"""Changed aggregates a step reads by id; past that it reads the whole map instead."""
RESYNC = "event: resync\ndata: {}\n\n"


@dataclass
class FeedSettings:
    """How often the feed looks, and how much each page may hold."""

    interval_s: float = 0.25  # a change reaches the pages within about this (plus a read)
    queue_size: int = 512  # changes held per page before it is told to resync
    max_pages: int = 200  # open streams at once; more are refused (503)
    resweep_s: float = 60.0
    keep_views_current: bool = True  # False: another process (`twin projections follow`) does


@dataclass(eq=False)
class Page:
    """One open stream: its bounded queue of SSE messages."""

    queue: asyncio.Queue[str]
    resyncs: int = 0
    delivered: int = field(default=0)


class AssetFeed:
    """The map's live read model and its fan-out (see the module docstring)."""

    def __init__(
        self,
        twin: ValleyTwin,
        marks: AssetMarks | None = None,
        settings: FeedSettings | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.twin = twin
        self.marks = marks or AssetMarks()
        self.settings = settings or FeedSettings()
        self.clock = clock
        self.rows: dict[str, dict[str, Any]] = {}  # by asset code
        self.position = 0  # last notification whose asset changes are in ``rows``
        self.now = datetime.now(UTC)
        self.pages: set[Page] = set()
        self.changes_published = 0
        self.last_error: str | None = None
        self._swept = 0.0

    # ---- the read model (runs in a worker thread) ---------------------------------------
    def _views_position(self) -> int:
        store = view_store(self.twin)
        tracked = store.tracked()
        return int(tracked.get(PROJECTIONS["asset_state"].tracking_name, 0))

    def _keep_current(self) -> None:
        if self.settings.keep_views_current:
            catch_up(self.twin, MAP_VIEWS)
        else:
            view_store(self.twin).ensure([PROJECTIONS[name] for name in MAP_VIEWS])

    def _clock(self, db: Any) -> datetime:
        if self.clock is not None:
            return self.clock()
        return valley_clock(db) or datetime.now(UTC)

    def load(self) -> None:
        """Bring the views up to date and read the whole map once."""
        self._keep_current()
        position = self._views_position()
        with view_store(self.twin).read() as db:
            self.now = self._clock(db)
            rows = self.marks.rows(db, self.now)
        self.rows = {row["code"]: row for row in rows}
        self.position = position
        self._swept = time.monotonic()

    def step(self) -> list[dict[str, Any]]:
        """The rows changed since the last step (the log's new notifications, or a resweep)."""
        self._keep_current()
        target = self._views_position()
        ids: set[str] = set()
        position = self.position
        while position < target:
            page = self.twin.notifications(position, NOTIFICATIONS_PAGE)
            if not page:
                break
            for notification in page:
                if notification.id > target:
                    break
                if len(ids) <= MOST_CHANGES_BY_ID:  # beyond, the map is read whole anyway
                    ids.add(str(notification.originator_id))
            position = min(page[-1].id, target)
        # Past a few thousand changed aggregates (a backlog after the views stood still), one
        # query per change would pass the databases' limits on parameters: read the map whole.
        resweep = (
            time.monotonic() - self._swept >= self.settings.resweep_s
            or len(ids) > MOST_CHANGES_BY_ID
        )
        if not ids and not resweep:
            self.position = target
            return []
        with view_store(self.twin).read() as db:
            self.now = self._clock(db)
            if resweep:
                rows = self.marks.rows(db, self.now)
                self._swept = time.monotonic()
            else:
                rows = self.marks.rows(db, self.now, sorted(ids))
        self.position = target
        # A new dict swapped in whole: the event loop may be reading the old one (/api/assets).
        current = dict(self.rows)
        changed = []
        for row in rows:
            if current.get(row["code"]) != row:
                current[row["code"]] = row
                changed.append(row)
        self.rows = current
        return changed

    # ---- the pages (run in the event loop) ------------------------------------------------
    def open_page(self) -> Page | None:
        """A new page's queue; None when ``max_pages`` are open already."""
        if len(self.pages) >= self.settings.max_pages:
            return None
        page = Page(asyncio.Queue(self.settings.queue_size))
        self.pages.add(page)
        return page

    def close_page(self, page: Page) -> None:
        """Forget a page (its stream ended)."""
        self.pages.discard(page)

    def publish(self, changes: list[dict[str, Any]]) -> None:
        """Queue each change on every page; a full page is emptied and told to resync."""
        messages = [
            f"id: {self.position}\nevent: asset\ndata: {json.dumps(row, separators=(',', ':'))}\n\n"
            for row in changes
        ]
        for page in self.pages:
            for message in messages:
                try:
                    page.queue.put_nowait(message)
                except asyncio.QueueFull:
                    _drain(page.queue)
                    page.queue.put_nowait(RESYNC)
                    page.resyncs += 1
                    break  # the resync brings this change and the rest of the batch
        self.changes_published += len(changes)

    async def run(self) -> None:
        """Follow the log until cancelled: one step in a worker thread, then publish."""
        import anyio.to_thread

        while True:
            try:
                changes = await anyio.to_thread.run_sync(self.step)
                self.last_error = None
            except (TwinError, PersistenceError) as error:
                if self.last_error != str(error):
                    log.warning("live feed: %s (retrying)", error)
                self.last_error = str(error)
                changes = []
            except Exception as error:  # a bug must not end the feed silently: say it, go on
                if self.last_error != repr(error):
                    log.exception("live feed failed; retrying")
                self.last_error = repr(error)
                changes = []
            if changes:
                self.publish(changes)
            await asyncio.sleep(self.settings.interval_s)


def _drain(queue: asyncio.Queue[str]) -> None:
    while not queue.empty():
        queue.get_nowait()
