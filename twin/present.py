"""Turning aggregates and events into plain values for people and JSON.

Positions leave the twin as WGS84 lon/lat next to their Lambert-93 metres. Not responsible
for printing (the CLI is).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eventsourcing.domain import DomainEventProtocol

from domain import ValleyAggregate, plain_value, recorded_at
from domain.history import latest_amendments
from twin.errors import InvalidInputError
from twin.events import aggregate_event, message_of
from twin.geography import Geography

_EVENT_BOOKKEEPING = {
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
    "recorded_at",
    "message",
    "newest_at",
}


def asset_view(aggregate: ValleyAggregate, geography: Geography) -> dict[str, Any]:
    """The aggregate's state with lon/lat added where it has a position."""
    state = aggregate.as_dict()
    if "x_l93" in state:
        state["lon"], state["lat"] = (
            round(v, 6) for v in geography.to_wgs84(state["x_l93"], state["y_l93"])
        )
    return state


def event_view(event: DomainEventProtocol[Any], amended: str | None = None) -> dict[str, Any]:
    """One event: its name, version, world time, when it was recorded (and by which wire
    message), its own attributes, and whether a later one ``amended`` it (corrected,
    retracted)."""
    attributes = {k: plain_value(v) for k, v in vars(event).items() if k not in _EVENT_BOOKKEEPING}
    recorded = recorded_at(event)
    message = message_of(event)
    return {
        "version": event.originator_version,
        "event": type(event).__qualname__,
        "at": aggregate_event(event).timestamp.isoformat(),
        "recorded_at": None if recorded is None else recorded.isoformat(),
        **({"message": message} if message else {}),
        **({"amended": amended} if amended else {}),
        **({"attributes": attributes} if attributes else {}),
    }


def history_view(history: list[DomainEventProtocol[Any]]) -> list[dict[str, Any]]:
    """An aggregate's history, each fact marked if a later amendment corrected or retracted it."""
    amendments = latest_amendments(history)
    marks = {
        version: "retracted" if isinstance(a, ValleyAggregate.FactRetracted) else "corrected"
        for version, a in amendments.items()
    }
    return [event_view(event, marks.get(event.originator_version)) for event in history]


def format_state(state: dict[str, Any]) -> list[str]:
    """Aligned ``key: value`` lines."""
    width = max(len(k) for k in state)
    return [f"{key.ljust(width)}  {_short(value)}" for key, value in state.items()]


def format_event(event: dict[str, Any]) -> str:
    """One history line."""
    attributes = " ".join(f"{k}={_short(v)}" for k, v in event.get("attributes", {}).items())
    amended = f" [{event['amended']}]" if event.get("amended") else ""
    recorded = f"  (recorded {event['recorded_at']})" if event.get("recorded_at") else ""
    if event.get("message"):
        recorded = (
            f"{recorded[:-1]}, via {event['message']})"
            if recorded
            else f"  (via {event['message']})"
        )
    return (
        f"v{event['version']:<5} {event['at']}  {event['event']:<28} {attributes}{amended}"
        f"{recorded}"
    ).rstrip()


def parse_instant(text: str, field: str = "instant") -> datetime:
    """Parse an ISO-8601 instant with an offset (``Z`` allowed) into UTC; an error names
    ``field``."""
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            field, text, "an ISO-8601 instant such as 2024-06-01T12:00:00Z"
        ) from None
    if instant.tzinfo is None:
        raise InvalidInputError(
            field, text, "an instant with a UTC offset, e.g. 2024-06-01T12:00:00Z"
        )
    try:
        return instant.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InvalidInputError(
            field, text, "an instant between years 1 and 9999 once in UTC"
        ) from None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
