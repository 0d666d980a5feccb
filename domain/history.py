"""An aggregate rebuilt from its history: as of a world instant, as known at a recording one.

The library rebuilds an aggregate by applying its events in the order they were recorded.
That is the twin's current state as long as no fact was corrected or retracted. This module
rebuilds it under the rules of a history that knows two times:

* **as of** a world instant T: only the facts dated at or before T count, whatever order they
  arrived in (a late measurement never overwrites a newer one: the aggregates see to that);
* **as known at** a recording instant R: only what had been recorded by R counts, corrections
  included, so an audit sees what the twin believed then;
* a **correction** replaces the values of the fact it names, a **retraction** removes it; the
  history itself keeps the original and the amendment, each with when it was recorded.

Pure: it is handed the events and returns the aggregate. Facts recorded before the twin kept
their recording time count as known from the start.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from domain._aggregate import ValleyAggregate, recorded_at


def rebuild(
    history: Iterable[Any],
    as_of: datetime | None = None,
    known_at: datetime | None = None,
) -> ValleyAggregate | None:
    """The aggregate that ``history`` (all its events, in recorded order) says, as of ``as_of``
    and as known at ``known_at`` (None: now); None if it did not exist then."""
    known = [fact for fact in history if known_by(fact, known_at)]
    amendments = latest_amendments(known)
    aggregate: ValleyAggregate | None = None
    for recorded in known:
        fact = as_it_stands(recorded, amendments.get(recorded.originator_version))
        if fact is None:
            continue
        if aggregate is None:
            if as_of is not None and fact.timestamp > as_of:
                return None  # created after the instant: nothing existed yet
            created = fact.mutate(None)
            assert isinstance(created, ValleyAggregate)
            aggregate = created
        elif isinstance(fact, AMENDMENTS):
            # Applied already, through the fact it names; noted, and counted in the version,
            # but dated at that fact's time it moves no clock (a retracted newest fact must
            # not stay the aggregate's newest).
            fact.apply(aggregate)
            aggregate.version = fact.originator_version
        elif as_of is None or fact.timestamp <= as_of:
            fact.fold_onto(aggregate)
    if aggregate is not None and as_of is None and known_at is None:
        aggregate.__dict__["_rebuilt_through"] = aggregate.version
    return aggregate


AMENDMENTS = (ValleyAggregate.FactCorrected, ValleyAggregate.FactRetracted)


def as_they_stand(history: Iterable[Any]) -> list[Any]:
    """The facts of ``history`` as they now stand, in recorded order: corrected values in
    place, retracted facts and the amendments themselves left out."""
    facts = list(history)
    amendments = latest_amendments(facts)
    standing = (
        as_it_stands(fact, amendments.get(fact.originator_version))
        for fact in facts
        if not isinstance(fact, AMENDMENTS)
    )
    return [fact for fact in standing if fact is not None]


def as_it_stands(fact: Any, amendment: Any) -> Any:
    """``fact`` under the ``amendment`` in force for it (None if none): with its corrected
    values, or None when it was retracted."""
    if isinstance(amendment, ValleyAggregate.FactRetracted):
        return None
    if isinstance(amendment, ValleyAggregate.FactCorrected):
        return corrected(fact, amendment.changes)
    return fact


def latest_amendments(history: Iterable[Any]) -> dict[int, Any]:
    """The amendment in force for each amended fact's version: the last one recorded."""
    amendments: dict[int, Any] = {}
    for fact in history:
        if isinstance(fact, AMENDMENTS):
            amendments[fact.original_version] = fact
    return amendments


def corrected(fact: Any, changes: dict[str, Any]) -> Any:
    """A copy of ``fact`` with the corrected values (same class, version and times)."""
    copy = object.__new__(type(fact))
    object.__setattr__(copy, "__dict__", {**vars(fact), **changes})
    return copy


def known_by(fact: Any, known_at: datetime | None) -> bool:
    """Whether ``fact`` had been recorded by ``known_at`` (None: now); one recorded before the
    twin kept recording times counts as known from the start."""
    if known_at is None:
        return True
    recorded = recorded_at(fact)
    return recorded is None or recorded <= known_at


def refresh(aggregate: ValleyAggregate, history: Iterable[Any]) -> None:
    """Make ``aggregate``, which just recorded a correction or retraction (pending, part of
    ``history``), hold the state its whole history now says; its pending events stay, to be
    saved. One aggregate object stays in use, so a caller's cache is never left stale."""
    rebuilt = rebuild(history)
    assert rebuilt is not None
    pending = aggregate.pending_events
    vars(aggregate).clear()
    vars(aggregate).update(vars(rebuilt))
    aggregate._pending_events = pending  # noqa: SLF001 - the library's own list, kept whole


def newest_when_recorded(fact: Any) -> datetime:
    """The newest world time of the aggregate's facts once ``fact`` was recorded: its own for
    a fact in order, the newer one a late fact arrived after. It never decreases along the
    history, which is what lets time travel bisect it."""
    marked = vars(fact).get("newest_at")
    return marked if isinstance(marked, datetime) else fact.timestamp
