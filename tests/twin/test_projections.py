"""Projections on a small hand-built log: every view's rows checked by hand.

The log (:func:`record_valley`) holds two bins, two beacons in one zone (one of them moves),
a metered site across the spring clock change, citizens with reports and ideas, and two
services. Each test runs on the embedded SQLite store and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from domain import Beacon, Bin, Citizen, Position, Service, Site, idea_id
from twin import ValleyTwin, open_twin
from twin.projections import PROJECTIONS, catch_up, status, view_store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

GIGNAC = Position(746023.0, 6282711.0)  # inside Gignac (34114)
SECRET = "SECRET-PERSONAL-TEXT"  # stands for sealed personal text: must never reach a view


def t(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant in the spring of 2024 (UTC); the clocks went forward on 31 March."""
    return datetime(2024, 3, day, tzinfo=UTC) + timedelta(hours=hour, minutes=minute)


def record_valley(twin: ValleyTwin, after_batch: Callable[[], None] = lambda: None) -> None:
    """Record the hand-built log in five transactions, calling ``after_batch`` after each."""
    bin1 = Bin.install(
        code="B-1",
        stream="residual",
        capacity_l=660,
        position=GIGNAC,
        commune_insee="34114",
        at=t(30, 8),
    )
    bin2 = Bin.install(
        code="B-2",
        stream="glass",
        capacity_l=3000,
        position=Position(746100.0, 6282700.0),
        commune_insee="34114",
        at=t(30, 8),
    )
    beacon1 = Beacon.install(
        code="BE-1", zone_code="Z-CENTRE", position=GIGNAC, commune_insee="34114", at=t(30, 7)
    )
    beacon2 = Beacon.install(
        code="BE-2", zone_code="Z-CENTRE", position=GIGNAC, commune_insee="34114", at=t(30, 7)
    )
    site = Site.register(
        code="S-1",
        name="Mairie",
        site_kind="public_building",
        geometry_wkt="POLYGON ((746000 6282700, 746050 6282700, 746050 6282750, 746000 6282700))",
        commune_insee="34114",
        at=t(30, 7),
    )
    creche = Service.open(
        code="SV-1",
        name="Crèche",
        service_kind="childcare",
        capacity=2,
        position=GIGNAC,
        commune_insee="34114",
        at=t(30, 7),
    )
    training = Service.open(
        code="SV-2",
        name="Atelier",
        service_kind="digital_training",
        capacity=12,
        position=GIGNAC,
        commune_insee="34114",
        at=t(30, 7),
    )
    alice = Citizen.register(pseudonym="CIT-1", commune_insee="34114", at=t(30, 7))
    bob = Citizen.register(pseudonym="CIT-2", commune_insee="34035", at=t(30, 7))
    carol = Citizen.register(pseudonym="CIT-3", commune_insee="34035", at=t(30, 7))
    everything = (bin1, bin2, beacon1, beacon2, site, creche, training, alice, bob, carol)
    twin.save(*everything)
    after_batch()

    bin1.measure_fill_level(10.0, t(30, 8, 15))
    bin1.measure_fill_level(30.0, t(30, 8, 45))
    bin2.measure_fill_level(80.0, t(30, 8, 20), device_id="DEV-2")
    bin2.report_overflow("crew", t(30, 8, 30))
    beacon1.count_footfall(t(30, 8), t(30, 8, 15), 10)
    beacon1.count_footfall(t(30, 8, 15), t(30, 8, 30), 5)
    beacon2.count_footfall(t(30, 8), t(30, 9), 7)
    site.meter_energy(1000.0, t(30, 22))  # 23:00 in Gignac
    alice.file_report(
        "R-1", "overflowing_bin", Position(746037.4, 6282755.9), SECRET, t(30, 8), photo_ref=SECRET
    )
    first = alice.submit_idea("I-1", "TITLE-TOKEN-1", SECRET, t(30, 8, 5))
    twin.save(*everything)
    after_batch()

    bin1.measure_fill_level(50.5, t(30, 9, 10))
    bin1.empty("round-1", 40.0, t(30, 9, 30))
    bin1.measure_fill_level(5.0, t(30, 9, 50))
    beacon1.count_footfall(t(30, 9), t(30, 9, 15), 3)
    beacon2.move(GIGNAC, "34114", "Z-OTHER", t(30, 9, 30))
    beacon2.count_footfall(t(30, 9, 30), t(30, 10), 4)
    alice.file_report("R-2", "street_light", Position(751872.0, 6284616.0), SECRET, t(30, 9))
    alice.acknowledge_report("R-1", t(30, 10, 30), note=SECRET)
    alice.reject_report("R-2", t(30, 12), note=SECRET)
    bob.vote_idea(first, t(30, 9))
    carol.vote_idea(first, t(30, 9, 30))
    carol.vote_idea(idea_id("CIT-2", "I-3"), t(30, 10))  # before the idea is in the log
    for ref in ("Q-1", "Q-2", "Q-3"):
        creche.request_place(ref, t(30, 8))
    creche.grant_place("Q-1", t(30, 9))
    creche.grant_place("Q-2", t(30, 9))
    twin.save(*everything)
    after_batch()

    site.meter_energy(1046.0, t(31, 22))  # midnight starting 1 April in Gignac, 24 h later
    alice.resolve_report("R-1", t(31, 8), note=SECRET)
    second = bob.submit_idea("I-2", "TITLE-TOKEN-2", SECRET, t(31, 8))
    alice.vote_idea(second, t(31, 9))
    bob.submit_idea("I-3", "TITLE-TOKEN-3", SECRET, t(31, 10))
    creche.release_place("Q-1", t(31, 9))
    creche.change_capacity(3, t(31, 10))
    training.schedule_session("SESSION-1", t(31, 14), 10, t(31, 9))
    training.enrol("SESSION-1", "P-1", t(31, 10))
    training.enrol("SESSION-1", "P-2", t(31, 10))
    training.record_attendance("SESSION-1", "P-1", t(31, 14, 5))
    twin.save(*everything)
    after_batch()

    site.replace_meter(1050.0, 0.0, datetime(2024, 4, 1, 10, tzinfo=UTC))
    site.meter_energy(2.5, datetime(2024, 4, 1, 12, tzinfo=UTC))
    bin2.remove("replaced by a buried column", t(31, 12))
    twin.save(*everything)
    after_batch()


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    twin = open_twin(store_url)
    try:
        yield twin
    finally:
        twin.close()


@pytest.fixture
def caught_up(twin: ValleyTwin) -> ValleyTwin:
    record_valley(twin)
    catch_up(twin)
    return twin


def rows(twin: ValleyTwin, table: str, order: str) -> list[dict[str, Any]]:
    """A view table's rows as dicts of Python values (times as UTC datetimes, days as dates)."""
    store = view_store(twin)
    spec = next(t for p in PROJECTIONS.values() for t in p.tables if t.name == table)
    names = [c.name for c in spec.columns]
    readers = [store.dialect.from_db.get(c.type) for c in spec.columns]
    with store.read() as db:
        raw = db.fetch(
            f"SELECT {', '.join(names)} FROM {store.dialect.table(table)} ORDER BY {order}"
        )
    return [
        {
            n: (v if r is None or v is None else r(v))
            for n, v, r in zip(names, row, readers, strict=True)
        }
        for row in raw
    ]


def by(rows_: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    (found,) = [r for r in rows_ if all(r[k] == v for k, v in match.items())]
    return found


def test_asset_state_holds_each_assets_current_state(caught_up: ValleyTwin) -> None:
    assets = rows(caught_up, "asset_state", "code")
    assert [a["code"] for a in assets] == ["B-1", "B-2", "BE-1", "BE-2", "S-1", "SV-1", "SV-2"]
    bin1 = by(assets, code="B-1")
    assert bin1["kind"] == "bin" and bin1["subkind"] == "residual" and bin1["capacity"] == 660
    assert (bin1["x_l93"], bin1["y_l93"], bin1["commune_insee"]) == (GIGNAC.x, GIGNAC.y, "34114")
    assert bin1["fill_percent"] == 5.0 and bin1["fill_measured_at"] == t(30, 9, 50)
    assert (bin1["emptied_count"], bin1["emptied_mass_kg"], bin1["last_emptied_at"]) == (
        1,
        40.0,
        t(30, 9, 30),
    )
    assert (
        bin1["version"] == 6 and bin1["last_event_at"] == t(30, 9, 50) and bin1["retired"] is False
    )
    bin2 = by(assets, code="B-2")
    assert bin2["sensor_device_id"] == "DEV-2" and bin2["overflow_count"] == 1
    assert (
        bin2["retired"] is True and bin2["version"] == 5
    )  # installed, sensor, fill, overflow, removed
    beacon2 = by(assets, code="BE-2")
    assert beacon2["zone_code"] == "Z-OTHER" and beacon2["footfall_total"] == 11
    assert beacon2["counted_until"] == t(30, 10)
    site = by(assets, code="S-1")
    assert site["meter_index_kwh"] == 2.5 and site["consumption_kwh"] == pytest.approx(52.5)
    assert site["meter_replacements"] == 1 and site["subkind"] == "public_building"
    assert by(assets, code="SV-1")["capacity"] == 3
    assert by(assets, code="SV-2")["version"] == 5
    assert all(a["kind"] != "citizen" for a in assets)


def test_bin_fill_hourly_has_count_mean_last_and_max_per_hour(caught_up: ValleyTwin) -> None:
    bin1, bin2 = str(Bin.id_for("B-1")), str(Bin.id_for("B-2"))
    fill = rows(caught_up, "bin_fill_hourly", "bin_id, hour")
    eight = by(fill, bin_id=bin1, hour=t(30, 8))
    assert (eight["readings"], eight["fill_mean"], eight["fill_last"], eight["fill_max"]) == (
        2,
        20.0,
        30.0,
        30.0,
    )
    assert eight["fill_last_at"] == t(30, 8, 45) and eight["emptied"] == 0
    nine = by(fill, bin_id=bin1, hour=t(30, 9))
    assert (nine["readings"], nine["fill_mean"], nine["fill_last"], nine["fill_max"]) == (
        2,
        27.75,
        5.0,
        50.5,
    )
    assert nine["emptied"] == 1
    assert by(fill, bin_id=bin2, hour=t(30, 8))["fill_mean"] == 80.0
    assert len(fill) == 3


def test_footfall_hourly_sums_scanners_and_counts_them(caught_up: ValleyTwin) -> None:
    footfall = rows(caught_up, "footfall_hourly", "zone_code, hour")
    assert [
        (f["zone_code"], f["hour"], f["devices"], f["scanners"], f["devices_per_scanner"])
        for f in footfall
    ] == [
        ("Z-CENTRE", t(30, 8), 22, 2, 11.0),  # BE-1: 10 + 5 over two intervals, BE-2: 7
        ("Z-CENTRE", t(30, 9), 3, 1, 3.0),
        ("Z-OTHER", t(30, 9), 4, 1, 4.0),  # BE-2 moved at 09:30
    ]


def test_energy_daily_shares_index_differences_over_local_days(caught_up: ValleyTwin) -> None:
    energy = rows(caught_up, "energy_daily", "day")
    # 46 kWh over 24 h from 23:00 on 30 March: one hour that day, 23 on the day the clocks changed.
    assert [(e["day"], e["kwh"], e["readings"]) for e in energy] == [
        (date(2024, 3, 30), 1.916667, 1),
        (date(2024, 3, 31), 44.083333, 0),
        (date(2024, 4, 1), 6.5, 3),  # 4 kWh to the old meter's final index, 2.5 on the new one
    ]
    assert sum(e["kwh_micro"] for e in energy) == 52_500_000
    assert {e["site_code"] for e in energy} == {"S-1"}


def test_citizen_reports_have_times_and_nothing_personal(caught_up: ValleyTwin) -> None:
    reports = rows(caught_up, "citizen_reports", "report_ref")
    first, second = reports
    assert (first["report_ref"], first["category"], first["commune_insee"]) == (
        "R-1",
        "overflowing_bin",
        "34114",
    )
    assert (first["x_coarse"], first["y_coarse"]) == (746025.0, 6282775.0)  # its 50 m cell
    assert first["status"] == "resolved"
    assert (first["filed_at"], first["acknowledged_at"], first["resolved_at"]) == (
        t(30, 8),
        t(30, 10, 30),
        t(31, 8),
    )
    assert (first["hours_to_acknowledgement"], first["hours_to_resolution"]) == (2.5, 24.0)
    assert (second["status"], second["commune_insee"], second["rejected_at"]) == (
        "rejected",
        "34035",
        t(30, 12),
    )
    assert second["hours_to_acknowledgement"] is None and second["hours_to_resolution"] is None
    citizen = str(Citizen.id_for("CIT-1"))
    for table in (t.name for p in PROJECTIONS.values() for t in p.tables):
        dumped = repr(rows(caught_up, table, "1"))
        assert SECRET not in dumped and citizen not in dumped and "CIT-1" not in dumped, table


def test_idea_ranking_counts_votes_and_keeps_titles_as_recorded(caught_up: ValleyTwin) -> None:
    ideas = rows(caught_up, "idea_ranking", "votes DESC, submitted_at")
    assert [(i["title"], i["votes"], i["submitted_at"]) for i in ideas] == [
        ("TITLE-TOKEN-1", 2, t(30, 8, 5)),
        ("TITLE-TOKEN-2", 1, t(31, 8)),
        ("TITLE-TOKEN-3", 1, t(31, 10)),  # voted for before it was submitted
    ]
    assert ideas[0]["idea_id"] == idea_id("CIT-1", "I-1") and ideas[0]["last_vote_at"] == t(
        30, 9, 30
    )


def test_service_occupancy_follows_places_and_sessions(caught_up: ValleyTwin) -> None:
    services = rows(caught_up, "service_occupancy", "code")
    creche, training = services
    assert (creche["capacity"], creche["occupied"], creche["waiting"]) == (3, 1, 1)
    assert creche["occupancy_rate"] == pytest.approx(1 / 3)
    assert (creche["name"], creche["service_kind"], creche["closed"]) == (
        "Crèche",
        "childcare",
        False,
    )
    assert (
        training["sessions"],
        training["session_seats"],
        training["enrolled"],
        training["attended"],
    ) == (1, 10, 2, 1)
    assert training["updated_at"] == t(31, 14, 5)


def test_status_says_caught_up_projections_have_no_lag(caught_up: ValleyTwin) -> None:
    head = caught_up.recorder.max_notification_id()
    report = {s.name: s for s in status(caught_up)}
    assert set(report) == set(PROJECTIONS)
    assert all(
        s.position == head and s.lag == 0 and s.state == "up to date" for s in report.values()
    )
    # Marks of emptyings and signs of overflowing: bin 1's emptying, bin 2's overflow report.
    assert report["asset_state"].rows == {"asset_state": 7, "bin_overflow_marks": 2}
    assert report["footfall_hourly"].rows["footfall_scanner_hourly"] == 4
    assert catch_up(caught_up) == dict.fromkeys(PROJECTIONS, 0)
