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

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain._checks import text, utc_instant
from domain.errors import InvalidValueError, OutOfOrderError, RetiredAssetError
from domain.ids import aggregate_id

# Bumped when aggregates start keeping more state derived from their whole history: a snapshot
# taken before holds an older number (or none), and its aggregate is rebuilt from its events.
DERIVED_STATE = 2

# A correctable field's check: (field name, proposed value) -> the value to record.
FieldCheck = Callable[[str, object], object]


def recorded_at(event: object) -> datetime | None:
    """When ``event`` was recorded (its transaction time, stamped by whoever stores it: the
    domain reads no clock); None until then, and for facts stored before the twin kept it."""
    value = vars(event).get("recorded_at")
    return value if isinstance(value, datetime) else None


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
    if TYPE_CHECKING:
        _ordered_at: datetime | None
        DATED: tuple[str, ...]
    if TYPE_CHECKING:
        _max_lateness_s: float
        _unmarked_late: bool
    # How far behind the newest fact the latest-arriving fact was, at most (seconds): what
    # bounds the search for late facts when travelling in time (see ``_note_lateness``).
    _max_lateness_s = 0.0
    # Whether a late fact was stored before facts carried ``newest_at`` (time travel then
    # replays the whole history rather than trust a bound it cannot know).
    _unmarked_late = False
    # The newest fact whose meaning depends on order (not LATE_ALLOWED): what a new such fact
    # must not predate. None in a snapshot taken before it existed: then ``modified_on``.
    _ordered_at = None
    # Attributes set by late-allowed facts, each with the time of its current value (see
    # ``_newest``); an aggregate class names its own. (No annotations at run time: they would
    # become fields of every Created event.)
    DATED = ()

    class Event(Aggregate.Event):
        """A fact about an aggregate, dated when it happened in the world (``timestamp``);
        the store adds when it was recorded (see :func:`recorded_at`)."""

        # Whether a fact of this kind may be recorded after newer ones (see the module).
        LATE_ALLOWED: ClassVar[bool] = False
        # Whether it retires the aggregate (then it must follow every fact, late ones too).
        RETIRES: ClassVar[bool] = False
        # The fields a correction may change, each with its check; none: the fact can be
        # neither corrected nor retracted (only measurements can: see ``correct``).
        CORRECTABLE: ClassVar[Mapping[str, FieldCheck]] = {}

        def mutate(self, aggregate: Any) -> Any:
            """The library's mutation, keeping ``modified_on`` the newest fact's time."""
            newest = None if aggregate is None else aggregate.modified_on
            ordered = None if aggregate is None else aggregate._ordered_since()
            recording = aggregate is not None and aggregate.__dict__.get("_recording", False)
            mutated = super().mutate(aggregate)
            if mutated is None:
                return mutated
            if newest is not None and self.timestamp < newest:
                mutated.modified_on = newest
                mutated._note_lateness(self, newest, recording)
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
                aggregate._note_lateness(self, newest, False)
            if not self.LATE_ALLOWED:
                aggregate._ordered_at = max(ordered, self.timestamp)

    def __base_init__(
        self, originator_id: Any, originator_version: int, timestamp: datetime
    ) -> None:
        super().__base_init__(originator_id, originator_version, timestamp)
        self.__dict__["_derived_state"] = DERIVED_STATE

    @property
    def complete(self) -> bool:
        """False for an aggregate loaded from a snapshot taken before it kept what it now
        derives from its whole history (meter marks, overflow marks, lateness bounds): such
        an aggregate must be rebuilt from its events once (the next snapshot is complete)."""
        return self.__dict__.get("_derived_state") == DERIVED_STATE

    @property
    def needs_rebuild(self) -> bool:
        """Whether this state, replayed in recorded order, misses something: an amendment
        recorded since it was last rebuilt with its amendments in place, or derived state an
        old snapshot lacks (see :mod:`domain.history`)."""
        last = self.__dict__.get("_last_amendment", 0)
        return not self.complete or last > self.__dict__.get("_rebuilt_through", 0)

    @classmethod
    def id_for(cls, code: str) -> UUID:
        """Return the aggregate id derived from the external ``code``."""
        return aggregate_id(cls.KIND, code)

    @classmethod
    def _begin(cls, event_class: type[Aggregate.Created], at: datetime, **attributes: Any) -> Self:
        at = utc_instant("at", at)
        return cls._create(
            event_class,
            id=cls.id_for(attributes["code"]),
            timestamp=at,
            **attributes,
        )

    def _note_lateness(self, fact: Any, newest: datetime, recording: bool) -> None:
        """Mark a late fact with the newest world time known when it was recorded (stored with
        it, beside its fields), and keep the largest lateness seen."""
        marked = vars(fact).get("newest_at")
        if marked is None and recording:
            vars(fact)["newest_at"] = marked = newest
        if marked is None:
            self._unmarked_late = True
        self._max_lateness_s = max(self._max_lateness_s, (newest - fact.timestamp).total_seconds())

    def _trigger(self, event_class: type[Aggregate.Event], **attributes: Any) -> None:
        # While recording (not replaying), a late fact is marked as it is applied.
        self.__dict__["_recording"] = True
        try:
            self.trigger_event(event_class, **attributes)
        finally:
            del self.__dict__["_recording"]

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
        self._trigger(event_class, timestamp=at, **attributes)

    # ---- corrections and retractions ------------------------------------------------------
    class FactCorrected(Event):
        """An earlier fact's values corrected, dated at that fact's own world time."""

        LATE_ALLOWED = True
        original_version: int
        changes: dict[str, Any]
        corrected_by: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._note_amendment(self.original_version, "corrected", self.originator_version)

    class FactRetracted(Event):
        """An earlier fact withdrawn (it never happened), dated at that fact's world time."""

        LATE_ALLOWED = True
        original_version: int
        retracted_by: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._note_amendment(self.original_version, "retracted", self.originator_version)

    @property
    def amendments(self) -> dict[int, str]:
        """The versions of facts corrected or retracted so far, with which it was."""
        noted: dict[str, str] = self.__dict__.get("_amended") or {}
        return {int(version): what for version, what in noted.items()}

    def _note_amendment(self, version: int, what: str, amendment_version: int) -> None:
        # String keys: a snapshot's JSON keeps them as they are.
        noted: dict[str, str] = self.__dict__.setdefault("_amended", {})
        noted[str(version)] = what
        self.__dict__["_last_amendment"] = amendment_version

    def correct(
        self,
        original: Any,
        changes: Mapping[str, object],
        by: str,
        reason: str,
        context: object = None,
    ) -> None:
        """Correct the values of an earlier fact (``original``, one of this aggregate's events):
        the fact keeps its world time; history keeps both, and state follows the correction.
        ``context``: what a rule of the facts around it needs (a meter's neighbouring
        indexes), found in the history by the caller."""
        correctable = self._amendable(original, "corrected")
        if not changes:
            raise InvalidValueError("names no field to correct", "changes", dict(changes))
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in correctable:
                allowed = ", ".join(sorted(correctable))
                raise InvalidValueError(
                    f"is not a correctable field of {type(original).__name__} (only {allowed})",
                    name,
                    value,
                )
            checked[name] = correctable[name](name, value)
        self._check_correction(original, checked, context)
        self._amend(
            self.FactCorrected,
            original,
            changes=checked,
            corrected_by=text("by", by, max_length=64),
            reason=text("reason", reason, max_length=500),
        )

    def retract(self, original: Any, by: str, reason: str) -> None:
        """Withdraw an earlier fact: history keeps it, state is as if it never arrived."""
        self._amendable(original, "retracted")
        self._amend(
            self.FactRetracted,
            original,
            retracted_by=text("by", by, max_length=64),
            reason=text("reason", reason, max_length=500),
        )

    def _amendable(self, original: Any, what: str) -> Mapping[str, FieldCheck]:
        version = getattr(original, "originator_version", None)
        if getattr(original, "originator_id", None) != self.id:
            raise InvalidValueError(
                f"is not a fact of {self.KIND} {self.code}", "original_version", version
            )
        correctable: Mapping[str, FieldCheck] = getattr(original, "CORRECTABLE", {})
        if not correctable:
            raise InvalidValueError(
                f"is a {type(original).__name__} fact, which cannot be {what}: record a new fact",
                "original_version",
                version,
            )
        if isinstance(version, int) and self.amendments.get(version) == "retracted":
            raise InvalidValueError(
                f"was retracted already; it cannot be {what}", "original_version", version
            )
        return correctable

    def _check_correction(
        self, original: Any, changes: Mapping[str, Any], context: object = None
    ) -> None:
        """Refuse a correction that breaks a rule depending on the facts around it (an
        aggregate with such rules, a meter's rising index, says so here)."""

    def _amend(self, event_class: type[Aggregate.Event], original: Any, **attributes: Any) -> None:
        # A retired asset's past can still be put right: no retirement check here.
        self._trigger(
            event_class,
            timestamp=original.timestamp,
            original_version=original.originator_version,
            **attributes,
        )

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
