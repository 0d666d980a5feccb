"""ValleyTwin: the application over the event store — commands, look-ups, time travel.

Methods are thin: get the aggregate, call its command, save. Misses and store failures are
translated into :mod:`twin.errors`. Not responsible for spatial indexing (:mod:`twin.spatial`),
for building the valley's inventory (:mod:`twin.inventory`) nor for presentation (the CLI).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import BaseAggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Notification, PersistenceError, Recording
from eventsourcing.utils import EnvType, get_topic

from domain import (
    AGGREGATE_CLASSES,
    Beacon,
    Bin,
    Citizen,
    Service,
    Site,
    Truck,
    ValleyAggregate,
)
from domain.history import (
    AMENDMENTS,
    as_it_stands,
    as_they_stand,
    known_by,
    newest_when_recorded,
    rebuild,
)
from domain.ids import normalise_code
from twin import commands
from twin.config import SNAPSHOT_INTERVAL
from twin.errors import AlreadyExistsError, ConcurrentChangeError, InvalidInputError, NotFoundError
from twin.event_rows import EventRows
from twin.events import aggregate_event
from twin.receipts import AppliedReceipt
from twin.storage import Storage, storage_for

A = TypeVar("A", bound=ValleyAggregate)


class ValleyTwin(Application[UUID]):
    """The digital twin of the valley: every asset and citizen, with its whole history."""

    name = "ValleyTwin"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        cls: SNAPSHOT_INTERVAL for cls in AGGREGATE_CLASSES
    }

    def __init__(self, env: EnvType | None = None) -> None:
        """The twin on the store its settings name; its storage wing is chosen here, once."""
        super().__init__(env)
        self.storage: Storage = storage_for(self)
        self.event_rows = EventRows(self.mapper)
        # When a fact is recorded (its transaction time); replaceable for tests and replays.
        self.clock: Callable[[], datetime] = _utc_now

    # ---- saving -------------------------------------------------------------------------
    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Record the pending events of the given aggregates in one transaction.

        Exactly ``Application.save``, except that when handed only aggregates (as the twin
        always does) their events are collected without the library's runtime ``Protocol``
        checks, which cost ~20 µs per object on Python 3.11: about half the time it took to
        save an ingest batch (bin event + receipt per message). Anything else (events,
        ``None``, keyword arguments) goes through the library's own path.
        """
        if kwargs or not all(isinstance(obj, BaseAggregate) for obj in objs):
            return super().save(*objs, **kwargs)
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for aggregate in objs:
            processing_event.events.extend(aggregate.collect_events())
            processing_event.aggregates[aggregate.id] = aggregate
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library's deprecated hook, still called by it
        return recordings

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Stamp each event with the instant it is recorded, then record them.

        The recording time is the store's knowledge, not a fact of the world, so it is no field
        of the domain's events: it travels in the stored event's state beside them and is read
        with :func:`domain.recorded_at`. "As known at" (:meth:`state_at`) rests on it.
        """
        now = self.clock()
        for event in processing_event.events:
            event.__dict__.setdefault("recorded_at", now)
        return super()._record(processing_event)

    def record_batch(
        self,
        aggregates: Iterable[BaseAggregate[UUID]],
        receipts: Iterable[AppliedReceipt | BaseAggregate[UUID]] = (),
    ) -> None:
        """Record the pending events of ``aggregates`` and ``receipts`` in one transaction.

        Ingest's writer: the rows are those :meth:`save` writes, to the byte, but encoded by
        :class:`twin.event_rows.EventRows`, applied receipts written as rows without their aggregates (dead
        letters, rare, are aggregates still),
        and all inserted by one statement (:meth:`Storage.insert_rows`); snapshots are taken as
        ``save`` takes them. Raises the library's ``IntegrityError`` if anything is recorded
        already, and then nothing of it is.
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for aggregate in aggregates:
            processing_event.events.extend(aggregate.collect_events())
            processing_event.aggregates[aggregate.id] = aggregate
        now = self.clock()
        rows = self.event_rows.rows(processing_event.events, now)
        for receipt in receipts:  # in their order: a dead letter may be an aggregate still
            if isinstance(receipt, AppliedReceipt) and self.event_rows.exact:
                rows.append(receipt.row(now))
            elif isinstance(receipt, AppliedReceipt):  # compressed or encrypted: the mapper's
                rows.extend(self.event_rows.rows(receipt.aggregate().collect_events(), now))
            else:
                rows.extend(self.event_rows.rows(receipt.collect_events(), now))
        self.storage.insert_rows(rows)
        self._take_snapshots(processing_event)

    # ---- creating -----------------------------------------------------------------------
    def add(self, *aggregates: ValleyAggregate) -> None:
        """Record new aggregates in one transaction; fail whole if any exists already."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            for aggregate in aggregates:
                if self.exists(aggregate.id):
                    raise AlreadyExistsError(aggregate.KIND, aggregate.code) from None
            raise ConcurrentChangeError("another writer recorded these aggregates first") from None

    def add_missing(self, aggregates: Iterable[ValleyAggregate], batch_size: int = 500) -> int:
        """Record those of ``aggregates`` not yet in the store; return how many were added.

        Each batch is one transaction, so an interrupted run leaves whole batches and a rerun
        completes it without recording anything twice.
        """
        added = 0
        batch: list[ValleyAggregate] = []
        for aggregate in aggregates:
            if not self.exists(aggregate.id):
                batch.append(aggregate)
            if len(batch) >= batch_size:
                self.add(*batch)
                added += len(batch)
                batch = []
        if batch:
            self.add(*batch)
            added += len(batch)
        return added

    # ---- reading ------------------------------------------------------------------------
    def exists(self, aggregate_id: UUID) -> bool:
        """True if an aggregate with this id has been recorded."""
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def latest_version(self, aggregate_id: UUID) -> int | None:
        """The version of the aggregate's newest stored event (None if none): one indexed row."""
        last = self.recorder.select_events(aggregate_id, desc=True, limit=1)
        return last[0].originator_version if last else None

    def get(self, aggregate_class: type[A], code: str) -> A:
        """Return the current state of the aggregate of this class known as ``code``."""
        aggregate = self._get_by_id(aggregate_class.id_for(code), reference=code)
        if not isinstance(aggregate, aggregate_class):
            raise NotFoundError(code)
        return aggregate

    def find(self, reference: str) -> ValleyAggregate:
        """Return the aggregate named by its UUID or by an external code of any kind."""
        return self._get_by_id(self.resolve(reference), reference=reference)

    def resolve(self, reference: str) -> UUID:
        """Return the id of the aggregate named by a UUID or an external code."""
        try:
            candidate = UUID(reference)
        except ValueError:
            pass
        else:
            first = self.recorder.select_events(candidate, limit=1)
            # Only the valley's own aggregates: a receipt's id is a UUID too.
            if first and first[0].topic in {created_topic(c) for c in AGGREGATE_CLASSES}:
                return candidate
        try:
            code = normalise_code("reference", reference)
        except ValueError:
            raise NotFoundError(reference) from None
        for aggregate_class in AGGREGATE_CLASSES:
            aggregate_id = aggregate_class.id_for(code)
            if self.exists(aggregate_id):
                return aggregate_id
        raise NotFoundError(reference)

    def current(self, aggregate_id: UUID) -> ValleyAggregate:
        """The aggregate's current state, corrections applied (the library's replay in recorded
        order cannot apply a correction to a fact recorded before it: such an aggregate's
        history is rebuilt, see :mod:`domain.history`). ``AggregateNotFoundError`` if none."""
        aggregate: object = self.repository.get(aggregate_id)
        assert isinstance(aggregate, ValleyAggregate)
        if aggregate.needs_rebuild:
            rebuilt = rebuild(self.events.get(aggregate_id))
            assert rebuilt is not None
            self._keep_rebuilt(rebuilt)
            return rebuilt
        return aggregate

    def _keep_rebuilt(self, aggregate: ValleyAggregate) -> None:
        """Snapshot an aggregate just rebuilt from its whole history, so that the next loads
        replay from here instead of rebuilding again. A snapshot is a cache: one another
        writer took at the same version first is as good, and a failure loses nothing."""
        snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
        if self.snapshots is None or snapshot_class is None:
            return
        try:
            self.snapshots.put([snapshot_class.take(aggregate)])
        except PersistenceError:
            pass

    def _get_by_id(
        self, aggregate_id: UUID, reference: str, version: int | None = None
    ) -> ValleyAggregate:
        try:
            if version is None:
                return self.current(aggregate_id)
            aggregate: object = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFoundError(reference) from None
        assert isinstance(aggregate, ValleyAggregate)
        return aggregate

    # ---- time travel --------------------------------------------------------------------
    def history(self, aggregate_id: UUID) -> list[DomainEventProtocol[UUID]]:
        """Return every event of the aggregate, oldest first."""
        return list(self.events.get(aggregate_id))

    def version_at(self, aggregate_id: UUID, instant: datetime, low: int = 0) -> int | None:
        """Return the last version recorded while the aggregate's newest fact was dated at or
        before ``instant`` (None if it did not exist yet); ``low``: a version known to be so.

        Every fact of that prefix of the history is dated at or before ``instant``. For an
        aggregate whose facts all came in world-time order it is the state as of ``instant``;
        with late facts, a few recorded after it may be dated before it (see :meth:`state_at`).
        Found by bisection over stored events: O(log n) single-row reads, since the newest
        world time known (:func:`domain.history.newest_when_recorded`) never decreases.
        """
        _check_instant(instant)
        high = self.latest_version(aggregate_id)  # the answer lies in [low, high]
        if high is None:
            raise NotFoundError(str(aggregate_id))
        while low < high:
            middle = (low + high + 1) // 2
            if self._newest_when_recorded(aggregate_id, middle) <= instant:
                low = middle
            else:
                high = middle - 1
        return low or None

    def state_at(
        self, aggregate_id: UUID, instant: datetime, known_at: datetime | None = None
    ) -> ValleyAggregate | None:
        """Return the aggregate as the facts dated at or before ``instant`` say, whatever order
        they arrived in, corrections applied; None before it existed.

        ``known_at``: as the twin knew it at that recording instant (before later facts,
        late ones and corrections arrived), for audits. Facts in world-time order, never
        amended (the usual case): by bisection and the nearest snapshot. Otherwise the
        aggregate's history is rebuilt (:func:`domain.history.rebuild`): linear in its length.
        """
        _check_instant(instant)
        if known_at is not None:
            _check_instant(known_at, "known_at")
        else:
            try:
                raw: ValleyAggregate = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                raise NotFoundError(str(aggregate_id)) from None
            if raw.complete and not raw.amendments and not raw._unmarked_late:
                travelled = self._travel(aggregate_id, instant, raw._max_lateness_s)
                if travelled is None or travelled.complete:
                    return travelled
        history = list(self.events.get(aggregate_id))
        if not history:
            raise NotFoundError(str(aggregate_id))
        return rebuild(history, as_of=instant, known_at=known_at)

    def _travel(
        self, aggregate_id: UUID, instant: datetime, max_lateness_s: float
    ) -> ValleyAggregate | None:
        """The state as of ``instant`` without replaying the whole history.

        The prefix recorded while every fact was dated at or before ``instant`` comes from the
        nearest snapshot; then the only facts that can still belong are late ones recorded
        after it, and a late fact is recorded at most ``max_lateness_s`` behind the newest:
        they lie in the versions recorded before the newest fact passed ``instant`` plus that
        bound, found by a second bisection and read in one range. Flat in the history's
        length when lateness is bounded; a backfill far behind costs what it spans.
        """
        version = self.version_at(aggregate_id, instant)
        if version is None:
            return None
        state = self._get_by_id(aggregate_id, reference=str(aggregate_id), version=version)
        if not max_lateness_s:
            return state
        horizon = instant + timedelta(seconds=max_lateness_s)
        last = self.version_at(aggregate_id, horizon, low=version) or version
        if last > version:
            for stored in self.recorder.select_events(aggregate_id, gt=version, lte=last):
                fact = aggregate_event(self.mapper.to_domain_event(stored))
                if fact.timestamp <= instant:
                    cast("ValleyAggregate.Event", fact).fold_onto(state)
        return state

    def _newest_when_recorded(self, aggregate_id: UUID, version: int) -> datetime:
        (stored,) = self.recorder.select_events(aggregate_id, gt=version - 1, lte=version)
        return newest_when_recorded(self.mapper.to_domain_event(stored))

    # ---- changing -----------------------------------------------------------------------
    def change(self, aggregate_class: type[A], code: str, command: Callable[[A], Any]) -> A:
        """Load an aggregate, run one command on it and save what it recorded."""
        aggregate = self.get(aggregate_class, code)
        command(aggregate)
        try:
            self.save(aggregate)
        except IntegrityError:
            raise ConcurrentChangeError(
                f"{aggregate.KIND} {aggregate.code} was changed by another writer; retry"
            ) from None
        return aggregate

    def measure_fill_level(self, bin_code: str, fill_percent: float, at: datetime) -> Bin:
        """Record a bin's fill level."""
        return self._command(
            lambda twin: commands.measure_fill_level(twin, bin_code, fill_percent, at)
        )

    def empty_bin(self, bin_code: str, round_id: str, mass_kg: float, at: datetime) -> Bin:
        """Record a bin emptied by a collection round."""
        return self._command(lambda twin: commands.empty_bin(twin, bin_code, round_id, mass_kg, at))

    def count_footfall(
        self, beacon_code: str, start: datetime, end: datetime, count: int
    ) -> Beacon:
        """Record a beacon's footfall count over an interval."""
        return self._command(
            lambda twin: commands.count_footfall(twin, beacon_code, start, end, count)
        )

    def meter_energy(self, site_code: str, index_kwh: float, at: datetime) -> Site:
        """Record a site's cumulative energy index."""
        return self._command(lambda twin: commands.meter_energy(twin, site_code, index_kwh, at))

    def correct_fact(
        self,
        asset_code: str,
        changes: Mapping[str, object],
        by: str,
        reason: str,
        *,
        version: int | None = None,
        message: str | None = None,
    ) -> ValleyAggregate:
        """Correct an asset's earlier fact, named by its version or its wire message."""
        return self._command(
            lambda twin: commands.correct_fact(
                twin, asset_code, changes, by, reason, version=version, message=message
            )
        )

    def retract_fact(
        self,
        asset_code: str,
        by: str,
        reason: str,
        *,
        version: int | None = None,
        message: str | None = None,
    ) -> ValleyAggregate:
        """Withdraw an asset's earlier fact, named by its version or its wire message."""
        return self._command(
            lambda twin: commands.retract_fact(
                twin, asset_code, by, reason, version=version, message=message
            )
        )

    def recorded_facts(self, aggregate: ValleyAggregate) -> list[Any]:
        """Every event of ``aggregate``, stored then pending, for a command
        (:class:`twin.commands.RecordedAggregates`)."""
        return [*self.events.get(aggregate.id), *aggregate.pending_events]

    def load(self, aggregate_class: type[A], code: str) -> A:
        """The aggregate of this class and code, for a command (:class:`twin.commands.Aggregates`)."""
        return self.get(aggregate_class, code)

    def create(self, aggregate: ValleyAggregate) -> None:
        """Record a new aggregate at once, for a command (:class:`twin.commands.Aggregates`)."""
        self.add(aggregate)

    def _command(self, command: Callable[[ValleyTwin], A]) -> A:
        """Run one of :mod:`twin.commands` on this twin and save what it recorded."""
        aggregate = command(self)
        try:
            self.save(aggregate)
        except IntegrityError:
            raise ConcurrentChangeError(
                f"{aggregate.KIND} {aggregate.code} was changed by another writer; retry"
            ) from None
        return aggregate

    # ---- the log ------------------------------------------------------------------------
    def notifications(
        self, after: int, limit: int, topics: Sequence[str] = ()
    ) -> Sequence[Notification]:
        """Return up to ``limit`` notifications recorded after position ``after``."""
        return self.recorder.select_notifications(
            start=after, limit=limit, topics=topics, inclusive_of_start=False
        )

    def domain_events(
        self, topics: Sequence[str] = (), after: int = 0, page_size: int = 1_000
    ) -> Iterator[DomainEventProtocol[UUID]]:
        """Every event of the log in its total order (optionally only these topics), streamed.

        Reads ``page_size`` notifications at a time, so memory stays flat however long the log:
        this is how the simulation and the read models are handed history.
        """
        while page := self.notifications(after, page_size, topics=topics):
            for notification in page:
                yield self.mapper.to_domain_event(notification)
            after = page[-1].id

    def facts(
        self,
        topics: Sequence[str] = (),
        known_at: datetime | None = None,
        page_size: int = 1_000,
    ) -> Iterator[DomainEventProtocol[UUID]]:
        """The log's facts in recorded order (optionally only these topics), as they now stand:
        corrected values in place, retracted facts left out, the amendments themselves not
        yielded. ``known_at``: as they stood at that recording instant (later facts and
        amendments left out). What replays, exports and scenarios read; streamed.
        """
        if known_at is not None:
            _check_instant(known_at, "known_at")
        amendments = self._amendments(known_at)
        for event in self.domain_events(topics, page_size=page_size):
            if isinstance(event, AMENDMENTS) or not known_by(event, known_at):
                continue
            fact = as_it_stands(
                event, amendments.get((event.originator_id, event.originator_version))
            )
            if fact is not None:
                yield fact

    def facts_of(
        self, aggregate_id: UUID, known_at: datetime | None = None
    ) -> list[DomainEventProtocol[UUID]]:
        """One aggregate's facts as they now stand (see :meth:`facts`), oldest recorded first."""
        return as_they_stand(
            event for event in self.events.get(aggregate_id) if known_by(event, known_at)
        )

    def _amendments(self, known_at: datetime | None) -> dict[tuple[UUID, int], Any]:
        """The amendment in force for each amended fact (the last recorded by ``known_at``)."""
        in_force: dict[tuple[UUID, int], Any] = {}
        for amendment in self.domain_events(AMENDMENT_TOPICS):
            if not known_by(amendment, known_at):
                continue
            in_force[(amendment.originator_id, amendment.original_version)] = amendment  # type: ignore[attr-defined]
        return in_force

    def recently_active_ids(
        self, limit: int, budget_s: float, page_size: int = 20_000
    ) -> tuple[list[UUID], bool]:
        """The assets and citizens with the newest facts, most recent first, at most ``limit``;
        and whether the time ran out before the log's start or ``limit`` was reached.

        The log is read backwards a page at a time, for about ``budget_s`` seconds at most: a
        year of a département is over a hundred million rows, and its last day names nearly
        every asset that sends anything.
        """
        prefixes = tuple(f"{get_topic(c)}." for c in AGGREGATE_CLASSES)
        deadline = time.monotonic() + budget_s
        seen: dict[UUID, None] = {}
        high = self.recorder.max_notification_id() or 0
        while high > 0 and len(seen) < limit:
            if time.monotonic() > deadline:
                return list(seen), True
            low = max(1, high - page_size + 1)
            page = self.recorder.select_notifications(start=low, limit=page_size, stop=high)
            for notification in reversed(page):
                if notification.topic.startswith(prefixes):
                    seen.setdefault(UUID(str(notification.originator_id)))
            high = low - 1
        return list(seen)[:limit], False

    def count_by_kind(self) -> dict[str, int]:
        """Count the aggregates of each kind recorded in the store."""
        counts = dict.fromkeys((c.KIND for c in AGGREGATE_CLASSES), 0)
        created_topics = {created_topic(c): c.KIND for c in AGGREGATE_CLASSES}
        after = 0
        while batch := self.notifications(after, 5_000, topics=tuple(created_topics)):
            for notification in batch:
                counts[created_topics[notification.topic]] += 1
            after = batch[-1].id
        return counts


AMENDMENT_TOPICS: tuple[str, ...] = tuple(
    get_topic(getattr(aggregate_class, amendment.__name__))
    for aggregate_class in AGGREGATE_CLASSES
    for amendment in AMENDMENTS
)


def created_topic(aggregate_class: type[ValleyAggregate]) -> str:
    """Return the stored topic of the event that creates aggregates of this class."""
    created = {
        Bin: Bin.Installed,
        Beacon: Beacon.Installed,
        Site: Site.Registered,
        Service: Service.Opened,
        Citizen: Citizen.Registered,
        Truck: Truck.Registered,
    }[aggregate_class]
    return get_topic(created)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _check_instant(instant: datetime, field: str = "instant") -> None:
    if instant.tzinfo is None:
        raise InvalidInputError(field, instant.isoformat(), "a timezone-aware instant")
