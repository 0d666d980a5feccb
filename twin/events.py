"""The events the twin's store hands back, typed as what they are.

The library's stores and mappers return ``DomainEventProtocol``, which declares only the
originator's id and version. Every event the twin records (the five aggregates' facts and the
message receipts) is an ``Aggregate.Event``: dated with ``timestamp`` and able to ``mutate``.
"""

from __future__ import annotations

from typing import Any, cast

from eventsourcing.domain import Aggregate, DomainEventProtocol


def aggregate_event(event: DomainEventProtocol[Any]) -> Aggregate.Event:
    """``event`` as the aggregate event it is (for the type checker: nothing is checked)."""
    return cast("Aggregate.Event", event)


def message_of(event: object) -> str | None:
    """The wire message that brought ``event`` ("SOURCE/MESSAGE_ID"; ingest stores it beside
    the event's fields), if it came by wire."""
    value = vars(event).get("message")
    return value if isinstance(value, str) else None
