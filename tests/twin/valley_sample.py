"""A small valley for the analysts' and exports' tests: every kind of asset, and citizens.

Times are days after the commissioning date (``tests.conftest.at``). What is recorded:

* bins in Gignac: a glass column with a sensor (fill readings, a citizen's overflow report, an
  emptying, a tilt fault, battery), a residual bin without a sensor, a paper column removed on
  day 5, a packaging column installed on day 10;
* a footfall scanner at the activity zone counting hourly intervals on days 1 and 2;
* a lighting cabinet (daily meter readings, a meter replacement, a dimming schedule), a town
  hall with an occupancy count, a remarkable site with its area (Saint-Guilhem), a cabinet
  never metered;
* a crèche (families on its waiting list, one granted a place) and a training service (a
  session with an enrolled trainee);
* a citizen, whose pseudonym, report text, status note and idea must never leave the twin.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import shapely

from domain import Beacon, Bin, Citizen, Position, Service, Site
from tests.conftest import T0, at
from twin import ValleyTwin, load_geography, open_twin

GIGNAC = "34114"
SAINT_GUILHEM = "34261"
GLASS, RESIDUAL, PAPER, PACKAGING = (
    "B-34114-GLA-0001",
    "B-34114-OMR-0001",
    "B-34114-PAP-0001",
    "B-34114-EMB-0001",
)
SENSOR = "A84041000181C9B2"
SCANNER, ZONE = "BLE-ZAE-CAMALCE-1", "ZAE-CAMALCE"
CABINET, DARK_CABINET, HALL, ABBEY = (
    "EP-34114-001",
    "EP-34114-002",
    "MAIRIE-34114",
    "SITE-SAINT-GUILHEM",
)
CRECHE, TRAINING = "CRECHE-34114", "FORMATION-NUMERIQUE"

# What must never appear in an export or an analyst's frame.
PSEUDONYM = "C-ZOE-LAFLEUR-1987"
REPORT_TEXT = "Conteneur qui déborde devant chez Mme Pélissier, 12 rue des Micocouliers"
NOTE = "Rappeler M. Pélissier au 06 12 34 56 78"
IDEA_TITLE = "Bancs ombragés place de la Victoire"
IDEA_TEXT = "Proposé par Zoé, qui habite au-dessus de la boulangerie"
FAMILY_REF, TRAINEE_REF = "FAMILLE-ROUQUETTE", "STAGIAIRE-AMRANI"
SECRETS = (
    PSEUDONYM,
    REPORT_TEXT,
    NOTE,
    IDEA_TITLE,
    IDEA_TEXT,
    FAMILY_REF,
    TRAINEE_REF,
    "Pélissier",
    "Zoé",
)

FILLS = (
    (1, 20.0),
    (2, 45.0),
    (3, 80.0),
    (4, 10.0),
    (6, 35.0),
)  # (day, percent); emptied on day 3.5
EMPTIED_DAY = 3.5
INDEXES = ((1, 1000.0), (2, 1060.0), (3, 1125.0))  # (day, kWh), then the meter is replaced on day 4
REPLACED = (4, 1180.0, 5.0)  # day, final index of the old meter, first index of the new one
AFTER_REPLACEMENT = (5, 70.0)
FOOTFALL = {day: [3 * hour + day for hour in range(24)] for day in (1, 2)}  # hourly counts


def position_in(insee: str, dx: float = 0.0, dy: float = 0.0) -> Position:
    point = load_geography().commune(insee).boundary.representative_point()
    return Position(round(point.x + dx, 2), round(point.y + dy, 2))


def build_sample(url: str) -> None:
    """Record the sample valley in the (empty) store at ``url``."""
    twin = open_twin(url)
    try:
        _record(twin)
    finally:
        twin.close()


def _record(twin: ValleyTwin) -> None:
    glass = Bin.install(
        code=GLASS,
        stream="glass",
        capacity_l=3000,
        depth_cm=180.0,
        position=position_in(GIGNAC),
        commune_insee=GIGNAC,
        at=T0,
    )
    for day, fill in FILLS:
        if day > EMPTIED_DAY and glass.emptied_count == 0:
            glass.report_overflow(f"citizen:{PSEUDONYM}", at(3, hours=2))
            glass.empty("R-2024-001", 240.0, at(EMPTIED_DAY))
        glass.measure_fill_level(fill, at(day), device_id=SENSOR if day == 1 else None)
        glass.report_sensor_battery(97.0 - day, at(day, hours=1))
    glass.report_sensor_fault("tilt: sensor not level, distance not trusted", at(6, hours=2))
    residual = Bin.install(
        code=RESIDUAL,
        stream="residual",
        capacity_l=660,
        depth_cm=110.0,
        position=position_in(GIGNAC, 40.0, 0.0),
        commune_insee=GIGNAC,
        at=T0,
    )
    paper = Bin.install(
        code=PAPER,
        stream="paper",
        capacity_l=3000,
        position=position_in(GIGNAC, 0.0, 40.0),
        commune_insee=GIGNAC,
        at=T0,
    )
    paper.remove("replaced by an underground column", at(5))
    packaging = Bin.install(
        code=PACKAGING,
        stream="packaging",
        capacity_l=3000,
        position=position_in(GIGNAC, -40.0, 0.0),
        commune_insee=GIGNAC,
        at=at(10),
    )

    scanner = Beacon.install(
        code=SCANNER,
        zone_code=ZONE,
        position=position_in(GIGNAC, 500.0, 500.0),
        commune_insee=GIGNAC,
        at=T0,
    )
    for day, counts in FOOTFALL.items():
        for hour, count in enumerate(counts):
            start = at(day, hours=hour)
            scanner.count_footfall(start, start + timedelta(hours=1), count)
    scanner.report_battery(88.0, at(3, hours=1))

    cabinet = Site.register(
        code=CABINET,
        name="Armoire d'éclairage 1 — Gignac",
        site_kind="lighting_cabinet",
        geometry_wkt=_point_wkt(position_in(GIGNAC, 100.0, 100.0)),
        commune_insee=GIGNAC,
        at=T0,
        light_points=40,
        point_power_w=140.0,
    )
    for day, index in INDEXES:
        cabinet.meter_energy(index, at(day))
    day, final, new = REPLACED
    cabinet.replace_meter(final, new, at(day))
    cabinet.meter_energy(AFTER_REPLACEMENT[1], at(AFTER_REPLACEMENT[0]))
    cabinet.change_lighting_schedule(
        at(6), dim_percent=50.0, dim_from="23:00", dim_to="05:00", off_from="01:00", off_to="05:00"
    )
    dark = Site.register(
        code=DARK_CABINET,
        name="Armoire d'éclairage 2 — Gignac",
        site_kind="lighting_cabinet",
        geometry_wkt=_point_wkt(position_in(GIGNAC, -100.0, 100.0)),
        commune_insee=GIGNAC,
        at=T0,
        light_points=12,
        point_power_w=70.0,
    )
    hall = Site.register(
        code=HALL,
        name="Mairie de Gignac",
        site_kind="public_building",
        geometry_wkt=_point_wkt(position_in(GIGNAC)),
        commune_insee=GIGNAC,
        at=T0,
    )
    hall.count_occupancy(23, at(2, hours=10))
    abbey_centre = position_in(SAINT_GUILHEM)
    area = shapely.Point(abbey_centre.x, abbey_centre.y).buffer(150.0, quad_segs=4)
    abbey = Site.register(
        code=ABBEY,
        name="Saint-Guilhem-le-Désert, abbaye de Gellone",
        site_kind="remarkable_site",
        geometry_wkt=shapely.set_precision(area, 0.01).wkt,
        commune_insee=SAINT_GUILHEM,
        at=T0,
    )
    abbey.count_occupancy(410, at(2, hours=15))

    creche = Service.open(
        code=CRECHE,
        name="Crèche de Gignac",
        service_kind="childcare",
        capacity=36,
        position=position_in(GIGNAC, 10.0, 10.0),
        commune_insee=GIGNAC,
        at=T0,
    )
    creche.request_place(FAMILY_REF, at(1))
    creche.request_place("FAMILLE-2", at(1, hours=1))
    creche.grant_place(FAMILY_REF, at(2))
    training = Service.open(
        code=TRAINING,
        name="Ateliers numériques",
        service_kind="digital_training",
        capacity=12,
        position=position_in(GIGNAC, 20.0, 20.0),
        commune_insee=GIGNAC,
        at=T0,
    )
    training.schedule_session("S-1", at(3), 8, at(1))
    training.enrol("S-1", TRAINEE_REF, at(2))
    training.record_attendance("S-1", TRAINEE_REF, at(3))

    citizen = Citizen.register(pseudonym=PSEUDONYM, commune_insee=GIGNAC, at=T0)
    citizen.file_report(
        "R-1", "overflowing_bin", position_in(GIGNAC, 5.0, 5.0), REPORT_TEXT, at(3, hours=1)
    )
    citizen.acknowledge_report("R-1", at(3, hours=3), note=NOTE)
    idea = citizen.submit_idea("I-1", IDEA_TITLE, IDEA_TEXT, at(4))
    citizen.vote_idea(idea, at(4, hours=1))

    twin.add(
        glass,
        residual,
        paper,
        packaging,
        scanner,
        cabinet,
        dark,
        hall,
        abbey,
        creche,
        training,
        citizen,
    )


def _point_wkt(position: Position) -> str:
    return shapely.Point(position.x, position.y).wkt


def day(days: float, hours: float = 0) -> datetime:
    """An instant of the sample, as the tests name it."""
    return at(days, hours=hours)
