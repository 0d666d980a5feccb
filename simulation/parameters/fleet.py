"""The collection fleet and its sites: trucks, shift, roads, stop times, costs, depot and tip.

Every figure that stands for the real world is a named constant here with its public source,
or the word *assumed* and the reason when no public figure was found. The dataclasses are
frozen so that a scenario changes a figure with :func:`dataclasses.replace`, never by
mutating a shared default.

Not responsible for routing (see :mod:`simulation.routing`) nor for how much waste a bin
holds (the fill models own the loose densities' use; they are kept here only because the
truck's capacity is expressed against them).

Sources:
    * [TE2015] transportengineer.org.uk (2015), refuse collection vehicles of the 18 t class:
      body about 15 m³, payload 8.5–9 t.
    * [V1998] Vesilind, Worrell & Reinhart, *Environmental Engineering* (1998), table 4.22:
      loose municipal waste 60–120 kg/m³ (food 290, paper 70, plastic 60, glass 200);
      in a compactor truck 300–400 kg/m³.
    * [A2017] Arrêté du 26 avril 2017 (décret 2017-639), annex: diesel 3.17 kgCO2e per litre
      (0.66 upstream + 2.51 combustion).
    * [CCVH] Communauté de communes Vallée de l'Hérault: seat and technical services at
      2 Parc d'activités de Camalcé, 34150 Gignac.
    * [SCH] Syndicat Centre Hérault annual reports: treatment of the valley's waste, seat and
      sites on the route de Canet, 34800 Aspiran.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from domain import Position, WasteStream

if TYPE_CHECKING:
    from collections.abc import Mapping

# --- Waste in the bin and in the truck ------------------------------------------------------

#: Loose density of each stream as it lies in a bin, kg/m³ [V1998, table 4.22]. Residual
#: waste is *assumed* at 100 kg/m³, the upper half of the 60–120 range for mixed municipal
#: waste, because a household's residual bin holds its food waste; packaging is the plastic
#: figure (the stream is mostly plastic bottles, films and cans by volume).
LOOSE_DENSITY_KG_M3: Mapping[WasteStream, float] = MappingProxyType(
    {
        WasteStream.RESIDUAL: 100.0,
        WasteStream.PACKAGING: 60.0,
        WasteStream.PAPER: 70.0,
        WasteStream.GLASS: 200.0,
        WasteStream.BIOWASTE: 290.0,
    }
)

#: Density of waste compacted in the truck's body, kg/m³: the middle of 300–400 [V1998].
COMPACTED_DENSITY_KG_M3 = 350.0

# --- The truck ------------------------------------------------------------------------------

#: Body volume of an 18 t refuse collection vehicle, m³ [TE2015].
BODY_VOLUME_M3 = 15.0

#: Payload, kg: the lower end of 8.5–9 t [TE2015], so that a plan is never over weight.
PAYLOAD_KG = 8_500.0

#: Diesel burnt per 100 km by a refuse truck on collection duty, litres. *Assumed*: no public
#: figure for this valley; 18–26 t refuse trucks are commonly quoted between 40 L/100 km on
#: rural rounds and 80 L/100 km in dense stop-start urban collection, and the valley is rural.
FUEL_L_PER_100KM = 50.0

#: Well-to-wheel emissions of diesel, kgCO2e per litre [A2017].
CO2_KG_PER_L_DIESEL = 3.17

# --- Roads and time -------------------------------------------------------------------------

#: Mean speed of a loaded refuse truck on the valley's roads, km/h. *Assumed*: departmental
#: roads are limited to 80 km/h and village streets to 30–50 km/h; 40 km/h averages the two
#: for a heavy vehicle that stops often.
AVERAGE_SPEED_KMH = 40.0

#: Road distance over straight-line distance. *Assumed*: 1.3 is the figure commonly used for
#: rural road networks (measured ratios of road to great-circle distance mostly fall between
#: 1.2 and 1.4, higher in hilly country such as the north of the valley). Routing multiplies
#: Lambert-93 straight-line metres by it unless it is handed a road-graph distance matrix.
ROAD_CIRCUITY = 1.3

#: Time at a stop for one wheeled bin (EN 840) lifted by the truck's bin lift, minutes.
#: *Assumed*: the lift cycle is under a minute; the rest is pulling up, fetching and
#: returning the bin.
SERVICE_MIN_WHEELED_BIN = 2.0

#: Time at a drop-off column emptied by the truck's crane, minutes. *Assumed*: stabilise,
#: hook, lift, open over the body, put back.
SERVICE_MIN_COLUMN = 5.0

#: Time at the tip for one unload, minutes: weighbridge in, tip, weighbridge out.
#: *Assumed* (no queue modelled).
TIP_SERVICE_MIN = 20.0

#: Length of a crew's working shift, hours, from leaving the depot to coming back. *Assumed*
#: from the 35 h week worked as five 7 h days; breaks are not modelled separately.
SHIFT_H = 7.0

#: At most this many unloads at the tip per truck and shift (the last one included).
#: *Assumed*: with a 7 h shift and the tip 15–30 km of road away, a third trip is rare.
MAX_LOADS_PER_SHIFT = 3

# --- Costs ----------------------------------------------------------------------------------

#: Agents on a truck. *Assumed*: a driver and one loader, usual for side- or rear-loading
#: rounds in rural France.
CREW_SIZE = 2

#: Full cost of one agent per hour worked, €. *Assumed*: a municipal technical agent's gross
#: pay of about 2,000 €/month with employer charges (×1.45) over the hours actually worked
#: (about 1,600 a year) comes to 22 €/h; 25 €/h adds supervision and clothing.
AGENT_EUR_PER_H = 25.0

#: Cost of a truck per km driven, fuel excluded, €. *Assumed*: a 250 k€ vehicle written off
#: over 10 years and about 20,000 km a year (1.25 €/km) plus maintenance and tyres.
TRUCK_EUR_PER_KM = 1.5

#: Price of diesel paid by the community, € per litre. *Assumed* (French pump prices were
#: about 1.7–1.9 €/L in 2023–24); a scenario parameter, not a fact.
DIESEL_EUR_PER_L = 1.7


# --- Dataclasses ----------------------------------------------------------------------------


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValueError(f"{name} must be a number, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero) or value == float("inf"):
        raise ValueError(f"{name} must be {'≥' if allow_zero else '>'} 0 and finite, not {value!r}")


@dataclass(frozen=True)
class Truck:
    """One type of collection truck: what it carries and what it burns."""

    body_volume_m3: float = BODY_VOLUME_M3
    payload_kg: float = PAYLOAD_KG
    #: Density the body compacts waste to, kg/m³; ``None`` for a body that does not compact
    #: (a crane truck emptying glass columns), where the loose volume fills the body.
    compaction_density_kg_m3: float | None = COMPACTED_DENSITY_KG_M3
    fuel_l_per_100km: float = FUEL_L_PER_100KM

    def __post_init__(self) -> None:
        _positive("body_volume_m3", self.body_volume_m3)
        _positive("payload_kg", self.payload_kg)
        _positive("fuel_l_per_100km", self.fuel_l_per_100km, allow_zero=True)
        if self.compaction_density_kg_m3 is not None:
            _positive("compaction_density_kg_m3", self.compaction_density_kg_m3)

    def body_litres(self, volume_l: float, mass_kg: float) -> float:
        """Litres of body a collected load takes: compacted if the body compacts.

        Compaction never makes waste take more room than it did loose.
        """
        if self.compaction_density_kg_m3 is None:
            return volume_l
        return min(volume_l, 1000.0 * mass_kg / self.compaction_density_kg_m3)


#: The 18 t compacting refuse truck [TE2015], [V1998].
REFUSE_TRUCK = Truck()

#: A crane truck for glass columns. *Assumed* to have the same body and payload as the
#: refuse truck, without compaction (glass is collected loose to be recycled).
CRANE_TRUCK = Truck(compaction_density_kg_m3=None)


@dataclass(frozen=True)
class Fleet:
    """The trucks available for one day's collection of one stream, and what they cost."""

    trucks: int
    truck: Truck = REFUSE_TRUCK
    shift_h: float = SHIFT_H
    speed_kmh: float = AVERAGE_SPEED_KMH
    tip_service_min: float = TIP_SERVICE_MIN
    max_loads_per_shift: int = MAX_LOADS_PER_SHIFT
    #: Cost of a truck's whole crew per hour of shift, €.
    crew_eur_per_h: float = CREW_SIZE * AGENT_EUR_PER_H
    truck_eur_per_km: float = TRUCK_EUR_PER_KM
    diesel_eur_per_l: float = DIESEL_EUR_PER_L
    co2_kg_per_l: float = CO2_KG_PER_L_DIESEL

    def __post_init__(self) -> None:
        if isinstance(self.trucks, bool) or not isinstance(self.trucks, int) or self.trucks < 0:
            raise ValueError(f"trucks must be a whole number ≥ 0, not {self.trucks!r}")
        if (
            isinstance(self.max_loads_per_shift, bool)
            or not isinstance(self.max_loads_per_shift, int)
            or self.max_loads_per_shift < 1
        ):
            raise ValueError(
                f"max_loads_per_shift must be a whole number ≥ 1, not {self.max_loads_per_shift!r}"
            )
        _positive("shift_h", self.shift_h)
        _positive("speed_kmh", self.speed_kmh)
        for name in (
            "tip_service_min",
            "crew_eur_per_h",
            "truck_eur_per_km",
            "diesel_eur_per_l",
            "co2_kg_per_l",
        ):
            _positive(name, getattr(self, name), allow_zero=True)


@dataclass(frozen=True)
class Site:
    """A fixed place of the collection: where trucks sleep, where they unload."""

    name: str
    address: str
    position: Position


#: The CCVH technical site, where the trucks start and end their shift [CCVH]. Lambert-93
#: computed once with pyproj (EPSG:4326 → EPSG:2154) from lon 3.5610, lat 43.6540: the Camalcé
#: business park east of Gignac's centre, *estimated* without a geocoder (none was reachable
#: when this was written), so approximate to about a kilometre — within the error of the
#: road-circuity factor. The point lies inside Gignac's boundary in ``ccvh-communes.geojson``.
#: Replace it with the Base Adresse Nationale geocode of the address when one is at hand.
DEPOT = Site(
    name="CCVH technical site",
    address="2 Parc d'activités de Camalcé, 34150 Gignac",
    position=Position(745_268.0, 6_284_045.0),
)

#: The Syndicat Centre Hérault's site (transfer, sorting, storage) where full trucks unload
#: [SCH]. Lambert-93 computed once with pyproj from lon 3.4600, lat 43.5760, on the route de
#: Canet north-east of Aspiran's village — *estimated* in the same way as the depot, to about
#: a kilometre. About 11.9 km from the depot as the crow flies, 15.5 km with circuity 1.3.
TIP = Site(
    name="Syndicat Centre Hérault, Aspiran",
    address="Route de Canet, 34800 Aspiran",
    position=Position(737_169.0, 6_275_324.0),
)
