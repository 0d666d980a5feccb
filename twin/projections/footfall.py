"""The ``footfall_hourly`` view: devices counted per zone per UTC hour, and by how many scanners.

A count is put in the hour its counting interval starts in, in the zone its beacon served
then, whenever it arrives: a late count lands in its own hour (the beacon refuses one that
overlaps a counted interval or that ends before its last move, so the zone it serves when the
count arrives is the zone it counted in). ``devices`` sums the scanners' counts and ``scanners`` says how many scanners counted,
so both the sum and the mean per scanner (``devices_per_scanner``) are at hand; two scanners
may see the same phone, which is why the sum alone would mislead. Two working tables support
it: ``footfall_beacons`` (each beacon's current zone) and ``footfall_scanner_hourly`` (per
scanner, hour and zone: what it counted), which is how a scanner is counted once per hour
however many intervals it reports. A corrected or retracted count recomputes that hour of the
beacon: its scanner rows are taken out of the zones' sums and its counts of the hour applied
again. Not responsible for counting devices (adapters do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain import Beacon
from twin.projections.base import CannotApply, Notes, Page, Projection, id_text
from twin.projections.rows import Db, KeyedRows
from twin.projections.sql import Column, Merge, Table
from twin.projections.timebins import hour_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

FOOTFALL_HOURLY = Table(
    "footfall_hourly",
    (
        Column("zone_code", "text"),
        Column("hour", "instant"),
        Column("devices", "int"),
        Column("scanners", "int"),
        Column(
            "devices_per_scanner",
            "real",
            generated="CASE WHEN scanners > 0 "
            "THEN CAST(devices AS DOUBLE PRECISION) / scanners END",
        ),
    ),
    key=("zone_code", "hour"),
    indexes=(("hour",),),
)
FOOTFALL_BEACONS = Table(
    "footfall_beacons",
    (Column("beacon_id", "text"), Column("zone_code", "text")),
    key=("beacon_id",),
)
FOOTFALL_SCANNER_HOURLY = Table(
    "footfall_scanner_hourly",
    (
        Column("scanner_hour", "text"),  # beacon id | hour | zone: one text key, loaded in batches
        Column("beacon_id", "text"),
        Column("zone_code", "text"),
        Column("hour", "instant"),
        Column("devices", "int"),
        Column("intervals", "int"),
    ),
    key=("scanner_hour",),
    indexes=(("zone_code", "hour"),),
    fixed=("beacon_id", "zone_code", "hour"),
)
_MERGES: dict[str, Merge] = {"devices": "add", "scanners": "add"}


def _scanner_hour(beacon_id: str, hour: Any, zone_code: str) -> str:
    return f"{beacon_id}|{hour.isoformat()}|{zone_code}"


class _FootfallPage(Page):
    def __init__(self, db: Db, notes: Notes) -> None:
        self.db = db
        self.beacons = KeyedRows(db, FOOTFALL_BEACONS)
        self.beacons.load([id_text(beacon_id) for beacon_id in notes.originator_ids()])
        self.scanners = KeyedRows(db, FOOTFALL_SCANNER_HOURLY)
        self.scanners.load(self._scanner_keys(list(notes.events())))
        self.zones: dict[tuple[str, Any], list[int]] = {}  # (zone, hour) → [devices, new scanners]

    def _scanner_keys(self, events: list[Any]) -> Iterable[str]:
        # A count's zone is only known once the page's earlier moves are applied: load the
        # rows for every zone the beacon serves during the page.
        zones: dict[str, set[str]] = {}
        for beacon_id, row in self.beacons.items():
            zones[beacon_id] = {row["zone_code"]} if row is not None else set()
        for event in events:
            if isinstance(event, Beacon.Installed | Beacon.Moved):
                zones[id_text(event.originator_id)].add(event.zone_code)
        for event in events:
            if isinstance(event, Beacon.FootfallCounted):
                beacon_id = id_text(event.originator_id)
                hour = hour_of(event.interval_start)
                for zone in zones[beacon_id]:
                    yield _scanner_hour(beacon_id, hour, zone)

    def installed(self, event: Any) -> None:
        beacon_id = id_text(event.originator_id)
        if self.beacons.get(beacon_id) is not None:
            raise CannotApply(f"beacon {event.code} is installed a second time")
        self.beacons.put(beacon_id, {"beacon_id": beacon_id, "zone_code": event.zone_code})

    def moved(self, event: Any) -> None:
        beacon_id = id_text(event.originator_id)
        row = self.beacons.get(beacon_id)
        if row is None:
            raise CannotApply(f"beacon {beacon_id} moved but was never installed")
        row["zone_code"] = event.zone_code
        self.beacons.put(beacon_id, row)

    def counted(self, event: Any) -> None:
        beacon_id = id_text(event.originator_id)
        beacon = self.beacons.get(beacon_id)
        if beacon is None:
            raise CannotApply(f"beacon {beacon_id} counted footfall but was never installed")
        zone, hour = beacon["zone_code"], hour_of(event.interval_start)
        key = _scanner_hour(beacon_id, hour, zone)
        scanner = self.scanners.get(key)
        totals = self.zones.get((zone, hour))
        if totals is None:
            totals = self.zones[(zone, hour)] = [0, 0]
        if scanner is None:
            scanner = {
                "scanner_hour": key,
                "beacon_id": beacon_id,
                "zone_code": zone,
                "hour": hour,
                "devices": 0,
                "intervals": 0,
            }
            totals[1] += 1  # a scanner counts once per zone and hour
        scanner["devices"] += event.count
        scanner["intervals"] += 1
        self.scanners.put(key, scanner)
        totals[0] += event.count

    def flush(self) -> None:
        self.beacons.flush()
        self.scanners.flush()
        self.db.accumulate(
            FOOTFALL_HOURLY, _MERGES, ((zone, hour, *t) for (zone, hour), t in self.zones.items())
        )


class FootfallHourly(Projection):
    """Footfall per zone per hour."""

    name = "footfall_hourly"
    description = "devices counted per zone per UTC hour: sum over scanners and number of scanners"
    tables = (FOOTFALL_HOURLY, FOOTFALL_BEACONS, FOOTFALL_SCANNER_HOURLY)
    page_class = _FootfallPage
    handlers = {
        Beacon.Installed: _FootfallPage.installed,
        Beacon.Moved: _FootfallPage.moved,
        Beacon.FootfallCounted: _FootfallPage.counted,
    }

    def forget(self, db: Db, original: Any, facts: Sequence[Any]) -> Sequence[Any]:
        """The beacon's counts of the amended count's hour, taken out of the zones' sums (in
        every zone it ever served: a count lands in the zone it served when it arrived) and
        applied again; its installation and moves too, which say the zones."""
        beacon_id = id_text(original.originator_id)
        hour = hour_of(original.interval_start)
        zones = {f.zone_code for f in facts if isinstance(f, Beacon.Installed | Beacon.Moved)}
        for zone in sorted(zones):
            key = _scanner_hour(beacon_id, hour, zone)
            for scanner in db.select(FOOTFALL_SCANNER_HOURLY, {"scanner_hour": key}):
                db.accumulate(FOOTFALL_HOURLY, _MERGES, [(zone, hour, -scanner["devices"], -1)])
                # No scanner left in the zone's hour: no row, as if none had ever counted.
                db.delete(FOOTFALL_HOURLY, {"zone_code": zone, "hour": hour, "scanners": 0})
            db.delete(FOOTFALL_SCANNER_HOURLY, {"scanner_hour": key})
        db.delete(FOOTFALL_BEACONS, {"beacon_id": beacon_id})
        return [
            fact
            for fact in facts
            if not isinstance(fact, Beacon.FootfallCounted) or hour_of(fact.interval_start) == hour
        ]
