"""The base of the valley's aggregates: event time and retirement rules shared by all five.

Every fact carries the instant it happened in the world (``timestamp``, its valid time); the
log's order is the order facts were recorded. Facts whose meaning does not depend on what came
before them (a measurement: a fill level, a battery level, a lift, an occupancy) may arrive
late: their event class says so (``LATE_ALLOWED``), they are recorded, and the aggregate's
state stays the one the facts say in world-time order (a late reading never overwrites a
newer one; counts still count it). Every other fact must be dated at or after the
aggregate's newest fact, and no fact may predate the aggregate itself. Once retired
(removed, decommissioned, closed) an aggregate accepts nothing more. Persistence is not this
module's business.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain._checks import utc_instant
from domain.errors import OutOfOrderError, RetiredAssetError
from domain.ids import aggregate_id


class ValleyAggregate(Aggregate):
    """An aggregate of the valley, identified by an external code."""

    KIND: ClassVar[str]
    # Subclasses set ``self.code``, ``self.commune_insee`` and ``self.retired`` in ``__init__``;
    # class-level annotations here would turn into fields of every Created event, so they are
    # declared for the type checker only.
    if TYPE_CHECKING:
        code: str
        commune_insee: str
        retired: bool
        _late_facts: int
    # How many facts arrived after a newer one: a class-level default, not an annotation, so
    # that it is no event's field and a snapshot taken before it existed still loads.
    _late_facts = 0
    if TYPE_CHECKING:
        _ordered_at: datetime | None
        DATED: tuple[str, ...]
    # The newest fact whose meaning depends on order (not LATE_ALLOWED): what a new such fact
    # must not predate. None in a snapshot taken before it existed: then ``modified_on``.
    _ordered_at = None
    # Attributes set by late-allowed facts, each with the time of its current value (see
    # ``_newest``); an aggregate class names its own. (No annotations at run time: they would
    # become fields of every Created event.)
    DATED = ()

    class Event(Aggregate.Event):
        """A fact about an aggregate, dated when it happened in the world."""

        # Whether a fact of this kind may be recorded after newer ones (see the module).
        LATE_ALLOWED: ClassVar[bool] = False
        # Whether it retires the aggregate (then it must follow every fact, late ones too).
        RETIRES: ClassVar[bool] = False

        def mutate(self, aggregate: Any) -> Any:
            """The library's mutation, keeping ``modified_on`` the newest fact's time."""
            newest = None if aggregate is None else aggregate.modified_on
            ordered = None if aggregate is None else aggregate._ordered_since()
            mutated = super().mutate(aggregate)
            if mutated is None:
                return mutated
            if newest is not None and self.timestamp < newest:
                mutated.modified_on = newest
                mutated._late_facts += 1
            if not self.LATE_ALLOWED:
                mutated._ordered_at = (
                    self.timestamp if ordered is None else max(ordered, self.timestamp)
                )
            return mutated

        def fold_onto(self, aggregate: Any) -> None:
            """Apply this fact to ``aggregate`` when only some of its facts are folded (its
            state as of an instant), without the library's check that versions follow."""
            newest = aggregate.modified_on
            ordered = aggregate._ordered_since()
            self.apply(aggregate)
            aggregate.version = self.originator_version
            aggregate.modified_on = max(newest, self.timestamp)
            if self.timestamp < newest:
                aggregate._late_facts += 1
            if not self.LATE_ALLOWED:
                aggregate._ordered_at = max(ordered, self.timestamp)

    @classmethod
    def id_for(cls, code: str) -> UUID:
        """Return the aggregate id derived from the external ``code``."""
        return aggregate_id(cls.KIND, code)

    @classmethod
    def _begin(cls, event_class: type[Aggregate.Created], at: datetime, **attributes: Any) -> Self:
        at = utc_instant("at", at)
        return cls._create(
            event_class, id=cls.id_for(attributes["code"]), timestamp=at, **attributes
        )

    def _ordered_since(self) -> datetime:
        """The time a fact that depends on order may not predate."""
        return self._ordered_at if self._ordered_at is not None else self.modified_on

    def _newest(self, name: str, at: datetime) -> bool:
        """Whether a fact dated ``at`` is the newest about ``name`` so far (noted if so): a late
        measurement is history, never the current value."""
        latest: dict[str, datetime] | None = self.__dict__.get("_latest_at")
        if latest is None:
            # First use, or a snapshot taken before these times were kept: a value already
            # there is dated at the latest by the newest fact (an upper bound, never overwritten
            # by an older one).
            latest = {n: self.modified_on for n in self.DATED if getattr(self, n, None) is not None}
            self.__dict__["_latest_at"] = latest
        if name in latest and at < latest[name]:
            return False
        latest[name] = at
        return True

    def _record(self, event_class: type[Aggregate.Event], at: datetime, **attributes: Any) -> None:
        """Check the common rules, then record the fact dated ``at``."""
        at = utc_instant("at", at)
        if self.retired:
            raise RetiredAssetError(
                f"{self.KIND} {self.code} is retired and accepts no more changes", "code", self.code
            )
        if at < self.created_on:
            raise OutOfOrderError(
                f"{self.KIND} {self.code} exists since {self.created_on.isoformat()}; "
                "no fact about it can be older",
                "at",
                at.isoformat(),
            )
        # Retiring an asset must follow every fact about it; other facts that depend on
        # order must follow the newest such fact (a late measurement does not count).
        retires = getattr(event_class, "RETIRES", False)
        ordered = self.modified_on if retires else self._ordered_since()
        if at < ordered and not getattr(event_class, "LATE_ALLOWED", False):
            raise OutOfOrderError(
                f"facts are recorded in time order; last fact of {self.KIND} {self.code} is dated "
                f"{ordered.isoformat()}",
                "at",
                at.isoformat(),
            )
        self.trigger_event(event_class, timestamp=at, **attributes)

    def as_dict(self) -> dict[str, Any]:
        """Return the current state as plain JSON-ready values."""
        state: dict[str, Any] = {
            "kind": self.KIND,
            "id": str(self.id),
            "version": self.version,
            "created_on": self.created_on.isoformat(),
            "modified_on": self.modified_on.isoformat(),
        }
        for name, value in vars(self).items():
            if not name.startswith("_"):
                state[name] = plain_value(value)
        return state


def plain_value(value: Any) -> Any:
    """Convert a value to JSON-ready plain data (ISO instants, sorted sets, string UUIDs)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(plain_value(v) for v in value)
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    return value
