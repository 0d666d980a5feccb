"""Errors of the adapter side: the wire protocol, transports and device payloads.

Hierarchy::

    AdapterError
    ├── WireError          a message that breaks the wire protocol (field, value, reason)
    └── TransportError     the connection to ingest failed (the zmq error is chained)

Deciding what to do about an error (retry, count, dead-letter) is the caller's job.
"""

from __future__ import annotations


class AdapterError(Exception):
    """Base of the errors raised on the adapter side."""


class WireError(AdapterError):
    """A message breaks the wire protocol; ``reason`` says how, naming the field and value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{field}: {reason} (got {shown})")


class TransportError(AdapterError):
    """Sending to or receiving from ingest failed."""
