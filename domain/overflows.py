"""Overflow episodes: the one rule by which every part of the twin counts a bin's overflows.

A bin shows a *sign* of overflowing when someone or something says so (a report: the sensor,
a crew, a citizen; ``Bin.report_overflow``) or when a fill reading reaches
:data:`OVERFLOW_FILL_PERCENT` (a full sensor is taken as overflowing). An **episode** runs from
the first sign after an emptying until the next emptying, and counts once however many signs
it has, of either kind. A sign dated at the very instant of an emptying belongs to the episode
that emptying ends (the bin was full, then lifted: the lift wins, as for the fill level).

Counted in world time, so the order facts arrive in does not matter: a late sign inside an
episode already counted adds nothing, and a late emptying dated between two signs of one
episode splits it in two. The bin's ``overflow_count``, the ``asset_state`` view, the
simulation's replay and the analysts' ``overflows`` series all count by these functions (or,
for the replay, in world-time order by the same rule).

The functions work on sorted lists of instants (emptyings, signs); they do no I/O.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

# A fill reading at or above this level is a sign of overflowing (100 % is the highest a
# reading may be: a sensor cannot see past the brim).
OVERFLOW_FILL_PERCENT = 100.0


def is_overflow_reading(fill_percent: float) -> bool:
    """Whether a fill reading is a sign of overflowing."""
    return fill_percent >= OVERFLOW_FILL_PERCENT


@dataclass(frozen=True)
class Episode:
    """One overflow episode: its first sign, and the emptying that ended it (None: still open)."""

    began: datetime
    ended: datetime | None


def _segment(emptyings: Sequence[datetime], at: datetime) -> int:
    """Index of the stretch between emptyings holding ``at``: stretch k runs after emptying
    k-1 up to and including emptying k (a sign at an emptying's instant is before it)."""
    return bisect_left(emptyings, at)


def _signs_between(
    signs: Sequence[datetime], after: datetime | None, until: datetime | None
) -> bool:
    """Whether a sign lies in (after, until] (None: unbounded on that side)."""
    low = 0 if after is None else bisect_right(signs, after)
    high = len(signs) if until is None else bisect_right(signs, until)
    return high > low


def count_episodes(emptyings: Sequence[datetime], signs: Sequence[datetime]) -> int:
    """The number of episodes in a bin's history (both lists sorted)."""
    return len({_segment(emptyings, at) for at in signs})


def episodes(emptyings: Sequence[datetime], signs: Sequence[datetime]) -> list[Episode]:
    """Each episode of a bin's history, oldest first (both lists sorted)."""
    found: list[Episode] = []
    last_segment = -1
    for at in signs:
        segment = _segment(emptyings, at)
        if segment != last_segment:
            ended = emptyings[segment] if segment < len(emptyings) else None
            found.append(Episode(at, ended))
            last_segment = segment
    return found


def open_since(emptyings: Sequence[datetime], signs: Sequence[datetime]) -> datetime | None:
    """The first sign after the newest emptying (the episode still open), if any."""
    newest = emptyings[-1] if emptyings else None
    first = 0 if newest is None else bisect_right(signs, newest)
    return signs[first] if first < len(signs) else None


def add_sign(emptyings: Sequence[datetime], signs: list[datetime], at: datetime) -> int:
    """Note a sign at ``at`` in ``signs`` (sorted, changed in place); return how many episodes
    it adds (1 if its stretch between emptyings had no sign yet, else 0)."""
    segment = _segment(emptyings, at)
    after = emptyings[segment - 1] if segment > 0 else None
    until = emptyings[segment] if segment < len(emptyings) else None
    new = not _signs_between(signs, after, until)
    place = bisect_left(signs, at)
    if place == len(signs) or signs[place] != at:
        signs.insert(place, at)
    return 1 if new else 0


def add_emptying(emptyings: list[datetime], signs: Sequence[datetime], at: datetime) -> int:
    """Note an emptying at ``at`` in ``emptyings`` (sorted, changed in place); return how many
    episodes it adds (1 if it splits an episode: signs on both sides of it, none between)."""
    segment = _segment(emptyings, at)
    after = emptyings[segment - 1] if segment > 0 else None
    until = emptyings[segment] if segment < len(emptyings) else None
    if until == at:
        return 0  # an emptying at that instant is known already: nothing changes
    insort(emptyings, at)
    split = _signs_between(signs, after, at) and _signs_between(signs, at, until)
    return 1 if split else 0
