"""Declarative what-if scenarios that planners run and compare.

Filled by the "Scenarios and reports" issue. A what-if never touches hardware: this package
never imports ``adapters``.
"""

from __future__ import annotations

__all__: list[str] = []
