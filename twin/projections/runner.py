"""Keeping projections up to date: read the log a page at a time, apply it, track it, atomically.

One run serves several projections from one read of the log: it reads a page of
notifications after the lowest of their positions (filtered by the union of their topics),
decodes each event once, hands each projection the events after its own position, and
commits every projection's view changes together with its new tracking position in a single
transaction. A crash or Ctrl-C at any moment leaves each projection exactly at the end of
its last committed page, so the next run resumes there and no event is applied twice.

When the log holds nothing more for them, the projections' positions move to the log's head
(read before that last empty page, so nothing at or below it can still appear), which makes
``lag`` in :func:`twin.projections.status` plain arithmetic.

A projection that meets an event it cannot apply is taken out of the run (its page is rolled
back, the others' page is applied again without it); the run finishes the others and then
raises that :class:`ProjectionError`. An event that cannot even be decoded stops the run for
everyone. Another runner moving a position first (two processes following the log, or a
rebuild) is noticed by the store's compare-and-set: this run re-reads the positions and
carries on from there.

A correction or retraction of a fact (see :mod:`twin.projections.base`) is applied where it
stands in the log. The page is cut there: what came before is applied and flushed, then each
projection that applied the amended fact forgets the asset's rows where it lies and applies
the asset's facts recorded up to the amendment again, as they now stand; the rest of the page
follows. Facts recorded after the amendment are not in that replay: the log brings them next.
The asset's history is read from the event store before the page's transaction begins.

Page size trades throughput for lock time: on SQLite a page's transaction holds the
database's only write lock, so while a long backlog is caught up, ingest's commits wait up to
one page (about a second at the default size); ``--page-size`` shortens that. On PostgreSQL
the views' writes lock nothing ingest needs.

The library's ``ProjectionRunner`` follows a subscription and commits one event per
transaction, and its SQLite recorder offers no subscription at all: that is why this module
exists. Not responsible for the views' logic (the projections) nor their tables (the store).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import IntegrityError, Notification, PersistenceError

from domain.history import as_it_stands, latest_amendments
from twin.errors import StoreUnavailableError
from twin.projections.base import (
    CannotApply,
    Handler,
    Notes,
    Page,
    Projection,
    ProjectionError,
    ReplayNotes,
)
from twin.projections.catalogue import select
from twin.projections.store import PositionMoved, ViewStore, view_store

if TYPE_CHECKING:
    import threading

    from twin.application import ValleyTwin
    from twin.projections.rows import Db

DEFAULT_PAGE_SIZE = 50_000  # events per transaction; bench/projections.py measures why this size


@dataclass(frozen=True)
class Progress:
    """Where a run stands, handed to the progress callback after each page."""

    names: tuple[str, ...]
    events: int  # notifications read and applied by this run so far
    position: int  # the lowest position among the run's projections
    start: int  # that lowest position when the run began
    head: int  # the log's last position, as last read
    elapsed: float  # seconds since the run began


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class _Amendment:
    """A correction or retraction in a page, with its asset's history up to it."""

    index: int  # in the page
    notification: Notification
    event: Any
    history: list[Any]  # the asset's events of versions up to the amendment's, recorded order


def catch_up(
    twin: ValleyTwin,
    names: Iterable[str] | None = None,
    progress: ProgressCallback | None = None,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Apply everything recorded since each projection's position; return events applied per name.

    ``names`` chooses projections (all by default). ``stop``, when set, ends the run after
    the page in hand.
    """
    projections = select(names)
    try:
        return _Run(twin, view_store(twin), projections, page_size, progress, stop).run()
    except PersistenceError as error:
        raise StoreUnavailableError(f"projections: the event store failed: {error}") from error


def rebuild(
    twin: ValleyTwin,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Drop a projection's tables (every projection's for None) and build them again from zero."""
    projections = select(None if name is None else [name])
    try:
        view_store(twin).reset(projections)
    except PersistenceError as error:
        raise StoreUnavailableError(f"projections: the event store failed: {error}") from error
    return catch_up(twin, [p.name for p in projections], progress, page_size=page_size, stop=stop)


def follow(
    twin: ValleyTwin,
    names: Iterable[str] | None = None,
    *,
    stop: threading.Event,
    interval: float = 1.0,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: ProgressCallback | None = None,
) -> dict[str, int]:
    """Catch up, then poll the log every ``interval`` seconds until ``stop`` is set."""
    chosen = [p.name for p in select(names)]
    applied = dict.fromkeys(chosen, 0)
    while not stop.is_set():
        for name, count in catch_up(twin, chosen, progress, page_size=page_size, stop=stop).items():
            applied[name] += count
        stop.wait(interval)
    return applied


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a page is decoded, applied and committed.

    A page keeps thousands of freshly decoded events alive at once, and every automatic
    collection would walk them all (a fifth of a rebuild's time); none of them is part of a
    reference cycle, so reference counting frees them when the page is done. Collection
    resumes between pages (and is left alone if someone else had turned it off).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Run:
    """One catch-up of several projections over the same pages."""

    def __init__(
        self,
        twin: ValleyTwin,
        store: ViewStore,
        projections: Sequence[Projection],
        page_size: int,
        progress: ProgressCallback | None,
        stop: threading.Event | None,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        self.twin = twin
        self.store = store
        self.projections = {p.name: p for p in projections}
        self.page_size = page_size
        self.progress = progress
        self.stop = stop
        self.active = list(self.projections)
        self.positions: dict[str, int] = {}
        self.applied = dict.fromkeys(self.projections, 0)
        self.failures: list[ProjectionError] = []
        # Rows of the pages this run committed (see twin.projections.rows), by table and key.
        self.caches: dict[str, dict[str, dict[str, Any]]] = {}
        self._plan()

    def _plan(self) -> None:
        """Which active projections want each topic, and the topics to read."""
        self.wanting: dict[str, list[str]] = {}
        for name in self.active:
            for topic in self.projections[name].topics:
                self.wanting.setdefault(topic, []).append(name)
        self.topics = tuple(sorted(self.wanting))
        self.topic_sets = {name: frozenset(self.projections[name].topics) for name in self.active}
        self.amendment_topics = frozenset(
            topic for name in self.active for topic in self.projections[name].amendment_topics
        )

    def _drop(self, error: ProjectionError) -> None:
        self.failures.append(error)
        self.active.remove(error.projection)
        self._plan()

    def run(self) -> dict[str, int]:
        if not self.projections:
            return {}
        started = time.perf_counter()
        self.positions = self.store.positions(list(self.projections.values()))
        start = min(self.positions.values())
        head = self._head()
        events = 0
        while self.active and not (self.stop is not None and self.stop.is_set()):
            after = min(self.positions[n] for n in self.active)
            page = self.twin.notifications(after, self.page_size, topics=self.topics)
            if not page:
                head = self._head()
                # Read again after the head: anything at or below it is visible now.
                page = self.twin.notifications(after, self.page_size, topics=self.topics)
                if not page:
                    self._advance_to(head)
                    break
            with _cyclic_gc_paused():
                committed = self._commit(self._routes(page), page)
            if committed:
                events += len(page)
            if self.progress is not None:
                head = max(head, self._head())
                self._report(events, start, head, started)
        if self.progress is not None:
            self._report(events, start, head, started)
        if self.failures:
            first = self.failures[0]
            if len(self.failures) > 1:
                others = ", ".join(f.projection for f in self.failures[1:])
                first.args = (f"{first.args[0]} (also stopped: {others})",)
            raise first
        return self.applied

    def _advance_to(self, head: int) -> None:
        """Move the projections behind ``head`` to it: the log holds nothing more for them."""
        behind = [self.projections[n] for n in self.active if self.positions[n] < head]
        if not behind:
            return
        try:
            with self.store.write() as db:
                for projection in behind:
                    self.store.check(db, projection, self.positions[projection.name])
                for projection in behind:
                    self.store.advance(db, projection, head)
        except (PositionMoved, IntegrityError):
            return  # another runner is at work: it will move them
        for projection in behind:
            self.positions[projection.name] = head

    def _report(self, events: int, start: int, head: int, started: float) -> None:
        assert self.progress is not None
        position = min((self.positions[n] for n in self.active), default=head)
        elapsed = time.perf_counter() - started
        self.progress(Progress(tuple(self.projections), events, position, start, head, elapsed))

    def _head(self) -> int:
        return self.twin.recorder.max_notification_id() or 0

    def _routes(self, page: Sequence[Notification]) -> dict[str, list[Notification]]:
        """Which notifications of the page each projection takes (those after its position)."""
        last = page[-1].id
        routes: dict[str, list[Notification]] = {
            n: [] for n in self.active if self.positions[n] < last
        }
        positions = self.positions
        # One pass over the page: a topic's notifications go to the lists of the projections
        # that want it (compared with their positions only when some stand inside the page).
        first = page[0].id
        lists = {
            topic: [(routes[n], positions[n]) for n in names if n in routes]
            for topic, names in self.wanting.items()
        }
        behind = all(positions[n] < first for n in routes)
        for notification in page:
            for notes, position in lists.get(notification.topic, ()):
                if behind or notification.id > position:
                    notes.append(notification)
        return routes

    def _commit(self, routes: dict[str, list[Notification]], page: Sequence[Notification]) -> bool:
        """Apply the routed events and move their projections to the page's end, atomically.

        Events are decoded inside the transaction, each once, and handed straight to the
        projections that take it: a decoded event lives only while it is applied (holding a
        whole page of them cost a fifth more time, in memory traffic). Returns False when
        another runner moved a position first (positions are then re-read).
        """
        last = page[-1].id if page else max(self.positions.values(), default=0)
        while routes:
            try:
                amendments = self._amendments(routes, page)
                with self.store.write() as db:
                    db.caches = self.caches
                    for name in routes:
                        self.store.check(db, self.projections[name], self.positions[name])
                    self._apply(db, routes, page, amendments)
                    for name in routes:
                        self.store.advance(db, self.projections[name], last)
            except ProjectionError as error:
                if error.projection not in routes:
                    raise  # an event no projection can decode: nothing to isolate
                self._drop(error)
                routes.pop(error.projection)
            except (PositionMoved, IntegrityError):
                self.caches.clear()  # another runner wrote these tables: remember nothing
                self.positions.update(
                    self.store.positions([self.projections[n] for n in self.active])
                )
                return False
            else:
                for remember in db.on_commit:
                    remember()
                for name, notes in routes.items():
                    self.positions[name] = last
                    self.applied[name] += len(notes)
                return True
        return True

    def _takes(self, name: str, notification: Notification) -> bool:
        """Whether a projection of this page takes this notification."""
        return (
            notification.topic in self.topic_sets[name] and notification.id > self.positions[name]
        )

    def _amendments(
        self, routes: dict[str, list[Notification]], page: Sequence[Notification]
    ) -> list[_Amendment]:
        """The page's corrections and retractions that some projection takes, each with its
        asset's history up to it (read once per asset, outside the page's transaction)."""
        topics = self.amendment_topics
        if not topics:
            return []
        found = [
            (index, notification)
            for index, notification in enumerate(page)
            if notification.topic in topics
            and any(self._takes(name, notification) for name in routes)
        ]
        if not found:
            return []
        events = [
            (index, notification, self._decode(notification)) for index, notification in found
        ]
        newest: dict[Any, int] = {}
        for _, _, event in events:
            newest[event.originator_id] = max(
                newest.get(event.originator_id, 0), event.originator_version
            )
        histories = {
            aggregate_id: list(self.twin.events.get(aggregate_id, lte=version))
            for aggregate_id, version in newest.items()
        }
        return [
            _Amendment(
                index,
                notification,
                event,
                [
                    fact
                    for fact in histories[event.originator_id]
                    if fact.originator_version <= event.originator_version
                ],
            )
            for index, notification, event in events
        ]

    def _decode(self, notification: Notification) -> Any:
        try:
            return self.twin.mapper.to_domain_event(notification)
        except Exception as error:
            raise _undecodable(notification, self.wanting, error) from error

    def _apply(
        self,
        db: Db,
        routes: dict[str, list[Notification]],
        page: Sequence[Notification],
        amendments: Sequence[_Amendment],
    ) -> None:
        """Apply the page, cut at its amendments: before each, the events up to it; then it."""
        if not amendments:
            self._apply_span(db, routes, page)
            return
        start, after = 0, -1  # the span's first index in the page; the id it comes after
        for amendment in amendments:
            upto = amendment.notification.id
            span = {
                name: [n for n in notes if after < n.id < upto] for name, notes in routes.items()
            }
            self._apply_span(db, span, page[start : amendment.index])
            for name in routes:
                if self._takes(name, amendment.notification):
                    self._amend(db, name, amendment)
            start, after = amendment.index + 1, upto
        rest = {name: [n for n in notes if n.id > after] for name, notes in routes.items()}
        self._apply_span(db, rest, page[start:])

    def _amend(self, db: Db, name: str, amendment: _Amendment) -> None:
        """Make a projection's view as if the amended fact had always been as it now stands.

        When the projection applied the original, it forgets the asset's rows where that fact
        lies and applies again the asset's facts up to the amendment (the amendment included,
        for a projection that applies it too); otherwise it applies the amendment alone, if
        it applies such events at all.
        """
        projection = self.projections[name]
        handlers = projection.handlers
        event = amendment.event
        original = next(
            (f for f in amendment.history if f.originator_version == event.original_version), None
        )
        retracted: set[int] = set()  # ids of the facts handed to the retracted handler
        if original is not None and type(original) in handlers:
            facts = self._as_it_now_stands(projection, amendment.history, retracted)
            kept = projection.forget(db, original, facts)
            db.forget_remembered(projection.tables)
        else:
            kept = [event] if type(event) in handlers else []
        if not kept:
            return
        page = projection.page_class(db, ReplayNotes(kept))
        on_retracted = projection.retracted_handler()
        for fact in kept:
            handler = on_retracted if id(fact) in retracted else handlers[type(fact)]
            assert handler is not None  # retracted facts are kept only for a retracted handler
            try:
                handler(page, fact)
            except Exception as error:
                reason = (
                    str(error)
                    if isinstance(error, CannotApply)
                    else f"{type(error).__name__}: {error}"
                )
                raise ProjectionError(
                    name,
                    amendment.notification.id,
                    amendment.notification.topic,
                    f"applying again version {fact.originator_version} of {fact.originator_id} "
                    f"after the amendment of version {event.original_version}: {reason}",
                ) from error
        page.flush()

    @staticmethod
    def _as_it_now_stands(
        projection: Projection, history: Sequence[Any], retracted: set[int]
    ) -> list[Any]:
        """The events of ``history`` the projection takes, with the amendments in force:
        corrected values in place; retracted facts left out, or kept (their ids added to
        ``retracted``) when the projection has a handler for them."""
        handlers = projection.handlers
        in_force = latest_amendments(history)
        facts = []
        for fact in history:
            if type(fact) not in handlers:
                continue
            standing = as_it_stands(fact, in_force.get(fact.originator_version))
            if standing is None:  # retracted
                if projection.retracted_handler() is None:
                    continue
                retracted.add(id(fact))
                standing = fact
            facts.append(standing)
        return facts

    def _apply_span(
        self, db: Db, routes: dict[str, list[Notification]], page: Sequence[Notification]
    ) -> None:
        to_domain_event = self.twin.mapper.to_domain_event
        decoded: dict[int, Any] = {}  # events a page decoded early to know what to load

        def decode(notification: Notification) -> Any:
            event = decoded.get(notification.id)
            if event is None:
                try:
                    event = decoded[notification.id] = to_domain_event(notification)
                except Exception as error:
                    raise _undecodable(notification, self.wanting, error) from error
            return event

        pages = {
            name: self.projections[name].page_class(db, Notes(notes, decode))
            for name, notes in routes.items()
            if notes
        }
        # Who takes each notification: by topic when every projection stands before the page
        # (the usual case, no comparison per event), else also by position.
        takers_of: dict[str, list[tuple[str, Page, Mapping[type[Any], Handler]]]] = {}
        for name, page_ in pages.items():
            handlers = self.projections[name].handlers
            for topic in self.projections[name].topics:
                takers_of.setdefault(topic, []).append((name, page_, handlers))
        uniform = len({self.positions[name] for name in pages}) <= 1
        for notification in page:
            takers = takers_of.get(notification.topic)
            if not takers:
                continue
            position = notification.id
            if not uniform:
                takers = [t for t in takers if position > self.positions[t[0]]]
                if not takers:
                    continue
            event = decoded.pop(position, None) if decoded else None
            if event is None:
                try:
                    event = to_domain_event(notification)
                except Exception as error:
                    raise _undecodable(notification, self.wanting, error) from error
            for name, page_, handlers in takers:
                try:
                    handlers[type(event)](page_, event)
                except Exception as error:
                    reason = (
                        str(error)
                        if isinstance(error, CannotApply)
                        else f"{type(error).__name__}: {error}"
                    )
                    raise ProjectionError(name, position, notification.topic, reason) from error
        for page_ in pages.values():
            page_.flush()


def _undecodable(
    notification: Notification, wanting: Mapping[str, Sequence[str]], error: Exception
) -> ProjectionError:
    interested = ", ".join(wanting.get(notification.topic, ()))
    return ProjectionError(
        interested, notification.id, notification.topic, f"the event cannot be decoded: {error}"
    )
