"""A progress bar on stderr for long runs: events done, rate, time left.

On a terminal it redraws one line a few times a second; elsewhere (a log file, a test) it
writes a line every few seconds. Time left is the remaining log positions at the rate
positions have been passing. Not responsible for the run it reports on.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from twin.projections.runner import Progress

WIDTH = 24


def _clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def describe(report: Progress) -> str:
    """One line: bar, percentage of the log, events, rate, time left."""
    span = max(report.head - report.start, 1)
    done = min(max(report.position - report.start, 0), span)
    fraction = done / span
    filled = int(fraction * WIDTH)
    rate = report.events / report.elapsed if report.elapsed > 0 else 0.0
    passing = done / report.elapsed if report.elapsed > 0 else 0.0
    left = _clock((span - done) / passing) if passing > 0 else "?"
    return (
        f"[{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:6.1%}  {report.events:,} events  "
        f"{rate:,.0f} events/s  {left} left"
    )


class StatusLine:
    """One line of status on a stream: redrawn a few times a second on a terminal, written
    every few seconds elsewhere; :meth:`close` shows the last status and ends the line."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.every = 0.2 if self.tty else 5.0
        self._shown_at = 0.0
        self._last: str | None = None

    def update(self, text: str) -> None:
        """The new status, shown if the last one was shown long enough ago."""
        self._last = text
        now = time.monotonic()
        if now - self._shown_at >= self.every:
            self._shown_at = now
            self._show(text)

    def _show(self, text: str) -> None:
        line = f"{self.label}: {text}"
        if self.tty:
            self.stream.write(f"\r\x1b[K{line}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Show the final state and end the line."""
        if self._last is not None:
            self._show(self._last)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class ProgressBar(StatusLine):
    """The ``progress`` callable of ``catch_up``/``rebuild``; call :meth:`close` at the end."""

    def __call__(self, report: Progress) -> None:
        self.update(describe(report))
