"""Simulated time: SimPy's ``env.now`` counts hours from a UTC start instant.

Every part of the engine uses this one convention, so that a simulated fact maps to a real
instant (and back) the same way everywhere. Not responsible for pacing (see SimPy's
``RealtimeEnvironment``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class SimClock:
    """Maps simulated hours to UTC instants from ``start``."""

    start: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError(f"start must be timezone-aware, not {self.start!r}")
        object.__setattr__(self, "start", self.start.astimezone(UTC))

    def hours(self, instant: datetime) -> float:
        """Simulated hours of a real instant (negative before the start)."""
        if instant.tzinfo is None:
            raise ValueError(f"instant must be timezone-aware, not {instant!r}")
        return (instant - self.start) / HOUR

    def instant(self, hours: float) -> datetime:
        """The real instant of a simulated time."""
        return self.start + hours * HOUR
