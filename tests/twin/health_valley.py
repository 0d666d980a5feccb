"""A small valley with known healthy, silent and faulty devices, for the data-health tests.

``NOW`` is 8 June 2024 12:00 UTC; the health window is the 7 days before it (from 1 June 12:00).

* ``B-OK`` (Gignac): readings every 12 h at 06:00 and 18:00 from 31 May, battery 90 %.
* ``B-SILENT`` (Gignac): the same until 4 June 06:00, then nothing; battery 15 %. Its last
  reading covers it until 4 June 18:00: 90 hours of the window are gaps.
* ``B-FAULT`` (Aniane): like ``B-OK``, then a tilt fault at 8 June 07:00; battery 5 %; it
  was 85 % full from 7 June 18:00 and 100 % (overflowing) at 8 June 06:00.
* ``B-PLAIN`` (Aniane): no sensor: not a device.
* ``BE-1`` (Gignac): hourly footfall counts from 5 June 12:00 to now: the 96 hours before are gaps.
* ``EP-1`` lighting cabinet (Gignac): a daily index at 06:00 from 1 June; ``EP-2`` public
  building (Aniane): no reading at all (168 gap hours).
* ``TL-1`` third place (Aniane): one occupancy count on 6 June 12:00 (48 h old).
* A citizen report of an overflowing bin filed 6 June 10:00, never acknowledged, and one
  filed and acknowledged within the hour.
* Dead letters: one for an unknown bin, one implausible fill (quarantined), one unreadable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.wire import Envelope, encode
from domain import Beacon, Bin, Citizen, Position, Site
from twin import ValleyTwin, load_geography
from twin.ingest import Incoming, IngestProcessor
from twin.projections import catch_up

NOW = datetime(2024, 6, 8, 12, tzinfo=UTC)
T0 = datetime(2024, 1, 1, tzinfo=UTC)
GIGNAC, ANIANE = "34114", "34010"
HERE = Position(746023.0, 6282711.0)  # inside Gignac


def day(d: int, hour: int = 0) -> datetime:
    """An instant of June 2024 (UTC)."""
    return datetime(2024, 6, d, hour, tzinfo=UTC)


def _bin(code: str, commune: str) -> Bin:
    return Bin.install(
        code=code, stream="glass", capacity_l=3000, position=HERE, commune_insee=commune, at=T0
    )


def _twice_a_day(bin_: Bin, device: str, until: datetime, fill: float = 20.0) -> None:
    at = datetime(2024, 5, 31, 6, tzinfo=UTC)
    while at <= until:
        bin_.measure_fill_level(fill, at, device_id=device)
        at += timedelta(hours=12)


def record_valley(twin: ValleyTwin) -> None:
    """Record the valley described above and bring the read models up to date."""
    ok = _bin("B-OK", GIGNAC)
    _twice_a_day(ok, "DEV-OK", day(8, 6))
    ok.report_sensor_battery(90.0, day(8, 6))
    silent = _bin("B-SILENT", GIGNAC)
    _twice_a_day(silent, "DEV-SILENT", day(4, 6))
    silent.report_sensor_battery(15.0, day(4, 6))
    faulty = _bin("B-FAULT", ANIANE)
    _twice_a_day(faulty, "DEV-FAULT", day(7, 6))
    faulty.measure_fill_level(85.0, day(7, 18))
    faulty.measure_fill_level(100.0, day(8, 6))
    faulty.report_sensor_battery(5.0, day(8, 6))
    faulty.report_sensor_fault("tilt", day(8, 7))
    plain = _bin("B-PLAIN", ANIANE)

    beacon = Beacon.install(
        code="BE-1", zone_code="Z-1", position=HERE, commune_insee=GIGNAC, at=T0
    )
    start = day(5, 12)
    while start < NOW:
        beacon.count_footfall(start, start + timedelta(hours=1), 3)
        start += timedelta(hours=1)
    beacon.report_battery(60.0, day(8, 11))

    cabinet = Site.register(
        code="EP-1",
        name="Armoire 1",
        site_kind="lighting_cabinet",
        geometry_wkt="POINT (746023 6282711)",
        commune_insee=GIGNAC,
        at=T0,
        light_points=40,
        point_power_w=140.0,
    )
    for d in range(1, 9):
        cabinet.meter_energy(1000.0 + 50 * d, day(d, 6))
    building = Site.register(
        code="EP-2",
        name="Mairie",
        site_kind="public_building",
        geometry_wkt="POINT (746023 6282711)",
        commune_insee=ANIANE,
        at=T0,
    )
    third = Site.register(
        code="TL-1",
        name="Tiers-lieu",
        site_kind="third_place",
        geometry_wkt="POINT (746023 6282711)",
        commune_insee=ANIANE,
        at=T0,
    )
    third.count_occupancy(12, day(6, 12))
    twin.add(ok, silent, faulty, plain, beacon, cabinet, building, third)
    _citizen_reports(twin)
    _dead_letters(twin)
    catch_up(twin)


def _citizen_reports(twin: ValleyTwin) -> None:
    citizen = Citizen.register(pseudonym="CIT-1", commune_insee=GIGNAC, at=T0)
    citizen.file_report("R-1", "overflowing_bin", HERE, "full", day(6, 10))
    citizen.file_report("R-2", "overflowing_bin", HERE, "full", day(7, 10))
    citizen.acknowledge_report("R-2", day(7, 10) + timedelta(minutes=30))
    twin.add(citizen)


def _dead_letters(twin: ValleyTwin) -> None:
    def fill(number: int, asset: str, fill_percent: float, at: datetime) -> Incoming:
        envelope = Envelope(
            f"m-{number}", "gw-1", "DEV-OK", asset, "bin.fill", at, {"fill_percent": fill_percent}
        )
        return Incoming(encode(envelope))

    processor = IngestProcessor(twin, load_geography(), clock=lambda: day(8, 8))
    replies = processor.process(
        [
            fill(1, "B-NOWHERE", 10.0, day(8, 7)),
            fill(2, "B-OK", 100.0, day(8, 6) + timedelta(minutes=30)),
            Incoming(b"\xc1 not msgpack"),
        ]
    )
    assert [r.status for r in replies if r is not None] == ["rejected"] * 3, replies
