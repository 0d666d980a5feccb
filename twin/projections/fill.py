"""The ``bin_fill_hourly`` view: each bin's fill readings per UTC hour.

Per (bin, hour): how many readings, their mean (from an exact sum), the last reading and when,
the highest, and how many times the bin was emptied in that hour (an emptying is not a
reading: it explains a drop). Rows are merged into the table without reading it, so a page
costs one ``executemany`` whatever the table's size. Bin codes are in ``asset_state``
(join on ``bin_id = aggregate_id``). A corrected or retracted reading or emptying recomputes
the bin's row of that hour from the bin's facts in it. Not responsible for a bin's current
state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain import Bin
from twin.projections.base import Notes, Page, Projection, id_text
from twin.projections.sql import Column, Merge, Table
from twin.projections.timebins import HOURS, MICRO, hour_of

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from twin.projections.rows import Db

BIN_FILL_HOURLY = Table(
    "bin_fill_hourly",
    (
        Column("bin_id", "text"),
        Column("hour", "instant"),
        Column("readings", "int"),
        Column("fill_sum_micro", "int"),
        Column(
            "fill_mean",
            "real",
            generated="CASE WHEN readings > 0 "
            f"THEN CAST(fill_sum_micro AS DOUBLE PRECISION) / readings / {MICRO}.0 END",
        ),
        Column("fill_last", "real"),
        Column("fill_last_at", "instant"),
        Column("fill_max", "real"),
        Column("emptied", "int"),
    ),
    key=("bin_id", "hour"),
    indexes=(("hour",),),
)
_MERGES: dict[str, Merge] = {
    "readings": "add",
    "fill_sum_micro": "add",
    "fill_last": "newest",  # a late reading is not the hour's last one
    "fill_last_at": "max",
    "fill_max": "max",
    "emptied": "add",
}
# Positions in an accumulator list (the table's columns after the key).
_READINGS, _SUM, _LAST, _LAST_AT, _MAX, _EMPTIED = range(6)


class _FillPage(Page):
    def __init__(self, db: Db, notes: Notes) -> None:
        self.db = db
        # (bin id's integer, hour) → totals; the ids' text is made once per key, at flush.
        self.totals: dict[tuple[int, Any], list[Any]] = {}
        self.ids: dict[int, UUID] = {}

    def _totals(self, event: Any) -> list[Any]:
        key = (event.originator_id.int, hour_of(event.timestamp))
        totals = self.totals.get(key)
        if totals is None:
            totals = self.totals[key] = [0, 0, None, None, None, 0]
            self.ids[key[0]] = event.originator_id
        return totals

    def fill_measured(self, event: Any) -> None:
        # The busiest handler of all (most of the log is fill readings): _totals inlined.
        instant = event.timestamp
        key = (event.originator_id.int, HOURS.get(instant) or hour_of(instant))
        totals = self.totals.get(key)
        if totals is None:
            totals = self.totals[key] = [1, 0, None, None, None, 0]
            self.ids[key[0]] = event.originator_id
        else:
            totals[_READINGS] += 1
        value = event.fill_percent
        totals[_SUM] += round(value * MICRO)
        if totals[_LAST_AT] is None or instant >= totals[_LAST_AT]:
            totals[_LAST] = value
            totals[_LAST_AT] = instant
        if totals[_MAX] is None or value > totals[_MAX]:
            totals[_MAX] = value

    def emptied(self, event: Any) -> None:
        self._totals(event)[_EMPTIED] += 1

    def flush(self) -> None:
        ids = self.ids
        self.db.accumulate(
            BIN_FILL_HOURLY,
            _MERGES,
            ((id_text(ids[i]), hour, *totals) for (i, hour), totals in self.totals.items()),
        )


class BinFillHourly(Projection):
    """Fill per bin per hour."""

    name = "bin_fill_hourly"
    version = 2  # 2: the hour's last reading is the latest in world time, not in arrival
    description = "fill readings per bin per UTC hour: count, mean, last, max, emptyings"
    tables = (BIN_FILL_HOURLY,)
    page_class = _FillPage
    handlers = {Bin.FillLevelMeasured: _FillPage.fill_measured, Bin.Emptied: _FillPage.emptied}

    def forget(self, db: Db, original: Any, facts: Sequence[Any]) -> Sequence[Any]:
        """The bin's row of the amended fact's hour, recomputed from the bin's facts in it."""
        hour = hour_of(original.timestamp)
        db.delete(BIN_FILL_HOURLY, {"bin_id": id_text(original.originator_id), "hour": hour})
        return [fact for fact in facts if hour_of(fact.timestamp) == hour]
