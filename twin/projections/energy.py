"""The ``energy_daily`` view: kWh per site per local day (Europe/Paris), from meter indexes.

The energy between two readings of a site's cumulative index is their difference, shared out
over the local days between the two instants in proportion to time (a reading at 06:00 after
one the previous 06:00 puts 18/24 on the first day). A meter replacement closes the old
meter at its final index and opens the new one at its first. Energy is accumulated in exact
integers of µkWh (``kwh_micro``); ``kwh`` is derived from it. ``readings`` counts the
index readings taken that day. A supporting table ``energy_meters`` holds each site's last
index and its instant.

Readings are placed in world time: one read late (dated between two readings recorded before
it) takes back the energy shared between those two and shares it out through itself, which
is what the readings in order would have given. The working table ``energy_meter_marks``
keeps every reading and replacement, read only for a late one. A corrected or retracted
reading recomputes the site: its rows are forgotten and its readings applied again.
Not responsible for tariffs, CO2 or the lighting model (simulation).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain import Site
from twin.projections.base import CannotApply, Notes, Page, Projection, id_text
from twin.projections.rows import Db, KeyedRows
from twin.projections.sql import Column, Merge, Table
from twin.projections.timebins import MICRO, local_day, split_by_local_day, to_micro

if TYPE_CHECKING:
    from collections.abc import Sequence

ENERGY_DAILY = Table(
    "energy_daily",
    (
        Column("site_id", "text"),
        Column("day", "day"),
        Column("site_code", "text"),
        Column("kwh_micro", "int"),
        Column("kwh", "real", generated=f"CAST(kwh_micro AS DOUBLE PRECISION) / {MICRO}.0"),
        Column("readings", "int"),
    ),
    key=("site_id", "day"),
    indexes=(("day",),),
)
ENERGY_METERS = Table(
    "energy_meters",
    (
        Column("site_id", "text"),
        Column("site_code", "text"),
        Column("last_index_kwh", "real"),
        Column("last_at", "instant"),
    ),
    key=("site_id",),
)
ENERGY_MARKS = Table(
    "energy_meter_marks",
    (
        Column("site_id", "text"),
        Column("at", "instant"),
        Column("version", "int"),  # the fact's: marks of one instant in the order they came
        Column("index_in_kwh", "real"),  # a reading's index; a replacement's final index
        Column("index_out_kwh", "real"),  # a reading's index; the new meter's first index
    ),
    key=("site_id", "at", "version"),
)
_MERGES: dict[str, Merge] = {"site_code": "set", "kwh_micro": "add", "readings": "add"}


_Mark = tuple[str, datetime, int, float, float]  # site, at, version, index in, index out


def _mark_time(mark: _Mark) -> datetime:
    return mark[1]


class _EnergyPage(Page):
    def __init__(self, db: Db, notes: Notes) -> None:
        self.db = db
        self.meters = KeyedRows(db, ENERGY_METERS)
        self.meters.load([id_text(site_id) for site_id in notes.originator_ids()])
        self.days: dict[tuple[str, Any], list[Any]] = {}  # (site, day) → [code, µkWh, readings]
        # Marks of this page, written at flush: (site, at, version, index in, index out).
        self.new_marks: list[_Mark] = []
        # Every mark, in world time, of the sites a late reading made this page read: kept in step.
        self.marks: dict[str, list[_Mark]] = {}

    def _meter(self, event: Any) -> dict[str, Any]:
        meter = self.meters.get(id_text(event.originator_id))
        if meter is None:
            raise CannotApply(f"site {event.originator_id} metered energy but was never registered")
        return meter

    def _day(self, meter: dict[str, Any], day: Any) -> list[Any]:
        key = (meter["site_id"], day)
        totals = self.days.get(key)
        if totals is None:
            totals = self.days[key] = [meter["site_code"], 0, 0]
        return totals

    def _share(
        self,
        meter: dict[str, Any],
        start: tuple[datetime, float],
        end: tuple[datetime, float],
        sign: int,
    ) -> None:
        """Add (sign 1) or take back (sign -1) the energy between two (instant, index)."""
        (start_at, start_index), (end_at, end_index) = start, end
        if end_index < start_index:
            raise CannotApply(
                f"site {meter['site_code']}: index went down from {start_index} to {end_index} "
                "kWh without a meter replacement"
            )
        energy = to_micro(end_index - start_index)
        for day, share in split_by_local_day(start_at, end_at, energy):
            self._day(meter, day)[1] += sign * share

    def _mark(self, meter: dict[str, Any], event: Any, index_in: float, index_out: float) -> None:
        """A reading (index in = index out) or a replacement (the old meter's final index in,
        the new meter's first out) at the event's time: share the energy around it."""
        at, site = event.timestamp, meter["site_id"]
        mark = (site, at, event.originator_version, index_in, index_out)
        last_at = meter["last_at"]
        if last_at is None or at >= last_at:  # in world-time order: the usual case
            if last_at is not None:
                self._share(meter, (last_at, meter["last_index_kwh"]), (at, index_in), 1)
            meter["last_index_kwh"], meter["last_at"] = index_out, at
        else:
            self._late_mark(meter, mark)
        self.new_marks.append(mark)
        known = self.marks.get(site)
        if known is not None:
            insort(known, mark)
        self._day(meter, local_day(at))[2] += 1
        self.meters.put(site, meter)

    def _late_mark(self, meter: dict[str, Any], mark: _Mark) -> None:
        """A mark dated before the site's last one goes between its neighbours in world time:
        the energy from the one before to the one after is shared out again through it."""
        _, at, _, index_in, index_out = mark
        marks = self._marks(meter["site_id"])
        position = bisect_right(marks, at, key=_mark_time)
        if position == len(marks):
            raise CannotApply(f"site {meter['site_code']}: the meter's marks do not reach {at}")
        after = (marks[position][1], marks[position][3])  # its instant, its index in
        if position > 0:
            before = (marks[position - 1][1], marks[position - 1][4])  # its index out
            self._share(meter, before, after, -1)
            self._share(meter, before, (at, index_in), 1)
        self._share(meter, (at, index_out), after, 1)

    def _marks(self, site_id: str) -> list[_Mark]:
        """The site's marks in world time (then recorded order), this page's included."""
        known = self.marks.get(site_id)
        if known is None:
            stored = self.db.select(ENERGY_MARKS, {"site_id": site_id})
            known = [
                (site_id, row["at"], row["version"], row["index_in_kwh"], row["index_out_kwh"])
                for row in stored
            ]
            known.extend(mark for mark in self.new_marks if mark[0] == site_id)
            known.sort()
            self.marks[site_id] = known
        return known

    def registered(self, event: Any) -> None:
        site_id = id_text(event.originator_id)
        if self.meters.get(site_id) is not None:
            raise CannotApply(f"site {event.code} is registered a second time")
        self.meters.put(
            site_id,
            {"site_id": site_id, "site_code": event.code, "last_index_kwh": None, "last_at": None},
        )

    def metered(self, event: Any) -> None:
        self._mark(self._meter(event), event, event.index_kwh, event.index_kwh)

    def meter_replaced(self, event: Any) -> None:
        self._mark(self._meter(event), event, event.final_index_kwh, event.new_index_kwh)

    def flush(self) -> None:
        self.meters.flush()
        self.db.upsert(ENERGY_MARKS, self.new_marks)
        self.db.accumulate(
            ENERGY_DAILY, _MERGES, ((site, day, *t) for (site, day), t in self.days.items())
        )


class EnergyDaily(Projection):
    """Energy per site per local day."""

    name = "energy_daily"
    version = 2  # 2: readings placed in world time (late ones), with the meters' marks
    description = "kWh per site per Europe/Paris day, from meter index differences"
    tables = (ENERGY_DAILY, ENERGY_METERS, ENERGY_MARKS)
    page_class = _EnergyPage
    handlers = {
        Site.Registered: _EnergyPage.registered,
        Site.EnergyMetered: _EnergyPage.metered,
        Site.MeterReplaced: _EnergyPage.meter_replaced,
    }

    def forget(self, db: Db, original: Any, facts: Sequence[Any]) -> Sequence[Any]:
        """The whole site, applied again: a reading's energy is shared with its neighbours'."""
        site_id = id_text(original.originator_id)
        for table in self.tables:
            db.delete(table, {"site_id": site_id})
        return facts
