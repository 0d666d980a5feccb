"""Argument types shared by the ``twin`` sub-commands: numbers checked where they are parsed.

A value refused here is a malformed command line (exit code 2, argparse's one-line usage
error naming the option). Not responsible for what the numbers mean to each command.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in ``[minimum, maximum]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"a whole number, not {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"at least {minimum}" if maximum is None else f"{minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"{bound}, not {value}")
        return value

    return parse


def finite_number(minimum: float, maximum: float) -> Callable[[str], float]:
    """An argparse ``type``: a finite number in ``[minimum, maximum]``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"a number, not {text!r}") from None
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"a number from {minimum:g} to {maximum:g}, not {text}"
            )
        return value

    return parse
