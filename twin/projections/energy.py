"""The ``energy_daily`` view: kWh per site per local day (Europe/Paris), from meter indexes.

The energy between two readings of a site's cumulative index is their difference, shared out
over the local days between the two instants in proportion to time (a reading at 06:00 after
one the previous 06:00 puts 18/24 on the first day). A meter replacement closes the old
meter at its final index and opens the new one at its first. Energy is accumulated in exact
integers of µkWh (``kwh_micro``); ``kwh`` is derived from it. ``readings`` counts the
index readings taken that day. A supporting table ``energy_meters`` holds each site's last
index and its instant. Not responsible for tariffs, CO2 or the lighting model (simulation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain import Site
from twin.projections.base import CannotApply, Notes, Page, Projection, id_text
from twin.projections.rows import Db, KeyedRows
from twin.projections.sql import Column, Merge, Table
from twin.projections.timebins import MICRO, local_day, split_by_local_day, to_micro

if TYPE_CHECKING:
    from datetime import datetime

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
_MERGES: dict[str, Merge] = {"site_code": "set", "kwh_micro": "add", "readings": "add"}


class _EnergyPage(Page):
    def __init__(self, db: Db, notes: Notes) -> None:
        self.db = db
        self.meters = KeyedRows(db, ENERGY_METERS)
        self.meters.load([id_text(site_id) for site_id in notes.originator_ids()])
        self.days: dict[tuple[str, Any], list[Any]] = {}  # (site, day) → [code, µkWh, readings]

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

    def _consume(self, meter: dict[str, Any], index_kwh: float, at: datetime) -> None:
        """Share the energy since the last reading over the days in between."""
        last = meter["last_index_kwh"]
        if last is None:
            return
        if index_kwh < last:
            raise CannotApply(
                f"site {meter['site_code']}: index went down from {last} to {index_kwh} kWh "
                "without a meter replacement"
            )
        for day, share in split_by_local_day(meter["last_at"], at, to_micro(index_kwh - last)):
            self._day(meter, day)[1] += share

    def registered(self, event: Any) -> None:
        site_id = id_text(event.originator_id)
        if self.meters.get(site_id) is not None:
            raise CannotApply(f"site {event.code} is registered a second time")
        self.meters.put(
            site_id,
            {"site_id": site_id, "site_code": event.code, "last_index_kwh": None, "last_at": None},
        )

    def metered(self, event: Any) -> None:
        meter = self._meter(event)
        self._consume(meter, event.index_kwh, event.timestamp)
        self._day(meter, local_day(event.timestamp))[2] += 1
        meter["last_index_kwh"], meter["last_at"] = event.index_kwh, event.timestamp
        self.meters.put(meter["site_id"], meter)

    def meter_replaced(self, event: Any) -> None:
        meter = self._meter(event)
        self._consume(meter, event.final_index_kwh, event.timestamp)
        self._day(meter, local_day(event.timestamp))[2] += 1
        meter["last_index_kwh"], meter["last_at"] = event.new_index_kwh, event.timestamp
        self.meters.put(meter["site_id"], meter)

    def flush(self) -> None:
        self.meters.flush()
        self.db.accumulate(
            ENERGY_DAILY, _MERGES, ((site, day, *t) for (site, day), t in self.days.items())
        )


class EnergyDaily(Projection):
    """Energy per site per local day."""

    name = "energy_daily"
    description = "kWh per site per Europe/Paris day, from meter index differences"
    tables = (ENERGY_DAILY, ENERGY_METERS)
    page_class = _EnergyPage
    handlers = {
        Site.Registered: _EnergyPage.registered,
        Site.EnergyMetered: _EnergyPage.metered,
        Site.MeterReplaced: _EnergyPage.meter_replaced,
    }
