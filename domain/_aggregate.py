"""The base of the valley's aggregates: event time and retirement rules shared by all five.

Every fact carries the instant it happened in the world (``timestamp``). Facts on one
aggregate are recorded in world-time order, which is what makes "state as of an instant" a
prefix of its history. Once retired (removed, decommissioned, closed) an aggregate accepts
nothing more. Persistence is not this module's business.
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

    def _record(self, event_class: type[Aggregate.Event], at: datetime, **attributes: Any) -> None:
        """Check the common rules, then record the fact dated ``at``."""
        at = utc_instant("at", at)
        if self.retired:
            raise RetiredAssetError(
                f"{self.KIND} {self.code} is retired and accepts no more changes", "code", self.code
            )
        if at < self.modified_on:
            raise OutOfOrderError(
                f"facts are recorded in time order; last fact of {self.KIND} {self.code} is dated "
                f"{self.modified_on.isoformat()}",
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
