"""What a projection is: a name, a version, the events it applies, its tables, its page logic.

A projection applies one *page* of the log at a time, inside the transaction that also moves
its tracking position (:mod:`twin.projections.runner`): the runner opens the projection's
:class:`Page` with the page's notifications (:class:`Notes`; the page loads the rows it will
need), hands it each event in log order through the handler registered for the event's
class, then flushes what changed. An event a handler cannot apply raises
:class:`ProjectionError` naming the projection, the event's position in the log, its topic
and the reason: projections never skip an event silently.

A fact may later be corrected or retracted (``ValleyAggregate.FactCorrected`` and
``FactRetracted``, recorded on the same aggregate). A projection that applies amendable facts
also takes those amendments. It does not apply them as ordinary events. Instead, it says
with :meth:`Projection.forget` how to take out what one asset's facts put where the amended
fact lies (the whole asset, or only the hour the fact is in). The runner then applies that
asset's facts again as they now stand (:class:`ReplayNotes`), so the view ends up as if the
original had carried the corrected values, or had never arrived.

The library's ``eventsourcing.projection.Projection`` has the same shape for one event at a
time (``process_event(event, tracking)``); this one takes a page because committing each
event in its own transaction is what would make a rebuild slow.

Not responsible for reading the log, transactions or tracking (the runner and the store).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, cast

from eventsourcing.utils import get_topic

from domain import AGGREGATE_CLASSES
from twin.errors import TwinError

if TYPE_CHECKING:
    from uuid import UUID

    from eventsourcing.persistence import Notification

    from twin.projections.rows import Db
    from twin.projections.sql import Table


# A memo keyed by the UUID's integer (``UUID.__hash__`` and ``__eq__`` are Python code, not
# ``int``'s); the busiest handlers read it directly before calling :func:`id_text`.
ID_TEXTS: dict[int, str] = {}


def id_text(aggregate_id: UUID) -> str:
    """An aggregate id as the views store it (``str(uuid)``, remembered: it is asked for a lot)."""
    text = ID_TEXTS.get(aggregate_id.int)
    if text is None:
        if len(ID_TEXTS) >= 1_000_000:
            ID_TEXTS.clear()
        text = ID_TEXTS[aggregate_id.int] = str(aggregate_id)
    return text


class ProjectionError(TwinError):
    """A projection met an event it cannot apply (or its tables need a rebuild)."""

    def __init__(
        self, projection: str, position: int | None, topic: str | None, reason: str
    ) -> None:
        self.projection = projection
        self.position = position
        self.topic = topic
        self.reason = reason
        where = "" if position is None else f" at event {position} ({topic})"
        super().__init__(f"projection {projection} stopped{where}: {reason}")


class CannotApply(Exception):  # noqa: N818 - a reason, turned into ProjectionError with its position
    """Raised by a handler: this event cannot be applied to the view as it stands."""


class Notes:
    """A page's notifications for one projection, with their events decoded on demand, once."""

    def __init__(
        self, notifications: Sequence[Notification], decode: Callable[[Notification], Any]
    ) -> None:
        self.notifications = notifications
        self._decode = decode

    def originator_ids(self) -> list[UUID]:
        """The distinct aggregates the page's events are about (without decoding them)."""
        # Distinct by their integers: hashing a UUID object runs Python code. (The twin's
        # stores keep UUID originator ids; the library types them UUID | str.)
        notifications = cast("Sequence[Any]", self.notifications)
        return list({n.originator_id.int: n.originator_id for n in notifications}.values())

    def events(self) -> Iterator[Any]:
        """The page's events, for a page that must read them to know which rows to load."""
        return (self._decode(n) for n in self.notifications)


class Page(ABC):
    """One page's working state: the rows it loaded and the totals it accumulates."""

    @abstractmethod
    def __init__(self, db: Db, notes: Notes) -> None:
        """Load what applying the page's events will read."""

    @abstractmethod
    def flush(self) -> None:
        """Write back what the page changed."""


class ReplayNotes(Notes):
    """One asset's facts applied again after an amendment: events at hand, no notifications."""

    def __init__(self, facts: Sequence[Any]) -> None:
        super().__init__((), _never_decoded)
        self.facts = facts

    def originator_ids(self) -> list[UUID]:
        return list({f.originator_id.int: f.originator_id for f in self.facts}.values())

    def events(self) -> Iterator[Any]:
        return iter(self.facts)


def _never_decoded(notification: Notification) -> Any:
    raise AssertionError("replayed facts are decoded already")


Handler = Callable[[Any, Any], None]  # (page, event)


class Projection(ABC):
    """A read model kept from the notification log.

    Subclasses set ``name``, ``version`` (bump it when the tables or their meaning change:
    the store then asks for a rebuild instead of mixing two meanings), ``tables``,
    ``page_class`` and ``handlers`` (event class → function of (page, event)). A projection
    whose handlers apply amendable facts (those with ``CORRECTABLE`` fields) also overrides
    :meth:`forget`.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    description: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]
    page_class: ClassVar[type[Page]]
    handlers: ClassVar[Mapping[type[Any], Handler]]

    @cached_property
    def topics(self) -> tuple[str, ...]:
        """Stored topics of the events this projection takes (the log is filtered by them):
        those it applies and the amendments that may correct or retract any of them."""
        return tuple(sorted({get_topic(cls) for cls in self.handlers} | self.amendment_topics))

    @cached_property
    def amendment_topics(self) -> frozenset[str]:
        """Stored topics of the corrections and retractions of facts this projection applies."""
        topics: set[str] = set()
        for aggregate_class in AGGREGATE_CLASSES:
            declared = vars(aggregate_class).values()
            if any(cls in declared and getattr(cls, "CORRECTABLE", None) for cls in self.handlers):
                topics.add(get_topic(aggregate_class.FactCorrected))
                topics.add(get_topic(aggregate_class.FactRetracted))
        return frozenset(topics)

    def retracted_handler(self) -> Handler | None:
        """What applying an asset's facts again hands a fact retracted since: None (this
        default) drops it, as if it never arrived; a handler may count it as an event that
        changed nothing (asset_state, whose row's version is the aggregate's)."""
        return None

    def forget(self, db: Db, original: Any, facts: Sequence[Any]) -> Sequence[Any]:
        """Take out of the tables what one asset's facts put where ``original`` (a fact this
        projection applied, now corrected or retracted) lies; return which of ``facts`` to
        apply again to put it back.

        ``facts`` is the asset's history up to and including the amendment, as it now stands
        (corrected values in place, retracted facts left out unless
        :meth:`retracted_handler`), only the events this projection applies, in recorded
        order. The runner applies the returned ones on a fresh page and flushes it.
        """
        raise NotImplementedError(
            f"projection {self.name} applies amendable facts but cannot forget them"
        )

    @property
    def tracking_name(self) -> str:
        """Its row in the tracking table: the name and the version of its tables."""
        return f"{self.name}:v{self.version}"
