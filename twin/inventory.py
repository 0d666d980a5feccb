"""A plausible asset base for the valley, generated from its real communes and a seed.

Containers are placed per waste stream in proportion to each commune's population, around the
commune's centre; beacons, sites and services stand at named places. Same seed, same valley,
down to the centimetre. Not responsible for saving anything (the application does).

Ratios, with the public figures behind them (see ../shared/data/PARAMETERS.md):

* residual waste: 5.5–6 L per inhabitant per day at home (Citeo). A 660 L bin collected
  twice a week serves 20 inhabitants at about 60 % fill (20 × 5.75 L × 3.5 d ≈ 400 L).
* packaging: about the same volume as residual waste, in 3 m³ drop-off columns (Cercle
  National du Recyclage: 2–4 m³) emptied weekly at ~55 % mean fill → 1 per 90 inhabitants.
* glass: 0.4–0.8 L per inhabitant per day, 3 m³ columns emptied every four weeks → 1 per 150.
* paper: 3 m³ columns, smaller flow than packaging → 1 per 250 (assumed).
* biowaste: 400 L wheeled bins (EN 840 allows up to 400 L on two wheels) → 1 per 120 (assumed:
  separate biowaste collection is recent and partial).
* public lighting: one light point per 7 inhabitants (Syndicat de l'éclairage / AFE), about
  40 points per cabinet (assumed), 140 W per point including ballast (≈ 560 kWh per point per
  year over 4,000 h, the published average).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import shapely

from domain import (
    Beacon,
    Bin,
    Position,
    Service,
    ServiceKind,
    Site,
    SiteKind,
    ValleyAggregate,
    WasteStream,
)

if TYPE_CHECKING:
    from twin.geography import Commune, Geography

COMMISSIONED_AT = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ContainerRule:
    """How many containers of one stream a commune gets, what they are and what goes in."""

    stream: WasteStream
    capacity_l: int
    depth_cm: float
    inhabitants_per_container: int
    litres_per_inhabitant_day: float

    @property
    def litres_per_container_day(self) -> float:
        """Mean volume thrown into one container per day."""
        return self.inhabitants_per_container * self.litres_per_inhabitant_day


# Volumes per inhabitant per day at home (Citeo): residual 5.5–6 L, packaging + paper about
# the same together, glass 0.4–0.8 L; biowaste assumed at 1 L.
CONTAINER_RULES = (
    ContainerRule(WasteStream.RESIDUAL, 660, 110.0, 20, 5.75),
    ContainerRule(WasteStream.PACKAGING, 3000, 180.0, 90, 4.0),
    ContainerRule(WasteStream.GLASS, 3000, 180.0, 150, 0.6),
    ContainerRule(WasteStream.PAPER, 3000, 180.0, 250, 1.75),
    ContainerRule(WasteStream.BIOWASTE, 400, 95.0, 120, 1.0),
)
RULE_BY_STREAM = {rule.stream.value: rule for rule in CONTAINER_RULES}
INHABITANTS_PER_LIGHT_POINT = 7
LIGHT_POINTS_PER_CABINET = 40
LIGHT_POINT_POWER_W = 140.0


@dataclass(frozen=True)
class NamedPlace:
    """A place known by name, located by lon/lat (approximate, to about 100 m)."""

    code: str
    name: str
    lon: float
    lat: float
    insee: str


ACTIVITY_ZONE = NamedPlace("ZAE-CAMALCE", "Parc d'activités de Camalcé", 3.5625, 43.6455, "34114")
REMARKABLE_SITES = (
    NamedPlace(
        "SITE-SAINT-GUILHEM", "Saint-Guilhem-le-Désert, abbaye de Gellone", 3.5494, 43.7335, "34261"
    ),
    NamedPlace("SITE-PONT-DU-DIABLE", "Pont du Diable", 3.5619, 43.7095, "34010"),
    NamedPlace("SITE-CLAMOUSE", "Grotte de Clamouse", 3.5510, 43.7110, "34267"),
)
THIRD_PLACE = NamedPlace(
    "TIERS-LIEU-GALERIE-DIGITALE", "La Galerie Digitale", 3.5505, 43.6525, "34114"
)
BEACON_SPREAD_M = 100.0
BEACONS_PER_PLACE = {
    "ZAE-CAMALCE": 4,
    "SITE-SAINT-GUILHEM": 3,
    "SITE-PONT-DU-DIABLE": 2,
    "SITE-CLAMOUSE": 1,
}
CHILDCARE_MIN_POPULATION = 2_000
CHILDCARE_PLACES_PER_1000 = 6  # assumed: a 20–40 place crèche in each town of 2,000+
DROP_OFF_CENTRES = ("34010", "34114", "34163", "34239", "34281")  # assumed locations
DROP_OFF_BAYS = 8


def plan_inventory(geography: Geography, seed: int) -> list[ValleyAggregate]:
    """Return the valley's assets, ready to record, all commissioned at the same instant."""
    rng = random.Random(seed)
    assets: list[ValleyAggregate] = []
    for commune in geography.communes:
        assets.extend(_containers(commune, rng))
        assets.extend(_lighting_cabinets(commune, rng))
        assets.append(_town_hall(commune))
    for place in (ACTIVITY_ZONE, *REMARKABLE_SITES, THIRD_PLACE):
        assets.append(_named_site(geography, place))
        assets.extend(_beacons(geography, place, rng))
    assets.extend(_services(geography))
    return assets


def summarise(assets: list[ValleyAggregate]) -> dict[str, int]:
    """Count assets by kind, and bins by stream."""
    counts: Counter[str] = Counter(a.KIND for a in assets)
    counts.update(f"bin:{a.stream}" for a in assets if isinstance(a, Bin))
    return dict(sorted(counts.items()))


def _around_centre(commune: Commune, rng: random.Random) -> Position:
    """A point inside the commune, drawn around its centre (where people live)."""
    centre = commune.boundary.representative_point()
    spread = math.sqrt(commune.boundary.area) / 8
    while True:
        x = rng.gauss(centre.x, spread)
        y = rng.gauss(centre.y, spread)
        if shapely.intersects_xy(commune.boundary, x, y):
            return Position(round(x, 2), round(y, 2))


def _containers(commune: Commune, rng: random.Random) -> list[Bin]:
    bins = []
    for rule in CONTAINER_RULES:
        count = max(1, round(commune.population / rule.inhabitants_per_container))
        for number in range(1, count + 1):
            bins.append(
                Bin.install(
                    code=f"B-{commune.insee}-{rule.stream.value[:3].upper()}-{number:04d}",
                    stream=rule.stream,
                    capacity_l=rule.capacity_l,
                    depth_cm=rule.depth_cm,
                    position=_around_centre(commune, rng),
                    commune_insee=commune.insee,
                    at=COMMISSIONED_AT,
                )
            )
    return bins


def _lighting_cabinets(commune: Commune, rng: random.Random) -> list[Site]:
    points = max(1, round(commune.population / INHABITANTS_PER_LIGHT_POINT))
    cabinets = max(1, round(points / LIGHT_POINTS_PER_CABINET))
    share, extra = divmod(points, cabinets)
    sites = []
    for number in range(1, cabinets + 1):
        position = _around_centre(commune, rng)
        sites.append(
            Site.register(
                code=f"EP-{commune.insee}-{number:03d}",
                name=f"Armoire d'éclairage {number} — {commune.name}",
                site_kind=SiteKind.LIGHTING_CABINET,
                geometry_wkt=shapely.Point(position.x, position.y).wkt,
                commune_insee=commune.insee,
                at=COMMISSIONED_AT,
                light_points=share + (1 if number <= extra else 0),
                point_power_w=LIGHT_POINT_POWER_W,
            )
        )
    return sites


def _town_hall(commune: Commune) -> Site:
    centre = commune.boundary.representative_point()
    return Site.register(
        code=f"MAIRIE-{commune.insee}",
        name=f"Mairie de {commune.name}",
        site_kind=SiteKind.PUBLIC_BUILDING,
        geometry_wkt=shapely.Point(round(centre.x, 2), round(centre.y, 2)).wkt,
        commune_insee=commune.insee,
        at=COMMISSIONED_AT,
    )


def _locate(geography: Geography, place: NamedPlace) -> Position:
    position, commune = geography.locate(place.lon, place.lat)
    if commune.insee != place.insee:
        raise ValueError(
            f"{place.name} at {place.lon}, {place.lat} lies in {commune.name}, not {place.insee}"
        )
    return position


def _named_site(geography: Geography, place: NamedPlace) -> Site:
    position = _locate(geography, place)
    if place is ACTIVITY_ZONE:
        kind, radius = SiteKind.ACTIVITY_ZONE, 300.0
    elif place is THIRD_PLACE:
        kind, radius = SiteKind.THIRD_PLACE, 0.0
    else:
        kind, radius = SiteKind.REMARKABLE_SITE, 150.0
    point = shapely.Point(position.x, position.y)
    geometry = point.buffer(radius, quad_segs=4) if radius else point
    return Site.register(
        code=place.code,
        name=place.name,
        site_kind=kind,
        geometry_wkt=shapely.set_precision(geometry, 0.01).wkt,
        commune_insee=place.insee,
        at=COMMISSIONED_AT,
    )


def _beacons(geography: Geography, place: NamedPlace, rng: random.Random) -> list[Beacon]:
    centre = _locate(geography, place)
    beacons = []
    for number in range(1, BEACONS_PER_PLACE.get(place.code, 0) + 1):
        position = Position(
            round(centre.x + rng.uniform(-BEACON_SPREAD_M, BEACON_SPREAD_M), 2),
            round(centre.y + rng.uniform(-BEACON_SPREAD_M, BEACON_SPREAD_M), 2),
        )
        # A site on a river may straddle two communes: record where the beacon really stands.
        commune = geography.commune_at(position) or geography.commune(place.insee)
        beacons.append(
            Beacon.install(
                code=f"BLE-{place.code}-{number}",
                zone_code=place.code,
                position=position,
                commune_insee=commune.insee,
                at=COMMISSIONED_AT,
            )
        )
    return beacons


def creche_places(commune: Commune) -> int | None:
    """The places of the commune's crèche, None if the commune has none (under 2,000 people)."""
    if commune.population < CHILDCARE_MIN_POPULATION:
        return None
    return round(commune.population * CHILDCARE_PLACES_PER_1000 / 1000)


def _services(geography: Geography) -> list[Service]:
    services = []
    for commune in geography.communes:
        centre = commune.boundary.representative_point()
        here = Position(round(centre.x, 2), round(centre.y, 2))
        if (places := creche_places(commune)) is not None:
            services.append(
                Service.open(
                    code=f"CRECHE-{commune.insee}",
                    name=f"Crèche de {commune.name}",
                    service_kind=ServiceKind.CHILDCARE,
                    capacity=places,
                    position=here,
                    commune_insee=commune.insee,
                    at=COMMISSIONED_AT,
                )
            )
        if commune.insee in DROP_OFF_CENTRES:
            services.append(
                Service.open(
                    code=f"DECHETERIE-{commune.insee}",
                    name=f"Déchèterie de {commune.name}",
                    service_kind=ServiceKind.DROP_OFF_CENTRE,
                    capacity=DROP_OFF_BAYS,
                    position=here,
                    commune_insee=commune.insee,
                    at=COMMISSIONED_AT,
                )
            )
    services.append(
        Service.open(
            code="FORMATION-NUMERIQUE",
            name="Ateliers numériques — La Galerie Digitale",
            service_kind=ServiceKind.DIGITAL_TRAINING,
            capacity=12,
            position=_locate(geography, THIRD_PLACE),
            commune_insee=THIRD_PLACE.insee,
            at=COMMISSIONED_AT,
        )
    )
    return services
