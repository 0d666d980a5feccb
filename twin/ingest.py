"""Ingest: wire messages in, domain commands applied, committed in batches, replies out.

One batch is one transaction: the events every valid message caused, a receipt per message
(so a resent message is recognised and changes nothing), and a dead letter for every refused
one. Replies are produced only after that transaction commits: acknowledged means durable.
Anything that goes wrong with one message — bytes that are not msgpack, a broken domain rule,
an unknown asset, even a bug in a handler — becomes that message's dead letter; the batch is
retried message by message so the others still land. Citizens' personal text is sealed with
their own key before it reaches the domain, and a refused citizen's message is kept sealed
too, its reason without the values (:mod:`twin.citizens`). Not responsible for sockets
(:mod:`twin.ingest_server`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, PersistenceError

from adapters.wire import (
    Envelope,
    Reply,
    WireError,
    decode,
    from_epoch_ms,
    parse_tips,
    peek_identity,
)
from domain import Bin, DomainError, Site, ValleyAggregate
from domain.history import as_they_stand
from twin import citizens, commands
from twin.application import ValleyTwin
from twin.dead_letter_bounds import (
    DEAD_LETTER_LIMITS,
    OTHER_SOURCES,
    SHOWN_SOURCES,
    BoundedCounter,
    DeadLetterBudget,
    kept_raw,
    reason_category,
)
from twin.errors import AlreadyExistsError, NotFoundError, TwinError
from twin.events import aggregate_event
from twin.geography import Geography
from twin.key_scope import UNLIMITED, KeyScope
from twin.plausibility import Plausibility
from twin.privacy import CitizenKeys, is_token
from twin.receipts import AppliedReceipt, MessageReceipt, raw_receipt_id, receipt_id

log = logging.getLogger(__name__)
A = TypeVar("A", bound=ValleyAggregate)
UNKNOWN_SOURCE = "unknown"


@dataclass(frozen=True)
class Incoming:
    """A frame as it arrived, with the name bound to the sender's key (None in plain text).

    ``framing_error`` is set by the transport when the message was not one frame.
    """

    raw: bytes
    peer: str | None = None
    framing_error: str | None = None
    scope: KeyScope = UNLIMITED
    """What the sender's key may write (its allow-list line); unlimited in plain text."""


@dataclass
class IngestStats:
    """Counters of one ingest process."""

    received: int = 0
    committed: int = 0
    duplicates: int = 0
    # By reason category (:func:`twin.dead_letter_bounds.reason_category`), never sender text.
    rejected: Counter[str] = field(default_factory=BoundedCounter)
    batches: int = 0
    store_errors: int = 0
    # Messages found already stored when a batch was looked up (resends after a restart).
    duplicates_looked_up: int = 0
    batch_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=1_000))
    commit_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1_000))
    # Refused and answered but not stored, over a source's dead-letter allowance; by source.
    dead_letters_dropped: Counter[str] = field(
        default_factory=lambda: BoundedCounter(SHOWN_SOURCES, OTHER_SOURCES)
    )
    dead_letters_truncated: int = 0
    # Refusals made on a cached aggregate another writer had changed, judged again on the store.
    stale_refusals_rejudged: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain values, with percentiles over the last 1,000 batches."""
        return {
            "received": self.received,
            "committed": self.committed,
            "duplicates": self.duplicates,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(self.rejected.most_common()),
            "dead_letters_dropped": sum(self.dead_letters_dropped.values()),
            "dead_letters_dropped_by_source": dict(self.dead_letters_dropped.most_common()),
            "dead_letters_truncated": self.dead_letters_truncated,
            "dead_letter_limits": DEAD_LETTER_LIMITS,
            "batches": self.batches,
            "store_errors": self.store_errors,
            "stale_refusals_rejudged": self.stale_refusals_rejudged,
            "batch_size": _summary(list(self.batch_sizes)),
            "commit_latency_ms": _summary(list(self.commit_ms)),
        }


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "mean": round(sum(ordered) / len(ordered), 3),
        "p50": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
    }


class _Batch:
    """The aggregates one batch touches, loaded once and saved together."""

    def __init__(
        self,
        twin: ValleyTwin,
        cache: OrderedDict[UUID, Aggregate],
        ids: dict[type, dict[str, UUID]],
        keys: CitizenKeys,
        plausibility: Plausibility,
    ) -> None:
        self.twin = twin
        self.keys = keys
        self.plausibility = plausibility
        self.cache = cache
        self.ids = (
            ids  # class -> code -> id of the aggregate, found before: deriving one costs a UUID5
        )
        self.touched: dict[UUID, Aggregate] = {}
        # What the message in hand was given: each aggregate with its count of pending events
        # when handed over, and which of them the batch had not touched before. Kept per
        # message so that checking a refused command costs what the message touched, not
        # what the whole batch touched.
        self._handed: dict[UUID, int] = {}
        self._fresh: list[UUID] = []
        # What this batch read from the store, or found current there: the rest of what it
        # holds was served from memory, which another writer may have moved on since.
        self._checked: set[UUID] = set()

    def begin_message(self) -> None:
        self._handed = {}
        self._fresh = []

    def recorded_for_message(self) -> bool:
        """True if the message in hand made any aggregate record an event."""
        return any(
            len(self.touched[aggregate_id].pending_events) != count
            for aggregate_id, count in self._handed.items()
            if aggregate_id in self.touched
        )

    def forget_fresh(self) -> None:
        """Stop touching what only the message in hand loaded (a refused command records nothing).

        What it loaded is kept in the cache all the same: it holds only committed facts, and
        a key sending refused readings a second must not cost a store read each.
        """
        for aggregate_id in self._fresh:
            aggregate = self.touched.pop(aggregate_id, None)
            if aggregate is not None and not aggregate.pending_events:
                self.cache[aggregate_id] = aggregate

    def stale_from_memory(self) -> list[UUID]:
        """What the message in hand was served from memory that the store holds newer facts of.

        Another writer (an ingest worker of another shard, the desk, an import) may have
        recorded facts since this process cached an aggregate. A command that changes it fails
        at the commit and is judged again; one that only read it (a vote reads the idea's
        author) or was refused must be checked here, one indexed row per aggregate not read or
        checked in this batch yet, so that a refusal is never made on an outdated state.
        """
        stale: list[UUID] = []
        for aggregate_id in self._handed:
            aggregate = self.touched.get(aggregate_id)
            if aggregate is None or aggregate.pending_events or aggregate_id in self._checked:
                continue  # pending events: the commit checks their versions
            if self.twin.latest_version(aggregate_id) == aggregate.version:
                self._checked.add(aggregate_id)
            else:
                stale.append(aggregate_id)
        return stale

    def drop(self, aggregate_ids: Iterable[UUID]) -> None:
        """Forget these aggregates, in this batch and in the cache: the next load reads the store."""
        for aggregate_id in aggregate_ids:
            self.touched.pop(aggregate_id, None)
            self.cache.pop(aggregate_id, None)

    def _hand(self, aggregate_id: UUID, aggregate: Aggregate, pending: int) -> None:
        if aggregate_id not in self._handed:
            self._handed[aggregate_id] = pending
            if aggregate_id not in self.touched:
                self._fresh.append(aggregate_id)
        self.touched[aggregate_id] = aggregate

    def load(self, aggregate_class: type[A], code: str) -> A:
        known = self.ids.setdefault(aggregate_class, {})
        aggregate_id = known.get(code) or aggregate_class.id_for(code)
        aggregate = self.touched.get(aggregate_id) or self.cache.get(aggregate_id)
        if aggregate is None:
            try:
                aggregate = self.twin.current(aggregate_id)
            except AggregateNotFoundError:
                raise NotFoundError(code) from None
            self._checked.add(aggregate_id)
        if not isinstance(aggregate, aggregate_class):
            raise NotFoundError(code)
        known[code] = aggregate.id  # the aggregate's own UUID: no extra object for the collector
        self._hand(aggregate_id, aggregate, len(aggregate.pending_events))
        return aggregate

    def recorded_facts(self, aggregate: ValleyAggregate) -> list[Any]:
        """Every event of ``aggregate``, committed then pending in this batch."""
        return self.twin.recorded_facts(aggregate)

    def stamp(self, message: str) -> None:
        """Mark the facts the message in hand recorded with it ("SOURCE/MESSAGE_ID"), so that a
        correction can name them by it; it is stored with them, beside their fields."""
        for aggregate_id, count in self._handed.items():
            aggregate = self.touched.get(aggregate_id)
            if aggregate is not None:
                for event in aggregate.pending_events[count:]:
                    vars(event).setdefault("message", message)

    def create(self, aggregate: ValleyAggregate) -> None:
        if (
            aggregate.id in self.touched
            or aggregate.id in self.cache
            or self.twin.exists(aggregate.id)
        ):
            raise AlreadyExistsError(aggregate.KIND, aggregate.code)
        self._hand(aggregate.id, aggregate, 0)  # its creation counts as recorded by this message


Handler = Callable[[_Batch, Envelope, Geography], None]


def _bin_fill(batch: _Batch, message: Envelope, _: Geography) -> None:
    bin_ = batch.load(Bin, message.asset)
    at = message.observed_at
    late = bin_.fill_measured_at is not None and at <= bin_.fill_measured_at
    before = _fill_before(batch, bin_, at) if late else None
    batch.plausibility.check_fill(bin_, message.body["fill_percent"], at, before)
    commands.measure_fill_level(
        batch,
        message.asset,
        message.body["fill_percent"],
        message.observed_at,
        message.device,
        distance_mm=message.body.get("distance_mm"),
    )


def _fill_before(batch: _Batch, bin_: Bin, at: datetime) -> tuple[float, datetime] | None:
    """The bin's fill just before ``at`` in world time (a lift empties it): a late reading is
    judged against it. Reads the bin's history as it stands (corrections in place, retracted
    readings left out): late readings are the exception."""
    found: tuple[float, datetime] | None = None
    for stored in as_they_stand(batch.recorded_facts(bin_)):
        fact = aggregate_event(stored)
        if fact.timestamp >= at or (found is not None and fact.timestamp < found[1]):
            continue
        if isinstance(fact, Bin.FillLevelMeasured):
            found = (fact.fill_percent, fact.timestamp)
        elif isinstance(fact, Bin.Emptied):
            found = (0.0, fact.timestamp)
    return found


def _footfall(batch: _Batch, message: Envelope, _: Geography) -> None:
    start = from_epoch_ms(message.body["interval_start"])
    commands.count_footfall(batch, message.asset, start, message.observed_at, message.body["count"])


def _energy(batch: _Batch, message: Envelope, _: Geography) -> None:
    site = batch.load(Site, message.asset)
    at, index = message.observed_at, message.body["index_kwh"]
    before = commands.meter_neighbours(batch, site, at).before if site.reads_late(at) else None
    batch.plausibility.check_index(site, index, at, before)
    commands.meter_energy(batch, message.asset, index, at)


def _meter_replaced(batch: _Batch, message: Envelope, _: Geography) -> None:
    body = message.body
    commands.replace_meter(
        batch, message.asset, body["final_index_kwh"], body["new_index_kwh"], message.observed_at
    )


def _emptied(batch: _Batch, message: Envelope, _: Geography) -> None:
    body = message.body
    commands.empty_bin(batch, message.asset, body["round_id"], body["mass_kg"], message.observed_at)


def _report_status(batch: _Batch, message: Envelope, _: Geography) -> None:
    body = message.body
    commands.move_report(
        batch,
        batch.keys,
        message.asset,
        body["report_ref"],
        body["status"],
        message.observed_at,
        body.get("note", ""),
    )


def _vote(batch: _Batch, message: Envelope, _: Geography) -> None:
    body = message.body
    commands.vote_idea(batch, message.asset, body["author"], body["idea_ref"], message.observed_at)


def _place(batch: _Batch, message: Envelope, _: Geography) -> None:
    body = message.body
    commands.move_place(
        batch, message.asset, body["request_ref"], body["action"], message.observed_at
    )


def _session(batch: _Batch, message: Envelope, _: Geography) -> None:
    body = message.body
    commands.schedule_session(
        batch,
        message.asset,
        body["session_ref"],
        from_epoch_ms(body["starts_at"]),
        body["seats"],
        message.observed_at,
    )


def _attendance(batch: _Batch, message: Envelope, _: Geography) -> None:
    body = message.body
    commands.record_participation(
        batch,
        message.asset,
        body["session_ref"],
        body["participant_ref"],
        body["action"],
        message.observed_at,
    )


def _occupancy(batch: _Batch, message: Envelope, _: Geography) -> None:
    commands.count_occupancy(batch, message.asset, message.body["occupancy"], message.observed_at)


def _tour(batch: _Batch, message: Envelope, geography: Geography) -> None:
    body = message.body
    commands.record_tour(
        batch,
        geography,
        message.asset,
        round_id=body["round_id"],
        stream=body["stream"],
        started_at=from_epoch_ms(body["started_at"]),
        ended_at=message.observed_at,
        km=body.get("km"),
        odometer_start_km=body.get("odometer_start_km"),
        odometer_end_km=body.get("odometer_end_km"),
        tips=[(site, from_epoch_ms(ms), tonnes) for site, ms, tonnes in _tips(body)],
        depot_insee=body.get("depot_insee"),
    )


def _tips(body: dict[str, Any]) -> list[tuple[str, int, float]]:
    """A tour's tip tickets (the codec checked their grammar already)."""
    return parse_tips(body["tips"]) if "tips" in body else []


def _citizen_register(batch: _Batch, message: Envelope, geography: Geography) -> None:
    commands.register_citizen(
        batch, geography, message.asset, message.body["commune_insee"], message.observed_at
    )


def _citizen_report(batch: _Batch, message: Envelope, geography: Geography) -> None:
    body = message.body
    commands.file_report(
        batch,
        batch.keys,
        geography,
        message.asset,
        body["report_ref"],
        body["category"],
        body["lon"],
        body["lat"],
        body["text"],
        message.observed_at,
        photo_ref=body.get("photo_ref"),
    )


def _citizen_idea(batch: _Batch, message: Envelope, _: Geography) -> None:
    body = message.body
    commands.submit_idea(
        batch,
        batch.keys,
        message.asset,
        body["idea_ref"],
        body["title"],
        body["text"],
        message.observed_at,
    )


def _original(message: Envelope) -> dict[str, Any]:
    """Which fact a correction or retraction names: its version, or the message that brought
    it ("SOURCE/MESSAGE_ID"; a bare id is one of the correcting source's own messages)."""
    body = message.body
    named = body.get("original_message")
    if isinstance(named, str) and "/" not in named:
        named = f"{message.source}/{named}"
    return {"version": body.get("original_version"), "message": named}


def _correct(batch: _Batch, message: Envelope, _: Geography) -> None:
    body = message.body
    commands.correct_fact(
        batch,
        message.asset,
        {body["field"]: body["value"]},
        body["by"],
        body["reason"],
        **_original(message),
    )


def _retract(batch: _Batch, message: Envelope, _: Geography) -> None:
    body = message.body
    commands.retract_fact(batch, message.asset, body["by"], body["reason"], **_original(message))


def _battery(batch: _Batch, message: Envelope, _: Geography) -> None:
    commands.report_battery(
        batch, message.asset, message.body["battery_percent"], message.observed_at, message.device
    )


def _fault(batch: _Batch, message: Envelope, _: Geography) -> None:
    commands.report_sensor_fault(
        batch, message.asset, message.body["fault"], message.observed_at, message.device
    )


HANDLERS: dict[str, Handler] = {
    "bin.fill": _bin_fill,
    "footfall.count": _footfall,
    "site.energy": _energy,
    "site.meter_replaced": _meter_replaced,
    "fact.correct": _correct,
    "fact.retract": _retract,
    "citizen.register": _citizen_register,
    "citizen.report": _citizen_report,
    "citizen.idea": _citizen_idea,
    "device.battery": _battery,
    "device.fault": _fault,
    "bin.emptied": _emptied,
    "citizen.report_status": _report_status,
    "citizen.vote": _vote,
    "service.place": _place,
    "service.session": _session,
    "service.attendance": _attendance,
    "site.occupancy": _occupancy,
    "truck.tour": _tour,
}


WARM_UP_BUDGET_S = 20.0
"""At most this long is spent loading the store's recent aggregates before ingest listens."""

RESEND_WATCH_BATCHES = 20
"""Batches looked up in the store at once before being applied, after start-up or a resend.

A restarted ingest meets resent windows first. Applied optimistically, each resent message would
be handled in full (a reading older than its bin's newest is a late fact, judged against the
store) before the commit fails on its receipt; one query for the whole batch avoids that. Once
this many batches in a row held no resend, batches go straight to the optimistic commit again.
"""


class IngestProcessor:
    """Turns batches of frames into committed events and replies.

    Whether a message was handled before is known without asking the store for each one: a
    receipt's id is unique in the store, so a batch is first committed optimistically, with
    only the receipts this process has committed recently checked in memory. Should any
    receipt be in the store already (a resend after a restart, another ingest worker), the
    commit fails as a whole and the batch is handled again, looking every receipt up.
    """

    def __init__(
        self,
        twin: ValleyTwin,
        geography: Geography,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache_size: int = 100_000,
        remembered_receipts: int = 100_000,  # ~200 bytes each
        plausibility: Plausibility | None = None,
    ) -> None:
        self.twin = twin
        self.plausibility = plausibility or Plausibility()
        self.geography = geography
        self.clock = clock
        self.cache_size = cache_size
        self.remembered_receipts = remembered_receipts
        self.stats = IngestStats()
        self.dead_letter_budget = DeadLetterBudget()
        self.keys = CitizenKeys(twin)
        self._cache: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._ids: dict[type, dict[str, UUID]] = {}
        # Receipts this process committed, most recent last: id -> reason (None if applied).
        # Keyed by the id's integer: ints are not tracked by the garbage collector, UUIDs are
        # (100,000 UUID keys add ~13 ms to every full collection, the same ints ~5 ms).
        self._committed: OrderedDict[int, str | None] = OrderedDict()
        # Receipt ids of the batch in hand that the store was asked about and does not hold.
        self._absent: frozenset[int] = frozenset()
        # While positive, batches are looked up in the store before they are applied: a fresh
        # process, or one that just met a resend, expects more (see RESEND_WATCH_BATCHES).
        self._resends_expected = RESEND_WATCH_BATCHES

    def warm_up(self, budget_s: float = WARM_UP_BUDGET_S) -> int:
        """Load the assets and citizens with the newest facts into the cache (at most
        ``cache_size``, for about ``budget_s`` seconds: half to find them, the rest to load
        them); return how many. Called before ingest listens: the first reading of each asset
        then costs no store read on the reply path (a cold bin is a quarter of a millisecond,
        and a batch of first readings made most of ingest's slowest replies). What the budget
        leaves out is read on its first message."""
        deadline = time.monotonic() + budget_s
        ids, out_of_time = self.twin.recently_active_ids(self.cache_size, budget_s / 2)
        loaded: list[tuple[UUID, Aggregate]] = []
        for aggregate_id in ids:
            if time.monotonic() > deadline:
                out_of_time = True
                break
            if aggregate_id not in self._cache:
                try:
                    loaded.append((aggregate_id, self.twin.current(aggregate_id)))
                except AggregateNotFoundError:
                    continue
        for aggregate_id, aggregate in reversed(loaded):  # the most recent evicted last
            self._cache[aggregate_id] = aggregate
        if out_of_time:
            log.info(
                "warm-up stopped after %.0f s with %d aggregates loaded; the others are read on "
                "their first message",
                budget_s,
                len(loaded),
            )
        return len(loaded)

    def process(self, messages: Sequence[Incoming]) -> list[Reply | None]:
        """Handle a batch; return one reply per message (None: not committed, the sender resends)."""
        self.stats.received += len(messages)
        return self._process(messages, look_up=self._resends_expected > 0)

    def _process(self, messages: Sequence[Incoming], look_up: bool) -> list[Reply | None]:
        try:
            return self._commit(messages, look_up=look_up)
        except IntegrityError:
            # A receipt or an event was recorded first, by this process earlier (a resend) or
            # by another writer. Nothing of the batch was committed; what it loaded is dropped.
            self._resends_expected = RESEND_WATCH_BATCHES
            if not look_up:
                return self._process(messages, look_up=True)
            # Still refused with every receipt looked up: another writer is racing this one.
        except PersistenceError as error:
            # What the batch touched was dropped from the cache; the rest holds committed facts
            # only, and is kept: a store that failed for a minute must not cost a cold restart.
            self.stats.store_errors += 1
            log.error("event store failed, nothing acknowledged: %s", error)
            return [None] * len(messages)
        except Exception:  # a bug in a handler must not kill ingest nor sink the batch
            log.exception("unexpected error in a batch of %d; retrying one by one", len(messages))
            self._cache.clear()
        if len(messages) == 1:
            return [self._isolate(messages[0])]
        replies: list[Reply | None] = []
        for number, message in enumerate(messages):
            replies.extend(self._process([message], look_up=True))
            if replies[-1] is None:
                # The store failed: what follows stays unanswered too, so that no later fact on
                # an aggregate is committed before an earlier one that will be resent.
                return replies + [None] * (len(messages) - number - 1)
        return replies

    def _isolate(self, message: Incoming) -> Reply | None:
        """A single message whose batch failed: dead-letter it unless the store is at fault."""
        try:
            try:
                return self._commit([message], look_up=True, fail_safe=True)[0]
            except (PersistenceError, KeyboardInterrupt):
                raise
            except Exception as error:
                log.exception("message could not be applied; dead-lettering it")
                self._cache.clear()
                receipts: dict[UUID, MessageReceipt | AppliedReceipt] = {}
                reason = f"internal error while applying: {type(error).__name__}: {error}"
                reply, rule = self._dead_letter(
                    message, receipts, self.clock(), reason, "internal", look_up=True, error=error
                )
                self.twin.record_batch((), receipts.values())
                self._remember(receipts)
                if rule is not None:
                    self.stats.rejected[rule] += 1
                return reply
        except PersistenceError as error:
            self.stats.store_errors += 1
            log.error("event store failed, message not acknowledged: %s", error)
            return None

    def _commit(
        self, messages: Sequence[Incoming], look_up: bool, fail_safe: bool = False
    ) -> list[Reply | None]:
        batch = _Batch(self.twin, self._cache, self._ids, self.keys, self.plausibility)
        received_at = self.clock()
        receipts: dict[UUID, MessageReceipt | AppliedReceipt] = {}
        replies: list[Reply | None] = []
        counted: list[tuple[str, str | None]] = []
        self._absent = self._look_up_receipts(messages) if look_up else frozenset()
        try:
            for message in messages:
                reply, reason = self._handle(
                    message, batch, receipts, received_at, look_up, fail_safe
                )
                replies.append(reply)
                counted.append((reply.status if reply else "none", reason))
            started = time.perf_counter()
            self.twin.record_batch(batch.touched.values(), receipts.values())
        except BaseException:
            # What the batch touched may hold changes that were not committed: forget it.
            for aggregate_id in batch.touched:
                self._cache.pop(aggregate_id, None)
            raise
        self.stats.commit_ms.append(round((time.perf_counter() - started) * 1000, 3))
        self.stats.batches += 1
        self.stats.batch_sizes.append(len(messages))
        self._remember(receipts)
        for status, reason in counted:
            if status == "ack":
                self.stats.committed += 1
            elif status == "duplicate":
                self.stats.duplicates += 1
            elif status == "rejected" and reason is not None:
                self.stats.rejected[reason] += 1
            elif status == "rejected":  # a resend of a message already dead-lettered
                self.stats.duplicates += 1
        for aggregate_id, aggregate in batch.touched.items():
            self._cache[aggregate_id] = aggregate
            self._cache.move_to_end(aggregate_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if sum(map(len, self._ids.values())) > self.cache_size:
            self._ids.clear()
        return replies

    def rejudge(self, raw: bytes, receipt: MessageReceipt) -> str | None:
        """Judge a dead letter's message again, now: None once applied (its events and the
        receipt's ``Retried`` saved in one transaction), else why it is still refused (and
        nothing is saved)."""
        if is_token(raw.decode("ascii", "replace")):
            return "a citizen's message is kept sealed, not retried: ask them to send it again"
        received_at = self.clock()
        try:
            envelope = decode(raw, now=received_at)
        except WireError as error:
            return str(error)
        if receipt.id != receipt_id(envelope.source, envelope.message_id):
            # Refused before it could be tied to its sender (a key sending under another's
            # name, a message that broke ingest): only the sender can vouch for it again.
            return (
                "not retried: this dead letter is not filed under its sender's message id; "
                "the sender must send the message again"
            )
        batch = _Batch(self.twin, self._cache, self._ids, self.keys, self.plausibility)
        batch.begin_message()
        try:
            HANDLERS[envelope.kind](batch, envelope, self.geography)
            batch.stamp(f"{envelope.source}/{envelope.message_id}")
            receipt.retried(received_at)
            self.twin.save(*batch.touched.values(), receipt)
        except (DomainError, TwinError) as error:
            for aggregate_id in batch.touched:
                self._cache.pop(aggregate_id, None)
            return citizens.refusal(raw, envelope, str(error), error).reason
        except BaseException:
            for aggregate_id in batch.touched:
                self._cache.pop(aggregate_id, None)
            raise
        return None

    def _remember(self, receipts: dict[UUID, MessageReceipt | AppliedReceipt]) -> None:
        """Note receipts just committed, forgetting the oldest beyond ``remembered_receipts``."""
        for receipt, record in receipts.items():
            self._committed[receipt.int] = record.reason
        while len(self._committed) > self.remembered_receipts:
            self._committed.popitem(last=False)

    def _handle(
        self,
        message: Incoming,
        batch: _Batch,
        receipts: dict[UUID, MessageReceipt | AppliedReceipt],
        received_at: datetime,
        look_up: bool,
        fail_safe: bool,
    ) -> tuple[Reply | None, str | None]:
        if message.framing_error is not None:
            return self._dead_letter(
                message, receipts, received_at, message.framing_error, "wire:framing", look_up
            )
        try:
            envelope = decode(message.raw, now=received_at)
        except WireError as error:
            return self._dead_letter(
                message,
                receipts,
                received_at,
                str(error),
                f"wire:{error.field}",
                look_up,
                error=error,
            )
        if message.peer is not None and envelope.source != message.peer:
            reason = (
                f"source: {envelope.source!r} is not the name of the sending key ({message.peer!r})"
            )
            return self._dead_letter(message, receipts, received_at, reason, "auth:source", look_up)
        if message.peer is not None:
            beyond = message.scope.refusal(message.peer, envelope.kind, envelope.asset)
            if beyond is not None:
                return self._dead_letter(
                    message, receipts, received_at, beyond, "auth:scope", look_up, envelope
                )
        receipt = receipt_id(envelope.source, envelope.message_id)
        earlier = self._earlier(receipt, receipts, look_up)
        if earlier is not None:
            if earlier.reason is not None:
                return Reply("rejected", envelope.message_id, earlier.reason), None
            return Reply("duplicate", envelope.message_id), None
        try:
            self._apply(batch, envelope)
        except (DomainError, TwinError) as error:
            rule = f"{envelope.kind}:{type(error).__name__}"
            return self._dead_letter(
                message, receipts, received_at, str(error), rule, look_up, envelope, error
            )
        except PersistenceError:
            raise  # the store, not the message: unanswered, so it is resent
        except Exception as error:
            if not fail_safe:
                raise
            log.exception("handler for %s failed on message %s", envelope.kind, envelope.message_id)
            for aggregate_id in batch.touched:  # possibly changed half-way: never reuse them
                self._cache.pop(aggregate_id, None)
            batch.touched.clear()
            reason = (
                f"internal error while applying {envelope.kind}: {type(error).__name__}: {error}"
            )
            return self._dead_letter(
                message, receipts, received_at, reason, "internal", look_up, envelope, error
            )
        batch.stamp(f"{envelope.source}/{envelope.message_id}")
        receipts[receipt] = AppliedReceipt(
            receipt,
            envelope.source,
            envelope.message_id,
            envelope.kind,
            envelope.device,
            received_at,
        )
        return Reply("ack", envelope.message_id), None

    def _apply(self, batch: _Batch, envelope: Envelope) -> None:
        """Run the message's command on the batch; a refusal made on aggregates that another
        writer has changed since they were cached is judged again on their stored state (each
        round reads at least one of them again, so this ends)."""
        while True:
            batch.begin_message()
            try:
                HANDLERS[envelope.kind](batch, envelope, self.geography)
                return
            except (DomainError, TwinError) as error:
                if batch.recorded_for_message():
                    # A command that fails must record nothing; if one did, the batch is suspect.
                    raise RuntimeError(
                        f"{envelope.kind} failed after recording events: {error}"
                    ) from error
                stale = batch.stale_from_memory()
                batch.forget_fresh()
                if not stale:
                    raise
                self.stats.stale_refusals_rejudged += 1
                batch.drop(stale)

    def _look_up_receipts(self, messages: Sequence[Incoming]) -> frozenset[int]:
        """Look the batch's receipts up in the store at once; return the ids not stored.

        The stored ones are remembered as if this process had committed them, so a window
        resent again and again after a restart is answered from memory. Ids are read leniently
        (``peek_identity``); a message whose id this misreads is looked up on its own later.
        """
        wanted: dict[int, UUID] = {}
        for message in messages:
            source, message_id = peek_identity(message.raw)
            if source is not None and message_id is not None:
                receipt = receipt_id(source, message_id)
                if receipt.int not in self._committed:
                    wanted[receipt.int] = receipt
        if not wanted:
            return frozenset()
        found = self.twin.storage.first_events(list(wanted.values()))
        self._resends_expected = (
            RESEND_WATCH_BATCHES if found else max(0, self._resends_expected - 1)
        )
        for receipt, stored in found.items():
            first = self.twin.mapper.to_domain_event(stored)
            if isinstance(first, MessageReceipt.DeadLettered):
                # A dead letter may have been judged again and applied since: its state says.
                current: object = self.twin.repository.get(receipt)
                assert isinstance(current, MessageReceipt)
                self._committed[receipt.int] = current.reason
            else:
                self._committed[receipt.int] = None
        self.stats.duplicates_looked_up += len(found)
        while len(self._committed) > self.remembered_receipts:
            self._committed.popitem(last=False)
        return frozenset(wanted.keys() - {receipt.int for receipt in found})

    def _earlier(
        self, receipt: UUID, receipts: dict[UUID, MessageReceipt | AppliedReceipt], look_up: bool
    ) -> _Earlier | None:
        """The receipt of an earlier copy of a message: in this batch, committed lately, or (``look_up``) stored."""
        in_batch = receipts.get(receipt)
        if in_batch is not None:
            return _Earlier(in_batch.reason)
        if receipt.int in self._committed:
            return _Earlier(self._committed[receipt.int])
        if receipt.int in self._absent:
            return None
        if look_up and self.twin.exists(receipt):
            found: object = self.twin.repository.get(receipt)
            assert isinstance(found, MessageReceipt)
            return _Earlier(found.reason)
        return None

    def _dead_letter(
        self,
        message: Incoming,
        receipts: dict[UUID, MessageReceipt | AppliedReceipt],
        received_at: datetime,
        reason: str,
        rule: str,
        look_up: bool,
        envelope: Envelope | None = None,
        error: BaseException | None = None,
    ) -> tuple[Reply, str | None]:
        # A citizen's words must not outlive their key: the reason, which goes to the store,
        # the logs and the app, names the field and the rule but not the value.
        refused = citizens.refusal(
            message.raw, envelope, reason, error, one_frame=message.framing_error is None
        )
        reason = refused.reason
        rule = reason_category(rule)
        source: str | None
        message_id: str | None
        if envelope is not None:
            source, message_id = envelope.source, envelope.message_id
        else:
            source, message_id = peek_identity(message.raw)
        source = message.peer or source or UNKNOWN_SOURCE
        if (
            envelope is not None
            and message_id is not None
            and message.peer in (None, envelope.source)
        ):
            receipt = receipt_id(source, message_id)
        else:
            receipt = raw_receipt_id(message.raw)
        if (
            receipt in receipts
            or receipt.int in self._committed
            or (look_up and self.twin.exists(receipt))
        ):
            return Reply("rejected", message_id, reason), None
        raw, cut = kept_raw(message.raw)
        if not self.dead_letter_budget.admit(source, len(raw)):
            # Still refused and answered, never stored: a flood of refusals must not fill the disk.
            self.stats.dead_letters_dropped[source] += 1
            return Reply(
                "rejected",
                message_id,
                f"{reason} [not kept: too many dead letters from this source]",
            ), rule
        if cut:
            self.stats.dead_letters_truncated += 1
        raw, reason = refused.kept(self.keys, raw)
        receipts[receipt] = MessageReceipt.dead_letter(
            receipt,
            raw,
            reason + cut,
            received_at,
            source,
            message_id,
            kind=envelope.kind if envelope else None,
            device=envelope.device if envelope else None,
        )
        return Reply("rejected", message_id, reason + cut), rule


@dataclass(frozen=True)
class _Earlier:
    """An earlier copy of a message was handled: applied (no reason) or refused (its reason)."""

    reason: str | None
