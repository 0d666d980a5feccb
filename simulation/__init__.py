"""The SimPy engine that replays the twin's log or projects it forward.

Filled by the "Simulation engine" issue. It is handed a plain iterable of domain events and
never imports ``twin``, ``adapters`` or ``scenarios``.
"""

from __future__ import annotations

__all__: list[str] = []
