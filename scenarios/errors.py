"""The scenarios package's exceptions.

Hierarchy::

    Exception
    ├── ScenarioError   a scenario file cannot be read, inherited or validated
    └── SweepError      a sweep cannot run where it was sent (no Dask, no scheduler there)

Every ``ScenarioError`` says which file, which key path (``policy.threshold``), which value and
what was expected, so a planner can fix the file without reading Python; a ``SweepError`` says
what to install or check. Not responsible for errors of the simulation itself (those are
``ValueError`` from ``simulation``) or of the twin's store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ScenarioError", "SweepError"]


class ScenarioError(Exception):
    """A scenario file is unreadable or invalid: ``file``, ``key``, ``value`` and ``expected``."""

    def __init__(self, file: Path | str | None, key: str | None, value: Any, expected: str) -> None:
        self.file = str(file) if file is not None else "<scenario>"
        self.key = key
        self.value = value
        self.expected = expected
        where = f"{self.file}: {key} = {value!r}" if key is not None else self.file
        super().__init__(f"{where}: expected {expected}")


class SweepError(Exception):
    """A sweep's executor is unusable: Dask is not installed or its scheduler cannot be reached.

    Not a fault of the scenario file (that is a ``ScenarioError``): the message says what to
    install or check.
    """
