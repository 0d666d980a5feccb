"""What an adapter is: a manifest, and a function from device payloads to readings.

An adapter module declares an :class:`AdapterManifest` and a subclass of :class:`Adapter`;
the SDK (:mod:`adapters.sdk.runner`) does the rest — envelopes, message ids, the outbox,
resends, rate limiting and counting rejections. Not responsible for transport.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from adapters.wire import KINDS, PROTOCOL_VERSION


@dataclass(frozen=True)
class AdapterManifest:
    """Who an adapter is: its name, the device it reads and the wire kinds it emits."""

    name: str
    device: str
    kinds: tuple[str, ...]
    mode: str  # "push": the device or network server pushes; "poll": the adapter asks
    owner: str
    description: str
    wire_version: int = PROTOCOL_VERSION
    # True for an adapter whose payloads may hold what a person wrote or who they are; one that
    # emits citizen.* kinds is so whatever this says. Its unreadable payloads are not kept.
    personal_data: bool = False

    @property
    def personal(self) -> bool:
        """Whether this adapter's payloads may hold personal data (docs/privacy.md)."""
        return self.personal_data or any(kind.startswith("citizen.") for kind in self.kinds)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - KINDS)
        if unknown:
            raise ValueError(f"adapter {self.name}: unknown wire kinds {unknown}")
        if self.mode not in ("push", "poll"):
            raise ValueError(
                f"adapter {self.name}: mode must be 'push' or 'poll', not {self.mode!r}"
            )


@dataclass(frozen=True)
class Reading:
    """One observation an adapter extracted from a device payload, ready to become a message."""

    device: str
    asset: str
    kind: str
    observed_at: datetime
    body: dict[str, Any] = field(default_factory=dict)


class Adapter(abc.ABC):
    """Turns one device type's payloads into readings.

    Subclasses set ``manifest`` and implement :meth:`readings`. They raise
    :class:`adapters.payloads.PayloadError` (or :class:`adapters.wire.AdapterError`) for a
    payload they cannot read; the runner counts and logs it and carries on.
    """

    manifest: ClassVar[AdapterManifest]

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    @abc.abstractmethod
    def readings(self, payload: bytes | str, received_at: datetime) -> list[Reading]:
        """The readings in one payload (possibly none)."""

    def flush(self, now: datetime) -> list[Reading]:
        """Readings an adapter was holding back (e.g. counts of an interval that has closed)."""
        return []
