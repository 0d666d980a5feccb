"""What a projection is: a name, a version, the events it applies, its tables, its page logic.

A projection applies one *page* of the log at a time, inside the transaction that also moves
its tracking position (:mod:`twin.projections.runner`): the runner opens the projection's
:class:`Page` with the page's notifications (:class:`Notes`; the page loads the rows it will
need), hands it each event in log order through the handler registered for the event's
class, then flushes what changed. An event a handler cannot apply raises
:class:`ProjectionError` naming the projection, the event's position in the log, its topic
and the reason: projections never skip an event silently.

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


Handler = Callable[[Any, Any], None]  # (page, event)


class Projection(ABC):
    """A read model kept from the notification log.

    Subclasses set ``name``, ``version`` (bump it when the tables or their meaning change:
    the store then asks for a rebuild instead of mixing two meanings), ``tables``,
    ``page_class`` and ``handlers`` (event class → function of (page, event)).
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    description: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]
    page_class: ClassVar[type[Page]]
    handlers: ClassVar[Mapping[type[Any], Handler]]

    @cached_property
    def topics(self) -> tuple[str, ...]:
        """Stored topics of the events this projection applies (the log is filtered by them)."""
        return tuple(sorted(get_topic(cls) for cls in self.handlers))

    @property
    def tracking_name(self) -> str:
        """Its row in the tracking table: the name and the version of its tables."""
        return f"{self.name}:v{self.version}"
