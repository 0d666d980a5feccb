"""Dead letters: the messages ingest refused, listed, judged again, or set aside with a note.

A dead letter is a receipt kept with the message's bytes and the reason (:mod:`twin.receipts`).
Once its cause is fixed (the missing asset installed, a rule's setting changed) it can be
**retried**: judged again now by ingest's own handlers; if it passes, its events and the
receipt's ``Retried`` are saved in one transaction, under the message's original receipt, so
a message is never recorded twice and retrying again changes nothing. If it is still refused
nothing is stored and the new reason is told. A dead letter can also be **discarded** with a
note. Not responsible for deciding what a message means (:mod:`twin.ingest`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from twin.errors import InvalidInputError, NotFoundError
from twin.events import aggregate_event
from twin.ingest import IngestProcessor
from twin.plausibility import Plausibility
from twin.receipts import DeadLetter, MessageReceipt

if TYPE_CHECKING:
    from twin.application import ValleyTwin
    from twin.geography import Geography

_TOPICS = tuple(
    get_topic(event_class)
    for event_class in (
        MessageReceipt.DeadLettered,
        MessageReceipt.Retried,
        MessageReceipt.Discarded,
    )
)


@dataclass(frozen=True)
class LetterFilter:
    """Which dead letters to show or retry (every condition given must hold)."""

    reason: str | None = None  # a piece of the reason, any case
    source: str | None = None
    since: datetime | None = None  # received at or after
    settled: bool = False  # also those already retried or discarded

    def admits(self, letter: DeadLetter) -> bool:
        """Whether the letter passes every condition."""
        return (
            (self.settled or letter.settled is None)
            and (self.reason is None or self.reason.casefold() in letter.reason.casefold())
            and (self.source is None or letter.source == self.source)
            and (self.since is None or letter.received_at >= self.since)
        )


@dataclass(frozen=True)
class RetryOutcome:
    """What a retry did to one dead letter."""

    receipt: UUID
    status: str  # "applied", "refused" (still; nothing stored) or "settled" (nothing to do)
    reason: str | None = None


def dead_letters(
    twin: ValleyTwin, limit: int | None = None, which: LetterFilter | None = None
) -> Iterator[DeadLetter]:
    """The dead letters the filter admits (by default the open ones), oldest first."""
    which = which or LetterFilter()
    letters: dict[UUID, DeadLetter] = {}
    for stored in twin.domain_events(topics=_TOPICS):
        event = aggregate_event(stored)
        if isinstance(event, MessageReceipt.DeadLettered):
            letters[event.originator_id] = DeadLetter.from_event(event)
        elif isinstance(event, MessageReceipt.Retried | MessageReceipt.Discarded):
            letter = letters.get(event.originator_id)
            if letter is not None:
                settled = "retried" if isinstance(event, MessageReceipt.Retried) else "discarded"
                letters[event.originator_id] = _settled(letter, settled, event.note)
    shown = 0
    for letter in letters.values():
        if limit is not None and shown >= limit:
            return
        if which.admits(letter):
            shown += 1
            yield letter


def retry(
    twin: ValleyTwin,
    geography: Geography,
    receipts: Sequence[UUID],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    plausibility: Plausibility | None = None,
) -> list[RetryOutcome]:
    """Judge these dead letters again, one transaction each; see the module's docstring."""
    processor = IngestProcessor(twin, geography, clock=clock, plausibility=plausibility)
    outcomes = []
    for receipt_id in receipts:
        receipt = _receipt(twin, receipt_id)
        if not receipt.open:
            outcomes.append(RetryOutcome(receipt_id, "settled", receipt.settled or "applied"))
            continue
        raw = base64.b64decode(receipt.raw_base64 or "")
        refused = processor.rejudge(raw, receipt)
        outcomes.append(
            RetryOutcome(receipt_id, "refused", refused)
            if refused is not None
            else RetryOutcome(receipt_id, "applied")
        )
    return outcomes


def discard(
    twin: ValleyTwin,
    receipts: Sequence[UUID],
    note: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Set these dead letters aside with a note; return how many were open."""
    if not note.strip():
        raise InvalidInputError("--note", note, "a few words saying why it is set aside")
    changed = []
    for receipt_id in receipts:
        receipt = _receipt(twin, receipt_id)
        if receipt.open:
            receipt.discard(note.strip(), clock())
            changed.append(receipt)
    twin.save(*changed)
    return len(changed)


def parse_receipt_id(text: str) -> UUID:
    """A dead letter's id as `twin deadletters` prints it."""
    try:
        return UUID(text)
    except ValueError:
        raise InvalidInputError(
            "ID", text, "a dead letter's id, as twin deadletters prints it"
        ) from None


def _receipt(twin: ValleyTwin, receipt_id: UUID) -> MessageReceipt:
    try:
        found: object = twin.repository.get(receipt_id)
    except AggregateNotFoundError:
        raise NotFoundError(str(receipt_id)) from None
    if not isinstance(found, MessageReceipt) or found.reason is None and found.settled is None:
        raise InvalidInputError("ID", str(receipt_id), "the id of a dead letter")
    return found


def _settled(letter: DeadLetter, settled: str, note: str) -> DeadLetter:
    return replace(letter, settled=settled, note=note or None)
